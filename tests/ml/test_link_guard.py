"""The log-link guard (ml/link_guard.py): a GLM's linear predictor clipped to its training
range (+- ln 2, capped at the largest training target), the same in scikit-learn, the ONNX
UDF, compiled SQL on DuckDB and on PostgreSQL, recorded and shown."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import onnx
import pyarrow as pa
import pytest
from sklearn import linear_model as lm

from warehouse_ml.cli import model_checks
from warehouse_ml.ml import functions, link_guard
from warehouse_ml.ml.features import feed_to_matrix, to_onnx_feed
from warehouse_ml.ml.materialize import version_from_trained
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import compile_model, ddl

# onnxruntime computes the linear predictor in float32: exp() of it differs from numpy's
# double by about |eta| * 6e-8 relative (eta is at most ~10 here), so 1e-5 relative.
RTOL = 1e-5


def spend(n: int, seed: int, x1_scale: float = 1.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n) * x1_scale
    x2 = rng.uniform(0, 3, n)
    mu = np.exp(0.8 * np.clip(x1, -3, 3) + 0.3 * x2)
    y = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2.0, mu / 2.0))
    return pa.table({"x1": pa.array(x1, mask=rng.random(n) < 0.05), "x2": x2, "spend": y})


@pytest.fixture(scope="module", params=["tweedie", "poisson"])
def trained(request):
    spec = TrainingSpec(name=f"spend_{request.param}", function=f"predict_spend_{request.param}",
                        query="", target="spend", model_type=ModelType.LINEAR, loss=request.param)  # fmt: skip
    return train(spend(800, seed=1), spec)


def scoring() -> pa.Table:
    """Ordinary rows, then rows far outside the training range on both sides."""
    table = spend(400, seed=2).drop_columns(["spend"])
    extreme = pa.table({"x1": [40.0, -40.0, 12.0, None], "x2": [3.0, 0.0, 50.0, 1.0]})
    return pa.concat_tables([table, extreme.cast(table.schema)])


def reference(trained, table: pa.Table) -> np.ndarray:
    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    return trained.pipeline.predict(feed_to_matrix(feed, trained.features))


def udf(trained, table: pa.Table) -> np.ndarray:
    con = duckdb.connect()
    functions.bind_version(con, version_from_trained(trained, source="test"))
    con.register("scoring", table)
    fn = trained.spec.function
    return con.sql(f"select {fn}(x1, x2) as p from scoring").fetchnumpy()["p"].astype(float)


def sql(trained, table: pa.Table) -> np.ndarray:
    con = duckdb.connect()
    con.register("scoring", table)
    compiled = compile_model(trained.onnx_bytes)
    return con.sql(f"select {compiled.sql('duckdb')} as p from scoring").fetchnumpy()["p"].astype(float)


def test_guard_is_fit_with_the_model_and_recorded(trained) -> None:
    model = trained.pipeline.steps[-1][1]
    assert isinstance(model, link_guard._Guarded)
    lo, hi = model.link_bounds_
    fit_lo, fit_hi = model.link_fit_range_
    assert lo == pytest.approx(fit_lo - math.log(2))
    assert hi == pytest.approx(min(fit_hi + math.log(2), math.log(model.link_target_max_)))
    record = trained.metrics["link_guard"]
    assert record["low"] == lo and record["high"] == hi and record["held_out_rows"] == trained.rows_eval
    meta = {p.key: p.value for p in onnx.load_from_string(trained.onnx_bytes).metadata_props}
    assert json.loads(meta["wml.link_guard"])["high"] == hi
    shown = "\n".join(model_checks.lines(version_from_trained(trained, source="test")))
    assert "Log-link guard: linear predictor clipped to" in shown and "held-out" in shown


def test_inside_the_training_range_the_model_is_unchanged(trained) -> None:
    guarded = trained.pipeline.steps[-1][1]
    parent = next(p for p in link_guard.GUARDED if isinstance(guarded, p))
    plain = parent(**guarded.get_params())
    plain.coef_, plain.intercept_ = guarded.coef_, guarded.intercept_
    plain._base_loss = guarded._base_loss
    table = spend(800, seed=1)
    feed = to_onnx_feed([table.column(f.name) for f in trained.features], trained.features)
    X = trained.pipeline[:-1].transform(feed_to_matrix(feed, trained.features))
    np.testing.assert_allclose(guarded.predict(X), plain.predict(X), rtol=1e-12)


def test_out_of_range_rows_are_clipped_equally_in_udf_and_sql(trained) -> None:
    table = scoring()
    want = reference(trained, table)
    got_udf, got_sql = udf(trained, table), sql(trained, table)
    np.testing.assert_allclose(got_udf, want, rtol=RTOL)
    np.testing.assert_allclose(got_sql, want, rtol=RTOL)
    lo, hi = trained.pipeline.steps[-1][1].link_bounds_
    # the extreme rows sit exactly on a bound in every form, far below the unguarded exp
    ends = want[-4:-1]
    assert set(np.round(np.log(ends), 5)) <= {round(lo, 5), round(hi, 5)}
    assert np.allclose(np.log(got_sql[-4:-1]), np.log(ends), atol=1e-6)
    assert np.allclose(np.log(got_udf[-4:-1]), np.log(ends), atol=1e-6)
    assert want.max() <= math.exp(hi) * (1 + 1e-12) and want.min() >= math.exp(lo) * (1 - 1e-12)
    assert "LEAST(GREATEST(" in compile_model(trained.onnx_bytes).sql("duckdb").upper()


def test_postgres_serves_the_same_clipped_values(pg, trained) -> None:
    table = scoring()
    compiled = compile_model(trained.onnx_bytes)
    fn = trained.spec.function
    pg.execute(ddl(compiled, fn, "postgres"))
    pg.execute("drop table if exists guard_scoring")
    pg.execute("create table guard_scoring (row_id int, x1 double precision, x2 double precision)")
    with pg.cursor().copy("copy guard_scoring (row_id, x1, x2) from stdin") as copy:
        for i, row in enumerate(zip(table.column("x1").to_pylist(), table.column("x2").to_pylist(), strict=True)):
            copy.write_row((i, *row))
    rows = pg.execute(f"select {fn}(x1, x2) from guard_scoring order by row_id").fetchall()
    got = np.array([r[0] for r in rows], dtype=float)
    np.testing.assert_allclose(got, sql(trained, table), rtol=1e-12)  # the same SQL, two engines
    np.testing.assert_allclose(got, reference(trained, table), rtol=RTOL)


def test_trees_and_squared_error_models_carry_no_guard() -> None:
    table = spend(600, seed=3)
    for spec in (
        TrainingSpec(name="a", function="f", query="", target="spend", model_type=ModelType.LINEAR),
        TrainingSpec(name="b", function="f", query="", target="spend", loss="poisson",
                     model_type=ModelType.HIST_GRADIENT_BOOSTING, hyperparameters={"max_iter": 10}),
    ):  # fmt: skip
        trained = train(table, spec)
        assert "link_guard" not in trained.metrics
        assert not link_guard.is_guarded(trained.pipeline.steps[-1][1])
        assert "Clip" not in {n.op_type for n in onnx.load_from_string(trained.onnx_bytes).graph.node}


def test_a_guarded_glm_keeps_its_parents_name_and_params() -> None:
    guarded = link_guard.TweedieRegressor(power=1.3, link="log", alpha=0.1)
    assert type(guarded).__name__ == "TweedieRegressor" and isinstance(guarded, lm.TweedieRegressor)
    assert guarded.get_params()["power"] == 1.3


def test_wml_show_and_the_card_print_the_guard(project) -> None:
    table = spend(500, seed=5)
    rows = ["x1,x2,spend"] + [
        f"{'' if a is None else a},{b},{c}"
        for a, b, c in zip(*(table.column(n).to_pylist() for n in ("x1", "x2", "spend")), strict=True)
    ]
    project.write({
        "seeds/spend.csv": "\n".join(rows) + "\n",
        "models_sql/ltv.sql": "{{ config(materialized='ml_model', target='spend', loss='tweedie', "
                              "model_type='linear') }}\nselect * from {{ ref('spend') }}\n",
    })  # fmt: skip
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    shown = project.wml("show", "ltv").output
    assert "Log-link guard: linear predictor clipped to [" in shown and "held-out rows" in shown
    path = project.root / "card.html"
    assert project.wml("show", "ltv", "--html", "--output", str(path)).exit_code == 0
    assert "Log-link guard" in path.read_text()
    # the deployed SQL macro clips a row far outside the training range, from plain DuckDB
    high = json.loads(project.wml("show", "ltv", "--format", "json").output)["metrics"]["link_guard"]["high"]
    (got,) = project.query("select predict_ltv(1000.0, 1.0)")[0]
    assert math.log(got) == pytest.approx(high, abs=1e-6)


def test_link_guard_false_serves_the_unclipped_glm() -> None:
    spec = TrainingSpec(name="raw", function="predict_raw", query="", target="spend",
                        model_type=ModelType.LINEAR, loss="tweedie", link_guard=False)  # fmt: skip
    trained = train(spend(800, seed=1), spec)
    model = trained.pipeline.steps[-1][1]
    assert type(model) is lm.TweedieRegressor and not link_guard.is_guarded(model)
    assert trained.metrics["link_guard"]["off"] is True and "ignored_settings" not in trained.metrics
    assert "Clip" not in {n.op_type for n in onnx.load_from_string(trained.onnx_bytes).graph.node}
    table = scoring()
    np.testing.assert_allclose(sql(trained, table), reference(trained, table), rtol=RTOL)
    assert reference(trained, table)[-4] > 1e6  # x1 = 40: the exp() the guard would have clipped


def test_link_guard_config_is_checked_and_says_when_it_cannot_apply(project) -> None:
    from conftest import assert_clean_error

    project.write({"seeds/spend.csv": "x1,spend\n" + "".join(f"{i % 17},{(i * 7) % 11}\n" for i in range(300))})
    model = "{{{{ config(materialized='ml_model', target='spend', model_type='linear', {}) }}}}\nselect * from {{{{ ref('spend') }}}}\n"
    project.write({"models_sql/ltv.sql": model.format("link_guard='maybe'")})
    assert_clean_error(project.wml("build"), 1, "models_sql/ltv.sql", "link_guard must be true or false")
    project.write({"models_sql/ltv.sql": model.format("link_guard=false")})
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    assert "link_guard=false is ignored" in built.output and "squared error" in built.output
    assert "Note: link_guard=false is ignored" in project.wml("show", "ltv").output
    project.write({"models_sql/ltv.sql": model.format("link_guard=false, lose='tweedie'")})
    assert_clean_error(project.wml("build"), 2, "models_sql/ltv.sql", "unknown config key 'lose'")
