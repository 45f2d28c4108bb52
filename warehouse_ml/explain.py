"""Turn an unexpected Python exception into a WmlError that names its place.

The CLI has one handler for exceptions that are not WmlErrors. Before calling one an
internal error, it asks :func:`explain`: an exception that user input caused (a
``{{ 1/0 }}`` in a model, a macro that recurses without end, a file that is not UTF-8,
an output path in a missing folder) becomes one paragraph with the file, line and model
that :func:`warehouse_ml.errors.located` tagged it with. Only what is left is a bug of ours.
"""

from __future__ import annotations

import errno

from warehouse_ml.errors import (
    CompilationError,
    ConfigError,
    ExecutionError,
    Place,
    WmlError,
    place_of,
)
from warehouse_ml.jinja.errors import template_line

_DATABASE_MODULES = ("duckdb", "_duckdb", "psycopg2", "redshift_connector")
_OS_HINTS = {
    errno.ENOENT: "The folder does not exist: create it first or choose another path.",
    errno.EISDIR: "That is a folder: give a file path.",
    errno.ENOTDIR: "A file stands where a folder is needed: move it away or choose another path.",
    errno.EEXIST: "A file stands where a folder is needed: move it away or choose another path.",
    errno.EACCES: "Choose a location this user can write, or fix its permissions.",
    errno.EPERM: "Choose a location this user can write, or fix its permissions.",
    errno.EROFS: "The file system is read-only: choose another location.",
    errno.ENOSPC: "The disk is full: free some space and run again.",
}


def is_database_error(exc: BaseException) -> bool:
    """Whether a database driver raised ``exc`` (its own message is then the diagnosis)."""
    return type(exc).__module__.split(".")[0] in _DATABASE_MODULES


def explain(exc: BaseException) -> WmlError | None:
    """A WmlError for ``exc`` when user input caused it, else None (a bug: internal error)."""
    if isinstance(exc, WmlError):
        return exc
    place = place_of(exc)
    err = _by_type(exc, place)
    if err is None:
        return None
    if place is not None:
        err.path = err.path or place.path
        err.node = err.node or place.node
        err.node_kind = place.node_kind
        if place.template and err.line is None:
            err.line = template_line(exc, place.template)
    err.__cause__ = exc
    return err


def _by_type(exc: BaseException, place: Place | None) -> WmlError | None:
    if isinstance(exc, UnicodeDecodeError):
        return _not_utf8(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return _os_error(exc)
    if is_database_error(exc):
        return _database_error(exc)
    if place is None or place.template is None:
        return None
    # Raised while rendering the user's Jinja: the template caused it, not wml.
    if isinstance(exc, RecursionError):
        return CompilationError(
            "recursion too deep while rendering: a macro calls itself without end.",
            hint="Give the recursive macro a condition that stops it.",
        )
    return CompilationError(
        f"{type(exc).__name__} while rendering: {exc}.", hint="Fix the expression on that line."
    )


def _not_utf8(exc: UnicodeDecodeError) -> ConfigError:
    data = exc.object if isinstance(exc.object, bytes) else b""
    line = data[: exc.start].count(b"\n") + 1 if data else None
    return ConfigError(
        f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}).",
        line=line,
        hint="Save it as UTF-8 (in most editors: Save with Encoding > UTF-8).",
    )


def _os_error(exc: OSError) -> ConfigError:
    hint = _OS_HINTS.get(exc.errno or 0, "Check the path and its permissions.")
    return ConfigError(f"cannot use {exc.filename}: {exc.strerror or exc}.", hint=hint)


def _database_error(exc: BaseException) -> WmlError:
    text = (str(exc).strip() or type(exc).__name__).split("\n\n")[0].strip()
    # A name that does not exist is bad input (exit 2); anything else failed running (1).
    kind = ConfigError if type(exc).__name__ == "CatalogException" else ExecutionError
    return kind(text)
