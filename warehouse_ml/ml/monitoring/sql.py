"""The SQL that profiles columns and measures drift, in one portable form.

Everything here is plain SQL that DuckDB, Redshift and PostgreSQL read alike (CTEs,
CASE, ``ln``, window sums with an explicit frame, as Redshift requires); the only
dialect-specific piece, quantiles, is written in DuckDB's form and transpiled by sqlglot
with ``unsupported_level=RAISE`` (``percentile_cont(...) within group (order by ...)``).

Definitions (the same as Evidently's ``psi`` and ``ks`` stattests, on binned data):

- PSI = sum over bins of (a - e) * ln(a / e), a and e the current and reference shares of
  the column's non-NULL values; an empty bin's share counts as EPSILON (0.0001). Numeric
  bins are the distinct training deciles (at most 10 bins; ties merge bins), categorical
  bins the top 20 training categories plus one for every other value.
- KS = the largest gap between the reference and current cumulative distributions,
  evaluated at the distinct training percentiles 1..99. It equals the two-sample KS
  statistic wherever the largest gap falls on one of them, and is never more than the
  training mass between two neighbouring percentiles (1%) below it. NULLs are counted
  apart (``rows_null``) and take no part in either measure.
"""

from __future__ import annotations

import typing as t

EPSILON = 1e-4
PERCENTILES = [k / 100 for k in range(1, 100)]
DECILE_POSITIONS = [k * 10 - 1 for k in range(1, 10)]  # indexes of p10..p90 in PERCENTILES
TOP_CATEGORIES = 20
MAX_DOUBLE = 1.7976931348623157e308


def literal(value: t.Any) -> str:
    """A SQL string literal (values from project files, never from a request)."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def quantiles_sql(source: str, column: str, dialect: str) -> str:
    """One row: the 99 percentiles (continuous, as numpy's linear), then rows and non-NULLs.

    Redshift wants every PERCENTILE_CONT of a query to order by the same column, so each
    column gets its own query; DuckDB sorts once for its list form.
    """
    col = f"cast({ident(column)} as double)"
    tail = f"count(*) as rows_total, count({ident(column)}) as rows_nonnull"
    if dialect == "duckdb":
        fractions = ", ".join(repr(p) for p in PERCENTILES)
        return f"select quantile_cont({col}, [{fractions}]) as q, {tail} from {source}"
    from warehouse_ml.adapters import dialects

    parts = ", ".join(f"quantile_cont({col}, {p!r}) as q{i}" for i, p in enumerate(PERCENTILES))
    return dialects.transpile(f"select {parts}, {tail} from {source}", "duckdb", dialect)


def categories_sql(source: str, column: str) -> str:
    """The most frequent non-NULL values (as text), most frequent first, ties by value."""
    text = f"cast({ident(column)} as varchar(1024))"
    return (
        f"select {text} as category, count(*) as n from {source} where {ident(column)} is not null "
        f"group by {text} order by n desc, category limit {TOP_CATEGORIES}"
    )


def counts_sql(source: str, columns: list[str]) -> str:
    """One row: the rows, then each column's NULLs."""
    nulls = ", ".join(f"count(*) - count({ident(c)})" for c in columns)
    return f"select count(*), {nulls} from {source}"


def current_values_sql(columns: dict[str, tuple[str, str, bool]]) -> str:
    """Rows of (feature, v_num, v_text): every non-NULL value of each column.

    ``columns`` maps a model-side feature name to (relation, column, categorical).
    """
    parts = []
    for feature, (source, column, categorical) in columns.items():
        col = ident(column)
        num = "cast(null as double precision)" if categorical else f"cast({col} as double precision)"
        txt = f"cast({col} as varchar(1024))" if categorical else "cast(null as varchar(1024))"
        parts.append(
            f"select {literal(feature)} as feature, {num} as v_num, {txt} as v_text "
            f"from {source} where {col} is not null"
        )
    return "\nunion all\n".join(parts)


def binned_sql(ref_sql: str, cur_sql: str) -> str:
    """Each reference bin with the current values counted into it (``cur_count``).

    ``ref_sql`` yields the bins (feature, value_type, bin_index, psi_bin, lower_edge,
    upper_edge, category, ref_count); ``cur_sql`` the values (feature, v_num, v_text).
    A value outside every categorical bin counts in bin 0 ("other").
    """
    return f"""with wml_ref as (
{ref_sql}
), wml_cur as (
{cur_sql}
), wml_num as (
    select r.feature, r.bin_index, count(*) as n
    from wml_cur as c join wml_ref as r
      on r.feature = c.feature and r.value_type = 'numeric'
     and c.v_num > r.lower_edge and c.v_num <= r.upper_edge
    group by r.feature, r.bin_index
), wml_cat as (
    select c.feature, coalesce(r.bin_index, 0) as bin_index, count(*) as n
    from wml_cur as c left join wml_ref as r
      on r.feature = c.feature and r.value_type = 'categorical' and r.category = c.v_text
    where c.v_text is not null
    group by c.feature, coalesce(r.bin_index, 0)
)
select r.feature, r.value_type, r.bin_index, r.psi_bin, r.lower_edge, r.upper_edge,
       r.category, r.ref_count, coalesce(n.n, k.n, 0) as cur_count
from wml_ref as r
left join wml_num as n on n.feature = r.feature and n.bin_index = r.bin_index
left join wml_cat as k on k.feature = r.feature and k.bin_index = r.bin_index"""


def drift_sql(bins_sql: str) -> str:
    """Per feature: value_type, ref_rows, cur_rows, psi, ks (NULL for categorical).

    ``bins_sql`` yields (feature, value_type, bin_index, psi_bin, ref_count, cur_count).
    With no current (or reference) values, psi and ks are NULL.
    """
    def share(count: str, total: str) -> str:
        return f"cast({count} as double precision) / nullif(cast({total} as double precision), 0)"

    def floor_eps(col: str) -> str:
        return f"case when {col} = 0 then {EPSILON!r} else {col} end"

    frame = "rows between unbounded preceding and current row"
    return f"""with wml_bins as (
{bins_sql}
), wml_tot as (
    select feature, max(value_type) as value_type, sum(ref_count) as ref_n, sum(cur_count) as cur_n
    from wml_bins group by feature
), wml_share as (
    select b.feature, b.psi_bin,
           {share('sum(b.ref_count)', 'max(t.ref_n)')} as e,
           {share('sum(b.cur_count)', 'max(t.cur_n)')} as a
    from wml_bins as b join wml_tot as t on t.feature = b.feature
    group by b.feature, b.psi_bin
), wml_psi as (
    select feature, sum(({floor_eps('a')} - {floor_eps('e')}) * ln({floor_eps('a')} / {floor_eps('e')})) as psi
    from wml_share group by feature
), wml_cdf as (
    select b.feature,
           {share(f'sum(b.ref_count) over (partition by b.feature order by b.bin_index {frame})', 't.ref_n')} as fr,
           {share(f'sum(b.cur_count) over (partition by b.feature order by b.bin_index {frame})', 't.cur_n')} as fc
    from wml_bins as b join wml_tot as t on t.feature = b.feature
    where t.value_type = 'numeric'
), wml_ks as (
    select feature, max(abs(fr - fc)) as ks from wml_cdf group by feature
)
select t.feature, t.value_type, t.ref_n as ref_rows, t.cur_n as cur_rows,
       case when t.ref_n > 0 and t.cur_n > 0 then p.psi end as psi,
       case when t.ref_n > 0 and t.cur_n > 0 then k.ks end as ks
from wml_tot as t
left join wml_psi as p on p.feature = t.feature
left join wml_ks as k on k.feature = t.feature"""


# -- reference bins, read from wml.monitoring ----------------------------------------------
_REF_COLUMNS = (
    "feature, value_type, bin_index, psi_bin, lower_edge, upper_edge, category, "
    "bin_count as ref_count"
)


def deployed_version_sql(model: str) -> str:
    return f"(select max(version) from wml.models where name = {literal(model)} and deployed)"


def training_ref_sql(model: str, features: list[str], version: str | int | None = None) -> str:
    """The training bins of ``features`` for ``model`` (the deployed version by default)."""
    chosen = deployed_version_sql(model) if version is None else str(int(version))
    names = ", ".join(literal(f) for f in features)
    return (
        f"select {_REF_COLUMNS} from wml.monitoring where kind = 'training' "
        f"and model_name = {literal(model)} and model_version = {chosen} "
        f"and role in ('feature', 'score') and feature in ({names})"
    )


def run_ref_sql(run: str, features: list[str]) -> str:
    """The bins of one recorded run (``run``: a run_id literal or a scalar subquery)."""
    names = ", ".join(literal(f) for f in features)
    return (
        f"select {_REF_COLUMNS} from wml.monitoring where run_id = {run} "
        f"and role in ('feature', 'score') and feature in ({names})"
    )


def previous_run_sql(model: str, relation: str) -> str:
    """A scalar subquery: the run before the newest recorded scoring run of ``relation``."""
    return (
        "(select run_id from (select run_id, row_number() over (order by run_at desc) as rn "
        "from (select run_id, max(run_at) as run_at from wml.monitoring where kind = 'scoring' "
        f"and model_name = {literal(model)} and relation = {literal(relation)} group by run_id) "
        "as wml_runs) as wml_ranked where rn = 2)"
    )


def stored_bins_sql(ref_sql: str, cur_run: str) -> str:
    """Bins of a reference joined to a recorded run's counts (both from wml.monitoring)."""
    return f"""select r.feature, r.value_type, r.bin_index, r.psi_bin, r.ref_count,
       coalesce(c.bin_count, 0) as cur_count
from ({ref_sql}) as r
left join wml.monitoring as c
  on c.run_id = {literal(cur_run)} and c.feature = r.feature and c.bin_index = r.bin_index
 and c.role in ('feature', 'score')"""
