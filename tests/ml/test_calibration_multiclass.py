"""Multiclass calibration (ml/calibration_ovr.py): one-vs-rest maps equal to scikit-learn's
CalibratedClassifierCV, renormalised; auto's choice; the calibrated probabilities and the
argmax label served by the ONNX UDF, compiled SQL on DuckDB (per class and as the MAP
macro) and on PostgreSQL; a class too rare to calibrate fails and writes nothing."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from warehouse_ml.errors import CompilationError, TrainingError
from warehouse_ml.ml import calibration, calibration_ovr, functions, portable
from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed
from warehouse_ml.ml.materialize import version_from_trained
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl
from warehouse_ml.sqlcompile.class_probs import class_probabilities

TIERS = ["bronze", "gold", "silver"]


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """3-class scores three times too sure: truth softmax(z), the model says softmax(3z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, (n, 3))
    truth = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in truth])
    said = np.exp(3 * z) / np.exp(3 * z).sum(axis=1, keepdims=True)
    return said, y


class _Scores(ClassifierMixin, BaseEstimator):
    """A 'model' whose class probabilities are its input columns (no decision_function:
    the reference calibrates predict_proba, as ours does)."""

    def fit(self, X, y):
        self.classes_ = np.arange(3)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=np.float64)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_one_vs_rest_equals_calibrated_classifier_cv(method: str) -> None:
    P, y = overconfident(3_000, seed=1)
    ours = calibration_ovr.fit(method, P, y)
    reference = CalibratedClassifierCV(FrozenEstimator(_Scores().fit(P, y)), method=method, ensemble=False)
    reference.fit(P, y)
    fresh, _ = overconfident(2_000, seed=2)
    want = reference.predict_proba(fresh)
    np.testing.assert_allclose(ours.apply(fresh), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.apply(fresh).sum(axis=1), 1.0, atol=1e-12)
    clear = np.sort(want, axis=1)[:, -1] - np.sort(want, axis=1)[:, -2] > 1e-6
    assert (ours.predict_index(fresh) == want.argmax(axis=1))[clear].all()


def test_every_map_giving_zero_falls_back_to_uniform() -> None:
    zero = calibration.Calibrator("isotonic", x=(0.0, 1.0), y=(0.0, 0.0))
    ovr = calibration_ovr.OneVsRest("isotonic", (zero, zero, zero))
    np.testing.assert_allclose(ovr.apply(np.full((2, 3), 1 / 3)), 1 / 3)
    assert ovr.predict_index(np.full((2, 3), 1 / 3)).tolist() == [0, 0]  # the first maximum


def test_auto_chooses_by_cross_validated_multiclass_log_loss() -> None:
    P, y = overconfident(2_000, seed=3)
    losses = calibration_ovr.cross_validated(P, y, seed=0)
    assert losses["none"] > min(losses["sigmoid"], losses["isotonic"])
    calibrator, record = calibration.fit_on_slice_multi("auto", P, y, seed=0, model="m")
    assert record["method"] == min(losses, key=losses.get) != "none"
    assert isinstance(calibrator, calibration_ovr.OneVsRest) and record["one_vs_rest"]


def test_a_class_too_rare_for_its_map() -> None:
    P, y = overconfident(300, seed=4)
    y[y == 2] = 1
    y[:5] = 2  # 5 rows of class 2 among 300
    with pytest.raises(TrainingError, match="fewer than 10"):
        calibration.fit_on_slice_multi("sigmoid", P, y, seed=0, model="m")
    calibrator, record = calibration.fit_on_slice_multi("auto", P, y, seed=0, model="m")
    assert calibrator is None and record["method"] == "none" and "fewer than 10" in record["reason"]


def tiers(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = np.where(rng.random(n) < 0.5, "free", "pro").astype(object)
    z = np.column_stack([1.5 * x1, -x1 + x2 + np.where(plan == "pro", 0.8, 0.0), 0.5 * x2])
    truth = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    tier = np.array(TIERS, dtype=object)[[rng.choice(3, p=row) for row in truth]]
    return pa.table({"x1": pa.array(x1, mask=rng.random(n) < 0.03), "x2": x2, "plan": plan, "tier": tier})


FAMILIES = {
    "linear-sigmoid": (ModelType.LINEAR, {}, "sigmoid"),
    "linear-isotonic": (ModelType.LINEAR, {}, "isotonic"),
    "trees-sigmoid": (ModelType.HIST_GRADIENT_BOOSTING, {"max_iter": 8, "max_depth": 3}, "sigmoid"),
}


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    table = tiers(1_000, seed=7)  # small: an isotonic map's SQL grows with its breakpoints
    out = {}
    for key, (model_type, params, method) in FAMILIES.items():
        spec = TrainingSpec(name="tier", function="predict_tier", query="", target="tier",
                            model_type=model_type, hyperparameters=params, calibration=method)  # fmt: skip
        out[key] = train(table, spec)
    return out


def scoring() -> pa.Table:
    return tiers(2_000, seed=8).drop_columns(["tier"])


def reference(trained, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated estimator's predict_proba and predict (scikit-learn, float32 inputs
    as the scorer feeds ONNX)."""
    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    X = feed_to_matrix(feed, trained.features)
    return trained.pipeline.predict_proba(X), trained.pipeline.predict(X)


def udf(trained, table: pa.Table) -> tuple[np.ndarray, list]:
    con = duckdb.connect()
    functions.bind_version(con, version_from_trained(trained, source="test"))
    con.register("scoring", table)
    rows = con.sql("select predict_tier_prob(x1, x2, plan), predict_tier(x1, x2, plan) from scoring").fetchall()
    return np.array([[r[0][c] for c in TIERS] for r in rows]), [r[1] for r in rows]


def sql(trained, table: pa.Table) -> tuple[np.ndarray, list]:
    con = duckdb.connect()
    con.register("scoring", table)
    per_class = [compile_model(trained.onnx_bytes, outputs="proba", classes=c).sql("duckdb") for c in TIERS]
    label = compile_model(trained.onnx_bytes).sql("duckdb")
    rows = con.sql(f"select {', '.join(per_class)}, {label} from scoring").fetchall()
    return np.array([r[:3] for r in rows], dtype=float), [r[3] for r in rows]


def tolerance(trained) -> float:
    """1e-6 (the float32 probabilities onnxruntime computes, through smooth maps), widened
    for isotonic by its steepest segment times float32's rounding (1.2e-7) of the model's
    probabilities, doubled for the renormalisation: a piecewise-linear map multiplies that
    difference, as for a binary model (tests/ml/test_calibration.py)."""
    _, ovr = calibration.unwrap(trained.pipeline)
    if ovr.method == "sigmoid":
        return 1e-6
    steepest = max(float(np.max(np.diff(m.y) / np.diff(m.x))) for m in ovr.maps)
    return max(1e-6, 2 * steepest * 1.2e-7)


def clear_rows(proba: np.ndarray) -> np.ndarray:
    top = np.sort(proba, axis=1)
    return top[:, -1] - top[:, -2] > 1e-6  # near-ties may go either way in float32


@pytest.mark.parametrize("key", list(FAMILIES))
def test_udf_and_sql_serve_the_calibrated_renormalised_probabilities(models, key) -> None:
    trained = models[key]
    table = scoring()
    ref_p, ref_label = reference(trained, table)
    udf_p, udf_label = udf(trained, table)
    sql_p, sql_label = sql(trained, table)
    atol = tolerance(trained)
    np.testing.assert_allclose(udf_p, ref_p, rtol=0, atol=atol)
    np.testing.assert_allclose(sql_p, ref_p, rtol=0, atol=atol)
    np.testing.assert_allclose(sql_p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(udf_p.sum(axis=1), 1.0, atol=1e-6)  # float32
    assert np.mean(np.abs(udf_p - ref_p).max(axis=1) < 1e-6) > 0.98
    # calibration moved the probabilities: not a test of an identity map
    base, _ = calibration.unwrap(trained.pipeline)
    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    assert np.abs(base.predict_proba(feed_to_matrix(feed, trained.features)) - ref_p).max() > 1e-3
    # the label is the argmax of the calibrated probabilities in every form
    clear = clear_rows(ref_p)
    argmax = np.array(TIERS, dtype=object)[ref_p.argmax(axis=1)]
    assert list(np.asarray(ref_label)[clear]) == list(argmax[clear])
    assert list(np.asarray(udf_label, dtype=object)[clear]) == list(argmax[clear])
    assert list(np.asarray(sql_label, dtype=object)[clear]) == list(argmax[clear])
    assert trained.parity["calibration"]["stage_max_abs_diff"] < 1e-6


def test_training_records_the_one_vs_rest_calibration(models) -> None:
    trained = models["linear-sigmoid"]
    record = trained.metrics["calibration"]
    assert record["method"] == "sigmoid" and record["one_vs_rest"] is True
    assert len(record["params"]["per_class"]) == 3 and sum(record["class_rows"]) == record["rows"]
    held = record["held_out"]
    assert {"log_loss", "brier", "ece", "ece_classwise"} <= set(held["calibrated"])
    for key in ("ece", "brier"):  # top-label ECE and summed Brier, with bootstrap intervals
        lo, hi = trained.metrics["intervals"][key]
        assert lo <= trained.metrics[key] <= hi


def test_the_sql_form_prob_function_is_the_udfs_map(models) -> None:
    trained = models["linear-sigmoid"]
    version = version_from_trained(trained, source="test")
    table = scoring()
    con = duckdb.connect()
    for name, compiled in portable.compile_version(version):
        con.execute(ddl(compiled, name, "duckdb").replace("predict_tier", "sql_tier"))
    functions.bind_version(con, version)
    con.register("scoring", table)
    rows = con.sql("select sql_tier_prob(x1, x2, plan), predict_tier_prob(x1, x2, plan), "
                   "sql_tier(x1, x2, plan) from scoring").fetchall()  # fmt: skip
    macro = np.array([[r[0][c] for c in TIERS] for r in rows])
    arrow = np.array([[r[1][c] for c in TIERS] for r in rows])
    np.testing.assert_allclose(macro, arrow, rtol=0, atol=tolerance(trained))
    assert [r[2] for r in rows] == sql(trained, table)[1]
    mode, compiled, _ = portable.choose("auto", version)
    assert mode == "sql" and [n for n, _ in compiled] == ["predict_tier", "predict_tier_prob"]


def test_auto_serves_a_large_isotonic_map_as_the_udf(models) -> None:
    version = version_from_trained(models["linear-isotonic"], source="test")
    nodes = portable.compile_version(version)[1][1].node_count
    mode, _, note = portable.choose("auto", version)
    assert nodes > portable.AUTO_MAX_PROB_NODES and mode == "udf"
    assert f"{nodes} expression nodes" in note
    assert portable.choose("sql", version)[0] == "sql"  # asked for: still compiled


def test_postgres_serves_the_calibrated_probabilities(pg, models) -> None:
    trained = models["linear-sigmoid"]
    table = scoring()
    pg.execute(ddl(class_probabilities(trained.onnx_bytes, "postgres"), "mc_tier_prob", "postgres"))
    pg.execute(ddl(compile_model(trained.onnx_bytes), "mc_tier", "postgres"))
    pg.execute("drop table if exists mc_scoring")
    pg.execute("create table mc_scoring (row_id int, x1 double precision, x2 double precision, plan text)")
    with pg.cursor().copy("copy mc_scoring (row_id, x1, x2, plan) from stdin") as copy:
        cols = zip(*(table.column(c).to_pylist() for c in ("x1", "x2", "plan")), strict=True)
        for i, row in enumerate(cols):
            copy.write_row((i, *row))
    probs = ", ".join(f"mc_tier_prob(x1, x2, plan, '{c}')" for c in TIERS)
    rows = pg.execute(f"select {probs}, mc_tier(x1, x2, plan), mc_tier_prob(x1, x2, plan, 'platinum') "
                      "from mc_scoring order by row_id").fetchall()  # fmt: skip
    got = np.array([r[:3] for r in rows], dtype=float)
    duck_p, duck_label = sql(trained, table)
    np.testing.assert_allclose(got, duck_p, rtol=0, atol=1e-9)  # the same SQL, two engines
    ref_p, _ = reference(trained, table)
    np.testing.assert_allclose(got, ref_p, rtol=0, atol=tolerance(trained))
    assert [r[3] for r in rows] == duck_label
    assert all(r[4] is None for r in rows)  # a label the model does not know


def test_large_isotonic_maps_over_trees_are_refused_by_the_compiler() -> None:
    spec = TrainingSpec(name="tier", function="predict_tier", query="", target="tier",
                        model_type=ModelType.HIST_GRADIENT_BOOSTING, calibration="isotonic",
                        hyperparameters={"max_iter": 30})  # fmt: skip
    trained = train(tiers(1_500, seed=9), spec)
    with pytest.raises(CompilationError, match="deploy='udf'"):
        compile_model(trained.onnx_bytes, outputs="proba", classes="gold")
    mode, _, note = portable.choose("auto", version_from_trained(trained, source="test"))
    assert mode == "udf", note  # deploy='auto' serves the Arrow UDF, which runs the node


def tiers_csv(n: int = 900) -> str:
    table = tiers(n, seed=11)
    rows = ["id,x1,x2,plan,tier"]
    for i, (x1, x2, plan, tier) in enumerate(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)):
        rows.append(f"{i},{'' if x1 is None else x1},{x2},{plan},{tier}")
    return "\n".join(rows) + "\n"


TIER_MODEL = """
    {{ config(materialized='ml_model', target='tier', model_type='linear',
              calibration='sigmoid', exclude=['id']) }}
    select * from {{ ref('tiers') }}
"""


def test_a_project_serves_calibrated_multiclass_probabilities(project, pg) -> None:
    project.write({"seeds/tiers.csv": tiers_csv(), "models_sql/tier.sql": TIER_MODEL})
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    assert "deployed as a SQL macro" in built.output  # the MAP macro, not the UDF
    # the persistent macros, from a plain DuckDB connection: probabilities sum to one and
    # the label is their argmax
    rows = project.query("select predict_tier_prob(x1, x2, plan), predict_tier(x1, x2, plan) from tiers")
    for probs, label in rows:
        assert abs(sum(probs.values()) - 1) < 1e-12
        top = sorted(probs.values())
        assert top[-1] - top[-2] < 1e-9 or label == max(probs, key=probs.get)
    shown = project.wml("show", "tier").output
    assert "Calibration: sigmoid (requested sigmoid) one-vs-rest per class, renormalised" in shown
    assert "classwise ece" in shown
    path = project.root / "card.html"
    assert project.wml("show", "tier", "--html", "--output", str(path)).exit_code == 0
    assert "one-vs-rest per class and renormalised" in path.read_text()
    compiled = project.wml("compile-model", "tier", "--dialect", "postgres")
    assert compiled.exit_code == 0, compiled.output
    assert '"wml_class" TEXT' in compiled.output or '"wml_class" VARCHAR' in compiled.output
    for statement in compiled.output.split(";\n\n"):
        if statement.strip():
            pg.execute(statement)
    pg.execute("drop table if exists tiers_pg")
    pg.execute("create table tiers_pg (id int, x1 double precision, x2 double precision, plan text)")
    data = project.query("select id, x1, x2, plan from tiers order by id")
    with pg.cursor().copy("copy tiers_pg (id, x1, x2, plan) from stdin") as copy:
        for row in data:
            copy.write_row(row)
    got = pg.execute("select predict_tier_prob(x1, x2, plan, 'gold'), predict_tier(x1, x2, plan) "
                     "from tiers_pg order by id").fetchall()  # fmt: skip
    duck = project.query("select predict_tier_prob(x1, x2, plan)['gold'], predict_tier(x1, x2, plan) "
                         "from tiers order by id")  # fmt: skip
    np.testing.assert_allclose([g[0] for g in got], [d[0] for d in duck], rtol=0, atol=1e-9)
    assert [g[1] for g in got] == [d[1] for d in duck]
