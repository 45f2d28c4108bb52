"""Multiclass calibration: one binary map per class, one-vs-rest, then renormalised.

What scikit-learn's ``CalibratedClassifierCV`` does for a multiclass model read through
``predict_proba`` (ml/calibration.py explains why every model is read that way): class
``j``'s probability ``p_j`` passes through its own sigmoid or isotonic map, fit on the
calibration rows with "is class j" as the outcome, and the maps' values are divided by
their sum so that a row's probabilities add up to one::

    r_j = map_j(p_j);   q_j = r_j / sum_i r_i   (uniform 1/k when every r_i is 0)

The predicted class is the first class with the largest ``r_j`` (the argmax of the
calibrated probabilities: dividing by the row's sum does not reorder them). All classes
share one method; ``auto`` picks none, sigmoid or isotonic by the 5-fold multiclass
log-loss on the calibration rows, as for a binary model. The fitted maps are exported as
one ``wml.calibration.SigmoidOvR`` / ``IsotonicOvR`` node (ml/onnx_calibration.py) and
compiled to SQL by ``sqlcompile/ops_calibration.py``.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np

from warehouse_ml.ml.calibration_maps import FITTERS, Calibrator, cv_folds, log_loss_multi


@dataclasses.dataclass(frozen=True)
class OneVsRest:
    """Per-class maps (in the order of the model's classes) and their renormalisation."""

    method: str  # 'sigmoid' or 'isotonic'
    maps: tuple[Calibrator, ...]

    def raw(self, proba: np.ndarray) -> np.ndarray:
        """``r``: each class's map applied to its own column."""
        proba = np.asarray(proba, dtype=np.float64)
        return np.column_stack([m.apply(proba[:, j]) for j, m in enumerate(self.maps)])

    def apply(self, proba: np.ndarray) -> np.ndarray:
        r = self.raw(proba)
        total = r.sum(axis=1, keepdims=True)
        uniform = np.full_like(r, 1.0 / r.shape[1])
        return np.divide(r, total, out=uniform, where=total != 0)

    def predict_index(self, proba: np.ndarray) -> np.ndarray:
        return np.argmax(self.raw(proba), axis=1)  # ties: the first, as onnxruntime's ArgMax

    def describe(self) -> dict[str, t.Any]:
        per_class = []
        for m in self.maps:
            if m.method == "sigmoid":
                per_class.append({"a": m.a, "b": m.b})
            else:
                per_class.append({"breakpoints": len(m.x), "x": list(m.x), "y": list(m.y)})
        return {
            "one_vs_rest": True,
            "formula": "q_j = map_j(p_j) / sum_i map_i(p_i)",
            "per_class": per_class,
        }


def fit(method: str, proba: np.ndarray, y_idx: np.ndarray) -> OneVsRest:
    """One ``method`` map per class, each of its own column against "is this class"."""
    fitter = FITTERS[method]
    maps = tuple(fitter(proba[:, j], y_idx == j) for j in range(proba.shape[1]))
    return OneVsRest(method, maps)


def cross_validated(proba: np.ndarray, y_idx: np.ndarray, seed: int) -> dict[str, float]:
    """Multiclass log-loss of each method on out-of-fold calibrated probabilities."""
    out = {"none": log_loss_multi(proba, y_idx)}
    for method in FITTERS:
        q = np.empty_like(proba, dtype=np.float64)
        for fit_rows, score_rows in cv_folds(y_idx, seed):
            q[score_rows] = fit(method, proba[fit_rows], y_idx[fit_rows]).apply(proba[score_rows])
        out[method] = log_loss_multi(q, y_idx)
    return out


def smallest_class(y_idx: np.ndarray, classes: int) -> tuple[int, int]:
    """(index, rows) of the class with the fewest rows (of it, or not of it)."""
    counts = np.bincount(y_idx, minlength=classes)
    rest = len(y_idx) - counts
    worst = np.minimum(counts, rest)
    j = int(np.argmin(worst))
    return j, int(worst[j])
