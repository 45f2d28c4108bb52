"""Package macros as models call them: project-wide argument defaults, and a record of calls.

Defaults work like dbt package vars (a package reads ``var('setting', default)``): the
project sets them once under ``vars: {wml: {...}}`` in wml_project.yml::

    vars:
      wml:
        timestamp: event_at                      # every package macro with a `timestamp`
        identity_graph: {timestamp: timestamp}   # only this macro

A call's own argument always wins. Each package macro is wrapped (``PackageMacro``) so the
macro files need no change; calls between macros of one file bypass the wrapper.

When a node fails on a missing column, it is rendered once more with recording on, and
each call it makes is kept with its place (template and line), so the database's error can
be told in the macro's terms (jinja/macro_errors.py). Normal renders record nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import typing as t

import jinja2
from jinja2.runtime import Macro

from warehouse_ml.errors import CompilationError, ConfigError

PROJECT_FILE = "wml_project.yml"


@dataclasses.dataclass(slots=True)  # not frozen: made once per call while rendering
class MacroCall:
    """One call of a package macro: what it was given (or defaulted from vars.wml), where."""

    macro: str
    names: tuple[str, ...]  # the macro's argument names, to read positional arguments
    args: tuple[t.Any, ...]
    kwargs: dict[str, t.Any]
    template: str | None  # the calling template (a model or a project macro file)
    python_line: int | None  # the frame's line; the template line is looked up on demand
    from_project: tuple[str, ...] = ()  # the arguments vars.wml filled in

    @property
    def arguments(self) -> dict[str, t.Any]:
        """Every argument the call gave, by name (computed on the error path only)."""
        return {**dict(zip(self.names, self.args, strict=False)), **self.kwargs}


Sink = t.Callable[[], "list[MacroCall] | None"]  # where to record calls now, if anywhere


class MacroCallRecorder(t.Protocol):
    """What explaining an error needs to know about recorded calls (the Renderer)."""

    def defaults_of(self, macro: str) -> dict[str, t.Any]: ...

    def place(self, call: MacroCall) -> tuple[str | None, int | None]: ...


class PackageMacro:
    """A package macro with project defaults filled in; records calls when asked to."""

    is_package = True

    def __init__(self, macro: Macro, defaults: dict[str, t.Any], sink: Sink,
                 is_template: t.Callable[[str], bool]):
        self.macro = macro
        self.name = macro.name
        self.arguments = macro.arguments
        self._defaults = defaults
        self._sink = sink
        self._is_template = is_template

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        # Kept lean: it runs for every call a model makes (about 1 us over Jinja's own).
        filled: list[str] = []
        if self._defaults:
            positional = self.arguments[: len(args)]
            for name, value in self._defaults.items():
                if name not in kwargs and name not in positional:
                    kwargs[name] = value
                    filled.append(name)
        sink = self._sink()
        if sink is not None:
            template, line = self._caller()
            if template is not None and not template.startswith("wml/"):
                call = MacroCall(self.name, self.arguments, args, kwargs, template, line, tuple(filled))
                sink.append(call)
        try:
            return self.macro(*args, **kwargs)
        except jinja2.UndefinedError as exc:
            missing = self._missing(exc, args, kwargs)
            if missing is None:
                raise
            raise missing from None

    def _missing(self, exc: Exception, args: tuple, kwargs: dict) -> CompilationError | None:
        """Required arguments left out, said as such (Jinja: "parameter 'x' was not provided")."""
        match = re.match(r"parameter '(\w+)' was not provided", str(exc))
        given = {*self.arguments[: len(args)], *kwargs}
        if match is None or match[1] not in self.arguments or match[1] in given:
            return None  # a macro deeper down left out its own argument
        from warehouse_ml.jinja.macro_docs import package_macros  # the error path only

        doc = package_macros().get(self.name)
        required = [a.name for a in doc.arguments if a.required] if doc else [match[1]]
        missing = [f"{n}=..." for n in required if n not in given]
        return CompilationError(
            f"wml.{self.name}() needs {' and '.join(missing)}: required, and the call leaves "
            f"{'it' if len(missing) == 1 else 'them'} out.",
            hint=f"It takes: {', '.join(self.arguments)}. `wml macros {self.name}` explains each one.",
        )

    def _caller(self) -> tuple[str | None, int | None]:
        """The nearest template frame calling this macro (Jinja's own frames are skipped)."""
        frame: t.Any = sys._getframe(2)
        for _ in range(4):  # Jinja's Context.call sits between; a template frame is near
            if frame is None:
                break
            if self._is_template(frame.f_code.co_filename):
                return frame.f_code.co_filename, frame.f_lineno
            frame = frame.f_back
        return None, None


def project_defaults(
    settings: t.Any, macros: t.Mapping[str, Macro]
) -> dict[str, dict[str, t.Any]]:
    """Per package macro, the defaults that ``vars: {wml: ...}`` gives it (checked)."""
    if settings is None:
        return {name: {} for name in macros}
    if not isinstance(settings, dict):
        raise ConfigError(
            f"vars.wml must be a mapping of macro argument defaults, got {settings!r}.",
            path=PROJECT_FILE,
            hint="Write e.g. vars: {wml: {timestamp: event_at}}.",
        )
    arguments = {a for m in macros.values() for a in m.arguments}
    shared: dict[str, t.Any] = {}
    scoped: dict[str, dict[str, t.Any]] = {}
    for key, value in settings.items():
        if key in macros and isinstance(value, dict):
            _check_names(value, macros[key].arguments, f"vars.wml.{key}", f"wml.{key}()")
            scoped[key] = value
        elif key in arguments:
            shared[key] = value
        else:
            _check_names({key: value}, sorted(arguments | set(macros)), "vars.wml",
                         "any package macro")  # fmt: skip
    return {
        name: {**{k: v for k, v in shared.items() if k in m.arguments}, **scoped.get(name, {})}
        for name, m in macros.items()
    }


def _check_names(given: dict[str, t.Any], known: t.Sequence[str], where: str, owner: str) -> None:
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            raise ConfigError(
                f"{where}.{name} is not an argument of {owner}.",
                path=PROJECT_FILE,
                hint=(f"Did you mean {close[0]}? " if close else "")
                + "`wml macros NAME` lists a macro's arguments.",
            )
