"""Honest evaluation: each user's latest interactions held out, metrics at K.

The split is per user and in time (with ``timestamp_column``; without one, a seeded random
choice of each user's rows): a user with at least two interactions keeps the earliest
``1 - holdout_fraction`` of them (at least one) for training, and the items first seen
in the rest are what we hope to recommend. Items the user already had are never counted
as hits, since ``recommend_<name>`` excludes them. AUTO carves a validation split from the
training part the same way and never looks at the test part.

Metrics at K: precision, recall (hits / held-out items), NDCG, MAP and hit rate, averaged
over evaluated users, with bootstrap 95% intervals over users; catalog coverage is the
share of items recommended to anyone.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np

from warehouse_ml.ml.recs import algorithms, data

MAX_EVAL_USERS = 10_000  # larger evaluations sample users (seeded); the intervals say so
METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


@dataclasses.dataclass
class Split:
    train: np.ndarray  # boolean mask over interaction rows
    users: np.ndarray  # evaluated user codes
    truth: list[np.ndarray]  # held-out new items per evaluated user
    method: str


def split(inter: data.Interactions, rows: np.ndarray, fraction: float, seed: int = 42) -> Split:
    """Hold out each user's latest ``fraction`` of ``rows`` (a mask), at least one row."""
    idx = np.flatnonzero(rows)
    u = inter.u[idx]
    timed = bool(np.any(inter.ts[idx] != inter.ts[idx][0])) if len(idx) else False
    key = inter.ts[idx] if timed else np.random.default_rng(seed).random(len(idx))
    # By user, then time, ties by item (deterministic): two stable sorts on one key each
    # (np.lexsort on three keys is many times slower at a million rows).
    by_item = np.argsort(inter.i[idx], kind="stable")
    key = key - key.min(initial=0.0)
    span = float(key.max(initial=0.0)) + 1.0
    order = by_item[np.argsort((u[by_item] * span + key[by_item]), kind="stable")]
    idx, u = idx[order], u[order]
    counts = np.bincount(u, minlength=inter.n_users)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = np.arange(len(idx)) - start[u]
    n = counts[u]
    held = np.where(n >= 2, np.maximum(1, np.floor(fraction * n)), 0)
    test = pos >= n - held
    train = np.zeros(len(inter.u), dtype=bool)
    train[idx[~test]] = True
    m = np.int64(inter.n_items)
    held_pairs = inter.u[idx[test]].astype(np.int64) * m + inter.i[idx[test]]
    train_pairs = inter.u[train].astype(np.int64) * m + inter.i[train]
    pairs = np.sort(held_pairs[~algorithms._member(held_pairs, np.sort(train_pairs))])
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
    pu, pi = pairs // m, pairs % m
    bounds = np.flatnonzero(np.diff(pu)) + 1
    users = pu[np.concatenate(([0], bounds))] if len(pu) else np.array([], dtype=np.int64)
    truth = np.split(pi, bounds) if len(pu) else []
    return Split(train, users.astype(np.int64), truth,
                 "temporal per user" if timed else "random per user (no timestamp_column)")


def sample(s: Split, limit: int = MAX_EVAL_USERS, seed: int = 42) -> tuple[np.ndarray, list]:
    if len(s.users) <= limit:
        return s.users, s.truth
    pick = np.sort(np.random.default_rng(seed).choice(len(s.users), limit, replace=False))
    return s.users[pick], [s.truth[p] for p in pick]


def recommend(
    f: algorithms.Fitted, x: t.Any, pop: np.ndarray, users: np.ndarray, k: int
) -> np.ndarray:
    """Top-``k`` item codes per user (-1 where fewer), seen items excluded, as served."""
    top = algorithms.top_k(f, x, pop, users, k)
    out = np.full((len(users), k), -1, dtype=np.int64)
    out[top["user"].astype(np.int64), top["rank"].astype(np.int64) - 1] = top["item"]
    return out


def per_user(recs: np.ndarray, truth: list[np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Each metric per user (rows of ``recs`` align with ``truth``), vectorised."""
    n = len(truth)
    if not n:
        return {m: np.zeros(0) for m in METRICS}
    sizes = np.array([len(x) for x in truth], dtype=np.int64)
    width = np.int64(max(int(recs.max(initial=0)), max(int(x.max(initial=0)) for x in truth)) + 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
    wanted = rows * width + np.concatenate(truth).astype(np.int64)
    got = np.arange(n, dtype=np.int64)[:, None] * width + recs.astype(np.int64)
    hit = np.isin(got, wanted) & (recs >= 0)
    hits = hit.sum(axis=1)
    relevant = np.minimum(sizes, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[relevant - 1]
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    return {
        "precision": hits / k,
        "recall": hits / sizes,
        "ndcg": (hit * discounts).sum(axis=1) / ideal,
        "map": (precision_at * hit).sum(axis=1) / relevant,
        "hit_rate": (hits > 0).astype(float),
    }


def summarise(
    values: dict[str, np.ndarray], recs: np.ndarray, n_items: int, k: int, seed: int = 42
) -> dict[str, t.Any]:
    """Means at K, bootstrap 95% intervals over users, catalog coverage."""
    rng = np.random.default_rng(seed)
    n = len(next(iter(values.values())))
    draws = rng.integers(0, n, size=(200, n)) if n else None
    out: dict[str, t.Any] = {}
    intervals: dict[str, list[float]] = {}
    for metric, v in values.items():
        key = f"{metric}_at_{k}"
        out[key] = float(v.mean()) if n else None
        if draws is not None:
            means = v[draws].mean(axis=1)
            intervals[key] = [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
    recommended = np.unique(recs[recs >= 0]) if recs.size else np.array([])
    out["catalog_coverage"] = float(len(recommended) / n_items) if n_items else 0.0
    out["intervals"] = intervals
    return out


def evaluate(
    f: algorithms.Fitted, x: t.Any, pop: np.ndarray, users: np.ndarray, truth: list, k: int
) -> dict[str, t.Any]:
    recs = recommend(f, x, pop, users, k)
    return summarise(per_user(recs, truth, k), recs, x.shape[1], k)


def ndcg(f: algorithms.Fitted, x: t.Any, pop: np.ndarray, users: np.ndarray, truth: list,
         k: int) -> float:
    recs = recommend(f, x, pop, users, k)
    return float(per_user(recs, truth, k)["ndcg"].mean()) if len(users) else 0.0
