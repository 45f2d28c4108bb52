"""Render the simplest model files without compiling them: text and literal calls.

Most model files hold SQL text and a few ``{{ ... }}`` expressions that call a function
with constant arguments: ``{{ config(tags=['a']) }}``, ``{{ ref('orders') }}``,
``{{ money('amount') }}``. Jinja compiles every template to Python (lexer, parser, code
generator, ``compile()``) before it renders once, which is most of a cold parse of a large
project. dbt skips Jinja for such files too (its static parser reads ``ref``, ``source``
and ``config`` from them); here the file is read by a small grammar and each call is made
through Jinja's own :meth:`Context.call` in a Jinja context over the same globals, so the
output is what Jinja renders: the text with newlines normalised and one trailing newline
dropped (Jinja's lexer), each value through ``str`` (Jinja's output without autoescape or
finalize).

A file is taken only when all of it fits: no ``{%`` or ``{#``, no whitespace control, each
expression a name, or a name's attribute, called or not, with string (no backslash or
brace), integer, boolean, none and list arguments. Any other file, a name that does not
resolve, or any error while rendering goes to Jinja (the renderer renders it again from
scratch), so errors keep Jinja's message and line.

>>> import jinja2
>>> env = jinja2.Environment()
>>> env.globals["shout"] = lambda s, times=1: s.upper() * times
>>> plan = parse("select {{ shout('a', times=2) }} as x\\n")
>>> render(plan, env, "m.sql", {})
'select AA as x'
>>> parse("{% if x %}y{% endif %}") is None
True
"""

from __future__ import annotations

import collections
import functools
import re
import typing as t

import jinja2
from jinja2.runtime import new_context

# One expression, and what it calls: (dotted name, called?, positional args, keyword args).
Expression = tuple[tuple[str, ...], bool, tuple[t.Any, ...], tuple[tuple[str, t.Any], ...]]
Plan = tuple[str | Expression, ...]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^'\\{}\r\n]*'|\"[^\"\\{}\r\n]*\")|(?P<int>0|[1-9][0-9]*)(?![\w.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[()\[\],=.]))"
)
_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}


class NotStatic(Exception):
    """The file is not one the grammar takes: Jinja renders it."""


@functools.lru_cache(maxsize=8192)
def parse(source: str) -> Plan | None:
    """The file as text and expressions, or None when Jinja must render it."""
    if "{%" in source or "{#" in source:
        return None
    lines = _NEWLINE.split(source)
    if lines[-1] == "":
        del lines[-1]  # Jinja drops one trailing newline (keep_trailing_newline=False)
    text = "\n".join(lines)
    parts: list[str | Expression] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            return None
        if start > pos:
            parts.append(text[pos:start])
        inner = text[start + 2 : end]
        if inner[:1] in "-+" or inner[-1:] in "-+":
            return None  # whitespace control
        try:
            parts.append(_expression(inner))
        except NotStatic:
            return None
        pos = end + 2
    if pos < len(text):
        parts.append(text[pos:])
    if "}}" in "".join(p for p in parts if isinstance(p, str)):
        return None  # a stray end marker: Jinja's own reading decides
    return tuple(parts)


def render(plan: Plan, env: jinja2.Environment, name: str, variables: t.Mapping[str, t.Any]) -> str:
    """The plan rendered as Jinja renders the file (see shared_render.py for the scope)."""
    scope = collections.ChainMap(dict(variables), env.make_globals(None))  # type: ignore[arg-type]
    context = new_context(env, name, {}, scope, shared=True)  # type: ignore[arg-type]
    out = []
    for part in plan:
        if isinstance(part, str):
            out.append(part)
            continue
        names, called, args, kwargs = part
        value = context.resolve_or_missing(names[0])
        if value is jinja2.runtime.missing:
            raise NotStatic(names[0])  # Jinja tells the undefined name, with its line
        for attribute in names[1:]:
            value = env.getattr(value, attribute)
            if isinstance(value, jinja2.Undefined):
                raise NotStatic(attribute)
        if called:
            value = context.call(value, *args, **dict(kwargs))
        out.append(str(value))
    return "".join(out)


def _expression(inner: str) -> Expression:
    tokens = _tokens(inner)
    names = [_take(tokens, "name")]
    if names[0] in _CONSTANTS:
        raise NotStatic(names[0])
    while tokens and tokens[0] == ("op", "."):
        tokens.pop(0)
        names.append(_take(tokens, "name"))
    if not tokens:
        return tuple(names), False, (), ()
    _expect(tokens, "(")
    args: list[t.Any] = []
    kwargs: list[tuple[str, t.Any]] = []
    while tokens and tokens[0] != ("op", ")"):
        if len(tokens) > 1 and tokens[0][0] == "name" and tokens[1] == ("op", "="):
            key = tokens.pop(0)[1]
            tokens.pop(0)
            kwargs.append((key, _value(tokens)))
        elif kwargs:
            raise NotStatic("a positional argument after a keyword")
        else:
            args.append(_value(tokens))
        if tokens and tokens[0] == ("op", ","):
            tokens.pop(0)
        elif not tokens or tokens[0] != ("op", ")"):
            raise NotStatic("an argument list")
    _expect(tokens, ")")
    if tokens or len({k for k, _ in kwargs}) != len(kwargs):
        raise NotStatic("more after the call")
    return tuple(names), True, tuple(args), tuple(kwargs)


def _value(tokens: list[tuple[str, str]]) -> t.Any:
    if not tokens:
        raise NotStatic("a missing value")
    kind, text = tokens.pop(0)
    if kind == "str":
        return text[1:-1]
    if kind == "int":
        return int(text)
    if kind == "name" and text in _CONSTANTS:
        return _CONSTANTS[text]
    if (kind, text) == ("op", "["):
        items = []
        while tokens and tokens[0] != ("op", "]"):
            items.append(_value(tokens))
            if tokens and tokens[0] == ("op", ","):
                tokens.pop(0)
            elif not tokens or tokens[0] != ("op", "]"):
                raise NotStatic("a list")
        _expect(tokens, "]")
        return items
    raise NotStatic(text)  # a variable, an operator, a float...: Jinja evaluates it


def _tokens(inner: str) -> list[tuple[str, str]]:
    tokens = []
    pos, end = 0, len(inner.rstrip())
    while pos < end:
        match = _TOKEN.match(inner, pos)
        if match is None:
            raise NotStatic(inner[pos:])
        kind = t.cast(str, match.lastgroup)
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _take(tokens: list[tuple[str, str]], kind: str) -> str:
    if not tokens or tokens[0][0] != kind:
        raise NotStatic(kind)
    return tokens.pop(0)[1]


def _expect(tokens: list[tuple[str, str]], op: str) -> None:
    if not tokens or tokens[0] != ("op", op):
        raise NotStatic(op)
    tokens.pop(0)
