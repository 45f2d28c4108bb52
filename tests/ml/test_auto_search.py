"""AUTO's search (ml/search.py) and its validation folds (ml/folds.py), on real scikit-learn
fits: it stops by convergence or by the budget and says which, it is deterministic, the
rolling-origin folds never put an entity on both sides nor validate before their training
rows, a free Tweedie power is chosen, and a wrong entity column fails cleanly."""

from __future__ import annotations

import datetime as dt
import json
import time
import typing as t

import numpy as np
import pyarrow as pa
import pytest
from threadpoolctl import threadpool_limits

from warehouse_ml.ml import search, search_space
from warehouse_ml.ml.dataset import prepare_target
from warehouse_ml.ml.estimators import auto_candidates, build_pipeline
from warehouse_ml.ml.features import infer_features, table_matrix
from warehouse_ml.ml.folds import group_split, make_folds
from warehouse_ml.ml.losses import Loss
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec
from warehouse_ml.ml.trainer import train

CUTOFFS = [dt.date(2025, 1, 1) + dt.timedelta(days=30 * i) for i in range(5)]


def panel(customers: int = 60, seed: int = 0) -> pa.Table:
    """Rows per customer per cutoff (not every customer at every cutoff): spend next
    period grows with recent orders, plus a per-customer level."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 1.0, customers)
    rows: dict[str, list[t.Any]] = {"customer_id": [], "cutoff": [], "orders": [], "tenure": [], "y": []}
    for c in range(customers):
        for i, cutoff in enumerate(CUTOFFS):
            if rng.random() < 0.15:
                continue
            orders = int(rng.poisson(level[c]))
            rows["customer_id"].append(f"c{c:03d}")
            rows["cutoff"].append(cutoff)
            rows["orders"].append(orders)
            rows["tenure"].append(float(i * 30 + rng.integers(0, 30)))
            rows["y"].append(float(2.0 * orders + level[c] + rng.normal(0, 0.3)))
    return pa.table(rows)


def spec_for(**kw: t.Any) -> TrainingSpec:
    base = {"name": "m", "function": "predict_m", "query": "select 1", "target": "y"}
    return TrainingSpec(**(base | kw))


def folds_of(table: pa.Table, spec: TrainingSpec, rows: np.ndarray) -> t.Any:
    from warehouse_ml.ml.folds import entity_codes

    name, codes = entity_codes(table, spec)
    target = prepare_target(table, "y", spec)
    return make_folds(table, target, spec, rows, codes, name), codes


def test_rolling_origin_folds_keep_entities_apart_and_time_forward() -> None:
    table = panel()
    spec = spec_for(entity_column="customer_id", split=SplitSpec("temporal", 0.2, "cutoff"))
    cut = np.array(table["cutoff"].to_pylist())
    train_rows = np.flatnonzero(cut < CUTOFFS[-1])  # the evaluation split holds the last one
    folds, codes = folds_of(table, spec, train_rows)
    assert folds.method == "rolling_origin" and len(folds.folds) == 3
    assert folds.describe()["cutoffs"] == [str(c) for c in CUTOFFS[1:4]]
    seen_validated: set[int] = set()
    for fold in folds.folds:
        assert set(fold.train) <= set(train_rows) and set(fold.validation) <= set(train_rows)
        # One customer never on both sides of a fold.
        assert not set(codes[fold.train]) & set(codes[fold.validation])
        # Validation is one cutoff, later than every training row's.
        validated = set(cut[fold.validation])
        assert validated == {dt.date.fromisoformat(fold.cutoff)}
        assert max(cut[fold.train]) < min(validated)
        seen_validated |= set(codes[fold.validation])
    assert len(seen_validated) > 30  # the folds validate different customers


def test_grouped_folds_and_grouped_evaluation_split_without_cutoffs() -> None:
    table = panel()
    spec = spec_for(entity_column="customer_id")
    rows = np.arange(table.num_rows)
    folds, codes = folds_of(table, spec, rows)
    assert folds.method == "group_kfold" and len(folds.folds) == 3
    validated = np.concatenate([f.validation for f in folds.folds])
    assert sorted(validated) == list(rows)  # every row validated once
    for fold in folds.folds:
        assert not set(codes[fold.train]) & set(codes[fold.validation])
    held = group_split(rows, codes, 0.2, 42)
    assert not set(codes[held.train]) & set(codes[held.eval])
    assert 0.2 <= len(held.eval) / len(rows) < 0.3


def test_auto_with_entity_column_validates_rolling_origin_and_refits_on_every_row() -> None:
    table = panel()
    spec = spec_for(
        entity_column="customer_id", split=SplitSpec("temporal", 0.15, "cutoff"), max_runtime=600
    )
    model = train(table, spec)
    record = model.metrics["search"]
    assert record["validation_method"]["method"] == "rolling_origin"
    assert record["validation_method"]["entity_column"] == "customer_id"
    assert record["validation"].startswith("rolling origin over the last 3 cutoffs of 'cutoff'")
    assert "customer_id" not in [f.name for f in model.features]  # an identifier, not a feature
    assert record["metric"] == model.objective == "mse"
    for row in model.leaderboard:
        assert row["rows"] == record["validation_rows"] and len(row["fold_scores"]) == 3
        assert row["score"] == pytest.approx(np.mean(row["fold_scores"]))
    assert model.rows_final == table.num_rows and model.metrics["deployed_fit"]["refit"]
    kept = train(table, spec_for(**{**spec.__dict__, "refit": False}))
    assert kept.rows_final == kept.rows_train < table.num_rows


def _search_inputs(n: int, seed: int = 0) -> dict[str, t.Any]:
    """A linear target: the linear starting config is already as good as any, so later
    configs cannot beat it by more than noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 0.5, n)
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    spec = spec_for()
    features = infer_features(table.schema, spec)
    return {"table": table, "X": table_matrix(table, features), "y": y, "features": features}


def _run(inputs: dict[str, t.Any], max_runtime: float, limit: int) -> search.Outcome:
    from warehouse_ml.ml.folds import Fold, Folds

    n = len(inputs["y"])
    folds = Folds("random_holdout", [Fold(np.arange(0, n - 60), np.arange(n - 60, n))], "last 60")
    problem, loss = ProblemType.REGRESSION, Loss()
    base = auto_candidates(problem)
    proposer = search_space.Proposer(base, problem, loss, False, seed=7)
    scorer = search.Scorer(inputs["X"], inputs["y"], problem, None, loss, "mse")

    def fit(c: t.Any, rows: np.ndarray) -> t.Any:
        pipe = build_pipeline(c.model_type, problem, inputs["features"], c.params, seed=7)
        began = time.perf_counter()
        pipe.fit(inputs["X"][rows], inputs["y"][rows])
        return pipe, time.perf_counter() - began

    budget = search.Budget(time.perf_counter(), max_runtime, 1.0)
    with threadpool_limits(limits=1):  # as train() runs it: OpenMP spins on a busy host
        return search.run(list(base), proposer, folds, fit, scorer, budget, limit, lambda *a: None)


def test_search_stops_when_converged_and_says_so() -> None:
    outcome = _run(_search_inputs(300), max_runtime=600.0, limit=60)
    assert outcome.stopped_by == "converged"
    assert len(auto_candidates(ProblemType.REGRESSION)) + search.PATIENCE <= len(outcome.trials) < 60
    assert outcome.best.candidate.model_type is ModelType.LINEAR
    tail = outcome.trials[-search.PATIENCE :]
    assert all(tr.score <= outcome.best.score + 1e-3 * abs(outcome.best.score) for tr in tail)
    proposed = [tr.candidate for tr in outcome.trials[5:]]
    assert len({json.dumps(c.params, sort_keys=True) + c.model_type.value for c in proposed}) == len(proposed)
    assert any(c.model_type is ModelType.HIST_GRADIENT_BOOSTING for c in proposed)


def test_search_stops_on_the_budget_or_the_config_limit_and_says_so() -> None:
    inputs = _search_inputs(300)
    tiny = _run(inputs, max_runtime=0.001, limit=60)
    assert tiny.stopped_by == "max_runtime" and len(tiny.trials) == 1  # the first always runs
    assert tiny.skipped
    capped = _run(inputs, max_runtime=600.0, limit=7)
    assert capped.stopped_by == "exhausted" and len(capped.trials) == 7


def test_small_data_gets_few_configs() -> None:
    assert search.config_limit(400, 5) == search.config_limit(2_499, 5) == 5
    assert search.config_limit(10_000, 5) == 9
    assert search.config_limit(10_000_000, 5) == search.MAX_CONFIGS
    assert search.config_limit(400, 9) == 9  # never fewer than the starting list


def test_an_explicit_budget_lifts_the_config_limit_but_convergence_still_stops() -> None:
    table = _search_inputs(800, seed=3)["table"]
    limited = train(table, spec_for(max_runtime=600))  # a budget nobody chose: 5 configs
    given = train(table, spec_for(max_runtime=600, max_runtime_given=True))
    assert limited.metrics["search"]["stopped_by"] == "exhausted"
    assert limited.metrics["search"]["run"] == limited.metrics["search"]["config_limit"] == 5
    record = given.metrics["search"]
    assert record["config_limit"] is None and record["stopped_by"] == "converged"
    assert record["run"] >= 5 + search.PATIENCE == len(given.leaderboard)
    assert "no config limit: max_runtime was given" in search.describe_record(record)
    from warehouse_ml.ml.trainer import TrainingProgress

    seen: list[TrainingProgress] = []
    train(table, spec_for(max_runtime=600, max_runtime_given=True), progress=seen.append)
    lines = [p.describe() for p in seen if p.step == "candidate"]
    assert lines[0].startswith("AUTO candidate 1: linear (") and " of " not in lines[0].split("(")[0]
    # The budget still ends it: the first config always runs, then nothing fits.
    tiny = train(table, spec_for(max_runtime=0.001, max_runtime_given=True))
    assert tiny.metrics["search"]["stopped_by"] == "max_runtime" and tiny.metrics["search"]["run"] == 1


@pytest.mark.parametrize(("settings", "given"), [("", False), (" SETTINGS (MAX_RUNTIME 60)", True)])
def test_create_model_max_runtime_is_an_explicit_budget(settings: str, given: bool) -> None:
    from warehouse_ml.ml.create_model import parse_ml_statement

    stmt = parse_ml_statement(f"CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default{settings}")
    assert stmt.spec.max_runtime_given is given


def test_search_is_deterministic_for_a_seed() -> None:
    inputs = _search_inputs(300, seed=2)
    runs = [_run(inputs, max_runtime=600.0, limit=12) for _ in range(2)]
    boards = [[(tr.candidate.model_type, tr.candidate.params, tr.score) for tr in o.trials] for o in runs]
    assert boards[0] == boards[1] and len(boards[0]) == 12  # 5 starting configs + 7 proposals
    assert runs[0].stopped_by == runs[1].stopped_by == "exhausted"
    other = search_space.Proposer(auto_candidates(ProblemType.REGRESSION), ProblemType.REGRESSION,
                                  Loss(), False, seed=8).round(runs[0].best.candidate)  # fmt: skip
    assert [c.params for c in other] != [tr.candidate.params for tr in runs[0].trials[5:11]]


def test_a_free_tweedie_power_is_chosen_and_used() -> None:
    rng = np.random.default_rng(4)
    n = 800
    x = rng.normal(size=n)
    mu = np.exp(0.8 * x)
    spend = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(1.5, mu / 1.5))
    table = pa.table({"x": x, "y": spend})
    model = train(table, spec_for(loss="tweedie", max_runtime=600))
    record = model.metrics["search"]
    chosen = record["tweedie_power"]["chosen"]
    assert record["metric"] == search.POWER_FREE_METRIC
    assert chosen in search_space.TWEEDIE_POWERS and model.metrics["loss"]["power"] == chosen
    linear = [r for r in model.leaderboard if "power" in r["params"]]
    assert {r["params"]["power"] for r in linear} == set(search_space.TWEEDIE_POWERS)
    assert max(linear, key=lambda r: r["score"])["params"]["power"] == chosen
    if model.model_type == "linear":
        assert model.pipeline.steps[-1][1].power == chosen
    given = train(table, spec_for(loss="tweedie", tweedie_power=1.3, max_runtime=600))
    assert "tweedie_power" not in given.metrics["search"]
    assert given.metrics["loss"]["power"] == 1.3 and given.metrics["search"]["metric"] == "tweedie_deviance"


def _panel_csv() -> str:
    table = panel(40)
    cols = ["customer_id", "cutoff", "orders", "tenure", "y"]
    lines = [",".join(cols)] + [
        ",".join(str(v) for v in row) for row in zip(*(table[c].to_pylist() for c in cols), strict=True)
    ]
    return "\n".join(lines) + "\n"


MODEL = """
{{{{ config(materialized='ml_model', target='y', max_runtime=600, split_column='cutoff',
            entity_column='{entity}') }}}}
select * from {{{{ ref('panel') }}}}
"""


def test_unknown_entity_column_is_a_clear_error_naming_the_model_and_writes_nothing(
    project: t.Any,
) -> None:
    from conftest import assert_clean_error

    project.write({"seeds/panel.csv": _panel_csv(), "models_sql/ltv.sql": MODEL.format(entity="cust_id")})
    result = project.wml("build")
    assert_clean_error(result, 1, "Model 'ltv'", "entity_column='cust_id'", "customer_id")
    # Nothing written: not even the registry's table.
    assert project.query(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name = 'models'"
    ) == [(0,)]
    project.write({"models_sql/ltv.sql": MODEL.format(entity="customer_id")})
    assert project.wml("build").exit_code == 0
    shown = project.wml("show", "ltv").output
    # max_runtime given in the config: no data-size limit, the search ran to convergence.
    assert "configs run (no config limit: max_runtime was given), stopped by converged" in shown
    assert "rolling origin over the last 2 cutoffs of 'cutoff', grouped by customer_id" in shown


def test_create_model_settings_entity_column() -> None:
    from warehouse_ml.ml.create_model import parse_ml_statement

    stmt = parse_ml_statement(
        "CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default "
        "SETTINGS (S3_BUCKET 'b', ENTITY_COLUMN 'customer_id')"
    )
    assert stmt.spec.entity_column == "customer_id"
    assert any("ENTITY_COLUMN customer_id is a warehouse-ml setting" in w for w in stmt.warnings)


def test_a_classifier_with_an_entity_column_validates_by_grouped_folds() -> None:
    table = panel(80, seed=5)
    bought = pa.array(np.array(table["orders"].to_pylist()) > 1)
    table = table.drop_columns(["y"]).append_column("y", bought)
    model = train(table, spec_for(entity_column="customer_id", max_runtime=600))
    record = model.metrics["search"]
    assert model.problem_type is ProblemType.BINARY
    assert record["validation_method"]["method"] == "group_kfold"
    assert record["validation"] == "3-fold grouped by customer_id"
    assert record["validation_rows"] == model.rows_train  # every training row validated once


def test_the_model_card_says_how_auto_searched() -> None:
    from types import SimpleNamespace

    from warehouse_ml.docs.card import _scored_on

    record = {"run": 14, "config_limit": 14, "stopped_by": "max_runtime", "validation_rows": 900,
              "validation": "rolling origin over the last 3 cutoffs of 'cutoff', grouped by id",
              "skipped": [f"hist_gradient_boosting {{'max_iter': {i}}}" for i in range(6)],
              "tweedie_power": {"chosen": 1.35, "tried": [1.2, 1.35]}}  # fmt: skip
    v = SimpleNamespace(leaderboard=[{"scored_on": "validation mse on 900 rows (...)"}],
                        metrics={"search": record}, objective="mse")  # fmt: skip
    text = _scored_on(v)
    assert text.startswith("Scored on validation mse on 900 rows (...); skipped for max_runtime: 6 configs.")
    assert "AUTO search: 14 configs run (at most 14 for this data), stopped by max_runtime" in text
    assert text.endswith("Tweedie power 1.35 chosen of 1.2, 1.35.")
    assert search.describe_record({"stopped_by": "explicit", "candidates": 1}) is None
