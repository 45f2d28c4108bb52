"""Interactions read from the training query: one SQL statement, then integer codes.

Rules, shared with the serving macros (serve.py) so training and serving agree:

- rows with a NULL user or item are skipped (counted, and reported by ``wml show``);
- exact duplicate rows (same user, item, timestamp and event or weight) count once;
- with ``event_weights``, events not listed are ignored; with ``weight_column``, NULL
  weights are skipped and a negative weight is an error;
- with ``half_life_days``, an interaction's weight halves every ``half_life_days`` before
  the user's own latest interaction (the same ranking as decaying from "now", since a
  per-user factor does not change a user's ranking, and computable in SQL per user).
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
import pyarrow as pa

from warehouse_ml.adapters.relation import quote
from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.recs.spec import RecSpec


@dataclasses.dataclass
class Interactions:
    user_ids: pa.Array  # distinct users, code -> id (the query's own type)
    item_ids: pa.Array
    u: np.ndarray  # int32 code per interaction row
    i: np.ndarray
    w: np.ndarray  # float64 weight before decay
    ts: np.ndarray  # float64 epoch seconds (0 without timestamp_column)
    skipped_null: int
    duplicates: int

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def weight_sql(spec: RecSpec, raw: str) -> str:
    """The weight of one row, from its raw event or weight column ``raw``."""
    if spec.event_weights:
        cases = " ".join(
            f"when {literal(e)} then {float(w)!r}" for e, w in sorted(spec.event_weights.items())
        )
        return f"(case {raw} {cases} end)"
    if spec.weight_column:
        return f"cast({raw} as double)"
    return "1.0"


def rows_sql(spec: RecSpec, query: str, where: str = "") -> str:
    """Distinct (user, item, raw, ts) rows of ``query`` as u, i, raw, ts; NULL ids out."""
    raw_col = spec.event_column or spec.weight_column
    raw = f"wml_q.{quote(raw_col)}" if raw_col else "null"
    ts = (
        f"epoch(cast(wml_q.{quote(spec.timestamp_column)} as timestamp))"
        if spec.timestamp_column else "0.0"
    )
    keep = [f"wml_q.{quote(spec.user_column)} is not null",
            f"wml_q.{quote(spec.item_column)} is not null"]
    if spec.event_weights:
        keep.append(f"{raw} in ({', '.join(literal(e) for e in sorted(spec.event_weights))})")
    if where:
        keep.append(where)
    return (
        f"select distinct wml_q.{quote(spec.user_column)} as u, wml_q.{quote(spec.item_column)} "
        f"as i, {raw} as raw, {ts} as ts from ({query}) as wml_q where {' and '.join(keep)}"
    )


def load(cursor: t.Any, spec: RecSpec) -> Interactions:
    """Read the query's interactions; errors name the model and what to do."""
    _check_columns(cursor, spec)
    q = spec.query
    u, i = quote(spec.user_column), quote(spec.item_column)
    counts = cursor.execute(
        f"select count(*), count(*) filter (where {u} is null or {i} is null) from ({q}) as wml_q"
    ).fetchall()[0]
    sql = f"select u, i, {weight_sql(spec, 'raw')} as w, ts from ({rows_sql(spec, q)}) as wml_r"
    try:
        table = cursor.sql(sql).to_arrow_table()
    except Exception as exc:
        raise TrainingError(
            f"recommender '{spec.name}': reading the interactions failed: "
            f"{str(exc).splitlines()[0]}",
            hint="timestamp_column must be a DATE or TIMESTAMP column and weight_column numeric.",
        ) from None
    w = np.asarray(table.column("w").to_numpy(zero_copy_only=False), dtype=np.float64)
    keep = ~np.isnan(w)
    if (w[keep] < 0).any():
        raise TrainingError(
            f"recommender '{spec.name}': {int((w[keep] < 0).sum())} interactions have a negative "
            f"weight in {spec.weight_column}; a weight says how much an interaction counts, "
            "so it must be 0 or more.",
            hint="Filter them out in the query, or map them to 0 (greatest(weight, 0)).",
        )
    keep &= w > 0
    table = table.filter(pa.array(keep))
    duplicates = int(counts[0]) - int(counts[1]) - len(w)
    if table.num_rows == 0:
        raise TrainingError(
            f"recommender '{spec.name}': the training query gave no usable interactions "
            f"({counts[0]} rows, {counts[1]} with a NULL user or item"
            + (", none with an event listed in event_weights" if spec.event_weights else "")
            + "), so there is nothing to learn from; the deployed version (if any) keeps serving.",
            hint="Check the query's filters and the user, item and event columns.",
        )
    user_ids, u = _codes(table.column("u"))
    item_ids, i = _codes(table.column("i"))
    return Interactions(
        user_ids=user_ids, item_ids=item_ids, u=u, i=i,
        w=table.column("w").to_numpy().astype(np.float64),
        ts=table.column("ts").to_numpy().astype(np.float64),
        skipped_null=int(counts[1]), duplicates=max(duplicates, 0),
    )  # fmt: skip


def _codes(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(distinct ids in sorted order, int32 code per row): codes sort like the ids, so
    ties break the same way in Python as ``order by item_id`` does in SQL."""
    import pyarrow.compute as pc

    encoded = column.combine_chunks().dictionary_encode()
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    remap = np.empty(len(order), dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return encoded.dictionary.take(pa.array(order)), remap[encoded.indices.to_numpy()]


def _check_columns(cursor: t.Any, spec: RecSpec) -> None:
    try:
        cols = [d[0] for d in cursor.execute(f"select * from ({spec.query}) as wml_q limit 0").description]
    except Exception as exc:
        raise TrainingError(
            f"recommender '{spec.name}': the training query failed: {str(exc).splitlines()[0]}",
            hint="Run the query on its own (wml show --inline '...') to see why.",
        ) from None
    lower = {c.lower(): c for c in cols}
    missing = [c for c in spec.columns() if c not in cols and c.lower() not in lower]
    if missing:
        raise TrainingError(
            f"recommender '{spec.name}': the query has no column {', '.join(map(repr, missing))}; "
            f"it has {', '.join(cols)}.",
            hint="Name the query's columns in user_column, item_column, timestamp_column, ...",
        )


def decayed(inter: Interactions, rows: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Weights of ``rows`` (a boolean mask) decayed from each user's latest row among them."""
    w = inter.w[rows]
    if not half_life_days:
        return w
    u, ts = inter.u[rows], inter.ts[rows]
    latest = np.full(inter.n_users, -np.inf)
    np.maximum.at(latest, u, ts)
    return w * np.power(0.5, (latest[u] - ts) / (86400.0 * half_life_days))


def matrix(inter: Interactions, rows: np.ndarray, half_life_days: float | None) -> t.Any:
    """users x items CSR of summed (decayed) weights over ``rows``."""
    import scipy.sparse as sp

    w = decayed(inter, rows, half_life_days)
    m = sp.csr_matrix(
        (w.astype(np.float32), (inter.u[rows], inter.i[rows])),
        shape=(inter.n_users, inter.n_items),
    )
    m.sum_duplicates()
    return m
