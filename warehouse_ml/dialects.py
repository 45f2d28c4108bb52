"""Transpile a model's SQL from the project's dialect to the target's, with sqlglot.

An untranslatable construct fails loudly (``unsupported_level=RAISE``) naming the model,
never passes silently.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from warehouse_ml.errors import CompilationError


def parse(
    sql: str, dialect: str, *, node: str | None = None, path: str | None = None
) -> exp.Expression:
    """Parse one statement, mapping sqlglot's errors to a CompilationError."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        detail = exc.errors[0] if exc.errors else {}
        raise CompilationError(
            f"cannot parse the SQL as {dialect}: {detail.get('description', exc)}"
            f" near '{detail.get('highlight', '')}'.",
            path=path,
            line=detail.get("line"),
            node=node,
            hint="Fix the SQL, or set sql_dialect in wml_project.yml to the dialect it is written in.",
        ) from None
    if len(statements) != 1:
        raise CompilationError(
            f"a model must be exactly one SELECT statement, found {len(statements)} statements.",
            path=path,
            node=node,
            hint="Remove the extra ';' or split the model in two.",
        )
    return statements[0]


def transpile(
    sql: str,
    read: str,
    write: str,
    *,
    node: str | None = None,
    path: str | None = None,
    pretty: bool = False,
) -> str:
    """``sql`` from dialect ``read`` to ``write``; the same dialect returns it unchanged."""
    if read == write and not pretty:
        return sql
    tree = parse(sql, read, node=node, path=path)
    try:
        return tree.sql(dialect=write, unsupported_level=ErrorLevel.RAISE, pretty=pretty)
    except UnsupportedError as exc:
        raise CompilationError(
            f"cannot translate to {write}: {exc}.",
            path=path,
            node=node,
            hint=f"Rewrite that construct in SQL that {write} supports.",
        ) from None


def called_functions(sql: str, dialect: str, names: set[str]) -> set[str]:
    """Which of ``names`` the statement calls (case-insensitive), found by parsing."""
    lowered = sql.lower()
    if not any(n.lower() in lowered for n in names):
        return set()  # cheap pre-check: most models call none of them
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except ParseError:
        return set()
    wanted = {n.lower(): n for n in names}
    found = set()
    for func in tree.find_all(exp.Anonymous):
        hit = wanted.get(str(func.name).lower())
        if hit:
            found.add(hit)
    return found
