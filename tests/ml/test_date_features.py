"""DATE and TIMESTAMP columns as features: days since 1970-01-01 in training and scoring."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train

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


def test_dates_in_a_build_served_by_the_udf(project) -> None:
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
    shown = project.wml("show", "value_model").output
    assert "Arrow UDF" in shown and "date/time features (signup)" in shown
    assert_clean_error(project.wml("compile-model", "value_model", "--dialect", "redshift"), 2,
                       "value_model", "date/time features (signup)", "deploy='udf'")  # fmt: skip
