"""Permutation importance predicted in one stacked call equals the call-per-copy form."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml.spec import ProblemType


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 5))
    return X, X[:, 0] * 3 + X[:, 2] + rng.normal(scale=0.1, size=300)


def _both(model: object, y: np.ndarray, X: np.ndarray, problem: ProblemType, metric: str) -> tuple[dict, dict]:
    classes = np.array([0, 1]) if problem is ProblemType.BINARY else None
    names = [f"x{i}" for i in range(X.shape[1])]

    def one(Xp: np.ndarray) -> float:
        return ev.objective_score(metric, model, Xp, y, problem, classes)  # type: ignore[arg-type]

    def stacked(blocks: list[np.ndarray]) -> list[float]:
        pred = ev.StackedPredictions(model, blocks)
        return [ev.objective_score(metric, pred.for_block(i), b, y, problem, classes) for i, b in enumerate(blocks)]

    return (
        ev.permutation_importance(one, X, names, seed=9),
        ev.permutation_importance(None, X, names, seed=9, score_all=stacked),
    )


def test_regression_importance_is_unchanged() -> None:
    X, y = _data()
    old, new = _both(Ridge().fit(X, y), y, X, ProblemType.REGRESSION, "rmse")
    assert old.keys() == new.keys()
    assert all(abs(old[k] - new[k]) <= 1e-9 * max(1.0, abs(old[k])) for k in old)
    assert max(new, key=new.get) == "x0"


def test_classification_importance_is_unchanged() -> None:
    X, y = _data()
    labels = (y > 0).astype(int)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, labels)
    old, new = _both(model, labels, X, ProblemType.BINARY, "auc")
    assert old == new  # trees: row-wise and exact
    assert max(new, key=new.get) == "x0"
