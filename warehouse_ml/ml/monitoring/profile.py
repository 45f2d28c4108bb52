"""Profiles: a column's bins and counts, computed in SQL.

A training profile is cut from the data itself (percentile edges or top categories) and
counted into those bins; a scoring profile is counted into the training bins of the
version that scored it (:mod:`warehouse_ml.ml.monitoring.record`). Both are rows of
``wml.monitoring`` (see :mod:`warehouse_ml.ml.monitoring.store`).
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml.ml.monitoring import sql

Query = t.Callable[[str], list[tuple]]


@dataclasses.dataclass
class Column:
    """One column to profile: its name in the source and the model-side name."""

    column: str
    feature: str
    role: str  # 'feature' | 'score'
    categorical: bool


def numeric_bins(edges: list[float | None]) -> list[dict[str, t.Any]]:
    """Fine bins cut at the distinct percentiles, each with the decile bin it lies in.

    >>> [(b["lower_edge"] > -1e308, b["upper_edge"], b["psi_bin"]) for b in numeric_bins([1.0] * 99)]
    [(False, 1.0, 0), (True, 1.7976931348623157e+308, 1)]
    """
    finite = [float(e) for e in edges if e is not None]
    distinct = sorted(set(finite))
    deciles = sorted({finite[i] for i in sql.DECILE_POSITIONS if i < len(finite)})
    lows = [-sql.MAX_DOUBLE, *distinct]
    highs = [*distinct, sql.MAX_DOUBLE]
    bins = []
    for i, (low, high) in enumerate(zip(lows, highs, strict=True)):
        psi_bin = 0 if i == 0 else sum(1 for d in deciles if d <= low)
        bins.append({"bin_index": i, "psi_bin": psi_bin, "lower_edge": low, "upper_edge": high})
    return bins


def categorical_bins(categories: list[str]) -> list[dict[str, t.Any]]:
    """Bin 0 for every value outside the top categories, then one bin per category."""
    bins = [{"bin_index": 0, "psi_bin": 0, "category": None}]
    bins += [{"bin_index": i, "psi_bin": i, "category": c} for i, c in enumerate(categories, 1)]
    return bins


def cut(query: Query, source: str, col: Column, dialect: str) -> list[dict[str, t.Any]]:
    """The bins of ``col`` in ``source``, cut from its own values."""
    if col.categorical:
        return categorical_bins([str(r[0]) for r in query(sql.categories_sql(source, col.column))])
    row = query(sql.quantiles_sql(source, col.column, dialect))[0]
    edges = list(row[0]) if dialect == "duckdb" else list(row[: len(sql.PERCENTILES)])
    return numeric_bins(edges if edges and edges[0] is not None else [])


def ref_values_sql(bins: dict[str, list[dict[str, t.Any]]], cols: dict[str, Column]) -> str:
    """A VALUES-free SELECT of the bins (UNION ALL of literal rows), so any engine reads it."""
    rows = []
    for feature, feature_bins in bins.items():
        kind = "categorical" if cols[feature].categorical else "numeric"
        for b in feature_bins:
            rows.append(
                f"select {sql.literal(feature)} as feature, {sql.literal(kind)} as value_type, "
                f"{int(b['bin_index'])} as bin_index, {int(b['psi_bin'])} as psi_bin, "
                f"{_double(b.get('lower_edge'))} as lower_edge, "
                f"{_double(b.get('upper_edge'))} as upper_edge, "
                f"{_text(b.get('category'))} as category, cast(0 as bigint) as ref_count"
            )
    return "\nunion all\n".join(rows)


def _double(value: float | None) -> str:
    return "cast(null as double precision)" if value is None else f"cast({value!r} as double precision)"


def _text(value: str | None) -> str:
    return "cast(null as varchar(1024))" if value is None else f"cast({sql.literal(value)} as varchar(1024))"


def profile(
    query: Query, source: str, columns: list[Column], dialect: str
) -> list[dict[str, t.Any]]:
    """Rows for ``wml.monitoring`` (without run keys): bins cut from ``source``, counted.

    Columns that are NULL in every row get a profile of counts only (no bins).
    """
    if not columns:
        return []
    cols = {c.feature: c for c in columns}
    bins = {c.feature: cut(query, source, c, dialect) for c in columns}
    totals = query(sql.counts_sql(source, [c.column for c in columns]))[0]
    rows_total, nulls = int(totals[0]), [int(n) for n in totals[1:]]
    values = sql.current_values_sql({c.feature: (source, c.column, c.categorical) for c in columns})
    counted = query(sql.binned_sql(ref_values_sql(bins, cols), values))
    out = []
    for feature, kind, index, psi_bin, low, high, category, _, count in counted:
        col = cols[feature]
        out.append({
            "column_name": col.column, "feature": feature, "role": col.role,
            "value_type": kind, "rows_total": rows_total,
            "rows_null": nulls[columns.index(col)], "bin_index": index, "psi_bin": psi_bin,
            "lower_edge": low, "upper_edge": high, "category": category, "bin_count": int(count),
        })  # fmt: skip
    return sorted(out, key=lambda r: (r["feature"], r["bin_index"]))
