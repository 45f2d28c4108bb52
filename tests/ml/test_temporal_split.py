"""The temporal split is honest (no split-column value on both sides of the cut) and the
deployed model is refit on every row after evaluation, on real scikit-learn and ONNX."""

from __future__ import annotations

import datetime as dt
import time
import typing as t

import numpy as np
import pyarrow as pa
import pytest

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.dataset import Target, split_rows
from warehouse_ml.ml.estimators import Candidate
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.search import Budget as _Budget
from warehouse_ml.ml.search import refit_factor as _refit_factor
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec
from warehouse_ml.ml.trainer import train

SNAPSHOTS = [dt.date(2025, 10, 4), dt.date(2026, 1, 2), dt.date(2026, 4, 2)]


def snapshots_table(sizes: t.Sequence[int], seed: int = 0) -> pa.Table:
    """One row per profile and snapshot: y = 3x, except that plan 'new' (which exists
    only in the latest snapshot) adds 100: a pattern only a model fit on it can know."""
    rng = np.random.default_rng(seed)
    days, plans = [], []
    for i, size in enumerate(sizes):
        days += [SNAPSHOTS[i]] * size
        latest = i == len(sizes) - 1
        plans += list(rng.choice(["new", "old"] if latest else ["old", "basic"], size=size))
    n = len(days)
    x = rng.normal(size=n)
    plan = np.array(plans, dtype=object)
    y = 3 * x + np.where(plan == "new", 100.0, 0.0) + rng.normal(scale=0.1, size=n)
    order = rng.permutation(n)  # query order is not time order
    return pa.table({
        "snapshot_date": pa.array(days).take(pa.array(order)),
        "x": x[order],
        "plan": pa.array(plan[order]),
        "y": y[order],
    })  # fmt: skip


def spec(column: str | None = "snapshot_date", **kw: t.Any) -> TrainingSpec:
    split = SplitSpec("temporal", column=column, eval_fraction=kw.pop("eval_fraction", 0.2))
    if column is None:
        split = SplitSpec()
    kw.setdefault("model_type", ModelType.LINEAR)
    return TrainingSpec(name="m", function="f", query="q", target="y", split=split, **kw)


def target_of(table: pa.Table) -> Target:
    return Target("y", pa.float64(), ProblemType.REGRESSION, table["y"].to_numpy())


def test_ties_at_the_cut_go_entirely_to_evaluation() -> None:
    table = pa.table({"week": np.arange(400) // 50, "y": np.arange(400.0)})  # 8 weeks x 50
    # eval_fraction 0.3 = 120 rows reaches into week 5: all of week 5 is evaluated.
    parts = split_rows(table, target_of(table), SplitSpec("temporal", 0.3, "week"))
    weeks = table["week"].to_numpy()
    assert len(parts.eval) == 150 and set(weeks[parts.eval]) == {5, 6, 7}
    assert set(weeks[parts.train]) == {0, 1, 2, 3, 4}
    assert parts.describe() == {"cut_value": 5, "rows_before_cut": 250, "rows_at_or_after_cut": 150}


@pytest.mark.parametrize(
    ("sizes", "fraction"), [((100, 100, 100), 0.2), ((1245, 1472, 1677), 0.34)]
)  # the second: the demo's training_ltv snapshots and eval_fraction
def test_equal_snapshots_evaluate_on_exactly_the_latest(sizes: tuple, fraction: float) -> None:
    table = snapshots_table(sizes)
    model = train(table, spec(eval_fraction=fraction))
    assert (model.rows_train, model.rows_eval) == (sum(sizes[:-1]), sizes[-1])
    split = model.metrics["split"]
    assert split["cut_value"] == "2026-04-02" and split["column"] == "snapshot_date"
    assert (split["rows_before_cut"], split["rows_at_or_after_cut"]) == (sum(sizes[:-1]), sizes[-1])


def test_null_split_values_count_as_oldest_and_are_trained_on() -> None:
    day = np.arange(300) // 100  # days 0, 1, 2; then 30 rows of day 2 lose their date
    mask = np.zeros(300, dtype=bool)
    mask[[5, 150, *range(250, 280)]] = True
    table = pa.table({"day": pa.array(day, mask=mask), "y": np.arange(300.0)})
    parts = split_rows(table, target_of(table), SplitSpec("temporal", 0.2, "day"))
    assert set(np.flatnonzero(mask)) <= set(parts.train)
    assert len(parts.eval) == 70 and (day[parts.eval] == 2).all()


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([7] * 100, "split column 'day' holds a single value (7) in all 100 rows"),
        ([None] * 100, "'day' is NULL in all 100 rows"),
        ([None] * 90 + [1] * 10, "only 10 of 100 rows have a 'day' value"),
        ([1] * 95 + [2] * 5, "leaves 0 rows before it to train on and 100 to evaluate"),
        ([1] * 3 + [2] * 97, "leaves 3 rows before it to train on"),
    ],
)
def test_a_split_that_cannot_be_honest_is_a_clear_error(days: list, message: str) -> None:
    table = pa.table(
        {"day": pa.array(days, pa.int64()), "x": np.arange(100.0), "y": np.arange(100.0)}
    )
    with pytest.raises(TrainingError) as info:
        train(table, spec("day", min_rows=0))
    assert message in str(info.value)
    assert "Lower eval_fraction" in str(info.value) or "random split" in str(info.value)


def test_refit_deploys_a_model_trained_on_every_row() -> None:
    table = snapshots_table((100, 100, 100))
    model = train(table, spec())
    assert (model.rows_train, model.rows_eval, model.rows_final) == (200, 100, 300)
    assert model.metrics["deployed_fit"]["refit"] is True
    assert model.metrics["deployed_fit"]["rows"] == 300
    # Held-out metrics come from the fit that never saw plan 'new' (off by ~50 on average)...
    assert model.metrics["mae"] > 20
    # ...while the exported model learned it from the latest snapshot.
    scorer = OnnxScorer(model.onnx_bytes)
    new_plan = scorer.predict([pa.array([0.0]), pa.array(["new"])]).to_pylist()[0]
    assert new_plan == pytest.approx(100.0, abs=2.0)
    assert model.parity["rows"] == 300


def test_refit_false_deploys_the_evaluated_fit() -> None:
    table = snapshots_table((100, 100, 100))
    model = train(table, spec(refit=False))
    assert model.rows_final == model.rows_train == 200
    assert model.metrics["deployed_fit"] == {"refit": False, "rows": 200, "fit_seconds": 0.0}
    scorer = OnnxScorer(model.onnx_bytes)
    new_plan = scorer.predict([pa.array([0.0]), pa.array(["new"])]).to_pylist()[0]
    assert abs(new_plan) < 50  # never saw plan 'new'
    refit = train(table, spec())
    assert refit.metrics["mae"] == model.metrics["mae"]  # same evaluated fit either way


def test_random_split_refits_too() -> None:
    table = snapshots_table((100, 100, 100))
    model = train(table, spec(None))
    assert (model.rows_train, model.rows_eval, model.rows_final) == (240, 60, 300)
    assert "cut_value" not in model.metrics["split"]


def test_auto_search_validates_by_time_inside_the_training_rows() -> None:
    table = snapshots_table((100, 100, 100))
    model = train(table, spec(model_type=ModelType.AUTO))
    search = model.metrics["search"]
    # The earlier two snapshots: validating on the second needs all of it (100 of 200 rows).
    assert search["validation"] == "temporal, at or after '2026-01-02'"
    assert search["validation_rows"] == 100
    assert model.rows_final == 300


def test_auto_search_falls_back_to_random_validation_on_one_training_snapshot() -> None:
    model = train(snapshots_table((150, 150)), spec(model_type=ModelType.AUTO))
    assert model.rows_eval == 150
    assert model.metrics["search"]["validation"].startswith("random")


def test_the_budget_counts_the_refit_on_every_row() -> None:
    # Search fits on 64% of the rows (80% of the 80% trained on): refitting on the training
    # rows costs 0.8/0.64 of a search fit, and the deployed refit 1/0.64 more.
    assert _refit_factor(64, 80, 0) == pytest.approx(1.25)
    assert _refit_factor(64, 80, 100) == pytest.approx(2.8125)
    candidate = Candidate(ModelType.LINEAR, {}, 1.0)
    without, with_refit = (_Budget(time.perf_counter(), 3.0, f) for f in (1.25, 2.8125))
    for budget in (without, with_refit):
        budget.record(candidate, 1.0)  # 1 s per unit of cost
    assert without.allows(candidate, 1, 0.0)  # 1 s + 1.25 s <= 3 s
    assert not with_refit.allows(candidate, 1, 0.0)  # 1 s + 2.8 s > 3 s
    assert not without.allows(candidate, 2, 0.0)  # two folds: 2 s + 1.25 s > 3 s


def test_training_with_refit_is_deterministic_whatever_the_row_order() -> None:
    table = snapshots_table((100, 100, 100))
    shuffled = table.take(np.random.default_rng(3).permutation(table.num_rows))
    first, second = (train(t_, spec(model_type=ModelType.RANDOM_FOREST,
                                    hyperparameters={"n_estimators": 5})) for t_ in (table, shuffled))  # fmt: skip
    assert first.metrics["mae"] == second.metrics["mae"]
    X = [pa.array([0.5, -1.0]), pa.array(["new", "old"])]
    assert OnnxScorer(first.onnx_bytes).predict(X) == OnnxScorer(second.onnx_bytes).predict(X)


def snapshots_csv(sizes: t.Sequence[int]) -> str:
    table = snapshots_table(sizes)
    rows = zip(*(table[c].to_pylist() for c in ("snapshot_date", "x", "plan", "y")), strict=True)
    return "snapshot_date,x,plan,y\n" + "".join(f"{d},{x},{p},{y}\n" for d, x, p, y in rows)


MODEL = """
    {{{{ config(materialized='ml_model', target='y', model_type='linear',
                split_column='snapshot_date', eval_fraction=0.2{extra}) }}}}
    select * from {{{{ ref('snapshots') }}}}
"""


@pytest.fixture
def snapshots_project(project: t.Any) -> t.Any:
    project.write({
        "seeds/snapshots.csv": snapshots_csv((100, 100, 100)),
        "models_sql/deployed_refit.sql": MODEL.format(extra=""),
        "models_sql/deployed_evaluated.sql": MODEL.format(extra=", refit=false"),
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


def test_config_refit_is_recorded_in_the_registry(snapshots_project: t.Any) -> None:
    import json

    rows = snapshots_project.query(
        "select name, rows_train, rows_eval, metrics from wml.models order by name"
    )
    fits = {name: (train_, eval_, json.loads(m)["deployed_fit"]) for name, train_, eval_, m in rows}
    assert fits["deployed_refit"][:2] == fits["deployed_evaluated"][:2] == (200, 100)
    assert fits["deployed_refit"][2]["rows"] == 300 and fits["deployed_refit"][2]["refit"]
    assert fits["deployed_evaluated"][2]["rows"] == 200
    assert not fits["deployed_evaluated"][2]["refit"]
    # The deployed SQL function is the refit: it learned plan 'new' of the latest snapshot.
    (refit, evaluated), = snapshots_project.query_with_functions(
        "select predict_deployed_refit(0.0, 'new'), predict_deployed_evaluated(0.0, 'new')"
    )  # fmt: skip
    assert refit == pytest.approx(100.0, abs=2.0) and abs(evaluated) < 50


def test_config_refit_must_be_a_boolean(project: t.Any) -> None:
    from conftest import assert_clean_error

    project.write({
        "seeds/snapshots.csv": snapshots_csv((100, 100, 100)),
        "models_sql/m.sql": MODEL.format(extra=", refit='sometimes'"),
    })  # fmt: skip
    result = project.wml("build")
    assert_clean_error(result, 1, "refit must be true or false, got 'sometimes'")


def test_show_names_the_cut_and_the_rows_of_each_fit(snapshots_project: t.Any) -> None:
    import json

    text = snapshots_project.wml("show", "deployed_refit").output
    assert "temporal on snapshot_date, cut at 2026-04-02: 200 rows before it trained, " \
        "100 at or after it evaluated" in text  # fmt: skip
    assert "evaluated on 100 rows held out; deployed model refit on all 300 rows" in text
    shown = json.loads(
        snapshots_project.wml("show", "deployed_evaluated", "--format", "json").output
    )
    assert shown["evaluation"] == {
        "split_method": "temporal",
        "eval_fraction": 0.2,
        "split_column": "snapshot_date",
        "cut_value": "2026-04-02",
        "rows_before_cut": 200,
        "rows_at_or_after_cut": 100,
        "rows_train": 200,
        "rows_eval": 100,
        "refit": False,
        "rows_deployed": 200,
        "note": "evaluated on 100 rows held out; deployed model is the evaluated fit on 200 "
        "rows (refit=false)",
    }
    result = snapshots_project.wml("sql", "SHOW MODEL deployed_refit", "--format", "json")
    fields = {row["Key"]: row["Value"] for row in map(json.loads, result.stdout.splitlines())}
    assert fields["Split Column"] == "snapshot_date" and fields["Split Cut Value"] == "2026-04-02"
    assert (fields["Rows Before Cut"], fields["Rows At Or After Cut"]) == ("200", "100")
    assert fields["Deployed Model Rows"] == "300"


def test_show_names_the_leaderboard_metric_and_its_validation_rows(project: t.Any) -> None:
    import json

    auto = MODEL.replace("model_type='linear'", "model_type='auto'")
    project.write({
        "seeds/snapshots.csv": snapshots_csv((100, 100, 100)),
        "models_sql/auto_model.sql": auto.format(extra=""),
    })  # fmt: skip
    assert project.wml("build").exit_code == 0
    text = project.wml("show", "auto_model").output
    assert (
        "Leaderboard: validation mse on 100 rows (temporal, at or after '2026-01-02', "
        "inside the training rows)" in text
    )
    assert any(line.split()[:2] == ["linear", "mse"] for line in text.splitlines())
    shown = json.loads(project.wml("show", "auto_model", "--format", "json").output)
    assert shown["metrics"]["search"]["metric"] == "mse"
    assert {(row["metric"], row["rows"]) for row in shown["leaderboard"]} == {("mse", 100)}
