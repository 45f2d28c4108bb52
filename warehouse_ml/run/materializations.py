"""How a node becomes a relation: view, table, incremental, seed.

Every build goes into a temporary relation and is swapped in inside one transaction,
so a failure leaves the previous relation untouched. The node's pre-hooks run first in
that transaction and its post-hooks last, after the swap (``warehouse_ml.run.hooks``). ML models register their own
materialization (``warehouse_ml.ml``) in :data:`MATERIALIZERS`.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t
from pathlib import Path

from warehouse_ml.adapters.base import Adapter
from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError, ExecutionError, WmlError
from warehouse_ml.project.nodes import Node
from warehouse_ml.run import contracts, hooks, persist_docs
from warehouse_ml.run.external import build_external
from warehouse_ml.run.snapshots import build_snapshot

if t.TYPE_CHECKING:
    import pyarrow as pa

TMP_SUFFIX = "__wml_tmp"


@dataclasses.dataclass
class BuildContext:
    adapter: Adapter
    cursor: t.Any
    node: Node
    relation: Relation
    render: t.Callable[[bool], str]  # is_incremental -> SQL in the target dialect
    full_refresh: bool = False
    project_root: Path | None = None
    extras: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    # (phase, is_incremental) -> the node's compiled hooks; None runs no hooks.
    compiled_hooks: t.Callable[[str, bool], list[hooks.Hook]] | None = None
    explain: t.Callable[[BaseException], str] = lambda exc: str(exc).split("\n\n")[0]
    # Runs inside the transaction once the new relation is in place, before post-hooks:
    # monitoring records a scoring run here (warehouse_ml/ml/monitoring/record.py).
    after_build: t.Callable[[BuildContext], None] | None = None


@dataclasses.dataclass
class BuildResult:
    rows: int | None
    message: str


def _swap(ctx: BuildContext, create: t.Callable[[Relation], str], kind: str) -> None:
    """Create into a temporary relation, drop the old one, rename: all in one transaction."""
    _swap_with(ctx, lambda tmp: ctx.adapter.execute(create(tmp), cursor=ctx.cursor), kind)


def _swap_with(ctx: BuildContext, build: t.Callable[[Relation], t.Any], kind: str) -> None:
    """:func:`_swap` where ``build(tmp)`` runs whatever statements create ``tmp``."""
    a, cur, rel = ctx.adapter, ctx.cursor, ctx.relation
    tmp = rel.with_suffix(TMP_SUFFIX)
    a.ensure_schema(rel.schema, cur, rel.database)
    hooks.run_outside(ctx, hooks.PRE)
    with a.transaction(cur):
        hooks.run(ctx, hooks.PRE)
        stale, existing = a.swap_lookup(tmp, rel, cur)
        if stale:
            a.execute(a.drop_sql(tmp, stale), cursor=cur)
        build(tmp)
        if existing:
            a.execute(a.drop_sql(rel, existing), cursor=cur)
        a.execute(a.rename_sql(tmp, rel.identifier, kind), cursor=cur)
        if ctx.after_build is not None:
            ctx.after_build(ctx)
        persist_docs.apply(ctx, kind)
        hooks.run(ctx, hooks.POST)
    hooks.run_outside(ctx, hooks.POST)


def build_view(ctx: BuildContext) -> BuildResult:
    sql = ctx.render(False)

    def create(tmp: Relation) -> None:
        if contracts.enforced(ctx.node):
            contracts.check(ctx, sql)
            contracts.warn_view_constraints(ctx)
        ctx.adapter.execute(ctx.adapter.create_view_sql(tmp, sql), cursor=ctx.cursor)

    _swap_with(ctx, create, "view")
    return BuildResult(None, f"created view {ctx.relation}")


def build_table(ctx: BuildContext, unique_key: list[str] | None = None) -> BuildResult:
    """CREATE TABLE AS; with ``unique_key`` the new table must be unique on it before
    it replaces the old one (incremental models built in full)."""
    a, sql = ctx.adapter, ctx.render(False)

    def create(tmp: Relation) -> None:
        if contracts.enforced(ctx.node):  # checked first: a broken contract writes nothing
            columns = contracts.check(ctx, sql)
            for statement in contracts.create_table_sql(ctx, tmp, sql, columns):
                a.execute(statement, cursor=ctx.cursor)
        else:
            a.execute(a.create_table_as_sql(tmp, sql), cursor=ctx.cursor)
        if unique_key:
            _check_unique(ctx, tmp, unique_key)

    _swap_with(ctx, create, "table")
    return BuildResult(_row_count(ctx), f"created table {ctx.relation}")


def _row_count(ctx: BuildContext) -> int | None:
    """The built relation's rows; None when a post-hook dropped it (dbt allows that:
    `{% do adapter.drop_relation(this) %}` in dbt_utils' integration tests)."""
    a = ctx.adapter
    if ctx.compiled_hooks is not None and a.relation_type(ctx.relation, ctx.cursor) is None:
        return None
    return a.row_count(ctx.relation, ctx.cursor)


def build_incremental(ctx: BuildContext) -> BuildResult:
    """dbt's incremental model: append, delete+insert or merge new rows into the table.

    ``is_incremental()`` is true only when the table exists, the model is incremental
    and ``--full-refresh`` is not set; otherwise the model is built like a table.
    """
    a, cur, rel, node = ctx.adapter, ctx.cursor, ctx.relation, ctx.node
    full_refresh = ctx.full_refresh and node.config.get("full_refresh") is not False
    keys = _unique_key(node)
    strategy = node.config.get("incremental_strategy") or ("merge" if keys else "append")
    if full_refresh or a.relation_type(rel, cur) != "table":
        return build_table(ctx, keys if strategy != "append" else None)
    if strategy != "append" and not keys:
        raise ConfigError(
            f"incremental_strategy '{strategy}' needs a unique_key.",
            path=node.path,
            node=node.name,
            hint="Add unique_key='id' (or a list) to the model's config, or use 'append'.",
        )
    sql = ctx.render(True)
    if contracts.enforced(node):
        contracts.check(ctx, sql)
    tmp = rel.with_suffix(TMP_SUFFIX)
    hooks.run_outside(ctx, hooks.PRE, incremental=True)
    with a.transaction(cur):
        hooks.run(ctx, hooks.PRE, incremental=True)
        if a.relation_type(tmp, cur):
            a.execute(a.drop_sql(tmp, "table"), cursor=cur)
        a.execute(a.create_table_as_sql(tmp, sql), cursor=cur)
        new_rows = a.row_count(tmp, cur)
        if strategy != "append":
            _check_unique(ctx, tmp, keys)
        columns = _reconcile_schema(ctx, tmp)
        if strategy == "append":
            _insert(a, cur, rel, tmp, columns)
        elif strategy == "delete+insert" or not a.supports_merge:
            _delete_matching(a, cur, rel, tmp, keys)
            _insert(a, cur, rel, tmp, columns)
        else:
            _merge(a, cur, rel, tmp, keys, columns)
        a.execute(a.drop_sql(tmp, "table"), cursor=cur)
        if ctx.after_build is not None:
            ctx.after_build(ctx)
        persist_docs.apply(ctx, "table")
        hooks.run(ctx, hooks.POST, incremental=True)
    hooks.run_outside(ctx, hooks.POST, incremental=True)
    return BuildResult(new_rows, f"{strategy} {new_rows} rows into {rel}")


def _unique_key(node: Node) -> list[str]:
    key = node.config.get("unique_key")
    if not key:
        return []
    return [key] if isinstance(key, str) else [str(k) for k in key]


def _match(keys: list[str], left: str, right: str) -> str:
    # NULL-safe: a NULL key matches a NULL key, so reruns never duplicate rows (dbt-core #7597).
    return " and ".join(f"{left}.{quote(k)} is not distinct from {right}.{quote(k)}" for k in keys)


def _check_unique(ctx: BuildContext, tmp: Relation, keys: list[str]) -> None:
    """Refuse a batch whose rows share a key (NULLs count as equal, as they match).

    MERGE would update each matching row from an arbitrary one of the duplicates (two
    NULL-keyed rows 'b', 'c' both became 'c') and delete+insert would store both: either
    way the table stops being unique on its key (dbt-core #7597). Raising inside the
    transaction writes nothing.
    """
    cols = ", ".join(quote(k) for k in keys)
    rows = ctx.adapter.execute(
        f"select {cols}, count(*) from {tmp} group by {cols} having count(*) > 1 limit 1",
        cursor=ctx.cursor,
    )
    if not rows:
        return
    *values, count = rows[0]
    example = ", ".join(f"{k}={_literal(v)}" for k, v in zip(keys, values, strict=True))
    raise ExecutionError(
        f"unique_key ({', '.join(keys)}) is not unique in the model's new rows: "
        f"{example} appears {count} times; nothing was written.",
        node=ctx.node.name,
        path=ctx.node.fqn_path,
        hint="Rows with a NULL key match each other (IS NOT DISTINCT FROM), so they count as "
        "duplicates too. Deduplicate the rows (e.g. qualify row_number() over (partition by "
        "the key) = 1) or choose a key that names one row.",
    )


def _literal(value: t.Any) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _insert(a: Adapter, cur: t.Any, rel: Relation, tmp: Relation, columns: list[str]) -> None:
    cols = ", ".join(quote(c) for c in columns)
    a.execute(f"insert into {rel} ({cols}) select {cols} from {tmp}", cursor=cur)


def _delete_matching(a: Adapter, cur: t.Any, rel: Relation, tmp: Relation, keys: list[str]) -> None:
    a.execute(
        f"delete from {rel} where exists (select 1 from {tmp} as wml_new "
        f"where {_match(keys, 'wml_new', str(rel))})",
        cursor=cur,
    )


def _merge(
    a: Adapter, cur: t.Any, rel: Relation, tmp: Relation, keys: list[str], columns: list[str]
) -> None:
    updates = ", ".join(f"{quote(c)} = wml_new.{quote(c)}" for c in columns if c not in keys)
    cols = ", ".join(quote(c) for c in columns)
    values = ", ".join(f"wml_new.{quote(c)}" for c in columns)
    matched = f"when matched then update set {updates} " if updates else ""
    a.execute(
        f"merge into {rel} as wml_old using {tmp} as wml_new "
        f"on ({_match(keys, 'wml_old', 'wml_new')}) {matched}"
        f"when not matched then insert ({cols}) values ({values})",
        cursor=cur,
    )


def _reconcile_schema(ctx: BuildContext, tmp: Relation) -> list[str]:
    """Apply ``on_schema_change``; returns the columns to write."""
    a, cur, rel, node = ctx.adapter, ctx.cursor, ctx.relation, ctx.node
    new = dict(a.columns(tmp, cur))
    old = dict(a.columns(rel, cur))
    added = [c for c in new if c not in old]
    removed = [c for c in old if c not in new]
    changed = [c for c in new if c in old and new[c] != old[c]]
    mode = node.config.get("on_schema_change") or "ignore"
    if not (added or removed or changed) or mode == "ignore":
        return [c for c in new if c in old]
    if mode == "fail":
        raise ExecutionError(
            f"the incremental model's columns changed (added {added}, removed {removed}, "
            f"type changed {changed}) and on_schema_change is 'fail'.",
            path=node.path,
            node=node.name,
            hint="Run with --full-refresh, or set on_schema_change to append_new_columns or sync_all_columns.",
        )
    for col in added:
        a.execute(f"alter table {rel} add column {quote(col)} {new[col]}", cursor=cur)
    if mode == "sync_all_columns":
        for col in removed:
            a.execute(f"alter table {rel} drop column {quote(col)}", cursor=cur)
        for col in changed:
            a.execute(f"alter table {rel} alter column {quote(col)} type {new[col]}", cursor=cur)
    return list(new)


# -- seeds -------------------------------------------------------------------------------

# Types the CSV sniffer may pick; dates only in ISO form, so 'SAT' or '3/4' stay text.
_SEED_TYPES = ["BOOLEAN", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "VARCHAR"]
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$")
_CSV_LINE = re.compile(r"(?:CSV Error on Line|line)[: ]+(\d+)", re.I)


def seed_select(ctx: BuildContext, query: t.Callable[[str], list[tuple]] | None = None) -> str:
    """The SELECT that reads the seed: DuckDB ``read_csv`` with declared ``column_types``.

    With ``seed_type_inference: agate`` (dbt projects) the columns get the types dbt-duckdb
    gives them (``run/seed_types.py``), decided by one scan run through ``query``;
    otherwise DuckDB's sniffer picks them, with no surprising guesses.
    """
    node = ctx.node
    assert ctx.project_root is not None and node.path is not None
    file = ctx.project_root / node.path
    path = file.as_posix().replace("'", "''")
    types = _column_types(node)
    delim = str(node.config.get("delimiter", ","))
    if _inference(ctx) == "agate":
        from warehouse_ml.run import seed_types

        header = _seed_header(ctx, file, delim)
        run = query or (lambda sql: ctx.adapter.execute(sql, cursor=ctx.cursor))
        row = run(seed_types.infer_sql(file.as_posix(), delim, header))[0]
        columns = seed_types.pick(row, header, types)
        return f"select * from {seed_types.reader(file.as_posix(), delim, columns, as_copy=True)}"
    type_struct = ", ".join(
        f"'{str(c).replace(chr(39), chr(39) * 2)}': '{v}'" for c, v in types.items()
    )
    candidates = ", ".join(f"'{t}'" for t in _SEED_TYPES)
    options = [
        "header = true",
        f"delim = '{delim.replace(chr(39), chr(39) * 2)}'",
        f"auto_type_candidates = [{candidates}]",
        "dateformat = '%Y-%m-%d'",
        "sample_size = -1",
    ]
    # A declared timestamp column parses any ISO form ('T' or ' ', fractions): the fixed
    # format is for guessing only, and would reject the values the user typed it for.
    if not any("timestamp" in str(v).lower() for v in types.values()):
        options.insert(4, "timestampformat = '%Y-%m-%d %H:%M:%S'")
    if types:
        options.append(f"types = {{{type_struct}}}")
    return f"select * from read_csv('{path}', {', '.join(options)})"


def _inference(ctx: BuildContext) -> str:
    session = ctx.extras.get("session")
    settings = getattr(getattr(session, "project", None), "settings", None)
    return str(getattr(settings, "seed_type_inference", "sniff"))


def _column_types(node: Node) -> dict[str, str]:
    types = node.config.get("column_types") or {}
    if not isinstance(types, dict):
        raise ConfigError(
            "column_types must map column names to types.", path=node.path, node=node.name
        )
    for col, typ in types.items():
        if not _TYPE_NAME.match(str(typ)):
            raise ConfigError(
                f"column_types: '{typ}' for '{col}' is not a type name.",
                path=node.path,
                node=node.name,
            )
    return {str(k): str(v) for k, v in types.items()}


def _seed_header(ctx: BuildContext, path: Path, delim: str) -> list[str]:
    import csv

    # utf-8-sig: a byte-order mark (Excel's CSVs) is not part of the first column's name.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle, delimiter=delim), None)
    if not header:
        raise ExecutionError(
            "the seed file is empty; it needs a header row.", path=ctx.node.path, node=ctx.node.name
        )
    return header


def seed_check_sql(ctx: BuildContext) -> str:
    """Every row read as text with the header's column count, so a bad row names its line.

    DuckDB's sniffer would otherwise quietly skip a malformed leading row.
    """
    assert ctx.project_root is not None and ctx.node.path is not None
    path = ctx.project_root / ctx.node.path
    delim = str(ctx.node.config.get("delimiter", ","))
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(_seed_header(ctx, path, delim))))
    literal = path.as_posix().replace("'", "''")
    return (
        f"select count(*) from read_csv('{literal}', header = false, skip = 1, auto_detect = false, "
        f"delim = '{delim.replace(chr(39), chr(39) * 2)}', quote = '\"', escape = '\"', "
        f"strict_mode = true, columns = {{{columns}}})"
    )


def build_seed(ctx: BuildContext) -> BuildResult:
    """CSV -> table. DuckDB reads the file itself; other warehouses get the rows DuckDB
    read here (same types, same checks), inserted in batches with bound parameters."""
    try:
        if ctx.adapter.reads_local_files:
            ctx.adapter.execute(seed_check_sql(ctx), cursor=ctx.cursor)
            sql = seed_select(ctx)
            _swap(ctx, lambda tmp: ctx.adapter.create_table_as_sql(tmp, sql), "table")
        else:
            rows = _read_seed_locally(ctx)
            _swap_with(ctx, lambda tmp: ctx.adapter.load_table(tmp, rows, ctx.cursor), "table")
    except WmlError:  # a hook's or the config's error names its own cause
        raise
    except Exception as exc:  # the CSV reader names the bad line
        text = str(exc)
        match = _CSV_LINE.search(text)
        raise ExecutionError(
            f"cannot load the seed: {_csv_diagnosis(text) or type(exc).__name__}",
            path=ctx.node.path,
            node=ctx.node.name,
            line=int(match.group(1)) if match else None,
            hint=_csv_hint(text),
        ) from None
    return BuildResult(_row_count(ctx), f"loaded seed {ctx.relation}")


_CSV_DIALECT = ("delimiter", "quote", "escape")  # what DuckDB read the file with
_CSV_SETTING = re.compile(r"^\s*(\w+) = (.*?)\s*(\((?:Set By User|Auto-Detected)\))?$")
# The sentences of DuckDB's CSV errors that say what is wrong (the rest is advice on
# read_csv options a seed does not have, and the full list of reader settings).
_CSV_REASON = re.compile(
    r"^(.*Error: CSV Error on Line: \d+|Error when converting column.*|"
    r"Expected Number of Columns.*|.*unterminated quote.*|.*[Ii]nvalid unicode.*|"
    r"Maximum line size.*)$"
)


def _csv_diagnosis(text: str) -> str:
    """DuckDB's CSV error in one paragraph: the reason, the original line and the dialect
    (delimiter, quote, escape) it read the file with."""
    lines = text.strip().splitlines()
    reason = [m[1].strip().rstrip(".") for m in map(_CSV_REASON.match, lines) if m]
    if not reason:
        return " ".join(lines[:3])
    diagnosis = ": ".join(reason)
    original = next(
        (x.split(":", 1)[1].strip() for x in lines if x.startswith("Original Line:")), ""
    )
    if original:
        diagnosis += f" (the line reads: {original})"
    dialect = [
        f"{m[1]} {repr(m[2]) if m[2] not in ('', '(empty)') else '(none)'}"
        for m in map(_CSV_SETTING.match, lines)
        if m and m[1] in _CSV_DIALECT
    ]
    if dialect:
        diagnosis += "; DuckDB read the file with " + ", ".join(dialect)
    return diagnosis + "."


def _csv_hint(text: str) -> str:
    """The seed setting that fixes DuckDB's complaint: column_types, quoting or delimiter."""
    column = re.search(r'converting column "([^"]+)"', text)
    if column:
        return (
            f"Declare the column's type under column_types in the seed's config "
            f"(e.g. column_types: {{{column[1]}: VARCHAR}}), or fix the value."
        )
    if "unterminated quote" in text.lower():
        return 'Close the quote on that line; a quote inside a quoted value is written twice ("").'
    if "Expected Number of Columns" in text:
        return (
            'Quote a value that contains the delimiter ("a,b"), or set delimiter in the '
            "seed's config if the file uses another one (e.g. delimiter: ';')."
        )
    return "Fix that row, or declare the column's type under column_types in the seed's config."


def _read_seed_locally(ctx: BuildContext) -> pa.Table:
    import duckdb

    with duckdb.connect() as con:
        con.execute(seed_check_sql(ctx)).fetchall()
        return con.sql(seed_select(ctx, lambda sql: con.execute(sql).fetchall())).to_arrow_table()


MATERIALIZERS: dict[str, t.Callable[[BuildContext], BuildResult]] = {
    "view": build_view,
    "table": build_table,
    "incremental": build_incremental,
    "seed": build_seed,
    "snapshot": build_snapshot,
    "external": build_external,
}
