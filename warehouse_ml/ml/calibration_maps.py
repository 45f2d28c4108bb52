"""The binary calibration maps (ml/calibration.py says how and where they are fit): Platt's
sigmoid and scikit-learn's isotonic regression on a probability ``p``, and the log-losses
and folds that choose between them."""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np

CV_FOLDS = 5
_EPS = 1e-15


@dataclasses.dataclass(frozen=True)
class Calibrator:
    """A fitted map from the positive-class probability ``p`` to a calibrated one."""

    method: str  # 'sigmoid' or 'isotonic'
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()  # isotonic breakpoints, strictly increasing
    y: tuple[float, ...] = ()

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * p + self.b)))
        return np.interp(p, np.asarray(self.x), np.asarray(self.y))

    def positive(self, p: np.ndarray) -> np.ndarray:
        """Rows whose calibrated probability exceeds 0.5, decided on ``p`` itself."""
        p = np.asarray(p, dtype=np.float64)
        if self.method == "sigmoid":
            return self.a * p + self.b > 0.0
        return p > self.threshold()

    def threshold(self) -> float:
        """Isotonic: the ``p`` above which the map exceeds 0.5 (-1: always, 2: never)."""
        x, y = np.asarray(self.x), np.asarray(self.y)
        if y[0] > 0.5:
            return -1.0
        above = np.flatnonzero(y > 0.5)
        if not len(above):
            return 2.0
        k = int(above[0]) - 1  # y[k] <= 0.5 < y[k + 1]
        return float(x[k] + (0.5 - y[k]) * (x[k + 1] - x[k]) / (y[k + 1] - y[k]))

    def describe(self) -> dict[str, t.Any]:
        if self.method == "sigmoid":
            return {"a": self.a, "b": self.b, "formula": "1 / (1 + exp(-(a * p + b)))"}
        return {"breakpoints": len(self.x), "x": list(self.x), "y": list(self.y),
                "threshold": self.threshold()}  # fmt: skip


def fit_sigmoid(p: np.ndarray, positive: np.ndarray) -> Calibrator:
    """Platt scaling on ``p``: Newton's method on the smoothed-target log-loss."""
    p = np.asarray(p, dtype=np.float64)
    n_pos = float(np.sum(positive))
    n_neg = float(len(positive) - n_pos)
    target = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([p, np.ones_like(p)])

    def loss(w: np.ndarray) -> float:
        z = design @ w
        # -[T log q + (1 - T) log(1 - q)] with q = sigmoid(z), written without overflow
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    w = np.array([0.0, np.log((n_pos + 1.0) / (n_neg + 1.0))])
    for _ in range(100):
        q = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (q - target)
        hess = (design * (q * (1.0 - q))[:, None]).T @ design + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        current, scale = loss(w), 1.0
        while scale > 1e-10 and loss(w - scale * step) > current:
            scale /= 2.0  # backtracking keeps every step a descent
        w = w - scale * step
        if np.max(np.abs(scale * step)) < 1e-12:
            break
    return Calibrator("sigmoid", a=float(w[0]), b=float(w[1]))


def fit_isotonic(p: np.ndarray, positive: np.ndarray) -> Calibrator:
    """scikit-learn's isotonic regression of the outcome on ``p``, as its breakpoints."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(out_of_bounds="clip").fit(p, positive.astype(np.float64))
    x = [float(v) for v in fitted.X_thresholds_]
    y = [float(v) for v in fitted.y_thresholds_]
    if len(x) == 1:  # a constant map still needs one segment to interpolate over
        x, y = [x[0], x[0] + 1.0], [y[0], y[0]]
    return Calibrator("isotonic", x=tuple(x), y=tuple(y))


FITTERS: dict[str, t.Callable[[np.ndarray, np.ndarray], Calibrator]] = {
    "sigmoid": fit_sigmoid,
    "isotonic": fit_isotonic,
}


def log_loss(q: np.ndarray, positive: np.ndarray) -> float:
    q = np.clip(q, _EPS, 1.0 - _EPS)
    return float(-np.mean(np.where(positive, np.log(q), np.log(1.0 - q))))


def log_loss_multi(q: np.ndarray, y_idx: np.ndarray) -> float:
    """Mean -log of each row's probability of its own class."""
    own = np.asarray(q, dtype=np.float64)[np.arange(len(y_idx)), y_idx]
    return float(-np.mean(np.log(np.clip(own, _EPS, 1.0))))


def cv_folds(y: np.ndarray, seed: int) -> t.Iterator[tuple[np.ndarray, np.ndarray]]:
    """``CV_FOLDS`` stratified, shuffled folds of the calibration rows."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    return folds.split(np.zeros((len(y), 1)), y)
