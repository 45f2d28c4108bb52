"""Generic data tests declared in YAML: unique, not_null, accepted_values, relationships.

Each becomes a test node whose SQL (Jinja, rendered like any model) returns the failing
rows, exactly like a singular test in ``tests/sql/``.
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.project import config as cfg
from warehouse_ml.project.nodes import Node, NodeKind, SourceTable


def quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: t.Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _not_null(rel: str, col: str, args: dict[str, t.Any]) -> str:
    return f"select * from {rel} where {quote_ident(col)} is null"


def _unique(rel: str, col: str, args: dict[str, t.Any]) -> str:
    c = quote_ident(col)
    return (
        f"select {c} as unique_field, count(*) as n_records from {rel} "
        f"where {c} is not null group by {c} having count(*) > 1"
    )


def _accepted_values(rel: str, col: str, args: dict[str, t.Any]) -> str:
    values = args["values"]
    quote = args.get("quote", True)
    items = ", ".join(quote_literal(v) if quote else str(v) for v in values)
    c = quote_ident(col)
    return (
        f"select {c} as value_field, count(*) as n_records from {rel} "
        f"where {c} is not null and {c} not in ({items}) group by {c}"
    )


_REF = re.compile(r"""^\s*(ref|source)\(\s*(['"])[^'"]+\2\s*(,\s*(['"])[^'"]+\4\s*)?\)\s*$""")


def _relationships(rel: str, col: str, args: dict[str, t.Any]) -> str:
    c, f = quote_ident(col), quote_ident(args["field"])
    return (
        f"select child.{c} as from_field from {rel} as child "
        f"left join {args['_to_relation']} as parent on child.{c} = parent.{f} "
        f"where child.{c} is not null and parent.{f} is null"
    )


def parse_reference(text: str) -> list[str]:
    """``ref('x')`` -> ['ref', 'x']; ``source('s', 't')`` -> ['source', 's', 't']."""
    match = _REF.match(str(text))
    if not match:
        raise ValueError(
            f"relationships 'to' must be ref('...') or source('...', '...'), got {text!r}"
        )
    return [match.group(1), *re.findall(r"""['"]([^'"]+)['"]""", text)]


GENERIC_TESTS: dict[str, t.Callable[[str, str, dict[str, t.Any]], str]] = {
    "not_null": _not_null,
    "unique": _unique,
    "accepted_values": _accepted_values,
    "relationships": _relationships,
}


Resolver = t.Callable[[list[str]], str]


def render_sql(node: Node, resolve: Resolver) -> str:
    """The test's SQL, with its relations resolved by ``resolve(['ref', name])``.

    Generic tests skip Jinja entirely: on large projects compiling thousands of tiny
    templates dominated parse time.
    """
    meta = t.cast(dict, node.test_metadata)
    args = dict(meta["kwargs"])
    relation = resolve(meta["model"])
    where = node.config.get("where")
    rel = f"(select * from {relation} where {where}) as wml_subquery" if where else relation
    if "to" in args:
        args["_to_relation"] = resolve(parse_reference(args["to"]))
    return GENERIC_TESTS[meta["name"]](rel, meta["column_name"], args)


# Dialects reading our generated SQL (double-quoted identifiers, '' inside strings, no
# backslash escapes) exactly as written.
_STANDARD_QUOTING = frozenset({"duckdb", "postgres", "redshift"})


def runs_as_written(node: Node, dialect: str) -> bool:
    """Whether the test's SQL needs no transpiling to ``dialect``.

    It holds no user SQL unless ``where`` or unquoted accepted values add some; skipping
    sqlglot for the thousands of such tests in a large project saves most of the cold
    transpile time (two of every three statements in the 1,000-model benchmark).
    """
    meta = node.test_metadata
    if not meta or dialect not in _STANDARD_QUOTING or node.config.get("where"):
        return False
    values = meta["kwargs"].get("values") or []
    return meta["kwargs"].get("quote", True) is not False and not any(
        "\\" in str(v) for v in values
    )


def _jinja_resolver(reference: list[str]) -> str:
    kind, *names = reference
    return "{{ " + kind + "(" + ", ".join(quote_literal(n) for n in names) + ") }}"


def from_properties(node: Node, entry: dict[str, t.Any], path: Path) -> list[Node]:
    """Test nodes for the tests declared on a model's or seed's columns."""
    return _build(node.name, node.unique_id, ["ref", node.name], entry, path)


def from_source(source: SourceTable, entry: dict[str, t.Any], path: Path) -> list[Node]:
    reference = ["source", source.source, source.name]
    return _build(f"{source.source}_{source.name}", None, reference, entry, path)


def _build(
    owner: str, attached_to: str | None, relation: list[str], entry: dict[str, t.Any], path: Path
) -> list[Node]:
    tests: list[Node] = []
    seen: set[str] = set()
    for column in entry.get("columns") or []:
        declared = column.get("data_tests", column.get("tests")) or []
        for item in declared:
            name, args = _split(item, path, owner)
            test = _make(owner, attached_to, relation, column["name"], name, args, path)
            base, n = test.name, 2
            while test.name in seen:
                test.name, n = f"{base}_{n}", n + 1
            seen.add(test.name)
            tests.append(test)
    return tests


def _split(item: t.Any, path: Path, owner: str) -> tuple[str, dict[str, t.Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        name, args = next(iter(item.items()))
        return name, dict(args or {})
    raise ConfigError(
        f"cannot read test {item!r}.",
        path=path,
        node=owner,
        hint="Write a test as a name (`- unique`) or a one-key mapping (`- accepted_values: {values: [...]}`).",
    )


def _make(
    owner: str,
    attached_to: str | None,
    relation: str,
    column: str,
    test: str,
    args: dict[str, t.Any],
    path: Path,
) -> Node:
    builder = GENERIC_TESTS.get(test)
    if builder is None:
        raise ConfigError(
            f"unknown generic test '{test}' on column '{column}'.",
            path=path,
            node=owner,
            hint=f"Built-in tests: {', '.join(GENERIC_TESTS)}; write others as SQL in tests/sql/.",
        )
    config = dict(args.pop("config", None) or {})
    for key in ("severity", "where", "tags"):
        if key in args:
            config[key] = args.pop(key)
    cfg.validate(config, path=path, node=owner)
    safe_col = re.sub(r"\W+", "_", column).strip("_").lower()
    node = Node(f"{test}_{owner}_{safe_col}", NodeKind.TEST, path, config=cfg.merge(config))
    node.attached_to = attached_to
    node.test_metadata = {"name": test, "column_name": column, "kwargs": args, "model": relation}
    try:
        _check_args(test, args)
        node.raw_sql = render_sql(node, _jinja_resolver)  # as Jinja, for the manifest
    except ValueError as exc:
        raise ConfigError(f"{exc}.", path=path, node=owner) from None
    return node


def _check_args(test: str, args: dict[str, t.Any]) -> None:
    if test == "accepted_values" and (
        not isinstance(args.get("values"), list) or not args["values"]
    ):
        raise ValueError("accepted_values needs a non-empty list under 'values'")
    if test == "relationships":
        if not args.get("to") or not args.get("field"):
            raise ValueError("relationships needs 'to' (e.g. ref('customers')) and 'field'")
        parse_reference(args["to"])
