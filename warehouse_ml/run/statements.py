"""A model's rendered body must be exactly one query.

Materializations wrap the body (``create table ... as (<body>)``) and the driver runs
whatever it is given, so a var holding ``1); drop table customers; select (1`` would
otherwise run three statements. The check runs on the SQL about to be executed, in the
dialect it will be executed in; trailing semicolons (and comments after them) are cut.

>>> one_query("select 1 as v;  -- done", "duckdb")
'select 1 as v'

Cost: SQL without a ';' (once trailing ones are cut) that starts like a query is accepted
by one regex match, about 1 us (a statement separator is a ';' in every engine we target);
only other SQL is tokenized (~50-300 us a model).
"""

from __future__ import annotations

import re
import typing as t

from warehouse_ml.errors import CompilationError

# Leading whitespace, comments and '(' then a keyword that starts a query.
_QUERY_START = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(?:select|with|values|from|table|pivot|unpivot)\b",
    re.IGNORECASE | re.DOTALL,
)
_QUERY_KEYWORDS = ("SELECT", "WITH", "VALUES", "FROM", "TABLE", "PIVOT", "UNPIVOT", "L_PAREN")
_HINT = (
    "A model is one query (SELECT, WITH, VALUES, UNION...); a var or macro must not add "
    "statements. Put other statements in the model's pre_hook or post_hook config, "
    "which run before and after it is built, in its transaction."
)


def one_query(sql: str, dialect: str, *, node: str | None = None, path: str | None = None) -> str:
    """``sql`` without trailing semicolons, or a CompilationError unless it is one query."""
    if ";" not in sql and _QUERY_START.match(sql):
        return sql
    trimmed = sql.rstrip().rstrip(";").rstrip()
    if ";" not in trimmed and _QUERY_START.match(trimmed):
        return trimmed  # only trailing semicolons: no ';' is left to end a statement
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(dialect).tokenizer_class().tokenize(sql)
    except TokenError as exc:
        raise _error(f"cannot read the SQL: {exc}.", node, path) from None
    end = len(tokens)
    while end and tokens[end - 1].token_type == TokenType.SEMICOLON:
        end -= 1
    body = tokens[:end]
    if not body:
        raise _error("the SQL is empty.", node, path)
    _check_tokens(body, node, path, TokenType)
    return sql[: body[-1].end + 1] if end < len(tokens) else sql


def _check_tokens(tokens: list[t.Any], node: str | None, path: str | None, kinds: t.Any) -> None:
    first = tokens[0]
    if first.token_type.name not in _QUERY_KEYWORDS:
        raise _error(
            f"the rendered SQL must be one query, but it starts with '{first.text}' "
            f"(line {first.line} of the rendered SQL).",
            node,
            path,
        )
    separator = next((tok for tok in tokens if tok.token_type == kinds.SEMICOLON), None)
    if separator is not None:
        raise _error(
            "a model must be exactly one SELECT statement (one query), but the rendered SQL "
            "holds more than one statement: the ';' at line "
            f"{separator.line} of the rendered SQL ends the first one.",
            node,
            path,
        )
    depth = 0
    for token in tokens:
        depth += {kinds.L_PAREN: 1, kinds.R_PAREN: -1}.get(token.token_type, 0)
        if depth < 0:  # a ')' that would close the materialization's own parenthesis
            raise _error(
                f"the rendered SQL closes a parenthesis it did not open (line {token.line} "
                "of the rendered SQL).",
                node,
                path,
            )


def _error(message: str, node: str | None, path: str | None) -> CompilationError:
    return CompilationError(message, node=node, path=path, hint=_HINT)
