"""Generic data tests declared in properties YAML, named and configured as dbt does.

A test is declared on a model, seed, snapshot or source table (``data_tests:`` or the older
``tests:``), at the top level or on a column. Each becomes a test node whose SQL returns the
failing rows. The four built-ins (unique, not_null, accepted_values, relationships) render
here without Jinja; any other name, or a built-in the project overrides with its own
``{% test %}`` block, renders through the test macro (``warehouse_ml/dbt/test_blocks.py``).
"""

from __future__ import annotations

import hashlib
import re
import typing as t
from pathlib import Path, PurePosixPath

from warehouse_ml.errors import ConfigError
from warehouse_ml.project import config as cfg
from warehouse_ml.project.nodes import Node, NodeKind, SourceTable

# Keys of a test's entry that are its config, not arguments of the test macro (dbt's list).
CONFIG_ARGS = (
    "severity", "tags", "enabled", "where", "limit", "warn_if", "error_if", "fail_calc",
    "store_failures", "store_failures_as", "meta", "database", "schema", "alias",
)  # fmt: skip


def quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: t.Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _column(meta: dict[str, t.Any]) -> str:
    """A column named in ``columns:`` is quoted; a model-level ``column_name`` argument is
    SQL as written (dbt allows an expression there, e.g. ``a || '-' || b``)."""
    col = meta["column_name"]
    return quote_ident(col) if meta.get("quote_column", True) else str(col)


def _not_null(rel: str, col: str, args: dict[str, t.Any]) -> str:
    return f"select * from {rel} where {col} is null"


def _unique(rel: str, col: str, args: dict[str, t.Any]) -> str:
    return (
        f"select {col} as unique_field, count(*) as n_records from {rel} "
        f"where {col} is not null group by {col} having count(*) > 1"
    )


def _accepted_values(rel: str, col: str, args: dict[str, t.Any]) -> str:
    values = args["values"]
    quote = args.get("quote", True)
    items = ", ".join(quote_literal(v) if quote else str(v) for v in values)
    return (
        f"select {col} as value_field, count(*) as n_records from {rel} "
        f"where {col} is not null and {col} not in ({items}) group by {col}"
    )


_REF = re.compile(r"""^\s*(ref|source)\(\s*(['"])[^'"]+\2\s*(,\s*(['"])[^'"]+\4\s*)?\)\s*$""")


def _relationships(rel: str, col: str, args: dict[str, t.Any]) -> str:
    # The child's column is selected first, so a column_name expression works too.
    f = quote_ident(args["field"])
    return (
        f"select from_field from (select {col} as from_field from {rel}) as child "
        f"left join {args['_to_relation']} as parent on child.from_field = parent.{f} "
        f"where child.from_field is not null and parent.{f} is null"
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


def is_builtin(node: Node) -> bool:
    meta = node.test_metadata or {}
    return not meta.get("namespace") and meta.get("name") in GENERIC_TESTS


def where_subquery(relation: str, where: t.Any) -> str:
    """dbt's ``get_where_subquery``: the ``where`` config filters the tested relation."""
    return f"(select * from {relation} where {where}) as wml_subquery" if where else relation


def render_sql(node: Node, resolve: Resolver) -> str:
    """A built-in test's SQL, with its relations resolved by ``resolve(['ref', name])``.

    Built-ins skip Jinja entirely: on large projects compiling thousands of tiny
    templates dominated parse time.
    """
    meta = t.cast(dict, node.test_metadata)
    args = dict(meta["kwargs"])
    rel = where_subquery(resolve(meta["model"]), node.config.get("where"))
    if "to" in args:
        args["_to_relation"] = resolve(parse_reference(args["to"]))
    return GENERIC_TESTS[meta["name"]](rel, _column(meta), args)


# Dialects reading our generated SQL (double-quoted identifiers, '' inside strings, no
# backslash escapes) exactly as written.
_STANDARD_QUOTING = frozenset({"duckdb", "postgres", "redshift"})


def runs_as_written(node: Node, dialect: str) -> bool:
    """Whether the test's SQL needs no transpiling to ``dialect``.

    It holds no user SQL unless ``where``, a column expression or unquoted accepted values
    add some; skipping sqlglot for the thousands of such tests in a large project saves
    most of the cold transpile time (two of every three statements in the 1,000-model
    benchmark).
    """
    meta = node.test_metadata
    if not meta or not meta.get("builtin_sql") or dialect not in _STANDARD_QUOTING:
        return False
    if node.config.get("where") or not meta.get("quote_column", True):
        return False
    values = meta["kwargs"].get("values") or []
    return meta["kwargs"].get("quote", True) is not False and not any(
        "\\" in str(v) for v in values
    )


def _jinja_resolver(reference: list[str]) -> str:
    kind, *names = reference
    return "{{ " + kind + "(" + ", ".join(quote_literal(n) for n in names) + ") }}"


# -- declarations ----------------------------------------------------------------------------


class Owner(t.NamedTuple):
    """What tests attach to: a model/seed/snapshot (by ref) or a source table."""

    name: str  # in test names: the node's name, or '<source>_<table>'
    attached_to: str | None
    relation: list[str]  # ['ref', name] or ['source', source, table]
    is_source: bool


def from_properties(
    node: Node,
    entry: dict[str, t.Any],
    path: Path,
    fqn: list[str] | None = None,
    tree: dict[str, t.Any] | None = None,
    project_name: str = "",
) -> list[Node]:
    """Test nodes for the tests declared on a model's, seed's or snapshot's entry.

    ``fqn`` is the YAML file's folder fqn (project, folders); ``tree`` the project file's
    ``tests:``/``data_tests:`` config tree, applied by each test's fqn as dbt does.
    """
    owner = Owner(node.name, node.unique_id, ["ref", node.name], False)
    return _build(owner, entry, path, fqn or [project_name], tree or {}, project_name)


def from_source(
    source: SourceTable,
    entry: dict[str, t.Any],
    path: Path,
    fqn: list[str] | None = None,
    tree: dict[str, t.Any] | None = None,
    project_name: str = "",
) -> list[Node]:
    owner = Owner(
        f"{source.source}_{source.name}", None, ["source", source.source, source.name], True
    )
    return _build(owner, entry, path, fqn or [project_name], tree or {}, project_name)


def _declared(entry: dict[str, t.Any], path: Path, where: str) -> list[t.Any]:
    if entry.get("tests") and entry.get("data_tests"):
        raise ConfigError(
            f"{where} has both 'tests' and 'data_tests'.",
            path=path,
            hint="dbt accepts one of them: move every test under 'data_tests'.",
        )
    declared = entry.get("data_tests", entry.get("tests")) or []
    if not isinstance(declared, list):
        raise ConfigError(f"the tests of {where} must be a list.", path=path)
    return declared


def _build(
    owner: Owner,
    entry: dict[str, t.Any],
    path: Path,
    fqn: list[str],
    tree: dict[str, t.Any],
    project_name: str,
) -> list[Node]:
    tests: list[Node] = []
    seen: set[str] = set()
    targets: list[tuple[dict[str, t.Any] | None, list[t.Any]]] = [
        (None, _declared(entry, path, f"'{owner.name}'"))
    ]
    for column in entry.get("columns") or []:
        targets.append((column, _declared(column, path, f"column '{column.get('name')}'")))
    for column, declared in targets:
        for item in declared:
            test = _make(owner, column, item, path, fqn, tree, project_name)
            if test is None:  # enabled: false
                continue
            base, n = test.name, 2
            while test.name in seen:
                test.name, n = f"{base}_{n}", n + 1
            test.fqn[-1] = test.name
            seen.add(test.name)
            tests.append(test)
    return tests


def _split(item: t.Any, path: Path, owner: str) -> tuple[str, dict[str, t.Any]]:
    """``- unique``, ``- accepted_values: {values: [...]}`` or dbt's ``test_name:`` form."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and "test_name" in item:
        args = dict(item)
        return str(args.pop("test_name")), args
    if isinstance(item, dict) and len(item) == 1:
        name, args = next(iter(item.items()))
        if args is None or isinstance(args, dict):
            return str(name), dict(args or {})
    raise ConfigError(
        f"cannot read test {item!r}.",
        path=path,
        node=owner,
        hint="Write a test as a name (`- unique`) or a one-key mapping (`- accepted_values: {values: [...]}`).",
    )


def _make(
    owner: Owner,
    column: dict[str, t.Any] | None,
    item: t.Any,
    path: Path,
    fqn: list[str],
    tree: dict[str, t.Any],
    project_name: str,
) -> Node | None:
    test, args = _split(item, path, owner.name)
    namespace, _, name = test.rpartition(".")
    custom_name = args.pop("name", None)
    description = args.pop("description", "")
    config = _config_layer(args, path, owner.name)
    # dbt 1.10 puts the macro's arguments under `arguments:`; flat keys still work.
    arguments = args.pop("arguments", None)
    if arguments is not None and not isinstance(arguments, dict):
        raise ConfigError(
            f"'arguments' of test '{test}' must be a mapping.", path=path, node=owner.name
        )
    args.update(arguments or {})
    if "model" in args:
        raise ConfigError(
            f"test '{test}' on '{owner.name}' has an argument named 'model'.",
            path=path,
            node=owner.name,
            hint="dbt passes the tested relation as 'model'; rename the argument.",
        )
    quoted = True
    if column is not None:
        col_name = str(column["name"])
        args["column_name"] = quote_ident(col_name) if column.get("quote") else col_name
        quoted = not column.get("quote")  # already quoted above
    elif "column_name" in args:
        quoted = False  # an expression or a name, as written
    short, full = test_names(test, owner, args)
    node_name = str(custom_name) if custom_name else full
    if short != full and not custom_name and "alias" not in config:
        config["alias"] = short  # the failures table keeps under 64 characters
    test_fqn = [*fqn, node_name]
    folder = cfg.folder_config(tree, PurePosixPath(*test_fqn[1:]), project_name) if tree else {}
    merged = cfg.merge(folder, config)
    if not cfg.is_enabled(merged):
        return None
    node = Node(node_name, NodeKind.TEST, path, config=merged)
    node.fqn = test_fqn
    node.attached_to = owner.attached_to
    node.description = str(description or "")
    builtin = not namespace and name in GENERIC_TESTS
    node.test_metadata = {
        "name": name,
        "namespace": namespace or None,
        "kwargs": args,
        "model": owner.relation,
        "column_name": args.get("column_name"),
        "quote_column": quoted,
        "builtin_sql": builtin,  # may be turned off when the project overrides it
    }
    if builtin:
        try:
            _check_args(name, args)
            node.raw_sql = render_sql(node, _jinja_resolver)  # as Jinja, for the manifest
        except ValueError as exc:
            raise ConfigError(f"{exc}.", path=path, node=owner.name) from None
    else:
        call = f"{namespace + '.' if namespace else ''}test_{name}"
        node.raw_sql = "{{ " + call + "(**_dbt_generic_test_kwargs) }}"
    return node


def _config_layer(args: dict[str, t.Any], path: Path, owner: str) -> dict[str, t.Any]:
    config = args.pop("config", None) or {}
    if not isinstance(config, dict):
        raise ConfigError("a test's 'config' must be a mapping.", path=path, node=owner)
    config = dict(config)
    for key in CONFIG_ARGS:
        if key in args:
            config[key] = args.pop(key)
    return config  # validated with the node's whole config when the project is parsed


def test_names(test: str, owner: Owner, args: dict[str, t.Any]) -> tuple[str, str]:
    """dbt's synthesized test name: (short name, full name).

    ``<test>_<owner>_<arguments flattened>``: arguments sorted by name, each value (a
    list's items, a dict's values) with runs of other characters than [0-9a-zA-Z_] made
    ``_``, joined by ``__``. Source tests start with ``source_``; a namespaced test with
    ``<namespace>_``. A full name of 64 characters or more is shortened to its first 30
    identifying characters and the md5 of the full name.
    """
    kind = test.replace(".", "_")
    if owner.is_source:
        kind = "source_" + kind
    flat: list[str] = []
    for key in sorted(args):
        value = args[key]
        parts = list(value.values()) if isinstance(value, dict) else (
            list(value) if isinstance(value, (list, tuple)) else [value]
        )  # fmt: skip
        flat += [re.sub(r"[^0-9a-zA-Z_]+", "_", _text(p)) for p in parts]
    identifier = f"{kind}_{owner.name}"
    full = f"{identifier}_{'__'.join(flat)}"
    if len(full) >= 64:
        return f"{identifier[:30]}_{hashlib.md5(full.encode()).hexdigest()}", full
    return full, full


def _text(value: t.Any) -> str:
    # Python's str() as dbt renders it: True, None, [1, 2] (YAML gives the same objects).
    return str(value)


def _check_args(test: str, args: dict[str, t.Any]) -> None:
    if "column_name" not in args:
        raise ValueError(f"{test} needs a column: declare it under a column, or pass column_name")
    if test == "accepted_values" and (
        not isinstance(args.get("values"), list) or not args["values"]
    ):
        raise ValueError("accepted_values needs a non-empty list under 'values'")
    if test == "relationships":
        if not args.get("to") or not args.get("field"):
            raise ValueError("relationships needs 'to' (e.g. ref('customers')) and 'field'")
        parse_reference(args["to"])
