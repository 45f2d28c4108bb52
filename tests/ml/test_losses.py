"""Losses for money and counts: Poisson, Gamma and Tweedie models train, report their
deviance beside the baseline's, export with the log link, and serve the same values from
onnxruntime, compiled SQL on DuckDB and on PostgreSQL, and a project's build."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import onnx
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from warehouse_ml.errors import CompilationError, TrainingError
from warehouse_ml.ml.create_model import parse_ml_statement
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl

ROWS = 600


def make_data(n: int, seed: int) -> pa.Table:
    """A count, a positive amount and a spend with many zeros, all on a log scale."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.uniform(0, 3, n)
    plan = rng.choice(["free", "pro", "team"], n)
    mu = np.exp(0.6 * x1 + 0.3 * x2 + np.where(plan == "pro", 0.5, 0.0))
    return pa.table({
        "x1": pa.array(x1, mask=rng.random(n) < 0.05),
        "x2": x2,
        "plan": pa.array(plan.astype(object), mask=rng.random(n) < 0.05),
        "orders": rng.poisson(mu),
        "amount": rng.gamma(3.0, mu / 3.0) + 0.01,
        "spend": np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2.0, mu / 2.0)),
    })  # fmt: skip


TARGETS = {"poisson": "orders", "gamma": "amount", "tweedie": "spend"}
CASES = [
    ("poisson", ModelType.LINEAR),
    ("poisson", ModelType.HIST_GRADIENT_BOOSTING),
    ("gamma", ModelType.LINEAR),
    ("gamma", ModelType.HIST_GRADIENT_BOOSTING),
    ("tweedie", ModelType.LINEAR),
    ("tweedie", ModelType.AUTO),
]
IDS = [f"{loss}-{m.value}" for loss, m in CASES]


def spec_for(loss: str, model_type: ModelType, **kw) -> TrainingSpec:
    hyper = {"max_iter": 30} if model_type is ModelType.HIST_GRADIENT_BOOSTING else {}
    if loss == "tweedie" and model_type is ModelType.AUTO:
        kw.setdefault("tweedie_power", 1.5)  # given: AUTO keeps it (tests/ml/test_auto_search.py: chosen)
    return TrainingSpec(name=f"m_{loss}", function="f", query="", target=TARGETS[loss],
                        model_type=model_type, loss=loss, hyperparameters=hyper,
                        max_runtime=60, **kw)  # fmt: skip


def only_target(table: pa.Table, loss: str) -> pa.Table:
    return table.drop_columns([c for c in TARGETS.values() if c != TARGETS[loss]])


@pytest.fixture(scope="module")
def trained():
    data = make_data(ROWS, 0)
    return {
        (loss, m): train(only_target(data, loss), spec_for(loss, m)) for loss, m in CASES
    }


@pytest.mark.parametrize(("loss", "model_type"), CASES, ids=IDS)
def test_trains_with_the_loss_and_reports_its_deviance(trained, loss, model_type):
    model = trained[(loss, model_type)]
    metric = f"{loss}_deviance"
    assert model.problem_type is ProblemType.REGRESSION  # a count target is not classes
    assert model.objective == metric  # selected on the loss's own deviance by default
    assert model.metrics["loss"]["name"] == loss and model.metrics["loss"]["link"] == "log"
    # The model beats the mean on the same metric (spend with 40% zeros is noisier), and
    # RMSE/MAE are still reported.
    factor = 0.95 if loss == "tweedie" else 0.8
    assert model.metrics[metric] < factor * model.metrics["baseline"][metric]
    for key in ("rmse", "mae"):
        assert key in model.metrics and key in model.metrics["baseline"]
    estimator = model.pipeline.steps[-1][1]
    if model_type is ModelType.HIST_GRADIENT_BOOSTING:
        assert estimator.loss == loss
    elif model.model_type == "linear":
        expected = {"poisson": "PoissonRegressor", "gamma": "GammaRegressor"}
        assert type(estimator).__name__ == expected.get(loss, "TweedieRegressor")
    if loss == "tweedie" and model.model_type == "linear":
        assert estimator.power == 1.5 and estimator.link == "log"


def test_auto_with_tweedie_tries_poisson_trees_and_no_forest(trained):
    board = trained[("tweedie", ModelType.AUTO)].leaderboard
    kinds = [(row["model_type"], row["params"].get("loss")) for row in board]
    assert ("linear", None) in kinds and ("hist_gradient_boosting", "poisson") in kinds
    assert all(kind != "random_forest" for kind, _ in kinds)
    assert {row["metric"] for row in board} == {"tweedie_deviance"}


@pytest.mark.parametrize(("loss", "model_type"), CASES, ids=IDS)
def test_onnx_applies_the_log_link(trained, loss, model_type):
    """The ONNX output is exp(raw score), as scikit-learn's predict: the UDF path."""
    model = trained[(loss, model_type)]
    score = make_data(400, 7)
    columns = [score.column(f.name) for f in model.features]
    got = OnnxScorer(model.onnx_bytes, model.features).predict(columns).to_numpy()
    from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed

    X = feed_to_matrix(to_onnx_feed(columns, model.features), model.features)
    np.testing.assert_allclose(got, model.pipeline.predict(X), rtol=1e-5)
    assert (got > 0).all()
    graph = onnx.load_from_string(model.onnx_bytes).graph
    assert graph.node[-1].op_type in ("Exp", "Reshape")
    assert "Exp" in [n.op_type for n in graph.node]
    meta = {p.key: p.value for p in onnx.load_from_string(model.onnx_bytes).metadata_props}
    assert meta["wml.link"] == "log"


def scoring_rows(model) -> tuple[pa.Table, np.ndarray]:
    score = make_data(2_000, 3)
    columns = [score.column(f.name) for f in model.features]
    return score, OnnxScorer(model.onnx_bytes, model.features).predict(columns).to_numpy()


@pytest.mark.parametrize(("loss", "model_type"), CASES, ids=IDS)
def test_compiled_sql_on_duckdb_matches_onnxruntime(trained, loss, model_type):
    model = trained[(loss, model_type)]
    score, expected = scoring_rows(model)
    compiled = compile_model(model.onnx_bytes, outputs="predict")
    assert "EXP(" in compiled.expression.sql("duckdb").upper()
    con = duckdb.connect()
    con.register("score", score)
    con.execute(ddl(compiled, "predict_m", "duckdb"))
    args = ", ".join(f'"{f.name}"' for f in model.features)
    got = np.array([r[0] for r in con.execute(f"select predict_m({args}) from score").fetchall()])
    np.testing.assert_allclose(got, expected, rtol=1e-5)


PG_TYPES = {"DOUBLE": "double precision", "VARCHAR": "text"}


@pytest.mark.parametrize(
    ("loss", "model_type"),
    [("poisson", ModelType.HIST_GRADIENT_BOOSTING), ("tweedie", ModelType.LINEAR)],
    ids=["poisson-hgb", "tweedie-linear"],
)
def test_compiled_sql_on_postgres_matches_onnxruntime(pg, trained, loss, model_type):
    model = trained[(loss, model_type)]
    score, expected = scoring_rows(model)
    cols = ", ".join(f'"{f.name}" {PG_TYPES[f.sql_type]}' for f in model.features)
    pg.execute("drop table if exists loss_scoring")
    pg.execute(f"create table loss_scoring (row_id int, {cols})")
    names = ", ".join(f'"{f.name}"' for f in model.features)
    with pg.cursor().copy(f"copy loss_scoring (row_id, {names}) from stdin") as copy:
        data = [score.column(f.name).to_pylist() for f in model.features]
        for i, values in enumerate(zip(*data, strict=True)):
            copy.write_row((i, *values))
    fn = f"predict_{loss}_{model_type.value}"
    pg.execute(ddl(compile_model(model.onnx_bytes, outputs="predict"), fn, "postgres"))
    rows = pg.execute(f"select {fn}({names}) from loss_scoring order by row_id").fetchall()
    np.testing.assert_allclose(np.array([r[0] for r in rows], float), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("loss", "bad", "fragment"),
    [("poisson", -2.0, "0 or more"), ("tweedie", -0.5, "0 or more"), ("gamma", 0.0, "greater than 0")],
)
def test_a_target_outside_the_distribution_is_refused_naming_rows(loss, bad, fragment):
    data = only_target(make_data(200, 1), loss).to_pydict()
    data[TARGETS[loss]][5] = bad
    data["x2"][5] = 2.5
    with pytest.raises(TrainingError) as info:
        train(pa.table(data), spec_for(loss, ModelType.LINEAR))
    message = str(info.value)
    assert f"Model 'm_{loss}'" in message and f"loss='{loss}'" in message and fragment in message
    assert f"{TARGETS[loss]}={bad!r}" in message and "x2=2.5" in message  # the row, findable
    assert "1 of 200 training rows" in message


@pytest.mark.parametrize(
    ("loss", "model_type", "fragment"),
    [
        ("tweedie", ModelType.HIST_GRADIENT_BOOSTING, "no Tweedie loss"),
        ("poisson", ModelType.RANDOM_FOREST, "cannot fit loss='poisson'"),
    ],
)
def test_models_without_the_loss_are_refused(loss, model_type, fragment):
    spec = spec_for(loss, model_type)
    spec.hyperparameters = {}
    with pytest.raises(TrainingError, match=fragment):
        train(only_target(make_data(200, 1), loss), spec)


def test_poisson_trees_judged_by_tweedie_deviance_when_asked():
    spec = spec_for("tweedie", ModelType.HIST_GRADIENT_BOOSTING, tweedie_power=1.2)
    spec.hyperparameters = {"max_iter": 30, "learning_rate": 0.05, "loss": "poisson"}
    model = train(only_target(make_data(ROWS, 0), "tweedie"), spec)
    assert model.pipeline.steps[-1][1].loss == "poisson"
    assert model.metrics["loss"] == {"name": "tweedie", "link": "log", "power": 1.2}
    assert model.metrics["tweedie_deviance"] < model.metrics["baseline"]["tweedie_deviance"]


def test_a_loss_hyperparameter_is_the_loss():
    """hyperparameters={'loss': 'poisson'} (scikit-learn's spelling) gets the whole loss:
    the deviance metric, the target check and the exp link."""
    spec = TrainingSpec(name="m", function="f", query="", target="orders",
                        model_type=ModelType.HIST_GRADIENT_BOOSTING,
                        hyperparameters={"loss": "poisson", "max_iter": 20})  # fmt: skip
    model = train(only_target(make_data(300, 2), "poisson"), spec)
    assert model.objective == "poisson_deviance" and model.metrics["loss"]["name"] == "poisson"


# --- CREATE MODEL -------------------------------------------------------------------------

CREATE = "CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default {} SETTINGS (S3_BUCKET 'b')"


@pytest.mark.parametrize(
    ("clauses", "loss", "power", "model_type"),
    [
        ("AUTO OFF MODEL_TYPE XGBOOST OBJECTIVE 'reg:tweedie' PREPROCESSORS 'none' "
         "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '50', TWEEDIE_VARIANCE_POWER '1.3')",
         "tweedie", 1.3, ModelType.HIST_GRADIENT_BOOSTING),
        # No power given: None, so AUTO chooses it (an explicit model trains at 1.5).
        ("OBJECTIVE 'reg:tweedie'", "tweedie", None, ModelType.AUTO),
        ("MODEL_TYPE LINEAR_LEARNER OBJECTIVE 'reg:tweedie'", "tweedie", None, ModelType.LINEAR),
        ("OBJECTIVE 'count:poisson'", "poisson", None, ModelType.AUTO),
        ("PROBLEM_TYPE REGRESSION OBJECTIVE 'reg:gamma'", "gamma", None, ModelType.AUTO),
        ("OBJECTIVE 'MSE'", "squared_error", None, ModelType.AUTO),
    ],
)  # fmt: skip
def test_create_model_objectives(clauses, loss, power, model_type):
    stmt = parse_ml_statement(CREATE.format(clauses))
    spec = stmt.spec
    assert (spec.loss, spec.tweedie_power, spec.model_type) == (loss, power, model_type)
    if loss != "squared_error":
        assert spec.objective == f"{loss}_deviance"
        assert spec.problem_type is ProblemType.REGRESSION
    if model_type is ModelType.HIST_GRADIENT_BOOSTING:  # trees: Poisson loss, said so
        assert spec.hyperparameters == {"max_iter": 50, "loss": "poisson"}
        assert any("no Tweedie loss" in w for w in stmt.warnings)


@pytest.mark.parametrize(
    ("clauses", "fragment"),
    [
        ("PROBLEM_TYPE BINARY_CLASSIFICATION OBJECTIVE 'reg:tweedie'", "is for regression"),
        ("OBJECTIVE 'count:poisson' HYPERPARAMETERS DEFAULT EXCEPT (TWEEDIE_VARIANCE_POWER '1.2')",
         "applies only to OBJECTIVE 'reg:tweedie'"),
        ("OBJECTIVE 'reg:tweedie' HYPERPARAMETERS DEFAULT EXCEPT (TWEEDIE_VARIANCE_POWER '2')",
         "out of range"),
    ],
)  # fmt: skip
def test_create_model_refuses_contradictions(clauses, fragment):
    with pytest.raises(CompilationError, match=fragment):
        parse_ml_statement(CREATE.format(clauses))


def test_a_tweedie_create_model_trains_end_to_end():
    stmt = parse_ml_statement(CREATE.format(
        "AUTO OFF MODEL_TYPE XGBOOST OBJECTIVE 'reg:tweedie' PREPROCESSORS 'none' "
        "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '20', TWEEDIE_VARIANCE_POWER '1.3')"
    ))  # fmt: skip
    table = only_target(make_data(300, 4), "tweedie").rename_columns(["x1", "x2", "plan", "y"])
    model = train(table, stmt.spec)
    assert model.metrics["loss"]["power"] == 1.3 and model.parity["rows"] == 300


# --- a project's build --------------------------------------------------------------------


def spend_csv(negative_row: int | None = None) -> str:
    data = make_data(300, 5)
    lines = ["id,x1,x2,plan,spend"]
    for i, (x1, x2, plan, spend) in enumerate(zip(
        *(data.column(c).to_pylist() for c in ("x1", "x2", "plan", "spend")), strict=True
    )):  # fmt: skip
        spend = -4.0 if i == negative_row else spend
        lines.append(f"{i},{'' if x1 is None else round(x1, 4)},{x2:.4f},{plan or ''},{spend:.4f}")
    return "\n".join(lines) + "\n"


SPEND_MODEL = """
    {{ config(materialized='ml_model', target='spend', loss='tweedie', tweedie_power=1.4,
              model_type='linear', exclude=['id'], deploy='sql') }}
    select * from {{ ref('customers') }}
"""


def test_build_serves_a_tweedie_model_as_sql(project):
    project.write({"seeds/customers.csv": spend_csv(), "models_sql/spend_model.sql": SPEND_MODEL})
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    shown = json.loads(project.wml("show", "spend_model", "--format", "json").output)
    assert shown["metrics"]["loss"] == {"name": "tweedie", "link": "log", "power": 1.4}
    assert shown["objective"] == "tweedie_deviance"
    assert shown["metrics"]["tweedie_deviance"] < shown["metrics"]["baseline"]["tweedie_deviance"]
    # The persistent macro (plain SQL, no Python) gives the positive, exp-linked values.
    got = project.query("select min(predict_spend_model(x1, x2, plan)), "
                        "avg(predict_spend_model(x1, x2, plan)), avg(spend) from main.customers")
    low, mean_hat, mean = got[0]
    assert low > 0 and abs(mean_hat - mean) < 0.25 * mean


def test_negative_spend_fails_the_build_and_writes_nothing(project):
    project.write({"seeds/customers.csv": spend_csv(negative_row=17),
                   "models_sql/spend_model.sql": SPEND_MODEL})  # fmt: skip
    result = project.wml("build")
    assert_clean_error(result, 1, "spend_model", "loss='tweedie'", "spend=-4.0", "WHERE spend >= 0")
    assert no_versions(project)


def no_versions(project) -> bool:
    """No registry row for spend_model (the registry table may exist from session setup)."""
    found = project.scalar(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name = 'models'"
    )
    return not found or project.scalar(
        "select count(*) from wml.models where name = 'spend_model'"
    ) == 0


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("loss='huber'", "unknown loss 'huber'"),
        ("loss='poisson', tweedie_power=1.2", "only applies to loss='tweedie'"),
        ("loss='tweedie', tweedie_power=2.5", "out of range"),
        ("loss='gamma', objective='reg:tweedie'", "name different losses"),
        ("loss='poisson', problem_type='binary_classification'", "is a regression loss"),
    ],
)
def test_bad_loss_config_is_a_config_error(project, config, fragment):
    model = SPEND_MODEL.replace("loss='tweedie', tweedie_power=1.4", config)
    project.write({"seeds/customers.csv": spend_csv(), "models_sql/spend_model.sql": model})
    # The node fails before its query runs (exit 1, as any failed node), naming the file.
    assert_clean_error(project.wml("build"), 1, "spend_model.sql", fragment)
    assert no_versions(project)
