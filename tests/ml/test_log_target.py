"""target_transform='log' (ml/log_target.py): a regression fit on log1p(y) that predicts
the mean of y (Duan's smearing), the same in scikit-learn, the ONNX UDF and compiled SQL;
its conflicts refused before anything is written."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import functions
from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed
from warehouse_ml.ml.log_target_regressor import LogTargetRegressor
from warehouse_ml.ml.materialize import version_from_trained
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model

# onnxruntime scores in float32: the score's rounding (~6e-8 relative) grows by exp().
RTOL = 2e-5


def skewed(n: int, seed: int) -> pa.Table:
    """log-normal spend: the median of y given x is exp(f(x)) - 1, its mean is higher."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.uniform(0, 3, n)
    y = np.expm1(2.0 + 0.7 * x1 + 0.4 * x2 + rng.normal(0, 1.0, n))
    return pa.table({"x1": x1, "x2": x2, "spend": np.maximum(y, 0.0)})


@pytest.fixture(scope="module", params=[ModelType.LINEAR, ModelType.HIST_GRADIENT_BOOSTING])
def trained(request):
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="spend",
                        model_type=request.param, target_transform="log")  # fmt: skip
    return train(skewed(3000, seed=1), spec)


def reference(trained, table: pa.Table) -> np.ndarray:
    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    return trained.pipeline.predict(feed_to_matrix(feed, trained.features))


def test_predicts_the_mean_not_the_median(trained) -> None:
    model = trained.pipeline.steps[-1][1]
    assert isinstance(model, LogTargetRegressor)
    # With unit log-scale noise, E[exp(e)] = exp(1/2): the smearing factor estimates it.
    assert 1.4 < model.smearing_ < 1.95
    test = skewed(20000, seed=2)
    y = test.column("spend").to_numpy()
    mean_pred = reference(trained, test)
    feed = to_onnx_feed([test.column(f.name) for f in trained.features], trained.features)
    prepared = trained.pipeline[:-1].transform(feed_to_matrix(feed, trained.features))
    median_pred = np.expm1(model.estimator_.predict(prepared))
    # The mean back-transform gets the total about right (trees a little high: their own
    # variance in log space adds to exp()), the naive one under-predicts it by a third.
    assert abs(mean_pred.sum() / y.sum() - 1) < 0.15
    assert median_pred.sum() / y.sum() < 0.8
    assert trained.metrics["loss"]["target_transform"] == "log1p, mean by smearing"


def test_udf_and_sql_serve_the_back_transformed_mean(trained) -> None:
    table = skewed(500, seed=3).drop_columns(["spend"])
    expected = reference(trained, table)
    con = duckdb.connect()
    functions.bind_version(con, version_from_trained(trained, source="test"))
    con.register("scoring", table)
    udf = con.sql("select predict_ltv(x1, x2) as p from scoring").fetchnumpy()["p"].astype(float)
    compiled = compile_model(trained.onnx_bytes)
    sql = con.sql(f"select {compiled.sql('duckdb')} as p from scoring").fetchnumpy()["p"].astype(float)
    np.testing.assert_allclose(udf, expected, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(sql, expected, rtol=RTOL, atol=1e-6)
    assert trained.parity["max_abs_diff"] < 1e-3


def test_a_negative_target_is_refused() -> None:
    table = skewed(200, seed=4)
    spend = table.column("spend").to_numpy().copy()
    spend[7] = -3.0
    table = table.set_column(2, "spend", pa.array(spend))
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="spend",
                        model_type=ModelType.LINEAR, target_transform="log")  # fmt: skip
    with pytest.raises(TrainingError, match="needs a target >= 0"):
        train(table, spec)


@pytest.mark.parametrize("config, says", [
    ("target_transform='log', loss='tweedie'", "log-link loss"),
    ("target_transform='log', objective='mae'", "rewards the median"),
    ("target_transform='log', problem_type='binary_classification'", "is for regression"),
    ("target_transform='sqrt'", "is not known"),
])  # fmt: skip
def test_conflicts_name_the_file_and_write_nothing(project, config, says) -> None:
    project.write({
        "seeds/spend.csv": "x1,spend\n" + "".join(f"{i % 17},{(i * 7) % 11}\n" for i in range(300)),
        "models_sql/ltv.sql": "{{ config(materialized='ml_model', target='spend', " + config + ") }}\n"
                              "select * from {{ ref('spend') }}\n",
    })  # fmt: skip
    assert_clean_error(project.wml("build"), 1, "models_sql/ltv.sql", says)
    assert project.query("select count(*) from duckdb_functions() where function_name = 'predict_ltv'") == [(0,)]


def test_a_project_serves_the_mean_from_its_sql_macro(project) -> None:
    table = skewed(600, seed=5)
    rows = ["x1,x2,spend"] + [f"{a},{b},{c}" for a, b, c in zip(*(table.column(n).to_pylist() for n in ("x1", "x2", "spend")), strict=True)]
    project.write({
        "seeds/spend.csv": "\n".join(rows) + "\n",
        "models_sql/ltv.sql": "{{ config(materialized='ml_model', target='spend', model_type='linear', "
                              "target_transform='log') }}\nselect * from {{ ref('spend') }}\n",
    })  # fmt: skip
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    shown = project.wml("show", "ltv", "--format", "json").output
    import json

    record = json.loads(shown)
    assert record["metrics"]["loss"]["target_transform"] == "log1p, mean by smearing"
    smearing = record["metrics"]["target_transform"]["smearing"]
    assert "Target transform: fit on log1p(target), serves the mean" in project.wml("show", "ltv").output
    path = project.root / "card.html"
    assert project.wml("show", "ltv", "--html", "--output", str(path)).exit_code == 0
    assert "Target transform: fit on log1p(target)" in path.read_text()
    # the macro a plain DuckDB client calls: smearing * exp(score) - 1 of the linear score
    (got,) = project.query("select predict_ltv(0.5, 1.0)")[0]
    assert got > smearing * 1.0 - 1


def test_auto_searches_every_family_on_the_log_scale() -> None:
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="spend",
                        target_transform="log", max_runtime=20)  # fmt: skip
    trained = train(skewed(1500, seed=6), spec)
    assert len({row["model_type"] for row in trained.leaderboard}) >= 2
    assert isinstance(trained.pipeline.steps[-1][1], LogTargetRegressor)
    assert trained.metrics["target_transform"]["smearing"] > 1


def test_create_model_settings_target_transform() -> None:
    from warehouse_ml.errors import CompilationError
    from warehouse_ml.ml.create_model import parse_ml_statement

    stmt = parse_ml_statement("CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default "
                              "SETTINGS (TARGET_TRANSFORM 'log')")  # fmt: skip
    assert stmt.spec.target_transform == "log"
    assert any("TARGET_TRANSFORM 'log'" in w and "Redshift rejects" in w for w in stmt.warnings)
    with pytest.raises(CompilationError, match="is not known"):
        parse_ml_statement("CREATE MODEL m FROM t TARGET y FUNCTION f SETTINGS (TARGET_TRANSFORM 'sqrt')")
    with pytest.raises(CompilationError, match="log-link loss"):
        parse_ml_statement("CREATE MODEL m FROM t TARGET y FUNCTION f PROBLEM_TYPE regression "
                           "OBJECTIVE 'reg:tweedie' SETTINGS (TARGET_TRANSFORM 'log')")  # fmt: skip
