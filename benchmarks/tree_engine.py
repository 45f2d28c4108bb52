"""Which engine should serve tree ensembles in predict_x? Measured side by side, one run.

Model: HistGradientBoosting trained by our ``train()`` on ``--train-rows`` generated rows
(8 DOUBLE features, x0 1% NULL; the generator of benchmarks/predict_udf.py), exactly
``--iters`` trees of at most ``--leaves`` leaves (early stopping off); ``--model rf``: a
random forest with our defaults instead. Every case scores
the same ``--rows`` rows (default 1,000,000) of one in-memory DuckDB table:

  scikit-learn   ``pipeline.predict`` on the float64 matrix, 1 thread (threadpoolctl)
  onnxruntime    our ONNX graph, 1 intra-op / 1 inter-op thread (OnnxScorer's settings),
                 on columns converted to float32 beforehand, one call: today's UDF engine
  treelite       treelite's scikit-learn importer + tl2cgen-compiled C (when installed:
                 pip install treelite tl2cgen), 1 thread, on the float64 matrix
  native         our generated C (ml/native) through NativeScorer on the Arrow columns,
                 one call, 1 thread: preprocessing, trees and link included
  predict_x      CREATE TABLE AS SELECT predict_x(...) with the UDF that wml registers
                 (native engine), DuckDB's default threads (2 cores here)
  predict_x ort  the same query with the UDF forced to onnxruntime (the engine before)

and two peers that are other libraries' own models of the same size, trained on the same
rows (so their speed is comparable, their parity is against their own predict):

  xgboost        ``--iters`` trees, ``max_leaves=--leaves`` (hist, lossguide), native
                 ``inplace_predict`` on the float64 matrix, 1 thread
  lleaves        LightGBM ``--iters`` x ``--leaves`` compiled by lleaves (LLVM), 1 thread and
                 DuckDB's 2 (when installed: pip install lleaves)

plus, for linear models, predict_x (onnxruntime, unchanged) beside raw onnxruntime, to show
the engine choice leaves them alone. Cases run round-robin, ``--runs`` times (default 3);
the table shows medians. Parity: every engine's output against scikit-learn's on all rows
(NULLs included): max abs diff and rows off by more than 1e-9.

Targets (PASS/FAIL, exit 1 on a FAIL): predict_x >= 2 x onnxruntime's single-thread rows/s;
predict_x max abs diff vs scikit-learn < 1e-9 on all rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import typing as t

sys.path.insert(0, os.path.dirname(__file__))

import _predict_support as sup  # noqa: E402
import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from warehouse_ml.ml import functions  # noqa: E402
from warehouse_ml.ml.native import build, codegen, engine  # noqa: E402
from warehouse_ml.ml.scoring import OnnxScorer  # noqa: E402
from warehouse_ml.ml.spec import ModelType  # noqa: E402

SPEED_TARGET = 2.0
EXACT = 1e-9


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--train-rows", type=int, default=200_000)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--model", choices=("hgb", "rf"), default="hgb",
        help="hgb: HistGradientBoosting --iters x --leaves; rf: RandomForest with our defaults "
        "(100 trees, max_depth 10, min_samples_leaf 5), served from node tables",
    )  # fmt: skip
    return ap.parse_args(argv)


def _ort_udf(con: duckdb.DuckDBPyConnection, version: t.Any, name: str) -> None:
    """predict_x as wml registered it before the native engine: OnnxScorer behind it."""
    scorer = OnnxScorer(version.onnx, None, classes=version.classes)
    null_row = [pa.array([None], type=pa.float64()) for _ in scorer.features]
    ret = functions._return_type(scorer.predict(null_row).type)
    prepared = functions.Prepared(version, scorer.features, [(name, scorer.predict, ret)])
    functions.register(con, prepared)


def _timed(fn: t.Callable[[], t.Any]) -> tuple[float, t.Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _treelite(pipeline: t.Any, tmp: str) -> t.Callable[[np.ndarray], np.ndarray] | None:
    try:
        import tl2cgen
        import treelite
    except ImportError:
        return None
    model = treelite.sklearn.import_model(pipeline.steps[-1][1])
    lib = os.path.join(tmp, "treelite.so")
    tl2cgen.export_lib(model, toolchain="gcc", libpath=lib, params={"parallel_comp": 8})
    predictor = tl2cgen.Predictor(lib, nthread=1)
    return lambda X: np.asarray(predictor.predict(tl2cgen.DMatrix(X, dtype="float64"))).ravel()


def _peers(
    con: duckdb.DuckDBPyConnection, a: argparse.Namespace, names: list[str], tmp: str
) -> dict[str, tuple[t.Callable[[np.ndarray], np.ndarray], t.Callable[[np.ndarray], np.ndarray]]]:
    """Other libraries' models of the same size on the same training rows: name -> (timed
    predict, that library's own reference predict)."""
    if a.model != "hgb":
        return {}
    train = con.sql(sup.source_sql(a.train_rows, offset=sup.TRAIN_OFFSET, target=True))
    cols = train.to_arrow_table()
    Xt = np.column_stack([cols.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(np.float64)
    y = cols.column("y").to_numpy(zero_copy_only=False).astype(np.float64)
    peers: dict[str, t.Any] = {}
    try:
        import xgboost as xgb
    except ImportError:
        xgb = None
    if xgb is not None:
        booster = xgb.XGBRegressor(
            n_estimators=a.iters, max_leaves=a.leaves, grow_policy="lossguide", max_depth=0,
            tree_method="hist", n_jobs=1, random_state=0,
        ).fit(Xt, y).get_booster()  # fmt: skip
        booster.set_param({"nthread": 1})
        peers["xgboost native inplace_predict, 1 thread"] = (
            lambda X: booster.inplace_predict(X), lambda X: booster.inplace_predict(X)
        )
    try:
        import lightgbm as lgb
        import lleaves
    except ImportError:
        return peers
    gbm = lgb.LGBMRegressor(
        n_estimators=a.iters, num_leaves=a.leaves, n_jobs=1, random_state=0, verbose=-1
    ).fit(Xt, y)
    path = os.path.join(tmp, "lightgbm.txt")
    gbm.booster_.save_model(path)
    compiled = lleaves.Model(model_file=path)
    compiled.compile(cache=os.path.join(tmp, "lleaves.o"))
    reference = gbm.booster_.predict
    peers["lleaves (LightGBM, LLVM), 1 thread"] = (lambda X: compiled.predict(X, n_jobs=1), reference)
    peers["lleaves (LightGBM, LLVM), 2 threads"] = (lambda X: compiled.predict(X, n_jobs=2), reference)
    return peers


def main(argv: list[str]) -> int:
    import tempfile

    from threadpoolctl import threadpool_limits

    a = _args(argv)
    con = duckdb.connect()
    if a.model == "hgb":
        title = f"HistGradientBoosting {a.iters} trees x {a.leaves} leaves"
        hyper = {"max_iter": a.iters, "max_leaf_nodes": a.leaves, "early_stopping": False}
        kind = ModelType.HIST_GRADIENT_BOOSTING
    else:
        title, hyper, kind = "RandomForest 100 trees, max_depth 10", {}, ModelType.RANDOM_FOREST
    print(f"training {title} on {a.train_rows:,} rows ...")
    model = sup.train_model(con, "trees", kind, a.train_rows, hyperparameters=hyper)
    linear = sup.train_model(con, "linear", ModelType.LINEAR, a.train_rows)
    version, pipeline = model.version, model.trained.pipeline
    con.execute(f"CREATE TABLE t AS {sup.source_sql(a.rows)}")
    names = [f.name for f in model.features]
    columns = [con.sql(f"SELECT {n} FROM t").to_arrow_table().column(0) for n in names]
    X = np.column_stack([c.to_numpy() for c in columns]).astype(np.float64)

    # Build the native library the way a deploy does (timed once, from an empty cache).
    tmp = tempfile.mkdtemp(prefix="wml-tree-bench-")
    os.environ["WML_NATIVE_CACHE"] = tmp
    program = engine.decode(engine._metadata(version.onnx)[engine.METADATA_KEY])
    source = codegen.source(program)
    build_s, _ = _timed(lambda: functions.engine_for(version))
    chosen = functions.engine_for(version)
    native = chosen.scorer
    if getattr(native, "engine", "") != "native":
        print(f"native engine unavailable here ({chosen.note}); nothing to compare")
        return 1
    splits = int((program.feature >= 0).sum())
    print(f"native build: {build_s:.2f} s (codegen + {build.toolchain().ident}), {splits:,} "
          f"splits, {len(source) / 1e6:.2f} MB of C, library {len(native.library) / 1e3:.0f} KB")  # fmt: skip
    ort = OnnxScorer(version.onnx, None, classes=version.classes)
    feed = ort.feed(columns)
    tl = _treelite(pipeline, tmp)

    functions.bind_version(con, version)
    _ort_udf(con, version, "predict_trees_ort")
    functions.bind_version(con, linear.version)
    lin_ort = OnnxScorer(linear.version.onnx, None)
    lin_feed = lin_ort.feed(columns)
    args = ", ".join(names)

    def ctas(fn: str) -> t.Callable[[], None]:
        def run() -> None:
            con.execute(f"CREATE OR REPLACE TABLE out AS SELECT {fn}({args}) AS p FROM t")

        return run

    def sklearn_1t() -> np.ndarray:
        with threadpool_limits(1):
            return pipeline.predict(X)

    cases: dict[str, t.Callable[[], t.Any]] = {
        "scikit-learn predict, 1 thread": sklearn_1t,
        "onnxruntime, 1 thread (pre-converted float32)": lambda: ort.session.run(None, feed)[0],
        "native C (NativeScorer, Arrow in), 1 thread": lambda: native.predict(columns),
        "predict_x, native engine (CTAS, DuckDB threads)": ctas(version.function),
        "predict_x, onnxruntime engine (CTAS, DuckDB threads)": ctas("predict_trees_ort"),
        "linear: onnxruntime, 1 thread (pre-converted)": lambda: lin_ort.session.run(None, lin_feed),
        "linear: predict_x (engine: onnxruntime, CTAS)": ctas(linear.version.function),
    }
    if tl is not None:
        cases["treelite + tl2cgen C, 1 thread (float64 matrix)"] = lambda: tl(X)
    peers = _peers(con, a, names, tmp)
    for peer, (predict, _) in peers.items():
        cases[peer] = (lambda f: lambda: f(X))(predict)
    own = {name: np.asarray(ref(X), dtype=np.float64).ravel() for name, (_, ref) in peers.items()}
    times: dict[str, list[float]] = {k: [] for k in cases}
    outputs: dict[str, t.Any] = {}
    for run in range(a.runs):
        for name, fn in cases.items():
            seconds, out = _timed(fn)
            times[name].append(seconds)
            if run == 0:
                if name.startswith("predict_x"):
                    out = con.sql("SELECT p FROM out").to_arrow_table().column(0)
                outputs[name] = out
        print(f"run {run + 1}/{a.runs} done")

    truth = np.asarray(outputs["scikit-learn predict, 1 thread"], dtype=np.float64).ravel()

    def parity(name: str) -> tuple[float, int] | None:
        if name.startswith("linear") or name.startswith("scikit"):
            return None
        out = outputs[name]
        values = out.to_numpy() if hasattr(out, "to_numpy") else np.asarray(out)
        diff = np.abs(np.asarray(values, dtype=np.float64).ravel() - own.get(name, truth))
        return float(diff.max()), int((diff > EXACT).sum())

    median = {k: statistics.median(v) for k, v in times.items()}
    ort_key = "onnxruntime, 1 thread (pre-converted float32)"
    print(f"\n{title}, {a.rows:,} rows x 8 "
          f"features (x0 1% NULL), medians of {a.runs} runs, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'case':<56} {'wall s':>7} {'M rows/s':>8} {'x ort 1t':>8} {'max |diff|':>11} {'rows > 1e-9':>11}")
    for name in cases:
        p = parity(name)
        rate = a.rows / median[name] / 1e6
        ratio = median[ort_key] / median[name]
        diff = f"{p[0]:11.2e} {p[1]:11,}" if p else f"{'-':>11} {'-':>11}"
        print(f"{name:<56} {median[name]:7.3f} {rate:8.2f} {ratio:8.2f} {diff}")
    if peers:
        print("(xgboost and lleaves rows: their own models of the same size on the same rows; "
              "parity against their own predict)")  # fmt: skip
    ratio = median[ort_key] / median["predict_x, native engine (CTAS, DuckDB threads)"]
    worst, off = parity("predict_x, native engine (CTAS, DuckDB threads)") or (0.0, 0)
    verdicts = [
        (f"predict_x >= {SPEED_TARGET:g}x onnxruntime 1 thread", ratio >= SPEED_TARGET, f"{ratio:.2f}x"),
        (f"predict_x max abs diff vs scikit-learn < {EXACT:g}", worst < EXACT, f"{worst:.2e}, {off} rows"),
    ]  # fmt: skip
    print()
    for label, ok, figure in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {figure}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
