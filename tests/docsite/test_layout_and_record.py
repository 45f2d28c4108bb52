"""The lineage layout (layers, order, spacing, dummy chains) and what training records for
the model card (bootstrap AUC, gains, calibration) checked against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from warehouse_ml.docs.layout import ROW_HEIGHT, _crossings, _isotonic_place, layout
from warehouse_ml.ml import eval_record


def test_layers_follow_the_longest_path_and_roots_sit_next_to_their_first_child():
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("late_seed", "d")]
    drawing = layout(["a", "b", "c", "d", "late_seed"], edges)
    columns = {n: p.column for n, p in drawing.nodes.items()}
    assert columns == {"a": 0, "b": 1, "c": 2, "d": 3, "late_seed": 2}


def test_long_edges_run_through_one_dummy_per_column_and_boxes_never_overlap():
    ids = [f"n{i}" for i in range(40)]
    rng = np.random.default_rng(3)
    edges = [(f"n{int(rng.integers(0, i))}", f"n{i}") for i in range(1, 40) for _ in range(2)]
    drawing = layout(ids, edges)
    for (a, b), points in drawing.edges.items():
        assert len(points) == drawing.nodes[b].column - drawing.nodes[a].column + 1
        assert points[0][1] == drawing.nodes[a].y and points[-1][1] == drawing.nodes[b].y
    by_column: dict[int, list[float]] = {}
    for placed in drawing.nodes.values():
        by_column.setdefault(placed.column, []).append(placed.y)
    for ys in by_column.values():
        ys.sort()
        assert all(b - a >= ROW_HEIGHT - 1e-6 for a, b in zip(ys, ys[1:], strict=False))


def test_ordering_removes_avoidable_crossings():
    # two parents whose children are listed crossed: the sweep uncrosses them
    drawing = layout(["p1", "p2", "c2", "c1"], [("p1", "c1"), ("p2", "c2")])
    order = sorted(drawing.nodes, key=lambda n: (drawing.nodes[n].column, drawing.nodes[n].y))
    assert order.index("c1") < order.index("c2")
    assert _crossings([["a", "b"], ["y", "x"]], {"a": ["x"], "b": ["y"]}) == 1


def test_isotonic_placement_keeps_order_and_spacing_closest_to_wanted():
    assert _isotonic_place([0.0, 0.0]) == [-ROW_HEIGHT / 2, ROW_HEIGHT / 2]
    assert _isotonic_place([0.0, 100.0, 105.0]) == [0.0, 100.0 - ROW_HEIGHT / 2 + 2.5, 100.0 + ROW_HEIGHT / 2 + 2.5]


def test_bootstrap_auc_of_the_identity_resample_is_sklearns_auc():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    score = np.round(rng.random(500) + y * 0.4, 2)  # rounded: ties counted half, as sklearn does
    identity = np.arange(500)[None, :]
    assert eval_record._bootstrap_auc(y, score, identity)[0] == pytest.approx(roc_auc_score(y, score))
    resample = rng.integers(0, 500, size=(1, 500))
    rows = resample[0]
    assert eval_record._bootstrap_auc(y, score, resample)[0] == pytest.approx(roc_auc_score(y[rows], score[rows]))


def test_supervised_record_intervals_cover_the_estimate_and_gains_match_a_direct_count():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.2).astype(np.int64)
    p1 = np.clip(0.2 + 0.5 * (y - 0.2) + rng.normal(0, 0.2, 2000), 0.001, 0.999)
    proba = np.column_stack([1 - p1, p1])
    out = eval_record.supervised(proba, y, y, "binary_classification", np.array([0, 1]), seed=4)
    low, high = out["intervals"]["auc"]
    assert low < roc_auc_score(y, p1) < high
    top = np.argsort(-p1, kind="stable")[:200]
    tenth = next(g for g in out["plots"]["gains"] if g["top"] == 0.1)
    assert tenth["captured"] == pytest.approx(y[top].sum() / y.sum(), abs=1e-5)
    calibration = out["plots"]["calibration"]
    assert sum(b["rows"] for b in calibration) == 2000
    assert out["baseline_intervals"]["auc"] == [0.5, 0.5]
