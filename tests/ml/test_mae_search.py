"""objective='mae': AUTO searches boosted trees that fit the absolute error and selects on
MAE, beating the squared-error search on MAE for a zero-inflated spend; an explicit
boosted model named by XGBoost's 'reg:absoluteerror' fits it too; and those trees serve the
same values from onnxruntime, compiled SQL on DuckDB and on PostgreSQL (the native C engine
is tests/ml/test_native_trees.py's 'hgb_mae')."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from warehouse_ml.ml.create_model import parse_ml_statement
from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl

ROWS = 2_000


def spend(n: int, seed: int) -> pa.Table:
    """Spend with 70% zeros and a long tail: its median is far below its mean."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(1.5, n).astype(np.float64)
    recency = rng.uniform(0, 300, n)
    plan = rng.choice(["free", "pro"], n).astype(object)
    active = rng.random(n) < 1 / (1 + np.exp(-(orders - 2.5 - recency / 150)))
    amount = rng.lognormal(np.log(20 + 15 * orders), 1.0)
    return pa.table({
        "orders": orders, "recency": pa.array(recency, mask=rng.random(n) < 0.03),
        "plan": pa.array(plan, type=pa.string()), "y": np.where(active, amount, 0.0),
    })  # fmt: skip


def spec(**kw) -> TrainingSpec:
    return TrainingSpec(**({"name": "m", "function": "f", "query": "", "target": "y"} | kw))


@pytest.fixture(scope="module")
def models():
    table = spend(ROWS, 0)
    return {
        "mae": train(table, spec(objective="mae")),
        "mse": train(table, spec(objective="mse")),
        "xgb_l1": train(table, spec(model_type=ModelType.HIST_GRADIENT_BOOSTING,
                                    objective="reg:absoluteerror", hyperparameters={"max_iter": 40})),
    }  # fmt: skip


def test_auto_on_mae_searches_absolute_error_trees_and_selects_on_mae(models):
    mae, mse = models["mae"], models["mse"]
    board = mae.leaderboard
    assert {row["metric"] for row in board} == {"mae"} and mae.objective == "mae"
    losses = [row["params"].get("loss") for row in board if row["model_type"] == "hist_gradient_boosting"]
    assert "absolute_error" in losses and None in losses  # one squared-error config is judged too
    best = min(board, key=lambda row: row["score"])
    assert mae.metrics["search"]["best"]["params"] == best["params"]  # the lowest validation MAE
    assert mae.pipeline.steps[-1][1].get_params().get("loss") == "absolute_error"
    # On the held-out rows the MAE search wins on MAE, the MSE search on RMSE.
    assert mae.metrics["mae"] < 0.9 * mse.metrics["mae"]
    assert mse.metrics["rmse"] < mae.metrics["rmse"]
    assert all(row["params"].get("loss") != "absolute_error" for row in mse.leaderboard)


def test_xgboost_absolute_error_objective_fits_it(models):
    model = models["xgb_l1"]
    assert model.objective == "mae"
    assert model.pipeline.steps[-1][1].loss == "absolute_error"
    assert model.metrics["mae"] < model.metrics["baseline"]["mae"]


def _scored(model) -> tuple[pa.Table, np.ndarray]:
    rows = spend(1_500, 5)
    columns = [rows.column(f.name) for f in model.features]
    got = OnnxScorer(model.onnx_bytes, model.features).predict(columns).to_numpy()
    X = feed_to_matrix(to_onnx_feed(columns, model.features), model.features)
    # The median start value and the trees' sum: ONNX gives scikit-learn's predictions.
    np.testing.assert_allclose(got, model.pipeline.predict(X), rtol=1e-5, atol=1e-4)
    return rows, got


@pytest.mark.parametrize("name", ["mae", "xgb_l1"])
def test_compiled_sql_on_duckdb_matches_onnxruntime(models, name):
    model = models[name]
    rows, expected = _scored(model)
    con = duckdb.connect()
    con.register("score", rows)
    con.execute(ddl(compile_model(model.onnx_bytes, outputs="predict"), "predict_m", "duckdb"))
    args = ", ".join(f'"{f.name}"' for f in model.features)
    got = np.array([r[0] for r in con.execute(f"select predict_m({args}) from score").fetchall()])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_compiled_sql_on_postgres_matches_onnxruntime(pg, models):
    model = models["xgb_l1"]
    rows, expected = _scored(model)
    types = {"DOUBLE": "double precision", "VARCHAR": "text"}
    pg.execute("drop table if exists mae_scoring")
    cols = ", ".join(f'"{f.name}" {types[f.sql_type]}' for f in model.features)
    pg.execute(f"create table mae_scoring (row_id int, {cols})")
    names = ", ".join(f'"{f.name}"' for f in model.features)
    with pg.cursor().copy(f"copy mae_scoring (row_id, {names}) from stdin") as copy:
        data = [rows.column(f.name).to_pylist() for f in model.features]
        for i, values in enumerate(zip(*data, strict=True)):
            copy.write_row((i, *values))
    pg.execute(ddl(compile_model(model.onnx_bytes, outputs="predict"), "predict_mae", "postgres"))
    got = pg.execute(f"select predict_mae({names}) from mae_scoring order by row_id").fetchall()
    np.testing.assert_allclose(np.array([r[0] for r in got], float), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("objective", "model_type"), [("MAE", None), ("reg:absoluteerror", "XGBOOST")]
)
def test_create_model_mae_is_ours_and_warned(objective, model_type):
    kind = f" AUTO OFF MODEL_TYPE {model_type}" if model_type else ""
    stmt = parse_ml_statement(
        f"CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default{kind} "
        f"OBJECTIVE '{objective}' SETTINGS (S3_BUCKET 'b')"
    )
    assert stmt.spec.objective == "mae"
    assert any("warehouse-ml objective that Redshift ML does not accept" in w for w in stmt.warnings)
