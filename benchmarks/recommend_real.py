"""Recommenders judged on real interactions: MovieLens 100K (943 users, 1,682 films,
100,000 ratings from 1997-98, GroupLens), never used to tune anything here.

    python benchmarks/recommend_real.py --movielens path/to/ml-100k   # the folder with u.data

The data is not shipped (GroupLens' licence asks users to fetch it themselves). Each rating
is an implicit interaction weighted by its stars (``weight_column``), no time decay. For
each wml algorithm (popularity, item_knn, als, bpr, auto) a new process runs ``wml build``
and the test metrics are read from the registry: each user's latest 20% of ratings held
out (the items new to the user are the answers), metrics at K=10 with bootstrap 95%
intervals over users, as ``wml show`` prints them. Beside them, on the same split and the
same users, the `implicit` library's own recommenders (ALS and BPR scoring with their user
factors, and its item-item cosine model) scored by the same metric code, so what serving
as item neighbours in SQL costs (or gains) is measured, not assumed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

PROFILE = "b:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: w.duckdb, threads: 2}\n"
MODEL = """{{{{ config(materialized='ml_model', model_type='recommender', user_column='user_id',
   item_column='item_id', weight_column='rating', timestamp_column='ts', k=10,
   algorithm='{algo}', max_runtime=300) }}}}
select * from ratings
"""
ALGORITHMS = ("popularity", "item_knn", "als", "bpr", "auto")
SHOWN = ("ndcg_at_10", "recall_at_10", "hit_rate_at_10")


def load(folder: Path, db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute(
        "create table ratings as select column0::bigint as user_id, column1::bigint as item_id, "
        "column2::double as rating, to_timestamp(column3::bigint)::timestamp as ts "
        "from read_csv(?, delim = '\t', header = false)",
        [str(folder / "u.data")],
    )
    con.close()


def wml_runs(root: Path) -> list[tuple[str, dict, float]]:
    out = []
    for algo in ALGORITHMS:
        (root / "models_sql" / "recs.sql").write_text(MODEL.format(algo=algo))
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "warehouse_ml", "build", "--full-refresh", "--project-dir", str(root)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(done.stdout + done.stderr)
        seconds = time.perf_counter() - t0
        con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
        metrics, kind = con.execute(
            "select metrics, model_type from wml.models where name = 'recs' and deployed"
        ).fetchone()
        con.close()
        out.append((f"wml {algo}" + (f" (chose {kind})" if algo == "auto" else ""), json.loads(metrics), seconds))
    return out


def implicit_runs(root: Path) -> list[tuple[str, dict, float]]:
    """implicit's own models on wml's test split, scored by wml's metric code."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits

    from warehouse_ml.ml.recs import data, evaluate
    from warehouse_ml.ml.recs.spec import RecSpec

    spec = RecSpec(name="b", query="select * from ratings", user_column="user_id",
                   item_column="item_id", weight_column="rating", timestamp_column="ts", k=10)  # fmt: skip
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    inter = data.load(con.cursor(), spec)
    con.close()
    every = np.ones(len(inter.u), dtype=bool)
    test = evaluate.split(inter, every, spec.holdout_fraction)
    users, truth = evaluate.sample(test)
    x = data.matrix(inter, test.train, None).tocsr()
    limit = threadpool_limits(1, "blas")  # before the models are made: implicit checks then
    models = {
        "implicit ALS (user factors)": AlternatingLeastSquares(
            factors=spec.factors, regularization=spec.regularization, iterations=spec.iterations,
            num_threads=2, random_state=42),
        "implicit BPR (user factors)": BayesianPersonalizedRanking(
            factors=spec.factors, regularization=spec.regularization,
            iterations=spec.iterations * 4, num_threads=2, random_state=42),
        "implicit item-item cosine": CosineRecommender(K=spec.neighbors),
    }  # fmt: skip
    out = []
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(x, show_progress=False)
        ids, scores = model.recommend(users, x[users].tocsr(), N=spec.k, filter_already_liked_items=True)
        seconds = time.perf_counter() - t0
        recs = np.where(np.isfinite(scores) & (ids >= 0), ids, -1).astype(np.int64)
        metrics = evaluate.summarise(evaluate.per_user(recs, truth, spec.k), recs, inter.n_items, spec.k)
        out.append((name, metrics, seconds))
    limit.restore_original_limits()
    return out


def cell(metrics: dict, key: str) -> str:
    value, ci = metrics.get(key), (metrics.get("intervals") or {}).get(key)
    if value is None:
        return "n/a"
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{value:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", type=Path, required=True, help="folder holding MovieLens 100K's u.data")
    a = ap.parse_args()
    if not (a.movielens / "u.data").exists():
        raise SystemExit(f"{a.movielens / 'u.data'} not found: download ml-100k from GroupLens.")
    root = Path(tempfile.mkdtemp(prefix="wml-recs-real-"))
    try:
        (root / "models_sql").mkdir()
        (root / "profiles.yml").write_text(PROFILE)
        (root / "wml_project.yml").write_text("name: b\nprofile: b\n")
        load(a.movielens, root / "w.duckdb")
        rows = wml_runs(root)
        baseline = rows[0][1].get("baseline") or {}
        rows.insert(0, ("popularity baseline (as wml show prints it)",
                        {**baseline, "intervals": rows[0][1].get("baseline_intervals")}, 0.0))  # fmt: skip
        rows += implicit_runs(root)
        split = rows[1][1]["split"]
        print(f"\nMovieLens 100K: {split['rows_train']:,} training ratings, {split['rows_held_out']:,} "
              f"held out ({split['method']}), {split['users_evaluated']} users evaluated, K=10\n")
        print("| method | " + " | ".join(SHOWN) + " | catalog coverage | seconds |")
        print("|---|" + "---|" * (len(SHOWN) + 2))
        for name, m, secs in rows:
            cov = m.get("catalog_coverage")
            tail = f"{cov:.3f} | {secs:.1f}" if cov is not None else "n/a | "
            print(f"| {name} | " + " | ".join(cell(m, k) for k in SHOWN) + f" | {tail} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
