"""Recommender speed at 1M interactions / 100k users / 20k items (synthetic, with taste
groups: warehouse_ml/ml/recs/synthetic.py).

    python benchmarks/recommend.py [--rows 1000000] [--users 100000] [--items 20000] [--runs 3]
                                   [--train-runs 1]

Measures, as medians of ``--runs``:
- training (``wml build -s recs --full-refresh`` in a new process: read, hold out, evaluate
  against popularity, refit, write tables and macros) for item_knn, als and AUTO;
- ``recommend_recs(user, 10)`` for one user: query time in DuckDB, and the plain
  ``duckdb`` CLI end to end (process start included);
- top-10 for every user as one SQL statement (the item-based form the macro serves), beside
  implicit's own ``recommend`` for all users in Python (ALS, the same 10 per user).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from warehouse_ml.ml.recs.synthetic import interactions

PROFILE = "b:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: w.duckdb, threads: 2}\n"
MODEL = """{{{{ config(materialized='ml_model', model_type='recommender', user_column='user_id',
   item_column='item_id', event_column='event', timestamp_column='ts', half_life_days=60,
   event_weights={{'Order Completed': 5, 'Product Viewed': 1}}, k=10, algorithm='{algo}',
   max_runtime=120) }}}}
select * from raw_events
"""


def wml(root: Path, *args: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "warehouse_ml", *args, "--project-dir", str(root)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return time.perf_counter() - t0


def median(f, runs: int) -> float:
    return statistics.median(f() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--train-runs", type=int, default=1, help="training is slow: 1 by default")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wml-recs-"))
    (root / "models_sql").mkdir()
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text("name: b\nprofile: b\n")
    events = interactions(a.users, a.items, a.rows, groups=200, seed=1)  # noqa: F841
    con = duckdb.connect(str(root / "w.duckdb"), config={"storage_compatibility_version": "v1.4.0"})
    con.execute("create table raw_events as select * from events")
    con.close()
    rows = []
    for algo in ("item_knn", "als", "auto"):
        (root / "models_sql" / "recs.sql").write_text(MODEL.format(algo=algo))
        secs = median(lambda: wml(root, "build", "-s", "recs", "--full-refresh"), a.train_runs)
        rows.append((f"train {algo} (wml build, new process)", secs))
    # The deployed version is AUTO's; serve it.
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    users = np.random.default_rng(0).integers(0, a.users, 20)
    one = [_time(lambda u=u: con.execute(f"select * from recommend_recs({int(u)}, 10)").fetchall())
           for u in users]  # fmt: skip
    rows.append(("recommend_recs(user, 10): query in DuckDB", statistics.median(one)))
    cli = shutil.which("duckdb") or str(Path(sys.executable).with_name("duckdb"))
    if Path(cli).exists():
        run = [cli, str(root / "w.duckdb"), "-readonly", "-c", "select * from recommend_recs(42, 10)"]
        rows.append(("  the same from the plain duckdb CLI (process start included)",
                     median(lambda: _time(lambda: subprocess.run(run, capture_output=True, check=True)), a.runs)))
    from warehouse_ml.ml import registry
    from warehouse_ml.ml.recs import serve

    v = registry.get(con.cursor(), "recs")
    sql = serve.all_users_sql(serve.spec_of(v), v.training_query, "recs", v.version, 10)
    rows.append((f"top-10 for all {a.users:,} users, one SQL statement ({v.model_type} neighbours)",
                 median(lambda: _time(lambda: con.execute(f"select count(*) from ({sql})").fetchall()), a.runs)))
    con.close()
    rows.append(("implicit ALS .recommend() for all users (Python, 2 threads)", _implicit_all(table_path=root, runs=a.runs)))
    print(f"\n{a.rows:,} interactions, {a.users:,} users, {a.items:,} items; medians of {a.runs}\n")
    print(f"| {'what':<78} | seconds |\n|{'-' * 80}|---------|")
    for what, secs in rows:
        print(f"| {what:<78} | {secs:7.3f} |")
    shutil.rmtree(root, ignore_errors=True)


def _time(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _implicit_all(table_path: Path, runs: int) -> float:
    """implicit's own batch recommend over the same decayed matrix (fit excluded)."""
    from threadpoolctl import threadpool_limits

    from warehouse_ml.ml.recs import data
    from warehouse_ml.ml.recs.spec import RecSpec

    spec = RecSpec(name="b", query="select * from raw_events", user_column="user_id",
                   item_column="item_id", event_column="event", timestamp_column="ts",
                   event_weights={"Order Completed": 5, "Product Viewed": 1}, half_life_days=60)
    con = duckdb.connect(str(table_path / "w.duckdb"), read_only=True)
    inter = data.load(con.cursor(), spec)
    con.close()
    x = data.matrix(inter, np.ones(len(inter.u), dtype=bool), spec.half_life_days)
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=32, iterations=15, num_threads=2, random_state=0)
        model.fit(x, show_progress=False)
        users = np.arange(inter.n_users)
        return median(lambda: _time(lambda: model.recommend(users, x, N=10, filter_already_liked_items=True)), runs)


if __name__ == "__main__":
    main()
