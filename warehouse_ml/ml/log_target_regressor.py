"""The estimator behind ``target_transform='log'`` (the why is in ml/log_target.py): fit on
``log1p(y)``, predict ``smearing_ * exp(score) - 1`` with Duan's smearing factor from
out-of-fold residuals. Its own module so that parsing a config never loads scikit-learn."""

from __future__ import annotations

import typing as t

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

from warehouse_ml.errors import TrainingError

FOLDS = 3


class LogTargetRegressor(RegressorMixin, BaseEstimator):
    """``estimator`` fit on ``log1p(y)``; predicts ``smearing_ * exp(score) - 1``."""

    wml_log_target = True  # what ml/log_target.unwrap looks for

    def __init__(self, estimator: t.Any, seed: int = 0) -> None:
        self.estimator = estimator
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogTargetRegressor:
        y = np.asarray(y, dtype=np.float64)
        if len(y) and float(np.min(y)) < 0:
            raise TrainingError(
                f"target_transform='log' needs a target >= 0, but its smallest value is "
                f"{float(np.min(y)):g}. Filter or fix the negative rows, or drop target_transform."
            )
        z = np.log1p(y)
        self.smearing_ = self._smearing(X, z)
        self.estimator_ = clone(self.estimator).fit(X, z)
        return self

    def _smearing(self, X: np.ndarray, z: np.ndarray) -> float:
        n = len(z)
        if n < 2 * FOLDS:
            return 1.0
        order = np.random.default_rng(self.seed).permutation(n)
        residual = np.empty(n)
        for part in np.array_split(order, FOLDS):
            rest = np.setdiff1d(order, part, assume_unique=True)
            fitted = clone(self.estimator).fit(X[rest], z[rest])
            residual[part] = z[part] - fitted.predict(X[part])
        return float(np.mean(np.exp(residual)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.smearing_ * np.exp(self.estimator_.predict(X)) - 1.0

    def describe(self) -> dict[str, t.Any]:
        return {"transform": "log1p", "back_transform": "mean (Duan's smearing)",
                "smearing": self.smearing_}
