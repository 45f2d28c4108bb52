"""train(): every problem type and model type on small synthetic data, AUTO's time budget,
splits, and the clear errors users get for unusable input."""

from __future__ import annotations

import datetime as dt
import math
import time
import typing as t

import numpy as np
import onnx
import pyarrow as pa
import pytest

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.dataset import Target, split_rows
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec
from warehouse_ml.ml.trainer import TrainedModel, TrainingProgress, train

FAST_PARAMS: dict[ModelType, dict[str, t.Any]] = {
    ModelType.LINEAR: {},
    ModelType.HIST_GRADIENT_BOOSTING: {"max_iter": 20, "max_leaf_nodes": 7},
    ModelType.RANDOM_FOREST: {"n_estimators": 8, "max_depth": 5},
    ModelType.MLP: {"hidden_layer_sizes": [16], "max_iter": 200},
}


def make_table(n: int = 400, seed: int = 0) -> pa.Table:
    """x1 drives every target, x2 is noise, color adds a shift; NULLs in x1 and color."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    amount = 3.0 * x1 + np.where(color == "red", 2.0, 0.0) + rng.normal(scale=0.3, size=n)
    tier = np.digitize(amount, [-2.0, 2.0])  # 0, 1, 2
    x1_null = rng.random(n) < 0.05
    return pa.table(
        {
            "x1": pa.array(x1, mask=x1_null),
            "x2": x2,
            "color": pa.array(color.astype(object), mask=rng.random(n) < 0.05),
            "is_member": pa.array(rng.random(n) < 0.5),
            "amount": amount,
            "churned": pa.array(amount > 0.5),
            "tier": pa.array(tier, type=pa.int32()),
            "tier_name": pa.array(np.array(["low", "mid", "high"])[tier]),
        }
    )


TARGETS = ("amount", "churned", "tier", "tier_name")


def spec_for(
    target: str | None, model_type: ModelType = ModelType.AUTO, **kw: t.Any
) -> TrainingSpec:
    exclude = [c for c in TARGETS if c != target]
    kw.setdefault("exclude", exclude)
    return TrainingSpec(
        name="m", function="predict_m", query="select 1", target=target, model_type=model_type, **kw
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return make_table()


@pytest.mark.parametrize(
    "model_type", [m for m in ModelType if m not in (ModelType.AUTO, ModelType.KMEANS, ModelType.CLV)]
)
@pytest.mark.parametrize(
    ("target", "problem", "quality"),
    [
        ("amount", ProblemType.REGRESSION, "r2"),
        ("churned", ProblemType.BINARY, "accuracy"),
        ("tier_name", ProblemType.MULTICLASS, "accuracy"),
    ],
)
def test_each_model_type_learns_and_beats_the_baseline(
    table: pa.Table, model_type: ModelType, target: str, problem: ProblemType, quality: str
) -> None:
    spec = spec_for(target, model_type, hyperparameters=FAST_PARAMS[model_type])
    model = train(table, spec)
    assert model.problem_type is problem
    assert model.model_type == model_type.value
    assert model.metrics[quality] > model.metrics["baseline"][quality] + 0.2
    assert [f.name for f in model.features] == ["x1", "x2", "color", "is_member"]
    assert [f.sql_type for f in model.features] == ["DOUBLE", "DOUBLE", "VARCHAR", "BOOLEAN"]
    assert model.rows_train + model.rows_eval == table.num_rows
    assert model.rows_eval == math.ceil(0.2 * table.num_rows)
    assert model.parity["rows"] == table.num_rows
    assert model.onnx_bytes[:2] != b"" and len(model.leaderboard) == 1
    assert max(model.feature_importance, key=model.feature_importance.get) == "x1"


def test_classification_metrics_and_classes(table: pa.Table) -> None:
    binary = train(table, spec_for("churned", ModelType.LINEAR))
    assert binary.classes == [False, True]
    assert binary.target_type == "bool"
    expected = {"auc", "log_loss", "accuracy", "f1", "precision", "recall"}
    assert expected <= binary.metrics.keys() and expected <= binary.metrics["baseline"].keys()
    assert binary.metrics["baseline"]["auc"] == pytest.approx(0.5)
    assert binary.objective == "f1"
    multi = train(table, spec_for("tier_name", ModelType.LINEAR))
    assert multi.classes == ["high", "low", "mid"]
    assert multi.metrics["f1macro"] == multi.metrics["f1"]


def test_problem_type_inference() -> None:
    table = make_table()
    assert train(table, spec_for("tier", ModelType.LINEAR)).problem_type is ProblemType.MULTICLASS
    assert train(table, spec_for("tier", ModelType.LINEAR)).classes == [0, 1, 2]
    ints = table.append_column("two", pa.array((table["amount"].to_numpy() > 0).astype(np.int64)))
    binary = train(ints, spec_for("two", ModelType.LINEAR, exclude=list(TARGETS)))
    assert binary.problem_type is ProblemType.BINARY and binary.classes == [0, 1]


def test_kmeans_clusters_with_k_from_spec(table: pa.Table) -> None:
    model = train(table, spec_for(None, ModelType.KMEANS, k=3, exclude=list(TARGETS)))
    assert model.problem_type is ProblemType.CLUSTERING and model.model_type == "kmeans"
    assert model.estimator_params["n_clusters"] == 3
    assert len(model.metrics["cluster_sizes"]) == 3
    assert sum(model.metrics["cluster_sizes"]) == table.num_rows
    assert -1.0 <= model.metrics["silhouette"] <= 1.0
    assert model.classes is None and set(model.feature_importance) == {
        "x1",
        "x2",
        "color",
        "is_member",
    }


def test_auto_without_target_is_clustering_with_k_hyperparameter(table: pa.Table) -> None:
    model = train(table, spec_for(None, hyperparameters={"K": "4"}, exclude=list(TARGETS)))
    assert model.problem_type is ProblemType.CLUSTERING and model.model_type == "kmeans"
    assert model.estimator_params["n_clusters"] == 4


def test_hyperparameters_and_class_weight_are_honoured(table: pa.Table) -> None:
    hgb = train(
        table,
        spec_for("churned", ModelType.HIST_GRADIENT_BOOSTING, hyperparameters={"num_round": "7"}),
    )
    assert hgb.estimator_params["max_iter"] == 7
    weighted = train(table, spec_for("churned", ModelType.LINEAR, class_weight="balanced"))
    assert weighted.estimator_params["class_weight"] == "balanced"


def test_auto_tiny_budget_runs_only_the_baseline(table: pa.Table) -> None:
    model = train(table, spec_for("amount", max_runtime=0.001))
    assert [row["model_type"] for row in model.leaderboard] == ["linear"]
    assert model.metrics["search"]["stopped_by"] == "max_runtime"
    # The four other starting configs, then the first round of proposals, all refused.
    skipped = model.metrics["search"]["skipped"]
    assert len(skipped) > 4 and skipped[3].startswith("random_forest")
    assert model.model_type == "linear" and model.onnx_bytes


def test_auto_big_budget_runs_every_candidate_quickly() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    x = rng.uniform(-3, 3, size=(n, 3))
    # A step function: trees beat the linear baseline.
    y = np.where(x[:, 0] > 0, 5.0, -5.0) + x[:, 1] + rng.normal(scale=0.1, size=n)
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    began = time.perf_counter()
    model = train(table, spec_for("y", max_runtime=5000.0, exclude=[]))
    assert time.perf_counter() - began < 45.0
    assert model.metrics["search"]["stopped_by"] == "exhausted"
    # 1,600 training rows allow the 5 starting configs only (ml/search.py config_limit).
    assert len(model.leaderboard) == model.metrics["search"]["config_limit"] == 5
    assert all(row["fit_seconds"] >= 0 and row["score"] is not None for row in model.leaderboard)
    assert model.model_type in ("hist_gradient_boosting", "random_forest")
    best = min(model.leaderboard, key=lambda row: row["score"])  # mse: lower is better
    assert best["model_type"] == model.model_type
    assert model.metrics["r2"] > 0.95


def test_null_target_rows_are_dropped_and_counted(table: pa.Table) -> None:
    amount = table["amount"].to_numpy().copy()
    mask = np.zeros(len(amount), dtype=bool)
    mask[:25] = True
    nulled = table.set_column(
        table.schema.get_field_index("amount"), "amount", pa.array(amount, mask=mask)
    )
    model = train(nulled, spec_for("amount", ModelType.LINEAR))
    assert model.metrics["rows_dropped_null_target"] == 25
    assert model.rows_train + model.rows_eval == table.num_rows - 25


def test_temporal_split_evaluates_on_the_latest_rows() -> None:
    rng = np.random.default_rng(2)
    n = 500
    day = rng.permutation(n)  # shuffled, so row order is not time order
    x = rng.normal(size=n)
    latest = day >= n - 100
    # The relationship flips for the latest 20%: a temporal split must see that.
    y = np.where(latest, -x, x) * 10
    start = dt.date(2024, 1, 1)
    table = pa.table(
        {"day": pa.array([start + dt.timedelta(days=int(d)) for d in day]), "x": x, "y": y}
    )
    spec = spec_for("y", ModelType.LINEAR, exclude=[], split=SplitSpec("temporal", column="day"))
    temporal = train(table, spec)
    assert [f.name for f in temporal.features] == ["x"]  # the split column is no feature
    assert temporal.rows_eval == 100
    assert temporal.metrics["r2"] < -1.0  # trained on x -> y, evaluated on x -> -y
    random = train(table, spec_for("y", ModelType.LINEAR, exclude=["day"]))
    assert random.metrics["r2"] > -0.5
    target = Target("y", pa.float64(), ProblemType.REGRESSION, y)
    parts = split_rows(table, target, SplitSpec("temporal", column="day"))
    assert day[parts.eval].min() > day[parts.train].max()


def test_random_split_is_seeded_and_stratified(table: pa.Table) -> None:
    y = np.asarray(table["tier_name"].to_pylist(), dtype=object)
    target = Target("tier_name", pa.string(), ProblemType.MULTICLASS, y)
    first = split_rows(table, target, SplitSpec(seed=7))
    again = split_rows(table, target, SplitSpec(seed=7))
    assert first.stratified and np.array_equal(first.eval, again.eval)
    overall = np.mean(y == "high")
    assert np.mean(y[first.eval] == "high") == pytest.approx(overall, abs=0.03)


@pytest.mark.parametrize(
    ("mutate", "spec_kw", "message"),
    [
        (
            None,
            {"target": "nope"},
            "target column 'nope' is not in the query result. Available columns: x1, x2",
        ),
        ("all_null", {}, "is NULL in all 400 rows"),
        ("one_class", {}, "has a single value"),
        ("few_rows", {}, "returned 30 usable rows"),
        ("tiny", {"min_rows": 0}, "returned 8 usable rows, but training needs at least 10"),
        ("time_of_day", {}, "cannot be a model feature (dates and timestamps can)"),
        ("ids", {}, "Text column 'user_id' has 400 distinct values"),
        (None, {"hyperparameters": {"max_depthh": 3}}, "Unknown hyperparameter(s) max_depthh"),
        (None, {"objective": "r2"}, "choose one of: f1, auc"),
        (None, {"model_type": ModelType.KMEANS}, "k-means clustering takes no target"),
        (None, {"exclude": ["missing_col"]}, "exclude column 'missing_col'"),
        ("empty_feature", {}, "Feature column 'empty' is NULL in every row"),
    ],
)
def test_bad_input_raises_clear_errors(
    table: pa.Table, mutate: str | None, spec_kw: dict[str, t.Any], message: str
) -> None:
    n = table.num_rows
    if mutate == "all_null":
        table = table.set_column(5, "churned", pa.nulls(n, pa.bool_()))
    elif mutate == "one_class":
        table = table.set_column(5, "churned", pa.array([True] * n))
    elif mutate == "few_rows":
        table = table.slice(0, 30)
    elif mutate == "tiny":
        table = table.slice(0, 8)
    elif mutate == "time_of_day":
        table = table.append_column("opens_at", pa.array([dt.time(9, 30)] * n))
    elif mutate == "empty_feature":
        table = table.append_column("empty", pa.nulls(n, pa.float64()))
    elif mutate == "ids":
        table = table.append_column("user_id", pa.array([f"u{i}" for i in range(n)]))
    kw = {"model_type": ModelType.LINEAR, **spec_kw}
    target = kw.pop("target", "churned")
    spec = spec_for(target, **kw)
    if "exclude" in spec_kw:
        spec.exclude = [*spec_for(target).exclude, *spec_kw["exclude"]]
    with pytest.raises(TrainingError) as info:
        train(table, spec)
    assert message in str(info.value)


def test_errors_suggest_a_fix(table: pa.Table) -> None:
    ids = table.append_column("user_id", pa.array([f"u{i}" for i in range(table.num_rows)]))
    with pytest.raises(TrainingError, match=r"exclude=\['user_id'\] or bucket it in SQL"):
        train(ids, spec_for("churned", ModelType.LINEAR))
    with pytest.raises(TrainingError, match="needs at least 50"):
        train(table.slice(0, 30), spec_for("churned", ModelType.LINEAR))


def test_trained_model_is_self_consistent(table: pa.Table) -> None:
    model: TrainedModel = train(table, spec_for("amount", ModelType.HIST_GRADIENT_BOOSTING))
    assert model.training_seconds > 0
    assert model.leaderboard[0]["score"] == pytest.approx(model.metrics["mse"])
    assert set(model.feature_importance) == {f.name for f in model.features}
    assert model.parity["max_abs_diff"] < 1e-3


@pytest.mark.parametrize("model_type", [ModelType.AUTO, ModelType.RANDOM_FOREST])
def test_row_order_does_not_change_the_model(table: pa.Table, model_type: ModelType) -> None:
    """A query without ORDER BY returns rows in any order: the model must not depend on it,
    even when a temporal split column has ties at the split point."""
    table = table.append_column("week", pa.array(np.arange(table.num_rows) // 50))
    spec = spec_for("amount", model_type, split=SplitSpec("temporal", column="week"),
                    hyperparameters=FAST_PARAMS.get(model_type, {}))  # fmt: skip
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    first, second = train(table, spec), train(shuffled, spec)
    assert first.metrics["rmse"] == second.metrics["rmse"]
    assert [(r["model_type"], r["score"]) for r in first.leaderboard] == [
        (r["model_type"], r["score"]) for r in second.leaderboard
    ]
    graphs = [onnx.load_from_string(m.onnx_bytes).graph for m in (first, second)]
    for graph in graphs:
        graph.name = ""  # skl2onnx names each graph with a fresh uuid
    assert graphs[0].SerializeToString() == graphs[1].SerializeToString()


def test_progress_reports_every_auto_candidate_in_order_then_the_final_steps() -> None:
    table = make_table(n=600, seed=3)
    seen: list[TrainingProgress] = []
    model = train(table, spec_for("amount", max_runtime=5000.0), progress=seen.append)
    candidates = [p for p in seen if p.step == "candidate"]
    assert [p.index for p in candidates] == list(range(1, len(model.leaderboard) + 1))
    assert {p.total for p in candidates} == {5}
    assert [p.name for p in candidates] == [row["model_type"] for row in model.leaderboard]
    assert all(0 < p.seconds_left <= 5000.0 for p in candidates)
    lefts = [p.seconds_left for p in candidates]
    assert lefts == sorted(lefts, reverse=True)  # the budget only runs down
    assert [p.step for p in seen[len(candidates) :]] == ["fit", "evaluate", "refit", "export"]
    assert candidates[0].describe().startswith("AUTO candidate 1 of 5: linear (")
    assert "s left of max_runtime" in candidates[0].describe()


def test_leaderboard_rows_name_their_metric_and_rows(table: pa.Table) -> None:
    model = train(table, spec_for("churned", max_runtime=5000.0))
    search = model.metrics["search"]
    assert search["metric"] == model.objective
    for row in model.leaderboard:
        assert row["metric"] == model.objective and row["rows"] == search["validation_rows"]
        assert row["scored_on"] == (
            f"validation {model.objective} on {search['validation_rows']} rows "
            f"({search['validation']}, inside the training rows)"
        )
    explicit = train(table, spec_for("churned", ModelType.LINEAR))
    (row,) = explicit.leaderboard
    assert (row["metric"], row["rows"]) == (explicit.objective, explicit.rows_eval)
    assert row["scored_on"].startswith(f"held-out {explicit.objective} on {explicit.rows_eval} rows")
