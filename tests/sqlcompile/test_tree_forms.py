"""Tree ensembles in today's SQL form agree with onnxruntime bit for bit, on DuckDB and on
PostgreSQL (the Redshift stand-in): the spine CASE per tree, NULL routed by
``COALESCE(x, +-4e38)``, the float32 running sum of many trees as DuckDB's ``list_reduce``
(a chain of additions elsewhere, and for short sums). Rows include NULLs (HistGradientBoosting trained on NaN too) and
values exactly at, and one double either side of, every split threshold.

Also: ``deploy='auto'`` decides from the split count read off the graph, before (and
without) compiling.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import duckdb
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_compile_parity import NUMERIC, arrow_table, build, make_rows, run_onnx  # noqa: E402

from warehouse_ml.errors import CompilationError  # noqa: E402
from warehouse_ml.ml import portable, registry  # noqa: E402
from warehouse_ml.sqlcompile import compile_model, ddl, tree_splits  # noqa: E402
from warehouse_ml.sqlcompile import sqlexpr as sx  # noqa: E402

# name: (estimator, task, impute). impute=False: HistGradientBoosting sees NaN itself.
MODELS: dict[str, tuple[t.Any, str, bool]] = {
    "hgb_reg_nan": (HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=15), "regression", False),
    "rf_reg": (RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0), "regression", True),
    "gb_reg": (GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), "regression", True),
    "hgb_bin_nan": (HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=10), "binary", False),
    "rf_bin": (RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0), "binary", True),
    "gb_multi": (GradientBoostingClassifier(n_estimators=35, max_depth=3, random_state=0), "multiclass", True),
    "hgb_multi_nan": (HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=8), "multiclass", False),
}  # fmt: skip


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {name: build(est, task, scale=False, impute=impute)[0]
            for name, (est, task, impute) in MODELS.items()}  # fmt: skip


def _thresholds(model: bytes) -> dict[int, list[float]]:
    """Feature index -> its split thresholds (float32, as the graph holds them)."""
    found: dict[int, list[float]] = {}
    for node in onnx.load_from_string(model).graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
            for feature, mode, value in zip(a["nodes_featureids"], a["nodes_modes"], a["nodes_values"], strict=True):
                if mode != b"LEAF" and np.isfinite(value):
                    found.setdefault(int(feature), []).append(float(value))
    return found


@pytest.fixture(scope="module")
def rows(models) -> dict[str, np.ndarray]:
    """Random rows with NULLs, then rows at every numeric threshold and its neighbours."""
    base = make_rows(2000, seed=5, unseen=True)
    at: dict[str, list[float]] = {n: [] for n in NUMERIC}
    for model in models.values():
        for feature, values in _thresholds(model).items():
            if feature < len(NUMERIC) and NUMERIC[feature] != "member":
                for v in values:
                    at[NUMERIC[feature]] += [v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf)]
    extra = max(len(v) for v in at.values())
    out = {}
    for name in base:
        column = list(base[name])
        if name in at:
            column += at[name] + [base[name][i % 2000] for i in range(extra - len(at[name]))]
        else:
            column += [base[name][i % 2000] for i in range(extra)]
        out[name] = np.array(column, dtype=object if name in ("plan", "region") else float)
    return out


@pytest.fixture(scope="module")
def duck(rows) -> t.Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.register("scoring_rows", arrow_table(rows))
    con.execute("CREATE TABLE rows AS SELECT * FROM scoring_rows")
    yield con
    con.close()


def _expected(model: bytes, rows: dict[str, np.ndarray], output: str) -> np.ndarray:
    labels, *rest = run_onnx(model, rows)
    if output == "predict":
        return np.ravel(labels)
    return np.asarray(rest[0])[:, 1]


def _outputs(name: str) -> list[str]:
    return ["predict", "proba"] if MODELS[name][1] == "binary" else ["predict"]


def _same(got: list[t.Any], want: np.ndarray) -> None:
    got_a = np.array(got, dtype=want.dtype if want.dtype != object else object)
    if want.dtype.kind == "f":
        got_a, want = got_a.astype(np.float64), want.astype(np.float32).astype(np.float64)
    bad = np.flatnonzero(got_a != want)
    assert bad.size == 0, (bad.size, bad[:5], got_a[bad[:5]], want[bad[:5]])


@pytest.mark.parametrize("encoding", ["spine", "nested"])
@pytest.mark.parametrize("name", list(MODELS))
def test_duckdb_matches_onnxruntime_exactly(duck, models, rows, name, encoding) -> None:
    for output in _outputs(name):
        compiled = compile_model(models[name], outputs=output, tree_encoding=encoding)
        function = f"f_{name}_{encoding}_{output}"
        statement = ddl(compiled, function, "duckdb")
        # The float32 running sum: flat from ORDERED_SUM_MIN_TERMS trees on (here 40 and 35
        # per class), a chain below.
        trees = {"hgb_reg_nan": 40, "gb_multi": 35}.get(name, 0)
        assert ("LIST_REDUCE(" in statement) == (trees >= sx.ORDERED_SUM_MIN_TERMS)
        duck.execute(statement)
        args = ", ".join(p.name for p in compiled.parameters)
        got = [r[0] for r in duck.execute(f"SELECT {function}({args}) FROM rows ORDER BY i").fetchall()]
        want = _expected(models[name], rows, output)
        if output == "proba":  # probabilities are computed in double from the exact sums
            np.testing.assert_allclose(np.array(got, float), want, rtol=0, atol=1e-6)
        else:
            _same(got, want)


@pytest.fixture(scope="module")
def pg_rows(pg, rows):
    pg.execute("DROP TABLE IF EXISTS rows")
    pg.execute("CREATE TABLE rows (i int, age float8, spend float8, member float8, plan text, region text)")
    with pg.cursor().copy("COPY rows (i, age, spend, member, plan, region) FROM STDIN") as copy:
        for i in range(len(rows["age"])):
            values = [rows[n][i] for n in ("age", "spend", "member", "plan", "region")]
            copy.write_row([i, *(None if isinstance(v, float) and np.isnan(v) else v for v in values)])
    return pg


@pytest.mark.parametrize("name", list(MODELS))
def test_postgres_matches_onnxruntime_exactly(pg_rows, models, rows, name) -> None:
    for output in _outputs(name):
        compiled = compile_model(models[name], outputs=output)
        function = f"f_{name}_{output}"
        pg_rows.execute(ddl(compiled, function, "postgres"))
        args = ", ".join(f'"{p.name}"' for p in compiled.parameters)
        got = [r[0] for r in pg_rows.execute(f"SELECT {function}({args}) FROM rows ORDER BY i")]
        want = _expected(models[name], rows, output)
        if output == "proba":
            np.testing.assert_allclose(np.array(got, float), want, rtol=0, atol=1e-6)
        else:
            _same(got, want)


def test_redshift_form_is_plain_sql(models) -> None:
    """Redshift gets no DuckDB list or lambda: CASE, COALESCE and a chain of REAL sums."""
    statement = ddl(compile_model(models["hgb_reg_nan"]), "f", "redshift")
    for duckdb_only in ("LIST_REDUCE", "LAMBDA", "[", "WML_ORDERED_SUM"):
        assert duckdb_only not in statement.upper()
    assert "COALESCE($" in statement and "4e+38" in statement
    assert " IS NULL" not in statement  # NULL routing without OR ... IS NULL


@pytest.mark.parametrize("name", list(MODELS))
def test_split_count_read_off_the_graph(models, name) -> None:
    assert tree_splits(models[name]) == compile_model(models[name]).stats.tree_splits > 0


def _uncompilable_forest(splits: int) -> bytes:
    """``splits`` stumps the compiler refuses (double-precision thresholds)."""
    n = splits
    op = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[t for t in range(n) for _ in range(3)], nodes_nodeids=[0, 1, 2] * n,
        nodes_featureids=[0] * 3 * n, nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * n,
        nodes_values=[0.5, 0.0, 0.0] * n, nodes_truenodeids=[1, 0, 0] * n,
        nodes_falsenodeids=[2, 0, 0] * n, target_treeids=[t for t in range(n) for _ in range(2)],
        target_nodeids=[1, 2] * n, target_ids=[0, 0] * n, target_weights=[1.0, 2.0] * n,
        nodes_values_as_tensor=helper.make_tensor("v", TensorProto.DOUBLE, [3 * n], [0.5, 0.0, 0.0] * n),
    )  # fmt: skip
    graph = helper.make_graph(
        [op], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def _version(onnx_bytes: bytes) -> registry.ModelVersion:
    return registry.ModelVersion(
        name="m", version=1, function="predict_m", problem_type="regression",
        model_type=None, target="y", features=[["x", "DOUBLE"]], onnx=onnx_bytes,
    )  # fmt: skip


def test_auto_counts_splits_before_compiling() -> None:
    big = _version(_uncompilable_forest(portable.AUTO_MAX_TREE_SPLITS + 1))
    mode, compiled, note = portable.choose("auto", big)
    # Decided by the count alone: compiling would have failed and said so instead.
    assert (mode, compiled) == ("udf", [])
    assert f"{portable.AUTO_MAX_TREE_SPLITS + 1} tree splits" in note
    with pytest.raises(CompilationError, match="double-precision trees"):
        portable.choose("sql", big)
    small = _version(_uncompilable_forest(portable.AUTO_MAX_TREE_SPLITS))
    mode, _, note = portable.choose("auto", small)  # small enough: compiled, which fails
    assert mode == "udf" and "does not support" in note
