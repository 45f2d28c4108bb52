"""Calibrated probabilities: ECE, the sigmoid and isotonic maps against scikit-learn's
CalibratedClassifierCV, auto's choice, and the calibrated predict_x_prob served by the ONNX
UDF and by compiled SQL on DuckDB and PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import calibration, functions
from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml.materialize import version_from_trained
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a model three times too sure of itself: truth sigmoid(z), says sigmoid(3z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    positive = rng.random(n) < 1 / (1 + np.exp(-z))
    return 1 / (1 + np.exp(-3 * z)), positive


class _Scores(ClassifierMixin, BaseEstimator):
    """A 'model' whose positive-class probability is its one input column: the reference
    calibrates the same scores ours does (predict_proba only, as for a model without
    decision_function)."""

    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.predict_proba(X)[:, 1] > 0.5


def test_ece_on_a_constructed_case() -> None:
    # bins of width 0.1: {0.1, 0.1} observed 1/2, {0.55} observed 0, {0.9, 0.9} observed 1
    p = np.array([0.1, 0.1, 0.55, 0.9, 0.9])
    outcome = np.array([0, 1, 0, 1, 1], dtype=bool)
    expected = (2 * abs(0.1 - 0.5) + 1 * abs(0.55 - 0.0) + 2 * abs(0.9 - 1.0)) / 5
    assert ev.expected_calibration_error(outcome, p) == pytest.approx(expected, abs=1e-12)
    # one bin holding 0.2 and 0.4 (mean 0.3) with 3 of 10 positive: calibrated within it
    p = np.array([0.2] * 5 + [0.4] * 5)
    assert ev.expected_calibration_error(np.arange(10) < 3, p * 0 + 0.3) == pytest.approx(0.0)
    assert ev.ece_bins(np.array([0.0, 0.0999, 0.1, 0.95, 1.0])).tolist() == [0, 0, 1, 9, 9]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_maps_equal_calibrated_classifier_cv(method: str) -> None:
    p, positive = overconfident(3_000, seed=1)
    ours = calibration._FITTERS[method](p, positive)
    # ensemble=False: one map fit on every row (the frozen scores are the same in each fold)
    frozen = FrozenEstimator(_Scores().fit(p, positive))
    reference = CalibratedClassifierCV(frozen, method=method, ensemble=False)
    reference.fit(p.reshape(-1, 1), positive)
    grid = np.linspace(0, 1, 2_001)
    want = reference.predict_proba(grid.reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(ours.apply(grid), want, rtol=0, atol=1e-6)
    # the label is the positive class exactly when the calibrated probability exceeds 0.5
    q = ours.apply(grid)
    decided = ours.positive(grid)
    assert np.all(decided[q > 0.5 + 1e-9]) and not np.any(decided[q < 0.5 - 1e-9])


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_improves_log_loss_of_an_overconfident_model(method: str) -> None:
    p, positive = overconfident(4_000, seed=2)
    fresh_p, fresh_positive = overconfident(20_000, seed=3)
    fitted = calibration._FITTERS[method](p, positive)
    before = calibration.log_loss(fresh_p, fresh_positive)
    after = calibration.log_loss(fitted.apply(fresh_p), fresh_positive)
    assert after < before - 0.05, (before, after)
    ece_before = ev.expected_calibration_error(fresh_positive, fresh_p)
    assert ev.expected_calibration_error(fresh_positive, fitted.apply(fresh_p)) < ece_before / 2


def test_auto_chooses_by_cross_validated_log_loss_including_none() -> None:
    p, positive = overconfident(2_000, seed=4)
    losses = calibration.cross_validated(p, positive, seed=0)
    assert calibration.choose("auto", losses) in ("sigmoid", "isotonic")
    assert losses["none"] > min(losses["sigmoid"], losses["isotonic"])
    # already calibrated scores: calibrating cannot win by a margin, and ties keep 'none'
    rng = np.random.default_rng(5)
    honest = rng.random(2_000)
    losses = calibration.cross_validated(honest, rng.random(2_000) < honest, seed=0)
    assert calibration.choose("auto", {"none": 0.5, "sigmoid": 0.5, "isotonic": 0.5}) == "none"
    assert losses["none"] <= losses["isotonic"]


def data(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = np.where(rng.random(n) < 0.5, "free", "pro").astype(object)
    z = 1.2 * x1 - 0.8 * x2 + np.where(plan == "pro", 0.7, 0.0)
    return pa.table({
        "x1": pa.array(x1, mask=rng.random(n) < 0.03),  # NULLs are imputed in every form
        "x2": x2,
        "plan": plan,
        "churned": rng.random(n) < 1 / (1 + np.exp(-z)),
    })  # fmt: skip


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    table = data(1_500, seed=7)
    out = {}
    for method in ("sigmoid", "isotonic"):
        spec = TrainingSpec(name=f"churn_{method}", function=f"predict_churn_{method}",
                            query="", target="churned", model_type=ModelType.LINEAR,
                            calibration=method)  # fmt: skip
        out[method] = train(table, spec)
    return out


def test_training_records_calibration_and_ece_intervals(models) -> None:
    trained = models["sigmoid"]
    record = trained.metrics["calibration"]
    assert record["method"] == "sigmoid" and record["requested"] == "sigmoid"
    assert "never the evaluation rows" in record["fit_on"]
    assert record["rows"] == pytest.approx(0.2 * trained.rows_train, abs=2)
    assert set(record["cv_log_loss"]) == {"none", "sigmoid", "isotonic"}
    assert {"uncalibrated", "calibrated"} == set(record["held_out"])
    lo, hi = trained.metrics["intervals"]["ece"]
    assert lo <= trained.metrics["ece"] <= hi
    assert "brier" in trained.metrics["intervals"] and "ece" in trained.metrics["baseline"]
    assert trained.parity["calibration"]["stage_max_abs_diff"] < 1e-6


def scoring_table() -> pa.Table:
    return data(3_000, seed=8).drop_columns(["churned"])


def udf_scores(trained, table: pa.Table) -> tuple[np.ndarray, list]:
    version = version_from_trained(trained, source="test")
    con = duckdb.connect()
    functions.bind_version(con, version)
    con.register("scoring", table)
    fn = trained.spec.function
    args = ", ".join(f.name for f in trained.features)
    rows = con.sql(f"select {fn}_prob({args}) as p, {fn}({args}) as l from scoring")
    got = rows.fetchnumpy()
    return np.asarray(got["p"], dtype=np.float64), list(got["l"])


def sql_scores(trained, table: pa.Table) -> tuple[np.ndarray, list]:
    proba = compile_model(trained.onnx_bytes, outputs="proba")
    label = compile_model(trained.onnx_bytes, outputs="predict")
    con = duckdb.connect()
    con.register("scoring", table)
    got = con.sql(f"select {proba.sql('duckdb')} as p, {label.sql('duckdb')} as l from scoring")
    values = got.fetchnumpy()
    return np.asarray(values["p"], dtype=np.float64), list(values["l"])


def reference_scores(trained, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """CalibratedClassifierCV's map (fit on the same scores ours was) over the deployed
    model's own probabilities, fed float32 values as the scorer feeds ONNX."""
    from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed

    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    X = feed_to_matrix(feed, trained.features)
    base, calibrator = calibration.unwrap(trained.pipeline)
    p = base.predict_proba(X)[:, 1]
    return calibrator.apply(p), trained.pipeline.predict(X)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_udf_and_compiled_sql_serve_the_calibrated_probability(models, method) -> None:
    trained = models[method]
    table = scoring_table()
    ref_p, ref_label = reference_scores(trained, table)
    udf_p, udf_label = udf_scores(trained, table)
    sql_p, sql_label = sql_scores(trained, table)
    base, _ = calibration.unwrap(trained.pipeline)
    uncalibrated = base.predict_proba
    assert np.abs(ref_p - trained.pipeline.predict_proba(_matrix(trained, table))[:, 1]).max() < 1e-12
    np.testing.assert_allclose(udf_p, ref_p, rtol=0, atol=_tolerance(trained, method))
    np.testing.assert_allclose(sql_p, ref_p, rtol=0, atol=_tolerance(trained, method))
    np.testing.assert_allclose(sql_p, udf_p, rtol=0, atol=_tolerance(trained, method))
    # the calibration stage itself matches numpy to 1e-6 on ONNX's own probabilities, and
    # nearly every row matches end to end to 1e-6 even through isotonic's steep segments
    assert trained.parity["calibration"]["stage_max_abs_diff"] < 1e-6
    assert np.mean(np.abs(udf_p - ref_p) < 1e-6) > 0.98
    # calibration moved the probabilities: the test is not of an identity map
    assert np.abs(ref_p - uncalibrated(_matrix(trained, table))[:, 1]).max() > 1e-3
    # labels follow the calibrated probability at 0.5, the same in every form
    agree = np.abs(ref_p - 0.5) > 1e-6
    assert [bool(v) for v in np.asarray(udf_label)[agree]] == list(ref_label[agree])
    assert [bool(v) for v in np.asarray(sql_label)[agree]] == list(ref_label[agree])


def _matrix(trained, table: pa.Table) -> np.ndarray:
    from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed

    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    return feed_to_matrix(feed, trained.features)


def _tolerance(trained, method: str) -> float:
    """1e-6, widened for isotonic by its steepest segment times float32's rounding of the
    model's probability (1.2e-7): a piecewise-linear map multiplies that difference."""
    if method == "sigmoid":
        return 1e-6
    _, calibrator = calibration.unwrap(trained.pipeline)
    steepest = float(np.max(np.diff(calibrator.y) / np.diff(calibrator.x)))
    return max(1e-6, steepest * 1.2e-7)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_postgres_serves_the_calibrated_probability(pg, models, method) -> None:
    trained = models[method]
    table = scoring_table()
    proba = compile_model(trained.onnx_bytes, outputs="proba")
    label = compile_model(trained.onnx_bytes, outputs="predict")
    fn = f"predict_churn_{method}"
    pg.execute(ddl(proba, f"{fn}_prob", "postgres"))
    pg.execute(ddl(label, fn, "postgres"))
    pg.execute("drop table if exists scoring")
    pg.execute("create table scoring (row_id int, x1 double precision, x2 double precision, plan text)")
    with pg.cursor().copy("copy scoring (row_id, x1, x2, plan) from stdin") as copy:
        for i, row in enumerate(zip(*(table.column(c).to_pylist() for c in ("x1", "x2", "plan")), strict=True)):
            copy.write_row((i, *row))
    rows = pg.execute(f"select {fn}_prob(x1, x2, plan), {fn}(x1, x2, plan) from scoring order by row_id").fetchall()
    got_p = np.array([r[0] for r in rows], dtype=np.float64)
    duck_p, duck_label = sql_scores(trained, table)
    np.testing.assert_allclose(got_p, duck_p, rtol=0, atol=1e-9)  # the same SQL, two engines
    ref_p, ref_label = reference_scores(trained, table)
    np.testing.assert_allclose(got_p, ref_p, rtol=0, atol=_tolerance(trained, method))
    agree = np.abs(ref_p - 0.5) > 1e-6
    assert [bool(r[1]) for r, ok in zip(rows, agree, strict=True) if ok] == list(ref_label[agree])


def test_calibration_applies_to_classifiers_only() -> None:
    # (multiclass calibration: tests/ml/test_calibration_multiclass.py)
    table = data(400, seed=9)
    spec = TrainingSpec(name="x", function="predict_x", query="", target="x2",
                        model_type=ModelType.LINEAR, calibration="auto")  # fmt: skip
    with pytest.raises(TrainingError, match="applies to classification only"):
        train(table, spec)


def test_explicit_calibration_needs_both_classes_in_the_slice() -> None:
    p = np.linspace(0, 1, 40)
    positive = np.arange(40) < 4  # 4 positives among 40 calibration rows
    with pytest.raises(TrainingError, match="fewer than 10"):
        calibration.fit_on_slice("isotonic", p, positive, seed=0, model="m")
    calibrator, record = calibration.fit_on_slice("auto", p, positive, seed=0, model="m")
    assert calibrator is None and record["method"] == "none" and "fewer than 10" in record["reason"]


FAMILIES = [
    (ModelType.LINEAR, {}, ["plan"]),  # numeric only: skl2onnx writes opset 11
    (ModelType.RANDOM_FOREST, {"n_estimators": 8, "max_depth": 4}, []),
    (ModelType.HIST_GRADIENT_BOOSTING, {"max_iter": 15, "max_depth": 3}, []),
]


@pytest.mark.parametrize(("model_type", "params", "drop"), FAMILIES, ids=[f[0].value for f in FAMILIES])
@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_every_family_serves_its_calibration_in_both_forms(model_type, params, drop, method) -> None:
    table = data(1_200, seed=12).drop_columns(drop)
    spec = TrainingSpec(name="fam", function="predict_fam", query="", target="churned",
                        model_type=model_type, hyperparameters=params, calibration=method)  # fmt: skip
    trained = train(table, spec)
    assert trained.parity["calibration"]["stage_max_abs_diff"] < 1e-6
    scoring = data(1_000, seed=13).drop_columns(["churned", *drop])
    ref_p, ref_label = reference_scores(trained, scoring)
    proba = compile_model(trained.onnx_bytes, outputs="proba")
    con = duckdb.connect()
    con.register("scoring", scoring)
    sql_p = np.asarray(con.sql(f"select {proba.sql('duckdb')} as p from scoring").fetchnumpy()["p"])
    np.testing.assert_allclose(sql_p, ref_p, rtol=0, atol=_tolerance(trained, method))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "auto"])
def test_calibration_fixes_an_overfit_boosted_model_on_small_data(method) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, 4))
    z = x[:, 0] - 0.5 * x[:, 1]
    table = pa.table({f"x{i}": x[:, i] for i in range(4)} | {"y": rng.random(800) < 1 / (1 + np.exp(-z))})
    overfit = {"max_iter": 80, "learning_rate": 0.6, "min_samples_leaf": 2, "early_stopping": False}
    spec = TrainingSpec(name="h", function="predict_h", query="", target="y", calibration=method,
                        model_type=ModelType.HIST_GRADIENT_BOOSTING, hyperparameters=overfit)  # fmt: skip
    record = train(table, spec).metrics["calibration"]
    held = record["held_out"]  # the evaluation rows, which calibration never saw
    assert held["calibrated"]["log_loss"] < 0.6 * held["uncalibrated"]["log_loss"]
    assert held["calibrated"]["ece"] < held["uncalibrated"]["ece"] / 2
    if method == "auto":
        cv = record["cv_log_loss"]
        assert record["method"] == min(cv, key=cv.get) != "none"


def test_a_calibrated_tree_model_serves_the_calibrated_probability_in_the_udf() -> None:
    # Tree models' UDF is compiled C (ml/native) from the uncalibrated trees: a calibrated one
    # must not use it, or predict_x_prob would skip the calibration.
    spec = TrainingSpec(name="churn_trees", function="predict_churn_trees", query="",
                        target="churned", model_type=ModelType.HIST_GRADIENT_BOOSTING,
                        calibration="sigmoid")  # fmt: skip
    trained = train(data(1_500, seed=7), spec)
    table = scoring_table()
    udf_p, _ = udf_scores(trained, table)
    sql_p, _ = sql_scores(trained, table)
    np.testing.assert_allclose(udf_p, sql_p, rtol=0, atol=1e-5)
