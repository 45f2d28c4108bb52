"""Publish a read-only snapshot of the served relations, for ``wml serve`` to answer from.

DuckDB has one writer per file, so the server never opens the warehouse: after a build
the relations ``profile_api:`` names are read (one transaction, through the target's
adapter, so a Redshift target publishes the same way) and written into a new DuckDB file
in the serving form (key as text, row as JSON, sorted by key). The file is written under
a temporary name and renamed, then the pointer is replaced: a failure leaves the previous
snapshot and pointer exactly as they were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import typing as t
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError, ExecutionError
from warehouse_ml.serve import jsonsafe, snapshot
from warehouse_ml.serve.config import ApiConfig

if t.TYPE_CHECKING:
    from warehouse_ml.run.session import Session


@dataclasses.dataclass
class Published:
    path: Path
    profiles: int
    seconds: float
    removed: list[str]


def publish(
    session: Session, config: ApiConfig, *, build_id: str, built_at: str | None = None,
    warn: t.Callable[[str], None] | None = None,
) -> Published:  # fmt: skip
    """Write a new snapshot of ``config``'s relations and point the server at it."""
    started = time.perf_counter()
    warn = warn or session.warn
    folder = snapshot.directory(session.project.target_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = snapshot.new_file_name(build_id)
    tmp = folder / snapshot.temp_name(final)
    tables = _fetch(session, config)
    stamp = {"build_id": build_id, "built_at": built_at or snapshot.utc_now(),
             "written_at": snapshot.utc_now(), "project": session.project.settings.name}
    try:
        meta = _write(tmp, config, tables, stamp, warn)
        os.replace(tmp, folder / final)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise
    # published_at is the moment the pointer moves: what "build to served" counts from.
    pointer = {"snapshot": final, "build_id": build_id, "built_at": meta["built_at"],
               "published_at": snapshot.utc_now(), "profiles": meta["profiles"]}
    snapshot.write_pointer(folder, pointer)
    removed = snapshot.collect_garbage(folder, config.keep_snapshots)
    return Published(folder / final, meta["profiles"], time.perf_counter() - started, removed)


# -- reading the warehouse ---------------------------------------------------------------------
@dataclasses.dataclass
class _Source:
    role: str  # relation | audience | recommendations
    name: str
    key: str
    columns: list[str]
    table: pa.Table | None = None
    order_by: str | None = None


def _fetch(session: Session, config: ApiConfig) -> list[_Source]:
    """Every source's rows as Arrow, read in one transaction (one consistent state)."""
    sources = _plan(session, config)
    adapter = session.adapter
    cursor = adapter.cursor()
    with adapter.transaction(cursor):
        for source, sql in sources:
            source.table = adapter.fetch_arrow(sql, cursor)
    return [source for source, _ in sources]


def _plan(session: Session, config: ApiConfig) -> list[tuple[_Source, str]]:
    plans = []
    for i, spec in enumerate(config.relations):
        where = f"profile_api.relations[{i}] '{spec.name}'"
        relation, present = _columns_of(session, config, spec.name, where)
        wanted = list(spec.columns) if spec.columns else [c for c in present if c != spec.key]
        _check_columns(config, where, spec.name, present, [spec.key, *wanted])
        plans.append((_Source("relation", spec.name, spec.key, wanted),
                      _select(relation, [spec.key, *wanted])))  # fmt: skip
    for i, aud in enumerate(config.audiences):
        where = f"profile_api.audiences[{i}] '{aud.name}'"
        relation, present = _columns_of(session, config, aud.relation, where)
        if "id" in aud.columns:
            raise ConfigError(f"`{where}`: `columns` cannot list 'id': each member's id is "
                              "written under that name.", path=config.path)  # fmt: skip
        _check_columns(config, where, aud.relation, present, [aud.key, *aud.columns])
        sql = _select(relation, [aud.key, *aud.columns], aud.where)
        if aud.where:
            sql = _transpile(session, sql, config, where)
        plans.append((_Source("audience", aud.name, aud.key, list(aud.columns)), sql))
    recs = config.recommendations
    if recs is not None:
        where = f"profile_api.recommendations '{recs.relation}'"
        relation, present = _columns_of(session, config, recs.relation, where)
        wanted = list(recs.columns) if recs.columns else [
            c for c in present if c not in (recs.key, recs.order_by)]  # fmt: skip
        needed = [recs.key, recs.order_by, *[c for c in wanted if c != recs.order_by]]
        _check_columns(config, where, recs.relation, present, needed)
        source = _Source("recommendations", recs.relation, recs.key, wanted, order_by=recs.order_by)
        plans.append((source, _select(relation, needed)))
    return plans


def _columns_of(session: Session, config: ApiConfig, name: str, where: str) -> tuple[Relation, list[str]]:
    relation = _resolve(session, config, name, where)
    present = [c for c, _ in session.adapter.columns(relation)]
    if not present:
        raise ExecutionError(
            f"`{where}`: {relation} does not exist in the database yet.",
            path=config.path,
            hint=f"Build it first: wml build -s +{name.split('.')[-1]}.",
        )
    return relation, present


def _resolve(session: Session, config: ApiConfig, name: str, where: str) -> Relation:
    """A model, seed or snapshot by name, or a source as ``source_name.table_name``."""
    nodes = session.nodes
    for kind in ("model", "seed", "snapshot"):
        node = nodes.get(f"{kind}.{name}")
        if node is None:
            continue
        if node.is_ml_model or node.materialized == "ephemeral":
            what = "an ML model" if node.is_ml_model else "ephemeral"
            raise ConfigError(
                f"`{where}` names '{name}', which is {what}: it has no rows to serve.",
                path=config.path,
                hint="Serve a table or view model, a seed, a snapshot or a source.",
            )
        return session.relation(node)
    if "." in name:
        src = session.project.sources.get(tuple(name.split(".", 1)))  # type: ignore[arg-type]
        if src is not None and not src.external_location:
            return Relation(src.schema, src.identifier)
    raise ConfigError(
        f"`{where}` names '{name}', which is not a model, seed, snapshot or source of this project.",
        path=config.path,
        hint="Use a model's name as in ref(), or a source as source_name.table_name.",
    )


def _check_columns(config: ApiConfig, where: str, name: str, present: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ConfigError(
            f"`{where}`: {name} has no column {', '.join(repr(c) for c in missing)}.",
            path=config.path,
            hint=f"Its columns: {', '.join(present)}.",
        )


def _select(relation: Relation, columns: list[str], condition: str | None = None) -> str:
    sql = f"select {', '.join(quote(c) for c in columns)} from {relation}"
    return f"{sql} where ({condition})" if condition else sql


def _transpile(session: Session, sql: str, config: ApiConfig, where: str) -> str:
    """An audience's ``where`` is written in the project's dialect, like its models."""
    from warehouse_ml.adapters import dialects

    read = session.project.settings.sql_dialect
    return dialects.transpile(sql, read, session.target_dialect, node=where, path=config.path)


# -- writing the snapshot ----------------------------------------------------------------------
def _write(
    path: Path, config: ApiConfig, sources: list[_Source], stamp: dict[str, t.Any],
    warn: t.Callable[[str], None],
) -> dict[str, t.Any]:  # fmt: skip
    con = duckdb.connect(str(path), config={"autoinstall_known_extensions": False})
    try:
        con.execute("set TimeZone = 'UTC'")  # zoned timestamps are written in UTC
        meta: dict[str, t.Any] = {**stamp, "format": snapshot.FORMAT, "key": config.key,
                                  "relations": [], "audiences": [], "recommendations": None}
        ids = []
        for i, src in enumerate(sources):
            con.register("src", src.table)
            kinds = {f.name: f.type for f in t.cast(pa.Table, src.table).schema}
            key = f"cast({quote(src.key)} as varchar)"
            nulls = con.execute(f"select count(*) from src where {quote(src.key)} is null").fetchall()[0][0]
            if nulls:
                rows = "1 row" if nulls == 1 else f"{nulls} rows"
                warn(f"{config.path}: profile_api {src.role} '{src.name}': {rows} with a NULL "
                     f"{src.key} {'is' if nulls == 1 else 'are'} not served.")  # fmt: skip
            table = f"t{i}"
            if src.role == "recommendations":
                _write_recs(con, table, src, key, kinds, config)
            else:
                label = [("id", key)] if src.role == "audience" else []
                fields = label + [(c, jsonsafe.expression(quote(c), kinds[c])) for c in src.columns]
                con.execute(
                    f"create table {table} as select {key} as _id, {jsonsafe.object_sql(fields)} "
                    f"as _json from src where {quote(src.key)} is not null order by _id"
                )
                _check_unique(con, table, src, config)
            con.unregister("src")
            rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
            entry = {"name": src.name, "table": table, "columns": src.columns, "rows": rows}
            _describe(meta, src, entry, config)
            if src.role == "relation":
                ids.append(table)
        _write_memberships(con, meta)
        meta["profiles"] = _write_profiles(con, ids)
        if _served_from_duckdb(config, meta):
            # An ART index turns a point lookup from a scan (~3 ms at 100k rows) into ~0.5 ms;
            # in memory it would only slow the publish down.
            tables = ["profiles", *([meta["recommendations"]["table"]] if meta["recommendations"] else [])]
            for table in tables:
                con.execute(f"create unique index {table}_id on {table} (_id)")
        con.execute(f"create table {snapshot.META_TABLE} (format integer, meta varchar)")
        con.execute(f"insert into {snapshot.META_TABLE} values (?, ?)", [snapshot.FORMAT, json.dumps(meta)])
        con.execute("checkpoint")
        return meta
    finally:
        con.close()


def _served_from_duckdb(config: ApiConfig, meta: dict[str, t.Any]) -> bool:
    from warehouse_ml.serve.store import MEMORY_ROWS

    recs = [meta["recommendations"]] if meta["recommendations"] else []
    rows = sum(e["rows"] for e in [*meta["relations"], *meta["audiences"], *recs])
    return config.in_memory == "false" or (config.in_memory == "auto" and rows > MEMORY_ROWS)


def _write_recs(con: t.Any, table: str, src: _Source, key: str, kinds: dict[str, pa.DataType], config: ApiConfig) -> None:
    recs = t.cast(t.Any, config.recommendations)
    fields = [(c, jsonsafe.expression(quote(c), kinds[c])) for c in src.columns]
    # Ties in order_by are broken by the item's own values, so the list is deterministic.
    ties = ", ".join(quote(c) for c in src.columns)
    order = quote(t.cast(str, src.order_by)) + (f", {ties}" if ties else "")
    con.execute(
        f"create table {table} as select _id, list(_item order by _n)[1:{recs.max_k}] as _items "
        f"from (select {key} as _id, {jsonsafe.object_sql(fields)} as _item, "
        f"row_number() over (partition by {quote(src.key)} order by {order}) as _n "
        f"from src where {quote(src.key)} is not null) group by _id order by _id"
    )


def _check_unique(con: t.Any, table: str, src: _Source, config: ApiConfig) -> None:
    dupes = con.execute(
        f"select _id, count(*) from {table} group by _id having count(*) > 1 order by 2 desc, 1 limit 3"
    ).fetchall()
    if not dupes:
        return
    if src.role == "audience" and not src.columns:  # a member listed twice is one member
        con.execute(f"create or replace table {table} as select distinct * from {table} order by _id")
        return
    example = ", ".join(f"'{k}' ({n} rows)" for k, n in dupes)
    raise ExecutionError(
        f"profile_api {src.role} '{src.name}': {src.key} is not unique, e.g. {example}; a "
        "profile lookup would not know which row to answer.",
        path=config.path,
        hint=f"Make {src.key} unique in {src.name} (a unique test shows it), or serve another key.",
    )


def _describe(meta: dict[str, t.Any], src: _Source, entry: dict[str, t.Any], config: ApiConfig) -> None:
    if src.role == "relation":  # its rows go into the profiles table, column r<n>
        spec = next(r for r in config.relations if r.name == src.name)
        column = f"r{len(meta['relations'])}"
        meta["relations"].append({**entry, "table": "profiles", "column": column, "scope": spec.scope})
    elif src.role == "audience":
        aud = next(a for a in config.audiences if a.name == src.name)
        meta["audiences"].append({**entry, "scope": aud.scope})
    else:
        recs = t.cast(t.Any, config.recommendations)
        meta["recommendations"] = {**entry, "scope": recs.scope, "max_k": recs.max_k,
                                   "order_by": recs.order_by}  # fmt: skip


def _write_profiles(con: t.Any, tables: list[str]) -> int:
    """One row per profile: each relation's JSON (``r0``, ``r1``, ... null where it lacks
    the id) and its audiences, so a lookup is one dict access or one indexed query."""
    ids = " union ".join(f"select _id from {table}" for table in tables)
    columns = ", ".join(f"{table}._json as r{i}" for i, table in enumerate(tables))
    joins = " ".join(f"left join {table} using (_id)" for table in tables)
    con.execute(f"create table profiles as select _id, {columns}, memberships._audiences as a "
                f"from ({ids}) as ids {joins} left join memberships using (_id) order by _id")  # fmt: skip
    for table in [*tables, "memberships"]:
        con.execute(f"drop table {table}")
    return con.execute("select count(*) from profiles").fetchall()[0][0]


def _write_memberships(con: t.Any, meta: dict[str, t.Any]) -> None:
    """Each profile's audiences, in the order the project lists them."""
    parts = [f"select _id, {i} as _n, '{i}' as _a from {a['table']}" for i, a in enumerate(meta["audiences"])]
    body = " union all ".join(parts) if parts else "select null::varchar as _id, 0 as _n, '' as _a where false"
    con.execute(f"create table memberships as select _id, list(cast(_a as integer) order by _n) as _audiences "
                f"from ({body}) group by _id order by _id")  # fmt: skip
