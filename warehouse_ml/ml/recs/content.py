"""The content fallback: neighbours for cold items from the catalog's columns.

An item in the catalog with no interaction yet (a new product) has no co-occurrence and
no latent factors, so it would have no similar items and a user who views it would get
only the popular fill. With ``catalog=ref('products')`` and ``content_columns=[...]`` it
gets neighbours by what it is: each categorical column that matches counts 1, each
numeric column ``1 - |a - b| / range``, averaged over the columns; ties go to the more
popular item. The scores are scaled so a cold item's best neighbour weighs like a typical
warm item's best (the median of their top similarities), since the serving SQL sums
weight x similarity across a user's items.

The neighbours join the model's ``neighbors`` table, so ``similar_<name>(new_item, k)``
answers and ``recommend_<name>`` reacts to a view of a new item with no retrain.

The other way round (`offers`): a new item would never reach the people viewing warm
items, since no co-occurrence links to it. Each warm item therefore also lists up to
`OFFER_SLOTS` cold items that match it on at least half of the content (by score), scored
as the content match times the median of its warm neighbours' similarities, so a cold item
sits mid-list among a warm item's neighbours rather than first or never.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.adapters.relation import quote
from warehouse_ml.errors import TrainingError

if t.TYPE_CHECKING:
    import scipy.sparse as sp

    from warehouse_ml.ml.recs.spec import RecSpec

_BLOCK = 1024  # cold items scored against the whole catalog per step
OFFER_SLOTS = 2  # cold items listed among each warm item's neighbours
OFFER_MIN = 0.5  # content match (0-1) a cold item needs to be offered beside a warm one


@dataclasses.dataclass
class Catalog:
    ids: pa.Array  # catalog item ids, in the interactions' id type
    categorical: np.ndarray  # items x C int codes (-1: NULL)
    numeric: np.ndarray  # items x N floats scaled to [0, 1] (NaN: NULL)


def read(cursor: t.Any, spec: RecSpec, item_type: pa.DataType) -> Catalog:
    """The catalog's item ids and content columns, one row per item."""
    cols = ", ".join(quote(c) for c in spec.content_columns)
    item = quote(spec.item_column)
    sql = (f"select {item}, {cols} from {source(spec.catalog or '')} as wml_c "
           f"where {item} is not null qualify row_number() over (partition by {item}) = 1")  # fmt: skip
    try:
        table = cursor.sql(sql).to_arrow_table()
    except Exception as exc:  # a missing column or relation: name the config keys
        raise TrainingError(
            f"recommender '{spec.name}': cannot read the catalog: {str(exc).splitlines()[0]}",
            hint=f"catalog must be a relation or query with the columns {spec.item_column} and "
                 f"{', '.join(spec.content_columns)} (content_columns).",
        ) from None
    try:
        ids = table.column(0).combine_chunks().cast(item_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise TrainingError(
            f"recommender '{spec.name}': the catalog's {spec.item_column} "
            f"({table.schema.field(0).type}) does not match the interactions' ({item_type}).",
            hint="Cast the catalog's item column to the interactions' type.",
        ) from None
    categorical, numeric = [], []
    for column in table.columns[1:]:
        column = column.combine_chunks()
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            lo, hi = np.nanmin(values, initial=np.inf), np.nanmax(values, initial=-np.inf)
            numeric.append((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values))
        else:
            encoded = pc.dictionary_encode(column.cast(pa.string()))
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.float64)
            categorical.append(np.where(np.isnan(codes), -1, codes).astype(np.int64))
    n = len(ids)
    return Catalog(
        ids,
        np.column_stack(categorical) if categorical else np.zeros((n, 0), np.int64),
        np.column_stack(numeric) if numeric else np.zeros((n, 0)),
    )


def source(catalog: str) -> str:
    """``catalog`` as a FROM item: a relation (``ref('products')``) or a parenthesised query."""
    text = catalog.strip()
    return f"({text})" if re.match(r"(?is)^\(?\s*(select|with)\b", text) else text


def cold_neighbors(
    catalog: Catalog, item_ids: pa.Array, popularity: np.ndarray, warm: sp.csr_matrix | None,
    n: int,
) -> pa.Table:
    """(item_id, neighbor_id, score, rank) for each catalog item with no interaction."""
    known = pc.is_in(catalog.ids, value_set=item_ids).to_numpy(zero_copy_only=False)
    cold = np.flatnonzero(~known)
    empty = pa.table({"item_id": catalog.ids.slice(0, 0), "neighbor_id": catalog.ids.slice(0, 0),
                      "score": pa.array([], pa.float64()), "rank": pa.array([], pa.int32())})  # fmt: skip
    width = catalog.categorical.shape[1] + catalog.numeric.shape[1]
    if not len(cold) or not width or len(catalog.ids) < 2:
        return empty
    # Catalog items' popularity (0 for cold ones), to break ties toward what sells.
    position = pc.index_in(catalog.ids, value_set=item_ids).to_numpy(zero_copy_only=False)
    pop = np.where(known, popularity[np.nan_to_num(position, nan=0).astype(np.int64)], 0.0)
    pop = pop / (pop.max() or 1.0)
    n = min(n, len(catalog.ids) - 1)
    rows, cols, vals = [], [], []
    for lo in range(0, len(cold), _BLOCK):
        block = cold[lo : lo + _BLOCK]
        score = _similarity(catalog, block) / width
        score[np.arange(len(block)), block] = -np.inf  # not its own neighbour
        key = score + 1e-6 * pop[None, :]  # a column's match is worth >= 1/width: pop only breaks ties
        order = np.argpartition(-key, n - 1, axis=1)[:, :n]
        order = np.take_along_axis(order, np.argsort(-np.take_along_axis(key, order, 1), 1, kind="stable"), 1)
        top = np.take_along_axis(score, order, axis=1)
        keep = top > 0
        rows.append(np.repeat(block, n)[keep.ravel()])
        cols.append(order.ravel()[keep.ravel()])
        vals.append(top.ravel()[keep.ravel()])
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    val = val * _typical_top(warm)
    starts = np.searchsorted(row, row, side="left")
    return pa.table({
        "item_id": catalog.ids.take(pa.array(row)),
        "neighbor_id": catalog.ids.take(pa.array(col)),
        "score": pa.array(val.astype(np.float64)),
        "rank": pa.array((np.arange(len(row)) - starts + 1).astype(np.int32)),
    })  # fmt: skip


def _similarity(catalog: Catalog, block: np.ndarray) -> np.ndarray:
    """Summed per-column similarity of ``block``'s items to every catalog item."""
    score = np.zeros((len(block), len(catalog.ids)))
    for c in range(catalog.categorical.shape[1]):
        codes = catalog.categorical[:, c]
        mine = codes[block][:, None]
        score += (mine == codes[None, :]) & (mine >= 0)
    for c in range(catalog.numeric.shape[1]):
        values = catalog.numeric[:, c]
        near = 1.0 - np.abs(values[block][:, None] - values[None, :])
        score += np.nan_to_num(near, nan=0.0)
    return score


def _typical_top(warm: sp.csr_matrix | None) -> float:
    """The median over warm items of their best neighbour's similarity (1 without any)."""
    if warm is None or not warm.nnz:
        return 1.0
    best = warm.max(axis=1).toarray().ravel()
    best = best[best > 0]
    return float(np.median(best)) if len(best) else 1.0


def offers(cold: pa.Table, item_ids: pa.Array, warm: sp.csr_matrix | None) -> pa.Table:
    """(item_id, neighbor_id, score) rows listing cold items among warm items' neighbours,
    from the cold items' own content neighbours (``cold_neighbors``' rows, reversed)."""
    empty = cold.select(["item_id", "neighbor_id", "score"]).slice(0, 0)
    if warm is None or not warm.nnz or not cold.num_rows:
        return empty
    typical = _typical_top(warm)
    position = pc.index_in(cold.column("neighbor_id"), value_set=item_ids)
    on_warm = pc.is_valid(position).to_numpy(zero_copy_only=False)
    match = cold.column("score").to_numpy() / typical  # back to the 0-1 content match
    keep = np.flatnonzero(on_warm & (match >= OFFER_MIN))
    if not len(keep):
        return empty
    w = position.to_numpy(zero_copy_only=False)[keep].astype(np.int64)
    match = match[keep]
    # each warm item's best OFFER_SLOTS cold matches (ties: the cold table's order)
    order = np.lexsort((np.arange(len(w)), -match, w))
    w, match, keep = w[order], match[order], keep[order]
    starts = np.searchsorted(w, w, side="left")
    slot = np.arange(len(w)) - starts
    first = slot < OFFER_SLOTS
    w, match, keep = w[first], match[first], keep[first]
    median = _row_medians(warm)
    score = match * median[w]
    has = score > 0
    return pa.table({
        "item_id": item_ids.take(pa.array(w[has])),
        "neighbor_id": cold.column("item_id").take(pa.array(keep[has])),
        "score": pa.array(score[has].astype(np.float64)),
    })  # fmt: skip


def _row_medians(warm: sp.csr_matrix) -> np.ndarray:
    """Each row's median stored similarity (0 for an item without neighbours)."""
    out = np.zeros(warm.shape[0])
    for i in range(warm.shape[0]):
        row = warm.data[warm.indptr[i] : warm.indptr[i + 1]]
        if len(row):
            out[i] = float(np.median(row))
    return out
