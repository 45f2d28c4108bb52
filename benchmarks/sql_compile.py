"""How long our compiler takes to write a tree model as SQL (ONNX -> sqlglot -> DDL text).

This is what ``deploy='sql'`` and every Redshift deploy pay before the warehouse sees the
function (SQL is the only way a model runs there), and what ``wml ml compile`` prints.
Models, trained by the real ``train()`` on ``_predict_support``'s generated rows:

- HistGradientBoosting regression, ITERSxLEAVES ``--trees`` (default 100x31 and 300x31);
- a random forest, ``--forest-trees`` trees of depth ``--forest-depth`` (default 100 x 10);
- a 3-class HistGradientBoosting (100 iterations, so 300 trees), its ``<function>_prob``:
  the MAP of every class's probability (DuckDB) and the class-argument form (Postgres).

Each compile runs in a fresh process (``python -c``, the heap a deploy starts from), so a
run does not inherit the last one's garbage; the figure is compile_model (or
class_probabilities) plus ``ddl()``, median of ``--runs``, and the process's peak RSS (the
largest of the runs, imports included). With ``--baseline DIR`` the same
files are compiled by another checkout's code (``PYTHONPATH=DIR``), interleaved with this
one's on the same host load, and the DDL texts must be byte-identical (exit 1 if not).

    python benchmarks/sql_compile.py [--runs 3] [--baseline DIR] [--trees 100x31,300x31]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _predict_support as sup  # next to this script (its folder is on sys.path)
import duckdb

from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec

ROOT = Path(__file__).resolve().parent.parent
TRAIN_ROWS = 20_000
# The timed child: compile one ONNX file for one dialect, print seconds, bytes and a hash.
CHILD = """
import hashlib, json, sys, time
onnx_file, dialect, kind = sys.argv[1:4]
def peak_mb():  # VmHWM, not ru_maxrss: that keeps the forking parent's size across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
data = open(onnx_file, "rb").read()
from warehouse_ml.sqlcompile import compile_model, ddl
from warehouse_ml.sqlcompile.class_probs import class_probabilities
started = time.perf_counter()  # imports excluded: a deploy has them loaded
if kind == "probs":
    compiled = class_probabilities(data, dialect)
else:
    compiled = compile_model(data)
text = ddl(compiled, "f_model", dialect)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "bytes": len(text.encode()), "splits": compiled.stats.tree_splits,
                  "sha": hashlib.sha256(text.encode()).hexdigest(),
                  "peak_mb": peak_mb()}))
"""


def train(con: duckdb.DuckDBPyConnection, key: str, model_type: ModelType, hp: dict, classes: int = 0) -> bytes:
    """The ONNX bytes of a model trained by ``train()`` (a ``classes``-class target if given)."""
    from warehouse_ml.ml.trainer import train as fit

    query = sup.source_sql(TRAIN_ROWS, offset=sup.TRAIN_OFFSET, target=True)
    problem = ProblemType.REGRESSION
    if classes:  # equal-frequency classes of the regression target
        query = f"SELECT * EXCLUDE (y), ntile({classes}) OVER (ORDER BY y)::VARCHAR AS y FROM ({query})"
        problem = ProblemType.MULTICLASS
    spec = TrainingSpec(
        name=f"bench_{key}", function=f"predict_{key}", query=query, target="y",
        problem_type=problem, model_type=model_type, hyperparameters=hp, exclude=[sup.TEXT],
    )  # fmt: skip
    return fit(con.sql(query).to_arrow_table(), spec).onnx_bytes


def compile_once(code: Path, onnx_file: Path, dialect: str, kind: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(onnx_file), dialect, kind],
        env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="another wml checkout to compile the same files with")
    parser.add_argument("--trees", default="100x31,300x31", help="HistGB ITERSxLEAVES, comma-separated")
    parser.add_argument("--forest-trees", type=int, default=100)
    parser.add_argument("--forest-depth", type=int, default=10)
    args = parser.parse_args()

    con = duckdb.connect()
    cases: list[tuple[str, bytes, str, str]] = []  # label, onnx, dialect, kind
    for spec in args.trees.split(","):
        iters, leaves = (int(v) for v in spec.lower().split("x"))
        hp = {"max_iter": iters, "max_leaf_nodes": leaves, "early_stopping": False}
        cases.append((f"HistGB {spec}", train(con, f"hgb{spec}", ModelType.HIST_GRADIENT_BOOSTING, hp), "duckdb", "predict"))
    forest = train(con, "rf", ModelType.RANDOM_FOREST,
                   {"n_estimators": args.forest_trees, "max_depth": args.forest_depth})  # fmt: skip
    cases.append((f"random forest {args.forest_trees} x depth {args.forest_depth}", forest, "duckdb", "predict"))
    hp = {"max_iter": 100, "max_leaf_nodes": 31, "early_stopping": False}
    multiclass = train(con, "tier", ModelType.HIST_GRADIENT_BOOSTING, hp, classes=3)
    cases.append(("HistGB 3 classes x 100, MAP of probabilities", multiclass, "duckdb", "probs"))
    cases.append(("HistGB 3 classes x 100, class argument", multiclass, "postgres", "probs"))
    con.close()

    sides = [("now", ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    rows, differ = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for label, onnx_bytes, dialect, kind in cases:
            onnx_file = Path(tmp) / f"{hashlib.md5(onnx_bytes).hexdigest()}.onnx"
            onnx_file.write_bytes(onnx_bytes)
            got: dict[str, list[dict]] = {name: [] for name, _ in sides}
            for run in range(args.runs):
                for name, code in sides if run % 2 == 0 else reversed(sides):
                    got[name].append(compile_once(code, onnx_file, dialect, kind))
            first = got["now"][0]
            median = {name: statistics.median(r["seconds"] for r in runs) for name, runs in got.items()}
            peak = {name: max(r["peak_mb"] for r in runs) for name, runs in got.items()}
            same = "" if len(sides) == 1 else ("yes" if {r["sha"] for rs in got.values() for r in rs} == {first["sha"]} else "NO")
            differ = differ or same == "NO"
            rows.append((label, dialect, first["splits"], first["bytes"], median, peak, same))
            print(f"  {label} ({dialect}): {median}", flush=True)
    print()
    head = "| model | dialect | splits | DDL bytes | compile + DDL s | peak MB |"
    if args.baseline:
        head += " baseline s | speed-up | baseline peak MB | same DDL |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for label, dialect, splits, size, median, peak, same in rows:
        line = f"| {label} | {dialect} | {splits:,} | {size:,} | {median['now']:.2f} | {peak['now']:,.0f} |"
        if args.baseline:
            line += (f" {median['baseline']:.2f} | {median['baseline'] / median['now']:.2f}x |"
                     f" {peak['baseline']:,.0f} | {same} |")
        print(line)
    print(f"\nmedians of {args.runs} fresh processes each; host load {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d')}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
