"""Train a recommender: read, hold out, AUTO on a validation split, evaluate, refit.

1. The test split holds out each user's latest interactions (evaluate.py).
2. AUTO fits every candidate on the training part minus a validation split carved from
   it the same way, and keeps the best NDCG@K; the time budget (``max_runtime``) skips
   candidates that no longer fit. The test split is never looked at while choosing.
3. The chosen algorithm and the popularity baseline are fit on the whole training part
   and evaluated on the test split (metrics, bootstrap intervals, coverage).
4. The chosen algorithm is refit on every interaction; that fit serves.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml import redaction
from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import registry
from warehouse_ml.ml.recs import algorithms, content, data, evaluate
from warehouse_ml.ml.recs.spec import RecSpec

CANDIDATES = ("popularity", "item_knn", "als", "bpr")
PROBLEM = "recommendation"


@dataclasses.dataclass
class Trained:
    spec: RecSpec
    fitted: algorithms.Fitted
    inter: data.Interactions
    popularity: np.ndarray
    x: t.Any  # the users x items matrix the deployed fit saw
    metrics: dict[str, t.Any]
    leaderboard: list[dict[str, t.Any]]
    seconds: float
    cold: pa.Table | None = None  # content neighbours of catalog items with no interaction

    def tables(self) -> dict[str, pa.Table]:
        """The model's tables (serve.py names and writes them)."""
        items = self.inter.item_ids
        order = np.argsort(-self.popularity, kind="stable")
        out = {
            "popular": pa.table({
                "item_id": items.take(pa.array(order)),
                "score": pa.array(self.popularity[order], pa.float64()),
                "rank": pa.array(np.arange(1, len(order) + 1), pa.int32()),
            }),
        }  # fmt: skip
        nb = self.fitted.neighbors
        if nb is None:  # popularity: no similar items, so every answer is the fill
            import scipy.sparse as sp

            nb = sp.csr_matrix((len(items), len(items)), dtype=np.float32)
        out["neighbors"] = _neighbors_table(nb.tocoo(), items)
        if self.cold is not None and self.cold.num_rows:
            # warm items' lists gain their best cold matches (content.offers), re-ranked
            offered = content.offers(self.cold, items, self.fitted.neighbors)
            warm = out["neighbors"].select(["item_id", "neighbor_id", "score"])
            out["neighbors"] = pa.concat_tables(
                [_reranked(pa.concat_tables([warm, offered]), self.spec.neighbors), self.cold]
            )
        every = np.arange(self.inter.n_users)
        top = algorithms.top_k(self.fitted, self.x, self.popularity, every, self.spec.k)
        out["top"] = pa.table({
            self.spec.user_column: self.inter.user_ids.take(pa.array(top["user"])),
            self.spec.item_column: items.take(pa.array(top["item"])),
            "score": pa.array(top["score"], pa.float64()),
            "rank": pa.array(top["rank"].astype(np.int64)),
            "reason": pa.array(np.where(top["tier"] == 0, "similar", "popular")),
        }).sort_by([(self.spec.user_column, "ascending"), ("rank", "ascending")])  # fmt: skip
        if self.fitted.item_factors is not None:
            out["item_factors"] = _factors_table(items, self.fitted.item_factors)
            out["user_factors"] = _factors_table(self.inter.user_ids, self.fitted.user_factors)
        return out


def _neighbors_table(coo: t.Any, items: pa.Array) -> pa.Table:
    order = np.lexsort((-coo.data, coo.row))
    row, col, val = coo.row[order], coo.col[order], coo.data[order]
    starts = np.searchsorted(row, row, side="left")
    return pa.table({
        "item_id": items.take(pa.array(row)),
        "neighbor_id": items.take(pa.array(col)),
        "score": pa.array(val.astype(np.float64)),
        "rank": pa.array((np.arange(len(row)) - starts + 1).astype(np.int32)),
    })  # fmt: skip


def _reranked(rows: pa.Table, n: int) -> pa.Table:
    """(item_id, neighbor_id, score, rank): each item's best ``n`` rows by score."""
    ordered = rows.sort_by([("item_id", "ascending"), ("score", "descending"),
                            ("neighbor_id", "ascending")])  # fmt: skip
    codes = pc.dictionary_encode(ordered.column("item_id")).combine_chunks().indices
    group = codes.to_numpy(zero_copy_only=False)
    change = np.ones(len(group), dtype=bool)
    change[1:] = group[1:] != group[:-1]
    starts = np.maximum.accumulate(np.where(change, np.arange(len(group)), 0))
    rank = np.arange(len(group)) - starts + 1
    ranked = ordered.append_column("rank", pa.array(rank.astype(np.int32)))
    return ranked.filter(pa.array(rank <= n))


def _factors_table(ids: pa.Array, factors: np.ndarray) -> pa.Table:
    flat = pa.array(factors.astype(np.float32).ravel())
    return pa.table({"id": ids, "factors": pa.FixedSizeListArray.from_arrays(flat, factors.shape[1])})


def train(cursor: t.Any, spec: RecSpec, progress: t.Callable[[str], None] | None = None) -> Trained:
    say = progress or (lambda _doing: None)
    started = time.monotonic()
    say("reading interactions")
    inter = data.load(cursor, spec)
    _check_shape(inter, spec)
    every = np.ones(len(inter.u), dtype=bool)
    test = evaluate.split(inter, every, spec.holdout_fraction)
    leaderboard: list[dict[str, t.Any]] = []
    chosen = spec.algorithm
    search: dict[str, t.Any] | None = None
    if chosen == "auto":
        chosen, leaderboard, search = _auto(inter, spec, test.train, started, say)
    metrics = _test_metrics(inter, spec, test, chosen, say)
    if search is not None:
        metrics["search"] = search
    say(f"refitting {chosen} on all {len(inter.u):,} interactions")
    x = data.matrix(inter, every, spec.half_life_days)
    fitted = algorithms.fit(chosen, x, spec)
    pop = algorithms.popularity(inter, every, spec.half_life_days)
    cold = None
    if spec.catalog:
        say("content neighbours for catalog items with no interaction")
        catalog = content.read(cursor, spec, inter.item_ids.type)
        cold = content.cold_neighbors(catalog, inter.item_ids, pop, fitted.neighbors, spec.neighbors)
    return Trained(spec, fitted, inter, pop, x, metrics, leaderboard, time.monotonic() - started, cold)


def _check_shape(inter: data.Interactions, spec: RecSpec) -> None:
    if inter.n_users < 2 or inter.n_items < 2:
        who = f"{inter.n_users} user(s) and {inter.n_items} item(s)"
        raise TrainingError(
            f"recommender '{spec.name}': the interactions hold {who}; recommending needs at "
            "least two users and two items (what one user did says nothing about another, "
            "and with one item there is nothing else to suggest).",
            hint="Widen the training query, or serve a fixed list without a model.",
        )
    if len(inter.u) < spec.min_rows:
        raise TrainingError(
            f"recommender '{spec.name}': {len(inter.u)} interactions, below min_rows={spec.min_rows}.",
            hint="Lower min_rows or widen the training query.",
        )


# Relative fit + validation cost per algorithm (measured at 1M interactions: popularity is
# a count, ALS and BPR about 2.5x and 3x item-kNN), scaled by what the fits so far took.
RELATIVE_COST = {"popularity": 0.05, "item_knn": 1.0, "als": 2.5, "bpr": 3.0}
# After the search the winner is fitted twice more (test split, then every row) and the
# top-K table is computed for every user: about this many times one validation fit.
FINISH_FACTOR = 3.0


def _auto(
    inter: data.Interactions, spec: RecSpec, train_rows: np.ndarray, started: float,
    say: t.Callable[[str], None],
) -> tuple[str, list[dict[str, t.Any]], dict[str, t.Any]]:
    """The candidate with the best validation NDCG@K (inside the training part only), the
    leaderboard, and the search record. A candidate starts only if its estimated cost plus
    the winner's remaining fits still fit in ``max_runtime`` (the first always runs)."""
    val = evaluate.split(inter, train_rows, spec.holdout_fraction, seed=7)
    users, truth = evaluate.sample(val)
    if not len(users):
        note = {"model_type": "item_knn", "metric": f"ndcg_at_{spec.k}", "score": None,
                "fit_seconds": 0.0, "params": {"note": "no user to validate on: item_knn by default"}}  # fmt: skip
        return "item_knn", [note], {"candidates": len(CANDIDATES), "run": 0, "skipped": [],
                                    "stopped_by": "no validation users"}  # fmt: skip
    x = data.matrix(inter, val.train, spec.half_life_days)
    pop = algorithms.popularity(inter, val.train, spec.half_life_days)
    board: list[dict[str, t.Any]] = []
    skipped: list[str] = []
    rate = 0.0  # seconds per unit of RELATIVE_COST, the worst seen
    for n, name in enumerate(CANDIDATES, start=1):
        elapsed = time.monotonic() - started
        left = spec.max_runtime - elapsed
        estimate = rate * RELATIVE_COST[name]
        best_cost = max((r["fit_seconds"] for r in board), default=0.0)
        if board and estimate + FINISH_FACTOR * max(estimate, best_cost) > left:
            skipped.append(f"{name} (estimated {estimate:.1f}s, {max(left, 0):.1f}s left)")
            continue
        say(f"AUTO candidate {n} of {len(CANDIDATES)}: {name} ({left:.0f}s left of max_runtime)")
        t0 = time.monotonic()
        fitted = algorithms.fit(name, x, spec)
        score = evaluate.ndcg(fitted, x, pop, users, truth, spec.k)
        seconds = time.monotonic() - t0
        rate = max(rate, seconds / RELATIVE_COST[name])
        board.append({
            "model_type": name, "metric": f"ndcg_at_{spec.k}", "score": score,
            "fit_seconds": round(seconds, 3), "params": fitted.params,
            "scored_on": f"validation ndcg_at_{spec.k} on {len(users)} users (each user's "
                         "latest interactions inside the training part, never the test split)",
        })  # fmt: skip
    board.sort(key=lambda r: -(r["score"] or 0.0))
    search = {
        "candidates": len(CANDIDATES), "run": len(board), "skipped": skipped,
        "stopped_by": "max_runtime" if skipped else "exhausted", "max_runtime": spec.max_runtime,
    }  # fmt: skip
    return board[0]["model_type"], board, search


def _test_metrics(
    inter: data.Interactions, spec: RecSpec, test: evaluate.Split, chosen: str,
    say: t.Callable[[str], None],
) -> dict[str, t.Any]:
    users, truth = evaluate.sample(test)
    split = {
        "method": test.method, "holdout_fraction": spec.holdout_fraction,
        "users_evaluated": int(len(users)), "users_with_holdout": int(len(test.users)),
        "rows_train": int(test.train.sum()), "rows_held_out": int((~test.train).sum()),
    }  # fmt: skip
    out: dict[str, t.Any] = {"split": split, "k": spec.k}
    if not len(users):
        out["note"] = "no user has a later interaction with a new item: nothing to evaluate"
        return out
    say(f"evaluating {chosen} and the popularity baseline on {len(users):,} users")
    x = data.matrix(inter, test.train, spec.half_life_days)
    pop = algorithms.popularity(inter, test.train, spec.half_life_days)
    model = evaluate.evaluate(algorithms.fit(chosen, x, spec), x, pop, users, truth, spec.k)
    base = evaluate.evaluate(algorithms.fit("popularity", x, spec), x, pop, users, truth, spec.k)
    out.update({k: v for k, v in model.items() if k != "intervals"})
    out["intervals"] = model["intervals"]
    out["baseline"] = {k: v for k, v in base.items() if k != "intervals"}
    out["baseline_name"] = "popularity"
    out["baseline_intervals"] = base["intervals"]
    return out


def version(trained: Trained, *, source: str, data_fingerprint: str | None) -> registry.ModelVersion:
    """The registry row (its number is set when it is added)."""
    spec, inter, f = trained.spec, trained.inter, trained.fitted
    settings = dataclasses.asdict(spec)
    settings.pop("query", None)
    settings.update(
        kind="recommender", similar_function=spec.similar_function,
        interactions=int(len(inter.u)), users=inter.n_users, items=inter.n_items,
        skipped_null_ids=inter.skipped_null, rows_dropped=inter.duplicates,
        tables=["neighbors", "popular", "top"]
        + (["item_factors", "user_factors"] if f.item_factors is not None else []),
        user_type=str(inter.user_ids.type), item_type=str(inter.item_ids.type),
        cold_items=len(set(trained.cold.column("item_id").to_pylist())) if trained.cold is not None else None,
    )  # fmt: skip
    split = trained.metrics.get("split") or {}
    return registry.ModelVersion(
        name=spec.name, version=0, function=spec.function, problem_type=PROBLEM,
        model_type=f.algorithm, target=None,
        features=[[spec.user_column, str(inter.user_ids.type)],
                  [spec.item_column, str(inter.item_ids.type)]],
        objective=f"ndcg_at_{spec.k}", metrics=trained.metrics,
        leaderboard=trained.leaderboard, settings=settings,
        training_query=redaction.mask(spec.query), query_hash=registry.query_hash(spec.query),
        data_fingerprint=data_fingerprint, rows_train=split.get("rows_train", len(inter.u)),
        rows_eval=split.get("rows_held_out"), training_seconds=trained.seconds,
        onnx=b"", source=source, deploy_mode="sql",
    )  # fmt: skip
