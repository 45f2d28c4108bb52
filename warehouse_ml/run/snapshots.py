"""dbt snapshots: a type-2 history table of a query, rows as dbt-duckdb writes them.

First run: every row of the query plus ``dbt_scd_id`` (md5 of the unique key and the
updated-at value), ``dbt_updated_at``, ``dbt_valid_from`` and ``dbt_valid_to`` (NULL, or
``dbt_valid_to_current``, for the current version). Later runs stage the changes
(inserts of new and changed keys, updates closing the old versions, and with
``hard_deletes`` the deleted keys), then close and insert in place, as dbt-duckdb's
``snapshot_merge_sql`` does. Strategies: ``timestamp`` (a row changed when its
``updated_at`` is later than the current version's ``dbt_valid_from``) and ``check``
(any of ``check_cols``, or every column with ``'all'``, differs; the snapshot time is the
version's timestamp). https://docs.getdbt.com/docs/build/snapshots

Everything runs in the node's one transaction, so a failing snapshot changes nothing.
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError
from warehouse_ml.run import hooks, persist_docs

if t.TYPE_CHECKING:
    from warehouse_ml.run.materializations import BuildContext, BuildResult

META = ("dbt_valid_from", "dbt_valid_to", "dbt_scd_id", "dbt_updated_at", "dbt_is_deleted")
NOW = "current_timestamp::timestamp"  # dbt-duckdb's snapshot_get_time()
STAGING_SUFFIX = "__wml_snapshot_staging"


@dataclasses.dataclass
class Strategy:
    keys: list[str]  # unique_key expressions (one or several)
    updated_at: str  # SQL expression of a version's timestamp
    check_cols: list[str] | None  # None: the timestamp strategy
    hard_deletes: str  # ignore | invalidate | new_record
    names: dict[str, str]  # dbt's meta column -> the name in this table
    valid_to_current: str | None

    def col(self, meta: str) -> str:
        return quote(self.names[meta])

    @property
    def scd_id(self) -> str:
        args = [*self.keys, self.updated_at]
        parts = " || '|' || ".join(f"coalesce(cast({a} as varchar), '')" for a in args)
        return f"md5({parts})"

    @property
    def current_to(self) -> str:
        """``dbt_valid_to`` of a current version, typed like the updated-at value."""
        marker = self.valid_to_current or "null"
        return f"coalesce(nullif({self.updated_at}, {self.updated_at}), {marker})"

    def is_current(self, alias: str) -> str:
        column = f"{alias}.{self.col('dbt_valid_to')}"
        if self.valid_to_current:
            return f"({column} = {self.valid_to_current} or {column} is null)"
        return f"{column} is null"


def strategy(ctx: BuildContext) -> Strategy:
    node, config = ctx.node, ctx.node.config
    where = {"path": node.path, "node": node.name}
    kind = config.get("strategy")
    key = config.get("unique_key")
    if kind not in ("timestamp", "check") or not key:
        raise ConfigError(
            "a snapshot needs strategy ('timestamp' or 'check') and unique_key.",
            hint="Add them to its config, e.g. config(strategy='timestamp', unique_key='id', "
            "updated_at='updated_at').",
            **where,
        )
    if config.get("invalidate_hard_deletes") is not None and config.get("hard_deletes") is not None:
        raise ConfigError(
            "set hard_deletes or invalidate_hard_deletes, not both (as in dbt).", **where
        )
    hard = "invalidate" if config.get("invalidate_hard_deletes") else str(config.get("hard_deletes") or "ignore")
    names = {m: m for m in META}
    custom = config.get("snapshot_meta_column_names") or {}
    if not isinstance(custom, dict) or not set(custom) <= set(META):
        raise ConfigError(
            f"snapshot_meta_column_names must map some of {', '.join(META)} to names.", **where
        )
    names.update({k: str(v) for k, v in custom.items()})
    keys = [str(k) for k in key] if isinstance(key, (list, tuple)) else [str(key)]
    check = None
    if kind == "timestamp":
        if not config.get("updated_at"):
            raise ConfigError("the timestamp strategy needs updated_at.", **where)
        updated_at = str(config["updated_at"])
    else:
        check = config.get("check_cols")
        if check != "all" and not (isinstance(check, (list, tuple)) and check):
            raise ConfigError(
                f"check_cols must be 'all' or a list of columns, got {check!r}.", **where
            )
        updated_at = str(config.get("updated_at") or NOW)
        check = None if check == "all" else [str(c) for c in check]
        check = check if check is not None else ["*"]
    return Strategy(keys, updated_at, check, hard, names, config.get("dbt_valid_to_current"))


def _key_fields(s: Strategy) -> str:
    if len(s.keys) == 1:
        return f"{s.keys[0]} as dbt_unique_key"
    return ", ".join(f"{k} as dbt_unique_key_{i}" for i, k in enumerate(s.keys, 1))


def _key_names(s: Strategy) -> list[str]:
    return ["dbt_unique_key"] if len(s.keys) == 1 else [f"dbt_unique_key_{i}" for i in range(1, len(s.keys) + 1)]


def _join(s: Strategy, left: str, right: str) -> str:
    return " and ".join(f"{left}.{k} = {right}.{k}" for k in _key_names(s))


def first_build_sql(s: Strategy, sql: str) -> str:
    deleted = f", 'False' as {s.col('dbt_is_deleted')}" if s.hard_deletes == "new_record" else ""
    return (
        f"select *, {s.scd_id} as {s.col('dbt_scd_id')}, {s.updated_at} as {s.col('dbt_updated_at')}, "
        f"{s.updated_at} as {s.col('dbt_valid_from')}, {s.current_to} as {s.col('dbt_valid_to')}"
        f"{deleted}\nfrom (\n{sql}\n) as sbq"
    )


def _row_changed(s: Strategy, query_cols: list[str], target_cols: list[str]) -> str:
    if s.check_cols is None:
        return f"(snapshotted_data.{s.col('dbt_valid_from')} < source_data.{s.updated_at})"
    cols = query_cols if s.check_cols == ["*"] else s.check_cols
    if any(c not in target_cols for c in cols):
        return "(true)"  # a column was added: every current row gets a new version (dbt)
    parts = [
        f"snapshotted_data.{quote(c)} is distinct from source_data.{quote(c)}" for c in cols
    ]
    return "(" + " or ".join(parts) + ")"


def staging_sql(s: Strategy, sql: str, target: Relation, query_cols: list[str], target_cols: list[str]) -> str:
    """dbt's staging select: insert/update(/delete) rows against the current versions."""
    changed = _row_changed(s, query_cols, target_cols)
    new_record = s.hard_deletes == "new_record"
    deleted = s.col("dbt_is_deleted")
    if new_record:
        changed = f"({changed} or snapshotted_data.{deleted} = 'True')"
    first_key = _key_names(s)[0]
    parts = [
        f"with snapshot_query as (\n{sql}\n),",
        f"snapshotted_data as (select *, {_key_fields(s)} from {target} as t where {s.is_current('t')}),",
        f"insertions_source_data as (select *, {_key_fields(s)}, {s.updated_at} as {s.col('dbt_updated_at')}, "
        f"{s.updated_at} as {s.col('dbt_valid_from')}, {s.current_to} as {s.col('dbt_valid_to')}, "
        f"{s.scd_id} as {s.col('dbt_scd_id')} from snapshot_query),",
        f"updates_source_data as (select *, {_key_fields(s)}, {s.updated_at} as {s.col('dbt_updated_at')}, "
        f"{s.updated_at} as {s.col('dbt_valid_from')}, {s.updated_at} as {s.col('dbt_valid_to')} "
        "from snapshot_query),",
        f"deletes_source_data as (select *, {_key_fields(s)} from snapshot_query),",
        "insertions as (select 'insert' as dbt_change_type, source_data.*"
        + (f", 'False' as {deleted}" if new_record else "")
        + " from insertions_source_data as source_data left outer join snapshotted_data "
        f"on {_join(s, 'snapshotted_data', 'source_data')} "
        f"where snapshotted_data.{first_key} is null or (snapshotted_data.{first_key} is not null and {changed})),",
        f"updates as (select 'update' as dbt_change_type, source_data.*, snapshotted_data.{s.col('dbt_scd_id')}"
        + (f", snapshotted_data.{deleted}" if new_record else "")
        + " from updates_source_data as source_data join snapshotted_data "
        f"on {_join(s, 'snapshotted_data', 'source_data')} where {changed}),",
    ]
    selects = ["select * from insertions", "select * from updates"]
    if s.hard_deletes in ("invalidate", "new_record"):
        skip = f" and not (snapshotted_data.{deleted} = 'True' and {s.is_current('snapshotted_data')})" if new_record else ""
        parts.append(
            f"deletes as (select 'delete' as dbt_change_type, source_data.*, {NOW} as {s.col('dbt_valid_from')}, "
            f"{NOW} as {s.col('dbt_updated_at')}, {NOW} as {s.col('dbt_valid_to')}, snapshotted_data.{s.col('dbt_scd_id')}"
            + (f", snapshotted_data.{deleted}" if new_record else "")
            + " from snapshotted_data left join deletes_source_data as source_data "
            f"on {_join(s, 'snapshotted_data', 'source_data')} where source_data.{first_key} is null{skip}),"
        )
        selects.append("select * from deletes")
    if new_record:
        cols = ", ".join(
            f"snapshotted_data.{quote(c)}" if c in target_cols else f"source_data.{quote(c)}"
            for c in query_cols
        )
        keys = ", ".join(f"snapshotted_data.{k} as {k}" for k in _key_names(s))
        scd = f"md5(coalesce(cast(snapshotted_data.{s.col('dbt_scd_id')} as varchar), '') || '|' || coalesce(cast({NOW} as varchar), ''))"
        parts.append(
            f"deletion_records as (select 'insert' as dbt_change_type, {cols}, {keys}, "
            f"{NOW} as {s.col('dbt_valid_from')}, {NOW} as {s.col('dbt_updated_at')}, "
            f"snapshotted_data.{s.col('dbt_valid_to')} as {s.col('dbt_valid_to')}, {scd} as {s.col('dbt_scd_id')}, "
            f"'True' as {deleted} from snapshotted_data left join deletes_source_data as source_data "
            f"on {_join(s, 'snapshotted_data', 'source_data')} where source_data.{first_key} is null"
            f"{skip}),"
        )
        selects.append("select * from deletion_records")
    parts[-1] = parts[-1].rstrip(",")
    return "\n".join(parts) + "\n" + "\nunion all\n".join(selects)


def build_snapshot(ctx: BuildContext) -> BuildResult:
    from warehouse_ml.run.materializations import BuildResult

    a, cur, rel = ctx.adapter, ctx.cursor, ctx.relation
    s = strategy(ctx)
    sql = ctx.render(False)
    a.ensure_schema(rel.schema, cur, rel.database)
    hooks.run_outside(ctx, hooks.PRE)
    with a.transaction(cur):
        hooks.run(ctx, hooks.PRE)
        existing = a.relation_type(rel, cur)
        if existing == "view":
            raise ConfigError(
                f"{rel} is a view; a snapshot needs a table.",
                path=ctx.node.path, node=ctx.node.name,
                hint="Drop the view or give the snapshot another name or schema.",
            )  # fmt: skip
        if existing is None:
            a.execute(a.create_table_as_sql(rel, first_build_sql(s, sql)), cursor=cur)
            message = f"created snapshot {rel}"
        else:
            message = _merge(ctx, s, sql)
        persist_docs.apply(ctx, "table")
        hooks.run(ctx, hooks.POST)
    hooks.run_outside(ctx, hooks.POST)
    return BuildResult(a.row_count(rel, cur), message)


def _query_columns(ctx: BuildContext, sql: str) -> list[str]:
    rows = ctx.adapter.execute(f"describe select * from (\n{sql}\n) as q", cursor=ctx.cursor)
    return [str(r[0]) for r in rows]


def _merge(ctx: BuildContext, s: Strategy, sql: str) -> str:
    a, cur, rel = ctx.adapter, ctx.cursor, ctx.relation
    target_cols = [c for c, _ in a.columns(rel, cur)]
    missing = [m for m in ("dbt_scd_id", "dbt_valid_from", "dbt_valid_to") if s.names[m] not in target_cols]
    if missing:
        raise ConfigError(
            f"{rel} exists but has no {', '.join(s.names[m] for m in missing)} column: it is "
            "not a snapshot table (or snapshot_meta_column_names changed).",
            path=ctx.node.path, node=ctx.node.name,
            hint="Drop the table to rebuild the history, or restore the column names.",
        )  # fmt: skip
    query_cols = _query_columns(ctx, sql)
    staging = rel.with_suffix(STAGING_SUFFIX)
    if a.relation_type(staging, cur):
        a.execute(a.drop_sql(staging, "table"), cursor=cur)
    a.execute(
        a.create_table_as_sql(staging, staging_sql(s, sql, rel, query_cols, target_cols)),
        cursor=cur,
    )
    internal = {"dbt_change_type", *_key_names(s)}
    staged = [(c, typ) for c, typ in a.columns(staging, cur) if c not in internal]
    for col, typ in staged:  # a column new in the query is added, as dbt does
        if col not in target_cols:
            a.execute(f"alter table {rel} add column {quote(col)} {typ}", cursor=cur)
    valid_to, scd = s.col("dbt_valid_to"), s.col("dbt_scd_id")
    a.execute(
        f"update {rel} as dbt_internal_target set {valid_to} = dbt_internal_source.{valid_to} "
        f"from {staging} as dbt_internal_source "
        f"where dbt_internal_source.{scd}::text = dbt_internal_target.{scd}::text "
        "and dbt_internal_source.dbt_change_type in ('update', 'delete') "
        f"and {s.is_current('dbt_internal_target')}",
        cursor=cur,
    )
    cols = ", ".join(quote(c) for c, _ in staged)
    a.execute(
        f"insert into {rel} ({cols}) select {cols} from {staging} where dbt_change_type = 'insert'",
        cursor=cur,
    )
    counts = dict(a.execute(f"select dbt_change_type, count(*) from {staging} group by 1", cursor=cur))
    a.execute(a.drop_sql(staging, "table"), cursor=cur)
    return (
        f"snapshot {rel}: {counts.get('insert', 0)} new versions, "
        f"{counts.get('update', 0) + counts.get('delete', 0)} closed"
    )
