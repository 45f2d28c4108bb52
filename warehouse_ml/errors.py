"""One root error, subclasses that carry where the problem is, mapped to exit codes.

Exit codes are part of the CLI's API (scheduled jobs branch on them), as in click:
0 success, 1 a node or test failed, 2 bad usage or configuration, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t


class WmlError(Exception):
    """Root of every error wml reports to a user as one clear paragraph."""

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        path: t.Any = None,
        line: int | None = None,
        node: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.node = node
        self.hint = hint
        self.node_kind = "model"  # the runner sets 'seed' or 'test' where it applies

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "")
        parts = []
        if where:
            parts.append(where)
        if self.node:
            parts.append(f"{self.node_kind} '{self.node}'")
        prefix = " ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.hint:
            text = text.rstrip()
            text += ("" if text.endswith((".", "?", "!", ":")) else ".") + f" {self.hint}"
        return text


class ConfigError(WmlError):
    """Bad project, profile, YAML or CLI configuration (exit 2)."""


class CompilationError(WmlError):
    """A model cannot be rendered or transpiled: Jinja, ref, cycle, dialect (exit 2)."""


class ExecutionError(WmlError):
    """A node failed while running against the database (exit 1)."""

    exit_code = 1


class TrainingError(ExecutionError):
    """An ML model could not be trained, exported or verified (exit 1)."""


class ModelNotFoundError(WmlError):
    """A registry lookup named a model or version that does not exist (exit 2)."""


class DatabaseLockedError(WmlError):
    """Another process holds the DuckDB file (exit 2)."""


class Interrupted(WmlError):
    """Ctrl-C (SIGINT): the nodes in progress were rolled back (exit 130, the shell's code).

    ``results`` holds the run's node results so far, for ``run_results.json``.
    """

    exit_code = 130

    def __init__(self, message: str, *, results: list[t.Any] | None = None) -> None:
        super().__init__(message)
        self.results = results or []


@dataclasses.dataclass(frozen=True)
class Place:
    """Where an unexpected exception happened: the file, the node, the Jinja template."""

    path: str | None = None
    node: str | None = None
    node_kind: str = "model"
    template: str | None = None  # the Jinja template name, to read the line from the traceback


_PLACE_ATTR = "_wml_place"


@contextlib.contextmanager
def located(
    path: t.Any = None,
    node: str | None = None,
    node_kind: str = "model",
    template: str | None = None,
) -> t.Iterator[None]:
    """Tag any non-WmlError raised inside with its place (the innermost place wins).

    The CLI's one handler for unexpected exceptions (``explain.explain``) reads the tag,
    so a bug-shaped exception caused by user input still names the file, line and model.
    """
    try:
        yield
    except WmlError:
        raise
    except Exception as exc:
        if place_of(exc) is None:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, _PLACE_ATTR, Place(_text(path), node, node_kind, template))
        raise


def place_of(exc: BaseException) -> Place | None:
    return getattr(exc, _PLACE_ATTR, None)


def _text(path: t.Any) -> str | None:
    return None if path is None else str(path)
