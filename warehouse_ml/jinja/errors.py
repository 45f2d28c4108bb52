"""Turn Jinja failures into errors that name the template file and line.

Jinja rewrites tracebacks so frames rendered from a template carry the template's
filename and line; we read them back instead of showing a Python traceback.
"""

from __future__ import annotations

import difflib
import re
import typing as t

import jinja2

from warehouse_ml.errors import CompilationError, WmlError


def template_line(exc: BaseException, filename: str) -> int | None:
    """The innermost line of ``filename`` in the exception's traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def wrap_template_error(
    exc: BaseException,
    filename: str,
    node: str | None,
    error_type: type[WmlError] = CompilationError,
    display_path: str | None = None,
    hint: str | None = None,
) -> WmlError:
    """A WmlError for ``exc`` raised while compiling or rendering template ``filename``."""
    line = template_line(exc, filename)
    filename = display_path or filename
    if isinstance(exc, WmlError):
        exc.path = exc.path or filename
        exc.line = exc.line or line
        exc.node = exc.node or node
        return exc
    if isinstance(exc, jinja2.TemplateSyntaxError):
        message = f"Jinja syntax error: {exc.message}."
        hint = "Check the {% %} and {{ }} blocks on that line."
    elif isinstance(exc, jinja2.UndefinedError):
        message = f"undefined name in template: {exc.message}."
        hint = "Define it (a var, a macro in macros/, or a column in quotes) or fix the typo."
    elif hint:  # a macro called with a wrong argument
        message = f"{exc}."
    else:
        message = f"{type(exc).__name__} while rendering: {exc}."
    return error_type(message, path=filename, line=line, node=node, hint=hint)


_MACRO_CALL = re.compile(r"^macro '(?P<name>\w+)' (takes|was invoked)")


def macro_call_hint(exc: BaseException, macros: t.Mapping[str, t.Any]) -> str | None:
    """For a macro called with a wrong argument, the arguments it takes (and a close one).

    Jinja raises these as a plain TypeError and strips its own frames from the
    traceback, so the macro is found by the name in the message.
    """
    match = _MACRO_CALL.match(str(exc)) if isinstance(exc, TypeError) else None
    macro = macros.get(match["name"]) if match else None
    if macro is None:
        return None
    arguments = list(getattr(macro, "arguments", ()))
    hint = f"{match['name']}() takes: {', '.join(arguments) or 'no arguments'}."
    bad = re.search(r"keyword argument '(\w+)'", str(exc))
    close = difflib.get_close_matches(bad[1], arguments, n=1) if bad else []
    hint += f" Did you mean {close[0]}=...?" if close else ""
    if getattr(macro, "is_package", False):
        hint += f" `wml macros {match['name']}` explains each one."
    return hint
