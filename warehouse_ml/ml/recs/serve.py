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


def _limit(fn: str, what: str) -> str:
    """A one-row CTE holding k, or an error naming the function when k is not 1 or more."""
    return (
        "wml_limit as (select case when wml_k is null or wml_k < 1 then "
        f"error('{fn}({what}k): k must be 1 or more, got ' || coalesce(cast(wml_k as varchar), 'NULL')) "
        "else cast(wml_k as bigint) end as k)"
    )


def _ranked(spec: RecSpec, name: str, version: int) -> str:
    """One user's scored similar items, then popular ones, seen items dropped (unless
    exclude_seen is false), ranked."""
    return f"""wml_scored as (
    select n.neighbor_id as item_id, sum(m.w * n.score) as score, 0 as tier
    from wml_mine as m join {table(name, version, 'neighbors')} as n on n.item_id = m.item_id
    group by n.neighbor_id
), wml_fill as (
    select p.item_id, p.score, 1 as tier
    from (select count(*) as n from wml_mine) as us, wml_limit, {table(name, version, 'popular')} as p
    where p.rank <= wml_limit.k + us.n
), wml_best as (
    select item_id, score, tier, row_number() over (partition by item_id order by tier) as wml_first
    from (select * from wml_scored union all select * from wml_fill) as a
    where not (exclude_seen and a.item_id in (select item_id from wml_mine))
), wml_ranked as (
    -- ranked after the popular copy of a similar item is dropped, so ranks run 1..k
    select item_id, score, tier, row_number() over (order by tier, score desc, item_id) as rank
    from wml_best where wml_first = 1
)"""


def _ranked_all(name: str, version: int) -> str:
    """Every user's: the same steps, without a window over every candidate. Each user's
    k-th best fresh score is found by aggregation first, and only candidates at or above it
    (all of them, ties included, so the ranking is the same) and the popular fill of users
    short of k are ranked: every user's candidates add up to millions of rows."""
    k = "greatest(coalesce(wml_k, 1), 1)::bigint"  # a bad k is wml_limit's error, not max()'s
    return f"""wml_scored as (
    select m.u, n.neighbor_id as item_id, sum(m.w * n.score) as score
    from wml_mine as m join {table(name, version, 'neighbors')} as n on n.item_id = m.item_id
    group by m.u, n.neighbor_id
), wml_fresh as (
    select c.* from wml_scored as c anti join wml_mine as s on s.u = c.u and s.item_id = c.item_id
), wml_cut as (
    select u, count(*) as have, list_min(max(score, {k})) as cut from wml_fresh group by u
), wml_top as (
    select f.u, f.item_id, f.score, 0 as tier
    from wml_fresh as f join wml_cut as c on c.u = f.u where f.score >= c.cut
), wml_fill as (
    select us.u, p.item_id, p.score, 1 as tier
    from (select u, count(*) as n from wml_mine group by u) as us
         left join wml_cut as c on c.u = us.u, wml_limit, {table(name, version, 'popular')} as p
    where coalesce(c.have, 0) < wml_limit.k and p.rank <= wml_limit.k + us.n
), wml_ranked as (
    select b.*, row_number() over (partition by b.u order by b.tier, b.score desc, b.item_id) as rank
    from (
        select * from wml_top
        union all
        select f.* from wml_fill as f
        anti join wml_mine as s on s.u = f.u and s.item_id = f.item_id
        anti join wml_top as t on t.u = f.u and t.item_id = f.item_id
    ) as b
)"""


def recommend_sql(spec: RecSpec, query: str, name: str, version: int) -> str:
    """The body of recommend_<name>(wml_user, wml_k, exclude_seen := true)."""
    mine = _decayed_items(spec, query, f"wml_q.{quote(spec.user_column)} = wml_user")
    return f"""
with {_limit(f'recommend_{name}', 'user, ')}, wml_mine as ({mine}),
{_ranked(spec, name, version)}
select item_id as {quote(spec.item_column)}, score, rank,
       case tier when 0 then 'similar' else 'popular' end as reason
from wml_ranked, wml_limit where rank <= wml_limit.k order by rank
"""


def recommend_all_sql(spec: RecSpec, query: str, name: str, version: int) -> str:
    """The body of recommend_<name>_all(wml_k): top-k for every user, one statement."""
    mine = _decayed_items(spec, query, "")
    return f"""
with {_limit(f'recommend_{name}_all', '')}, wml_mine as materialized ({mine}),
{_ranked_all(name, version)}
select u as {quote(spec.user_column)}, item_id as {quote(spec.item_column)}, score, rank,
       case tier when 0 then 'similar' else 'popular' end as reason
from wml_ranked, wml_limit where rank <= wml_limit.k
"""


def similar_sql(spec: RecSpec, name: str, version: int) -> str:
    nb, pop = table(name, version, "neighbors"), table(name, version, "popular")
    return f"""
with {_limit(f'similar_{name}', 'item, ')}, wml_all as (
    select neighbor_id as item_id, score, rank, 'similar' as reason from {nb} where item_id = wml_item
    union all
    select item_id, score, row_number() over (order by rank) as rank, 'popular' as reason
    from {pop} where not exists (select 1 from {nb} where item_id = wml_item)
    and item_id is distinct from wml_item
)
select item_id as {quote(spec.item_column)}, score, rank, reason
from wml_all, wml_limit where rank <= wml_limit.k order by rank
"""


def function_names(v: registry.ModelVersion) -> tuple[str, str, str]:
    """(recommend_m, similar_m, recommend_m_all)."""
    return v.function, registry.twin(v.function), f"{v.function}_all"


def macros(v: registry.ModelVersion) -> list[tuple[str, str]]:
    """(function, CREATE MACRO statement) for the version's three table macros."""
    spec, query = spec_of(v), v.training_query or ""
    rec, sim, every = function_names(v)
    head = "create or replace macro"
    return [
        (rec, f"{head} {quote(rec)}(wml_user, wml_k, exclude_seen := true) as table "
              + recommend_sql(spec, query, v.name, v.version)),
        (sim, f"{head} {quote(sim)}(wml_item, wml_k) as table " + similar_sql(spec, v.name, v.version)),
        (every, f"{head} {quote(every)}(wml_k) as table "
                + recommend_all_sql(spec, query, v.name, v.version)),
    ]  # fmt: skip


def all_users_sql(spec: RecSpec, query: str, name: str, version: int, k: int) -> str:
    """Top-``k`` for every user, in one statement (the top table; benchmarks)."""
    return recommend_all_sql(spec, query, name, version).replace("wml_k", str(int(k)))
