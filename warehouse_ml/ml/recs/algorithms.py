"""The algorithms: each fit gives item-item neighbours, the form every one serves in.

``recommend_<name>`` scores an item by the user's current (decayed) interactions times
their similarity to it, in SQL, so the algorithm decides only *which* items are similar:

- ``popularity``: no neighbours; everyone gets the most popular items (decayed from the
  latest interaction when ``half_life_days`` is set: recent popularity);
- ``item_knn``: cosine similarity of items' columns in the user-item matrix (co-occurrence
  normalised by each item's own weight);
- ``als`` / ``bpr``: implicit-feedback matrix factorisation by the ``implicit`` library;
  neighbours are the items closest by cosine of their latent factors, which also serve
  as arrays for batch use.

Every solver runs with BLAS held to one thread (implicit's own advice: its threads and
OpenBLAS's would oversubscribe the cores).
"""

from __future__ import annotations

import dataclasses
import os
import typing as t
import warnings

import numpy as np

if t.TYPE_CHECKING:
    import scipy.sparse as sp

    from warehouse_ml.ml.recs.spec import RecSpec


@dataclasses.dataclass
class Fitted:
    algorithm: str
    neighbors: sp.csr_matrix | None  # items x items, row j: the items similar to j
    item_factors: np.ndarray | None = None
    user_factors: np.ndarray | None = None
    params: dict[str, t.Any] = dataclasses.field(default_factory=dict)


def popularity(inter: t.Any, rows: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Per item: summed weight, decayed from the latest interaction overall."""
    w = inter.w[rows]
    if half_life_days:
        ts = inter.ts[rows]
        w = w * np.power(0.5, (ts.max() - ts) / (86400.0 * half_life_days))
    return np.bincount(inter.i[rows], weights=w, minlength=inter.n_items)


def threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def fit(algorithm: str, x: sp.csr_matrix, spec: RecSpec) -> Fitted:
    """Fit ``algorithm`` on the users x items matrix ``x``."""
    if algorithm == "popularity":
        return Fitted("popularity", None)
    if algorithm == "item_knn":
        return Fitted("item_knn", _cosine_top(x, spec.neighbors), params={"neighbors": spec.neighbors})
    return _factorise(algorithm, x, spec)


def _cosine_top(x: sp.csr_matrix, n: int = 50) -> sp.csr_matrix:
    """Top-``n`` cosine neighbours per item of the matrix's columns (diagonal dropped)."""
    import scipy.sparse as sp

    xc = x.tocsc().astype(np.float32)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xn = xc @ sp.diags(1.0 / norms).astype(np.float32)
    sim = (xn.T @ xn).tocsr()
    sim.setdiag(0)
    sim.eliminate_zeros()
    return _keep_top(sim, n)


def _keep_top(sim: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep each row's ``n`` largest entries."""
    import scipy.sparse as sp

    sim = sim.tocsr()
    counts = np.diff(sim.indptr)
    if counts.max(initial=0) <= n:
        return sim
    rows, cols, vals = [], [], []
    for r in np.flatnonzero(counts):
        lo, hi = sim.indptr[r], sim.indptr[r + 1]
        v, c = sim.data[lo:hi], sim.indices[lo:hi]
        if hi - lo > n:
            top = np.argpartition(-v, n - 1)[:n]
            v, c = v[top], c[top]
        rows.append(np.full(len(c), r, dtype=np.int32))
        cols.append(c)
        vals.append(v)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=sim.shape
    )


def factor_neighbors(factors: np.ndarray, n: int) -> sp.csr_matrix:
    """Top-``n`` cosine neighbours per item from its latent factors.

    implicit's ``topk`` (BLAS blocks and a threaded C++ selection) is ~3x faster here
    than numpy's argpartition over each block of the item x item scores.
    """
    import scipy.sparse as sp
    from implicit.cpu.topk import topk

    f = factors.astype(np.float32)
    f = np.ascontiguousarray(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12))
    m = len(f)
    n = min(n, m - 1)
    ids, scores = topk(f, f, n + 1, num_threads=threads())
    rows = np.repeat(np.arange(m), n + 1).reshape(m, n + 1)
    other = ids != rows  # the item itself is its own nearest; ties may put it second
    # one column too many where the item itself was not among its n + 1 (ties at 1.0)
    other &= np.cumsum(other, axis=1) <= n
    keep = other & (scores > 0)  # only positively similar items count for a user's score
    return sp.csr_matrix((scores[keep], (rows[keep], ids[keep])), shape=(m, m))


def _factorise(algorithm: str, x: sp.csr_matrix, spec: RecSpec) -> Fitted:
    from threadpoolctl import threadpool_limits

    params: dict[str, t.Any] = {"factors": spec.factors, "regularization": spec.regularization}
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        # implicit warns about OpenBLAS threads when the model is made: held to one here.
        warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
        if algorithm == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            params["iterations"] = spec.iterations
            model = AlternatingLeastSquares(
                factors=spec.factors, regularization=spec.regularization,
                iterations=spec.iterations, num_threads=threads(), random_state=42,
            )  # fmt: skip
            data = x
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            params["iterations"] = spec.iterations * 4  # BPR's SGD needs more passes
            model = BayesianPersonalizedRanking(
                factors=spec.factors, regularization=spec.regularization,
                iterations=params["iterations"], num_threads=threads(), random_state=42,
            )  # fmt: skip
            data = x
        model.fit(data, show_progress=False)
    items = np.asarray(model.item_factors, dtype=np.float32)
    users = np.asarray(model.user_factors, dtype=np.float32)
    return Fitted(algorithm, factor_neighbors(items, spec.neighbors), items, users, params)


def top_k(
    f: Fitted, x: sp.csr_matrix, pop: np.ndarray, users: np.ndarray, k: int, batch: int = 4096
) -> dict[str, np.ndarray]:
    """The top ``k`` of each of ``users`` as recommend_<name> serves it: similar items by
    summed weight x similarity, seen items out, then popular items (best first) filling
    the rest; ties by item code (= item id order). Sparse steps, in batches of users.

    Returns columns user (position in ``users``), item, score, rank (1-based), tier (0
    similar, 1 popular).
    """
    n_items = x.shape[1]
    k = min(k, n_items)
    ranked = np.lexsort((np.arange(n_items), -pop))  # popular first, ties by code
    parts = [_top_batch(f, x, pop, ranked, users[lo : lo + batch], lo, k)
             for lo in range(0, len(users), batch)]  # fmt: skip
    if not parts:
        return {c: np.zeros(0) for c in ("user", "item", "score", "rank", "tier")}
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


def _top_batch(
    f: Fitted, x: sp.csr_matrix, pop: np.ndarray, ranked: np.ndarray, users: np.ndarray,
    offset: int, k: int,
) -> dict[str, np.ndarray]:
    xb = x[users]
    n_items = np.int64(x.shape[1])
    sr, sc = xb.nonzero()
    seen = np.sort(sr.astype(np.int64) * n_items + sc)
    if f.neighbors is not None and f.neighbors.nnz:
        s = (xb @ f.neighbors).tocsr()
        s.sort_indices()  # within a row, items in code order: the tie-break, kept below
        s = s.tocoo()
        row, col, val = s.row.astype(np.int64), s.col.astype(np.int64), s.data.astype(np.float64)
        fresh = ~_member(row * n_items + col, seen) & (val > 0)
        row, col, val = row[fresh], col[fresh], val[fresh]
        # One float key (user, then score descending), stable: np.lexsort on three keys
        # was 15x slower here at millions of candidates.
        top = val.max(initial=0.0) * (1 + 1e-9) or 1.0
        order = np.argsort(row + 0.5 * (1.0 - val / top), kind="stable")
        row, col, val = row[order], col[order], val[order]
        counts = np.bincount(row, minlength=len(users))
        pos = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = pos < k
        row, col, val, pos = row[keep], col[keep], val[keep], pos[keep]
    else:
        row = col = pos = np.zeros(0, dtype=np.int64)
        val = np.zeros(0)
    have = np.bincount(row, minlength=len(users))
    short = np.flatnonzero(have < k)
    n_seen = np.bincount(sr, minlength=len(users))
    # Candidates for the fill: each short user's first k + seen + have popular items.
    width = (k + n_seen[short] + have[short]).astype(np.int64)
    fu = np.repeat(short.astype(np.int64), width)
    start = np.repeat(np.cumsum(width) - width, width)
    fpos = np.arange(len(fu)) - start
    fi = ranked[np.minimum(fpos, len(ranked) - 1)].astype(np.int64)
    code = fu * n_items + fi
    taken = np.sort(row * n_items + col)
    ok = (fpos < len(ranked)) & ~_member(code, seen) & ~_member(code, taken)
    fu, fi = fu[ok], fi[ok]
    nth = np.arange(len(fu)) - np.searchsorted(fu, fu)  # fu is sorted by user
    need = (k - have)[fu]
    fill = nth < need
    fu, fi, nth = fu[fill], fi[fill], nth[fill]
    return {
        "user": np.concatenate([row, fu]) + offset,
        "item": np.concatenate([col, fi]),
        "score": np.concatenate([val, pop[fi]]),
        "rank": np.concatenate([pos, have[fu] + nth]) + 1,
        "tier": np.concatenate([np.zeros(len(row), np.int8), np.ones(len(fu), np.int8)]),
    }


def _member(values: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    """Whether each value is in ``sorted_pool`` (binary search; faster than np.isin here)."""
    if not len(sorted_pool):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_pool, values), len(sorted_pool) - 1)
    return sorted_pool[at] == values
