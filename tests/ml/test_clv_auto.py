"""AUTO's CLV candidate: on the leaderboard, served as SQL when it wins, its lifecycle, errors."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from conftest import PROFILE, Project, assert_clean_error

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.clv import synthetic
from warehouse_ml.ml.spec import TrainingSpec
from warehouse_ml.ml.trainer import train

TRUE = dict(r=0.5, alpha=6.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)
HORIZON = 26
# A feature that is not RFM (text, between them) keeps the signature honest: every feature, in order.
MODEL = """\
{{ config(materialized='ml_model', target='future_spend', clv_horizon=26, max_runtime=60 EXTRA) }}
select frequency, recency, region, "T", monetary_value, future_spend from {{ ref('rfm') }}
"""
SIGNATURE = 'frequency, recency, region, "T", monetary_value'


def rfm_table(rows: int, seed: int = 5) -> pa.Table:
    table = synthetic.rfm_with_future(rows, HORIZON, seed=seed, **TRUE)
    regions = np.array(["north", "south", "east"])[np.arange(rows) % 3]
    return table.append_column("region", pa.array(regions))


def make(root, rows: int = 900, extra: str = "") -> Project:
    p = Project(root)
    p.root.mkdir(parents=True, exist_ok=True)
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n",
             "models_sql/ltv.sql": MODEL.replace("EXTRA", extra)})  # fmt: skip
    (p.root / "seeds").mkdir(exist_ok=True)
    pacsv.write_csv(rfm_table(rows), p.root / "seeds" / "rfm.csv")
    return p


@pytest.fixture(scope="module")
def won(tmp_path_factory):
    p = make(tmp_path_factory.mktemp("clvauto") / "proj")
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    return p


def registered(p: Project, version: int | None = None) -> dict:
    import json

    where = f"version = {version}" if version else "deployed"
    row = p.query(f"select model_type, settings, leaderboard, features, onnx is null or octet_length(onnx) = 0 "
                  f"from wml.models where name = 'ltv' and {where}")[0]  # fmt: skip
    return {"model_type": row[0], "settings": json.loads(row[1]), "leaderboard": json.loads(row[2]),
            "features": json.loads(row[3]), "no_onnx": row[4]}  # fmt: skip


def lifetimes_with(params: dict):
    """lifetimes' own fitters holding the registry's parameters: the reference formulas."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series({k: params[k] for k in ("r", "alpha", "a", "b")})
    gg.params_ = pd.Series({k: params[k] for k in ("p", "q", "v")})
    return bg, gg


def test_the_clv_candidate_wins_and_serves_lifetimes_expected_spend(won):
    v = registered(won)
    assert v["model_type"] == "bg_nbd_gamma_gamma" and v["no_onnx"]
    board = {row["model_type"] for row in v["leaderboard"]}
    assert {"bg_nbd_gamma_gamma", "linear", "hist_gradient_boosting"} <= board
    # The same signature as any AUTO model: every feature column, in order.
    assert [n for n, _ in v["features"]] == ["frequency", "recency", "region", "T", "monetary_value"]
    fit = v["settings"]["clv_fit"]
    rows = won.query(f'select frequency, recency, "T", monetary_value, predict_ltv({SIGNATURE}) '
                     "from rfm order by customer_id")  # fmt: skip
    f, r, T, m, got = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    bg, gg = lifetimes_with(fit["params"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = (bg.conditional_expected_number_of_purchases_up_to_time(HORIZON, f, r, T)
                * gg.conditional_expected_average_profit(f, m))  # fmt: skip
    np.testing.assert_allclose(got, np.asarray(want, dtype=float), rtol=1e-7, atol=1e-7)
    # The deployed fit is the refit on every row: lifetimes fitted there finds the same parameters.
    from lifetimes import BetaGeoFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = BetaGeoFitter().fit(f, r, T).params_.to_dict()
    for key, value in ref.items():
        assert abs(fit["params"][key] - value) <= 1e-3 * abs(value) + 1e-4, (key, fit["params"][key], value)
    with pytest.raises(duckdb.InvalidInputException, match="predict_ltv: needs"):
        won.query("select predict_ltv(1, 12, 'north', 10, 5)")  # recency after T


def test_show_card_and_compile_model_say_it_is_sql_only(won, pg):
    out = won.wml("show", "ltv").output
    assert "Served by AUTO's CLV candidate" in out and "won: validation mse" in out
    assert "no ONNX graph" in out and "BG/NBD alpha" in out
    html = won.wml("show", "ltv", "--html", "--output", str(won.root / "card.html"))
    assert html.exit_code == 0, html.output
    card = (won.root / "card.html").read_text()
    assert "Served by AUTO&#x27;s CLV candidate" in card or "Served by AUTO's CLV candidate" in card
    redshift = won.wml("compile-model", "ltv", "--dialect", "redshift").output
    assert redshift.startswith("create or replace function predict_ltv(DOUBLE PRECISION, DOUBLE PRECISION, "
                               "VARCHAR(MAX), DOUBLE PRECISION, DOUBLE PRECISION) returns float")
    assert "lgamma" not in redshift and "$4" in redshift  # T is the fourth argument
    for statement in won.wml("compile-model", "ltv", "--dialect", "postgres").output.split(";"):
        if statement.strip():
            pg.execute(statement)
    rows = won.query(f'select frequency, recency, region, "T", monetary_value, predict_ltv({SIGNATURE}) '
                     "from rfm order by customer_id limit 300")  # fmt: skip
    got = [pg.execute("select predict_ltv(%s, %s, %s, %s, %s)", row[:5]).fetchone()[0] for row in rows]
    np.testing.assert_allclose(np.array(got, dtype=float), np.array([r[5] for r in rows], dtype=float), rtol=1e-10)
    assert_clean_error(won.wml("export", "ltv", "--output", str(won.root / "m.onnx")), 2, "no ONNX graph")
    assert_clean_error(won.wml("predict", "ltv", "--input", "rfm", "--output", "scored"), 2,
                       "served by its CLV candidate's SQL")  # fmt: skip


def test_a_count_target_scores_expected_purchases_on_the_leaderboard():
    table = rfm_table(700, seed=8).drop_columns(["customer_id", "future_spend", "region"])
    spec = TrainingSpec(name="buys", function="predict_buys", query="", target="future_purchases",
                        loss="poisson", max_runtime=30,
                        clv={"horizon": float(HORIZON), "predicts": "purchases", "penalizer": 0.0,
                             "columns": {"frequency": "frequency", "recency": "recency", "T": "T"}})  # fmt: skip
    trained = train(table, spec)
    clv = [row for row in trained.leaderboard if row["model_type"] == "bg_nbd_gamma_gamma"]
    assert len(clv) == 1 and clv[0]["metric"] == "poisson_deviance" and np.isfinite(clv[0]["score"])
    assert clv[0]["params"]["predicts"] == "purchases"
    assert clv[0]["rows"] == trained.leaderboard[-1]["rows"]  # the same validation rows as the others


def test_rfm_rows_that_break_the_conventions_fail_before_any_fit():
    table = rfm_table(300).drop_columns(["customer_id", "region"])
    bad = table.set_column(table.schema.get_field_index("frequency"), "frequency", pa.array(np.where(np.arange(300) == 7, -1, table["frequency"].to_numpy())))
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="future_spend", max_runtime=30,
                        clv={"horizon": 26.0, "predicts": "spend", "penalizer": 0.0,
                             "columns": {"frequency": "frequency", "recency": "recency", "T": "T",
                                         "monetary_value": "monetary_value"}})  # fmt: skip
    with pytest.raises(TrainingError, match="frequency is negative"):
        train(bad, spec)


def test_retrain_rollback_and_drop_model(tmp_path):
    p = make(tmp_path / "proj", rows=500)
    assert p.wml("build").exit_code == 0
    call = "select predict_ltv(3, 10, 'east', 20, 30)"
    first = p.scalar(call)
    p.write({"models_sql/ltv.sql": MODEL.replace("EXTRA", ", clv_penalizer=0.001, deploy='udf'")})
    result = p.wml("build")  # the settings changed: a retrain, version 2 serves
    assert result.exit_code == 0, result.output
    assert "deploy='udf' is ignored" in result.output + result.stderr  # no ONNX: still its macro
    assert registered(p)["settings"]["clv_fit"]["penalizer"] == 0.001
    assert p.scalar(call) != first
    assert p.wml("deploy", "ltv", "--version", "1").exit_code == 0
    assert p.scalar(call) == first
    assert p.query("select comment from duckdb_functions() where function_name = 'predict_ltv'") == [("wml:ltv:1",)]
    # A failed retrain writes nothing: version 1 keeps serving.
    p.write({"models_sql/ltv.sql": MODEL.replace("EXTRA", ", clv_columns={'frequency': 'recency', 'recency': 'frequency'}")})
    assert_clean_error(p.wml("build"), 1, "CLV model 'ltv'", "is not a whole number", "Nothing was written")
    assert p.query("select count(*), max(version) from wml.models where name = 'ltv'") == [(2, 2)]
    assert p.scalar(call) == first
    assert p.wml("sql", "DROP MODEL ltv").exit_code == 0
    assert p.query("select count(*) from duckdb_functions() where function_name like 'predict_ltv%'") == [(0,)]


@pytest.mark.parametrize("extra, code, fragments", [
    (", clv_columns={'frequency': 'frequency', 'tenure': 'T'}", 1, ("'tenure'", "ltv.sql", "frequency, recency, T")),
    (", clv_columns={'T': 'age'}", 1, ("model 'ltv'", "T column 'age' is not a feature", "no such column")),
    (", exclude=['monetary_value']", 1, ("monetary_value column 'monetary_value'", "it is excluded")),
    (", clv_predicts='margin'", 1, ("clv_predicts must be 'spend' or 'purchases'",)),
    (", model_type='linear'", 1, ("model_type is 'linear'",)),
    (", clv_horizon=0", 1, ("clv_horizon must be a number more than 0",)),
    (", problem_type='binary_classification'", 1, ("not binary_classification",)),
])  # fmt: skip
def test_config_errors_name_the_model_and_write_nothing(tmp_path, extra, code, fragments):
    model = MODEL if "clv_horizon" not in extra else MODEL.replace("clv_horizon=26, ", "")
    p = make(tmp_path / "proj", rows=120)
    p.write({"models_sql/ltv.sql": model.replace("EXTRA", extra)})
    assert_clean_error(p.wml("build"), code, *fragments)
    assert p.query("select count(*) from duckdb_functions() where function_name like 'predict_ltv%'") == [(0,)]


def test_other_families_refuse_the_candidate_keys():
    from warehouse_ml.errors import ConfigError
    from warehouse_ml.ml.clv import spec as clv_spec
    from warehouse_ml.ml.recs import spec as recs_spec

    with pytest.raises(ConfigError, match="'clv_horizon' does not apply"):
        clv_spec.from_config("ltv", "select 1", {"model_type": "clv", "horizon": 3, "clv_horizon": 3})
    with pytest.raises(ConfigError, match="'clv_columns' belongs to supervised models"):
        recs_spec.from_config("recs", "select 1", {"model_type": "recommender", "user_column": "u",
                                                   "item_column": "i", "clv_columns": {}})  # fmt: skip


def test_the_candidate_is_not_a_model_type_to_train_alone(tmp_path):
    from warehouse_ml.ml.spec import ModelType

    table = rfm_table(100).drop_columns(["customer_id", "region"])
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="future_spend",
                        model_type=ModelType.CLV)  # fmt: skip
    with pytest.raises(TrainingError, match="AUTO's CLV candidate, not a model to train alone"):
        train(table, spec)
    p = make(tmp_path / "proj", rows=100, extra=", model_type='bg_nbd_gamma_gamma'")
    assert_clean_error(p.wml("build"), 1, "is AUTO's CLV candidate, not a model type to choose")


def test_rolling_origin_folds_score_the_candidate_on_every_cutoff():
    """Rows per customer per cutoff (temporal, grouped by customer): the CLV is fit and
    scored on each rolling-origin fold, like every other candidate."""
    cutoffs = []
    for i, day in enumerate(["2026-01-05", "2026-02-02", "2026-03-02", "2026-03-30"]):
        part = rfm_table(250, seed=20 + i).drop_columns(["region"])
        cutoffs.append(part.append_column("cutoff", pa.array(np.full(250, np.datetime64(day, "D")))))
    table = pa.concat_tables(cutoffs)
    spec = TrainingSpec(name="ltv", function="predict_ltv", query="", target="future_spend", max_runtime=30,
                        entity_column="customer_id", exclude=["cutoff"],
                        clv={"horizon": 26.0, "predicts": "spend", "penalizer": 0.0,
                             "columns": {"frequency": "frequency", "recency": "recency", "T": "T",
                                         "monetary_value": "monetary_value"}})  # fmt: skip
    from warehouse_ml.ml.spec import SplitSpec

    spec.split = SplitSpec(method="temporal", column="cutoff", eval_fraction=0.25)
    trained = train(table, spec)
    (row,) = [r for r in trained.leaderboard if r["model_type"] == "bg_nbd_gamma_gamma"]
    assert len(row["fold_scores"]) >= 2 and "rolling" in row["scored_on"]
    assert all(np.isfinite(s) for s in row["fold_scores"])


def test_a_leading_clv_does_not_stop_the_search_proposing_rounds():
    """With enough rows for proposal rounds, a round after the CLV leads proposes other
    families' configs (the CLV has no ranges to search) and the CLV still wins. By MSE: on
    MAE the absolute-error trees (the median) beat any mean, the CLV's included."""
    table = rfm_table(6400, seed=9).drop_columns(["customer_id", "region", "future_purchases"])
    spec = TrainingSpec(name="m", function="predict_m", query="", target="future_spend", objective="mse",
                        max_runtime=60,
                        clv={"horizon": 26.0, "predicts": "spend", "penalizer": 0.0,
                             "columns": {"frequency": "frequency", "recency": "recency", "T": "T",
                                         "monetary_value": "monetary_value"}})  # fmt: skip
    trained = train(table, spec)
    kinds = [row["model_type"] for row in trained.leaderboard]
    assert len(kinds) > 6 and kinds.count("bg_nbd_gamma_gamma") == 1  # a round ran after the start list
    assert trained.model_type == "bg_nbd_gamma_gamma" and trained.onnx_bytes == b""
    assert trained.parity["max_rel_diff"] < 1e-9
