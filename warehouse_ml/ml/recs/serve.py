"""A recommender as SQL stored in the database: tables in schema ``wml`` and two table
macros, so the plain duckdb CLI can call them after wml exits.

Per version ``N`` of model ``m`` (versions keep their tables, so rollback only swaps the
macros; DROP MODEL removes them all):

- ``wml.m__vN__popular``       (item_id, score, rank): the fallback and the baseline
- ``wml.m__vN__neighbors``     (item_id, neighbor_id, score, rank): top-N similar items
- ``wml.m__vN__item_factors``  (id, factors FLOAT[n]) and ``user_factors``: ALS / BPR
- ``wml.m__vN__top``           (user_id, item_id, score, rank): per-user top-K at training
  time, for batch use (the same scoring as the macro, without the popularity fill)

``recommend_m(user, k [, exclude_seen := true])`` scores items from the user's interactions
*as they are now* in the training query's relations (decayed from the user's latest one),
times the neighbours' similarity; too few (or an unknown user) are filled with popular
items. ``similar_m(item, k)`` reads the neighbours (popular items for an unknown item).
Both return (<item column>, score, rank, reason).
"""

from __future__ import annotations

import typing as t

import pyarrow as pa

from warehouse_ml.adapters.relation import quote
from warehouse_ml.ml import registry
from warehouse_ml.ml.recs import data
from warehouse_ml.ml.recs.spec import RecSpec

SCHEMA = registry.SCHEMA
PROBLEM = "recommendation"  # the registry's problem_type for a recommender


def table(name: str, version: int, part: str) -> str:
    return f"{SCHEMA}.{quote(f'{name}__v{version}__{part}')}"


def write_tables(cursor: t.Any, name: str, version: int, tables: dict[str, pa.Table]) -> None:
    """Create the version's tables (inside the caller's transaction)."""
    for part, arrow in tables.items():
        view = f"wml_recs_{part}"
        cursor.register(view, arrow)
        try:
            cursor.execute(f"create or replace table {table(name, version, part)} as select * from {view}")
        finally:
            cursor.unregister(view)


def write_top(cursor: t.Any, v: registry.ModelVersion) -> None:
    """The per-user top-K table, computed in SQL from the training interactions."""
    spec = spec_of(v)
    sql = all_users_sql(spec, v.training_query or spec.query, v.name, v.version, spec.k)
    cursor.execute(f"create or replace table {table(v.name, v.version, 'top')} as {sql}")


def drop_tables(cursor: t.Any, name: str) -> None:
    rows = cursor.execute(
        "select table_name from information_schema.tables where table_schema = ? "
        "and table_name like ? escape '\\'",
        [SCHEMA, name.replace("_", "\\_") + "\\_\\_v%"],
    ).fetchall()
    for (tname,) in rows:
        cursor.execute(f"drop table if exists {SCHEMA}.{quote(tname)}")


def spec_of(v: registry.ModelVersion) -> RecSpec:
    s = v.settings or {}
    fields = {f for f in RecSpec.__dataclass_fields__}
    kept = {k: val for k, val in s.items() if k in fields}
    return RecSpec(**{**kept, "query": v.training_query or ""})


def is_recommender(v: registry.ModelVersion | None) -> bool:
    return v is not None and v.problem_type == PROBLEM


def _decayed_items(spec: RecSpec, query: str, user_filter: str) -> str:
    """Per (u, item): summed weight, decayed from the user's latest interaction."""
    rows = data.rows_sql(spec, query, user_filter)
    decay = (
        f" * pow(0.5, (max(ts) over (partition by u) - ts) / {86400.0 * spec.half_life_days!r})"
        if spec.half_life_days else ""
    )
    return (
        f"select u, i as item_id, sum(w) as w from (select u, i, {data.weight_sql(spec, 'raw')}"
        f"{decay} as w from ({rows}) as wml_r) as wml_d where w > 0 group by u, i"
    )


def recommend_sql(spec: RecSpec, query: str, name: str, version: int) -> str:
    """The body of recommend_<name>(wml_user, wml_k, exclude_seen := true)."""
    mine = _decayed_items(spec, query, f"wml_q.{quote(spec.user_column)} = wml_user")
    fn = f"recommend_{name}"
    return f"""
with wml_limit as (
    select case when wml_k is null or wml_k < 1 then error('{fn}(user, k): k must be 1 or more, got ' || coalesce(cast(wml_k as varchar), 'NULL'))
                else cast(wml_k as bigint) end as k
), wml_mine as ({mine}),
wml_scored as (
    select n.neighbor_id as item_id, sum(m.w * n.score) as score, 0 as tier, 'similar' as reason
    from wml_mine as m join {table(name, version, 'neighbors')} as n on n.item_id = m.item_id
    group by n.neighbor_id
), wml_fill as (
    select p.item_id, p.score, 1 as tier, 'popular' as reason
    from {table(name, version, 'popular')} as p, wml_limit
    where p.rank <= wml_limit.k + (select count(*) from wml_mine)
), wml_all as (
    select * from wml_scored union all select * from wml_fill
), wml_ranked as (
    select item_id, score, reason,
           row_number() over (order by tier, score desc, item_id) as rank
    from wml_all
    where not (exclude_seen and item_id in (select item_id from wml_mine))
    qualify row_number() over (partition by item_id order by tier, score desc) = 1
)
select item_id as {quote(spec.item_column)}, score, rank, reason
from wml_ranked, wml_limit where rank <= wml_limit.k order by rank
"""


def recommend_sql_popularity(spec: RecSpec, query: str, name: str, version: int) -> str:
    """recommend_<name> for a popularity model: no neighbours table."""
    mine = _decayed_items(spec, query, f"wml_q.{quote(spec.user_column)} = wml_user")
    fn = f"recommend_{name}"
    return f"""
with wml_limit as (
    select case when wml_k is null or wml_k < 1 then error('{fn}(user, k): k must be 1 or more, got ' || coalesce(cast(wml_k as varchar), 'NULL'))
                else cast(wml_k as bigint) end as k
), wml_mine as ({mine}),
wml_ranked as (
    select item_id, score, 'popular' as reason, row_number() over (order by rank) as rank
    from {table(name, version, 'popular')}
    where not (exclude_seen and item_id in (select item_id from wml_mine))
)
select item_id as {quote(spec.item_column)}, score, rank, reason
from wml_ranked, wml_limit where rank <= wml_limit.k order by rank
"""


def similar_sql(spec: RecSpec, name: str, version: int, has_neighbors: bool) -> str:
    fn = f"similar_{name}"
    pop = table(name, version, "popular")
    known = (
        f"select neighbor_id as item_id, score, rank, 'similar' as reason "
        f"from {table(name, version, 'neighbors')} where item_id = wml_item union all "
        if has_neighbors else ""
    )
    exists = (
        f"where not exists (select 1 from {table(name, version, 'neighbors')} where item_id = wml_item)"
        if has_neighbors else "where true"
    )
    return f"""
with wml_limit as (
    select case when wml_k is null or wml_k < 1 then error('{fn}(item, k): k must be 1 or more, got ' || coalesce(cast(wml_k as varchar), 'NULL'))
                else cast(wml_k as bigint) end as k
), wml_all as (
    {known}select item_id, score, row_number() over (order by rank) as rank, 'popular' as reason
    from {pop} {exists} and item_id is distinct from wml_item
)
select item_id as {quote(spec.item_column)}, score, rank, reason
from wml_all, wml_limit where rank <= wml_limit.k order by rank
"""


def macros(v: registry.ModelVersion) -> list[tuple[str, str]]:
    """(function, CREATE MACRO statement) for the version's two table macros."""
    spec = spec_of(v)
    query = v.training_query or ""
    has_nb = "neighbors" in ((v.settings or {}).get("tables") or [])
    body = (recommend_sql if has_nb else recommend_sql_popularity)(spec, query, v.name, v.version)
    rec = f"create or replace macro {quote(v.function)}(wml_user, wml_k, exclude_seen := true) as table {body}"
    sim_name = (v.settings or {}).get("similar_function") or f"similar_{v.name}"
    sim = f"create or replace macro {quote(sim_name)}(wml_item, wml_k) as table " + similar_sql(
        spec, v.name, v.version, has_nb
    )
    return [(v.function, rec), (sim_name, sim)]


def all_users_sql(spec: RecSpec, query: str, name: str, version: int, k: int) -> str:
    """Top-``k`` unseen similar items for every user, in one statement (batch use)."""
    mine = _decayed_items(spec, query, "")
    return f"""
with wml_mine as ({mine}),
wml_scored as (
    select m.u as user_id, n.neighbor_id as item_id, sum(m.w * n.score) as score
    from wml_mine as m join {table(name, version, 'neighbors')} as n on n.item_id = m.item_id
    where not exists (select 1 from wml_mine as s where s.u = m.u and s.item_id = n.neighbor_id)
    group by m.u, n.neighbor_id
)
select user_id, item_id, score,
       row_number() over (partition by user_id order by score desc, item_id) as rank
from wml_scored
qualify rank <= {int(k)}
"""
