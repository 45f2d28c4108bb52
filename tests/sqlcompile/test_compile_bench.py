"""Throughput of compiled trees in DuckDB against the Arrow UDF + onnxruntime.

Slow (about a minute): runs only with ``WML_BENCHMARK=1``, e.g.
``WML_BENCHMARK=1 python -m pytest tests/sqlcompile/test_compile_bench.py -s``.
It prints rows/s per encoding and checks that every path returns the same values.
"""

from __future__ import annotations

import os
import time
import typing as t

import duckdb
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from warehouse_ml.sqlcompile import TreeEncoding, compile_model, ddl

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.skipif(not os.environ.get("WML_BENCHMARK"), reason="set WML_BENCHMARK=1"),
]

FEATURES = 8
ROWS = int(os.environ.get("WML_BENCHMARK_ROWS", "300000"))
ARGS = ", ".join(f"x{i}" for i in range(FEATURES))

MODELS = {
    "histgb_20x15": lambda: HistGradientBoostingRegressor(max_iter=20, max_leaf_nodes=15),
    "histgb_100x31": lambda: HistGradientBoostingRegressor(max_iter=100, max_leaf_nodes=31),
    "forest_50_depth8": lambda: RandomForestRegressor(50, max_depth=8, random_state=0),
}


def fitted_onnx(estimator: t.Any) -> bytes:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, FEATURES))
    y = 2 * x[:, 0] + np.sin(x[:, 1]) + x[:, 2] * x[:, 3] + rng.normal(size=len(x)) * 0.1
    columns = ColumnTransformer([("num", "passthrough", list(range(FEATURES)))])
    pipeline = Pipeline([("columns", columns), ("model", estimator)])
    if isinstance(estimator, HistGradientBoostingRegressor):
        estimator.set_params(early_stopping=False)
    with threadpool_limits(1):
        pipeline.fit(x, y)
    types = [(f"x{i}", FloatTensorType([None, 1])) for i in range(FEATURES)]
    try:
        return convert_sklearn(pipeline, initial_types=types).SerializeToString()
    except ValueError:  # skl2onnx 1.20 + scikit-learn 1.9 HistGB trap (FINDINGS.md)
        from test_compile_parity import hist_gradient_boosting_workaround

        with hist_gradient_boosting_workaround():
            return convert_sklearn(pipeline, initial_types=types).SerializeToString()


def arrow_udf(model: bytes) -> t.Callable:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def score(*columns: t.Any) -> pa.Array:
        feeds = {
            f"x{i}": np.asarray(c.to_numpy(), dtype=np.float32).reshape(-1, 1)
            for i, c in enumerate(columns)
        }
        return pa.array(session.run(None, feeds)[0].ravel().astype(np.float64))

    namespace: dict[str, t.Any] = {"score": score}
    exec(f"def udf({ARGS}):\n    return score({ARGS})", namespace)  # DuckDB reads the arity
    return namespace["udf"]


def timed(con: duckdb.DuckDBPyConnection, call: str) -> tuple[float, np.ndarray]:
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE out AS SELECT i, {call} AS p FROM t")
        best = min(best, time.perf_counter() - start)
    values = con.execute("SELECT p FROM out ORDER BY i").fetchnumpy()["p"]
    return ROWS / best, values


@pytest.mark.parametrize("name", MODELS)
def test_tree_throughput(name: str) -> None:
    model = fitted_onnx(MODELS[name]())
    con = duckdb.connect()
    con.execute("SET threads = 2")
    columns = ", ".join(f"(random() * 4 - 2) AS x{i}" for i in range(FEATURES))
    con.execute(f"CREATE TABLE t AS SELECT i, {columns} FROM range({ROWS}) r(i)")
    report, results = [], {}
    for encoding in TreeEncoding:
        start = time.perf_counter()
        compiled = compile_model(model, tree_encoding=encoding)
        statement = ddl(compiled, f"f_{encoding.value}", "duckdb")
        compile_s = time.perf_counter() - start
        con.execute(statement)
        speed, results[encoding.value] = timed(con, f"f_{encoding.value}({ARGS})")
        report.append(
            f"{name} {encoding.value}: {compiled.stats.tree_splits} splits, "
            f"{len(statement) / 1e3:.0f} KB, compile {compile_s:.2f}s, {speed / 1e6:.3f}M rows/s"
        )
    con.create_function("f_udf", arrow_udf(model), ["DOUBLE"] * FEATURES, "DOUBLE", type="arrow")
    speed, results["udf"] = timed(con, f"f_udf({ARGS})")
    report.append(f"{name} arrow UDF + onnxruntime: {speed / 1e6:.3f}M rows/s")
    con.close()
    print("\n" + "\n".join(report))
    assert np.array_equal(results["nested"], results["spine"])
    assert np.array_equal(results["spine"], results["udf"])  # float32 sums: bit for bit
