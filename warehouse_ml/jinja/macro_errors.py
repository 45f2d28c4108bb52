"""A database's "column not found" told in the terms of the package macro that named it.

A wrong column in ``wml.event_counter(timestamp='ts')`` surfaces as DuckDB's Binder error
on SQL the user never wrote. The macro cannot check the column while rendering (that would
cost a query per call), so instead, when a node's SQL fails on a missing column, the
recorded calls of its render (jinja/macro_calls.py) are searched for the argument that gave the
column, and the error names the macro, the argument, the call's file and line, the columns
the relation does have and the closest one. Only the error path pays for the lookups.
"""

from __future__ import annotations

import difflib
import re
import typing as t

from warehouse_ml.errors import ExecutionError
from warehouse_ml.jinja.macro_calls import MacroCall, MacroCallRecorder

# DuckDB: Referenced column "ts" not found in FROM clause!  Postgres/Redshift: column "ts" does not exist
_MISSING = re.compile(
    r'Referenced column "(?P<duck>[^"]+)" not found|column "(?P<pg>[^"]+)" does not exist'
)
Columns = t.Callable[[t.Any], list[tuple[str, str]]]  # relation -> (name, type)
_TIME_TYPES = ("TIMESTAMP", "DATE")


def missing_column(text: str) -> str | None:
    match = _MISSING.search(text)
    if match is None:
        return None
    return (match["duck"] or match["pg"]).split(".")[-1]


def explain(
    text: str, calls: list[MacroCall], recorder: MacroCallRecorder, refs: list[t.Any],
    columns_of: Columns,
) -> ExecutionError | None:  # fmt: skip
    """The macro-level error for database error ``text``, or None if no call named it."""
    column = missing_column(text)
    if column is None:
        return None
    for call in calls:
        effective = {**recorder.defaults_of(call.macro), **call.arguments}
        for path, value in _leaves(effective):
            if isinstance(value, str) and value.strip('"').lower() == column.lower():
                return _error(call, path, value, recorder, refs, columns_of, text)
    return None


def _leaves(value: t.Any, path: str = "") -> t.Iterator[tuple[str, t.Any]]:
    """Every value inside the arguments, with its path: ``relations[2].timestamp``."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _relations(arguments: dict[str, t.Any]) -> list[t.Any]:
    from warehouse_ml.adapters.relation import Relation

    return [v for _, v in _leaves(arguments) if isinstance(v, Relation)]


def _error(
    call: MacroCall, path: str, value: str, recorder: MacroCallRecorder, refs: list[t.Any],
    columns_of: Columns, text: str,
) -> ExecutionError:  # fmt: skip
    argument = path.split("[")[0].split(".")[0]
    if argument in call.from_project:
        how = "the project default, vars.wml in wml_project.yml"
    else:
        how = "given" if argument in call.arguments else "its default"
    relations = _relations(call.arguments) or refs
    known: list[tuple[str, str]] = []
    listed = []
    for relation in relations:
        cols = columns_of(relation)
        known += cols
        if cols:
            listed.append(f"{relation.identifier} has {', '.join(name for name, _ in cols)}")
    message = (
        f"wml.{call.macro} needs {path}=... to name a column, and {value!r} ({how}) is not "
        f"one: {'; '.join(listed) or text.splitlines()[0]}."
    )
    hint = _did_you_mean(path, value, known)
    hint += (
        f"Pass it in the call, or once for the project under vars: {{wml: {{{argument}: ...}}}} "
        "in wml_project.yml; `wml macros " + call.macro + "` lists the arguments."
    )
    where, line = recorder.place(call)
    return ExecutionError(message, path=where, line=line, hint=hint)


def _did_you_mean(path: str, value: str, known: list[tuple[str, str]]) -> str:
    """For a time argument the time-typed column (the closest of several), else the closest name."""
    names = list(dict.fromkeys(name for name, _ in known))
    times = list(dict.fromkeys(n for n, kind in known if kind.upper().startswith(_TIME_TYPES)))
    pool = times if times and any(w in path for w in ("timestamp", "column")) else names
    close = pool if len(pool) == 1 else difflib.get_close_matches(value.strip('"'), pool, n=1, cutoff=0.5)
    return f"Did you mean {path}={close[0]!r}? " if close else ""
