"""DATE and TIMESTAMP columns as features: days since 1970-01-01 in training and scoring."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl

START = dt.date(2025, 1, 1)


def _table(n: int = 400, seed: int = 3) -> pa.Table:
    """value grows with the signup date (2 per 30 days) and drops with spend."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 540, size=n)
    spend = rng.normal(50, 10, size=n)
    value = 2 * days / 30 - 0.1 * spend + rng.normal(0, 0.3, size=n)
    signup = [START + dt.timedelta(days=int(d)) for d in days]
    return pa.table({
        "signup": pa.array(signup, mask=np.arange(n) % 41 == 0),
        "spend": spend,
        "value": value,
    })  # fmt: skip


@pytest.mark.parametrize("model_type", [ModelType.LINEAR, ModelType.HIST_GRADIENT_BOOSTING])
def test_dates_train_export_and_score_as_days(model_type: ModelType) -> None:
    spec = TrainingSpec(name="m", function="f", query="q", target="value", model_type=model_type)
    model = train(_table(), spec)  # the ONNX parity check runs inside
    assert [(f.name, f.sql_type) for f in model.features] == [("signup", "TIMESTAMP"), ("spend", "DOUBLE")]
    assert model.metrics["r2"] > 0.8
    scorer = OnnxScorer(model.onnx_bytes)
    day = [START + dt.timedelta(days=d) for d in (0, 300, 300, 300)]
    as_dates = pa.array(day[:3] + [None])
    midnight = [dt.datetime.combine(d, dt.time()) for d in day]
    as_timestamps = pa.array(midnight[:3] + [None], pa.timestamp("ns"))
    as_utc = pa.array(midnight[:3] + [None], pa.timestamp("us", "UTC"))
    spend = pa.array([50.0] * 4)
    got = [scorer.predict([c, spend]).to_pylist() for c in (as_dates, as_timestamps, as_utc)]
    assert got[0] == got[1] == got[2]
    assert got[0][1] > got[0][0] + 10  # 300 days later: about 20 more
    assert got[0][3] is not None  # a NULL date is imputed as in training


@pytest.mark.parametrize(
    ("model_type", "params"),
    [(ModelType.LINEAR, {}), (ModelType.HIST_GRADIENT_BOOSTING, {"max_iter": 10, "max_leaf_nodes": 7})],
)  # fmt: skip
def test_compiled_sql_converts_dates_like_the_exporter(model_type, params) -> None:
    """The SQL macro turns DATE/TIMESTAMP arguments into the same days the UDF feeds ONNX."""
    spec = TrainingSpec(name="m", function="f", query="q", target="value",
                        model_type=model_type, hyperparameters=params)  # fmt: skip
    model = train(_table(), spec)
    compiled = compile_model(model.onnx_bytes)
    assert [p.type.sql("duckdb") for p in compiled.parameters] == ["TIMESTAMP", "DOUBLE"]
    fresh = _table(300, seed=8)
    stamps = pa.array([None if d is None else dt.datetime.combine(d, dt.time(13, 5, 7, 250))
                       for d in fresh["signup"].to_pylist()], pa.timestamp("us"))  # fmt: skip
    con = duckdb.connect()
    con.execute(ddl(compiled, "f", "duckdb"))
    for signup in (fresh["signup"], stamps):
        con.register("t", pa.table({"signup": signup, "spend": fresh["spend"]}))
        got = np.array([r[0] for r in con.execute("select f(signup, spend) from t").fetchall()])
        want = OnnxScorer(model.onnx_bytes).predict([signup, fresh["spend"]]).to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert "DATE_PART('epoch'" in ddl(compiled, "f", "redshift")
    with pytest.raises(CompilationError, match="compile for duckdb, postgres, redshift only"):
        ddl(compiled, "f", "bigquery")


def test_dates_in_a_build_served_as_sql(project) -> None:
    rows = _table().to_pylist()
    csv = "signup,spend,value\n" + "".join(
        f"{r['signup'] or ''},{r['spend']:.3f},{r['value']:.3f}\n" for r in rows
    )
    project.write({
        "seeds/accounts.csv": csv,
        "models_sql/value_model.sql": """
            {{ config(materialized='ml_model', target='value', model_type='linear') }}
            select * from {{ ref('accounts') }}
        """,
        "models_sql/scored.sql": """
            {{ config(materialized='table') }}
            select signup, predict_value_model(signup, spend) as by_date,
                   predict_value_model(cast(signup as timestamp), spend) as by_ts
            from {{ ref('accounts') }}
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select count(*), count(by_date), count(*) filter (by_date = by_ts) from main.scored") == [(400, 400, 400)]
    assert "SQL macro" in project.wml("show", "value_model").output
    compiled = project.wml("compile-model", "value_model", "--dialect", "redshift")
    assert compiled.exit_code == 0 and "timestamp" in compiled.output.lower()
    assert_clean_error(project.wml("compile-model", "value_model", "--dialect", "snowflake"), 2,
                       "value_model", "date/time features (signup)")  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_date_offsets_are_float32_so_onnx_matches_whatever_the_mean(seed: int) -> None:
    """A date's mean (~20,000 days) is stored as float32 in ONNX; the fitted scaler uses the
    same rounded mean, so parity holds for any set of training rows (it failed on some)."""
    spec = TrainingSpec(name="m", function="f", query="q", target="value", model_type=ModelType.LINEAR)
    model = train(_table(seed=seed), spec)
    scaler = model.pipeline.steps[0][1].named_transformers_["num"].named_steps["scale"]
    assert np.array_equal(scaler.mean_, scaler.mean_.astype(np.float32))
    assert model.parity["max_abs_diff"] < 1e-5
