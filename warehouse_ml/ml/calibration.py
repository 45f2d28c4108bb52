"""Calibrated probabilities for binary classifiers: sigmoid (Platt) or isotonic, fit on
rows held out of the training rows, chosen by cross-validated log-loss under ``auto``.

How it is fit (scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` idea, with one
held-out slice instead of cross-fitting, so it costs one extra fit):

1. ``CALIBRATION_FRACTION`` of the *training* rows is held out the way the evaluation
   split was made (temporal when that is temporal, else seeded random); the evaluation
   rows are never seen.
2. The chosen model is fit on the rest and scores the held-out slice: out-of-sample
   positive-class probabilities ``p``.
3. The calibrator maps ``p`` to the calibrated probability ``q``; ``auto`` compares
   'none', 'sigmoid' and 'isotonic' by ``CV_FOLDS``-fold log-loss on that slice (fit on
   four folds, scored on the fifth), and ties keep the simpler one.
4. The calibrator is applied to the model fit on every training row (evaluated on the
   held-out evaluation rows) and to the refit that is deployed.

The score ``s`` a calibrator reads is the positive-class probability for every model
type (scikit-learn does so for models without ``decision_function``): both serving forms
then compute from the same quantity, and float32 rounding of ``p`` near 0 or 1 is not
amplified as a logit would amplify it.

- sigmoid: ``q = 1 / (1 + exp(-(a * p + b)))``, Platt's fit (his smoothed targets
  ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)``, as scikit-learn), solved by Newton's method;
- isotonic: scikit-learn's ``IsotonicRegression(out_of_bounds='clip')``: a nondecreasing
  piecewise-linear map through breakpoints ``(x_k, y_k)``, constant beyond the ends.

The predicted class is the positive class exactly when ``q > 0.5``: for sigmoid when
``a * p + b > 0``, for isotonic when ``p`` exceeds the point where the map crosses 0.5.
Multiclass calibration is refused (per-class maps would need renormalising in SQL).
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import evaluate as ev

METHODS = ("none", "auto", "sigmoid", "isotonic")
CALIBRATION_FRACTION = 0.2
CV_FOLDS = 5
MIN_CLASS_ROWS = 10  # of each class among the calibration rows
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


_FITTERS: dict[str, t.Callable[[np.ndarray, np.ndarray], Calibrator]] = {
    "sigmoid": fit_sigmoid,
    "isotonic": fit_isotonic,
}


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier whose probabilities pass through a :class:`Calibrator`.

    The last step of a calibrated pipeline, so evaluation, importance and monitoring read
    calibrated probabilities through ``predict_proba`` like any classifier's.
    """

    def __init__(self, estimator: t.Any, calibrator: Calibrator) -> None:
        self.estimator = estimator
        self.calibrator = calibrator
        self.classes_ = estimator.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: t.Any, y: t.Any = None) -> CalibratedClassifier:
        raise NotImplementedError("built fitted by ml/calibration.calibrate, never refit")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        q = self.calibrator.apply(self.estimator.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - q, q])

    def predict(self, X: np.ndarray) -> np.ndarray:
        positive = self.calibrator.positive(self.estimator.predict_proba(X)[:, 1])
        return np.where(positive, self.classes_[1], self.classes_[0])

    def get_params(self, deep: bool = False) -> dict[str, t.Any]:
        return self.estimator.get_params(deep=deep)


def wrap(pipeline: Pipeline, calibrator: Calibrator | None) -> Pipeline:
    """``pipeline`` with its estimator calibrated (itself when ``calibrator`` is None)."""
    if calibrator is None or isinstance(pipeline.steps[-1][1], CalibratedClassifier):
        return pipeline
    name, estimator = pipeline.steps[-1]
    return Pipeline([*pipeline.steps[:-1], (name, CalibratedClassifier(estimator, calibrator))])


def unwrap(pipeline: Pipeline) -> tuple[Pipeline, Calibrator | None]:
    """(the uncalibrated pipeline, its calibrator or None)."""
    name, last = pipeline.steps[-1]
    if not isinstance(last, CalibratedClassifier):
        return pipeline, None
    return Pipeline([*pipeline.steps[:-1], (name, last.estimator)]), last.calibrator


def check_method(value: t.Any) -> str | None:
    """The problem with a ``calibration`` value, or None when it is valid."""
    if isinstance(value, str) and value.strip().lower() in METHODS:
        return None
    return f"calibration must be one of {', '.join(METHODS)}, not {value!r}"


def normalise(value: t.Any) -> str:
    return str(value).strip().lower() if value is not None else "none"


def check_problem(requested: str, problem: str, model: str) -> None:
    """Calibration applies to binary classifiers only: say so for any other problem."""
    if requested == "none" or problem == "binary_classification":
        return
    if problem == "multiclass_classification":
        why = (
            "multiclass calibration is not supported: per-class maps would have to be "
            "renormalised in both serving forms, and we refuse rather than serve probabilities "
            "that do not sum to one"
        )
    else:
        why = f"it calibrates classifier probabilities, and this is {problem}"
    raise TrainingError(
        f"Model '{model}': calibration='{requested}' applies to binary classification only; "
        f"{why}. Remove calibration (or set it to 'none')."
    )


def log_loss(q: np.ndarray, positive: np.ndarray) -> float:
    q = np.clip(q, _EPS, 1.0 - _EPS)
    return float(-np.mean(np.where(positive, np.log(q), np.log(1.0 - q))))


def cross_validated(p: np.ndarray, positive: np.ndarray, seed: int) -> dict[str, float]:
    """Log-loss of each method on out-of-fold calibrated probabilities ('none': of ``p``)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    out = {"none": log_loss(p, positive)}
    for method, fit in _FITTERS.items():
        q = np.empty_like(p)
        for fit_rows, score_rows in folds.split(p.reshape(-1, 1), positive):
            q[score_rows] = fit(p[fit_rows], positive[fit_rows]).apply(p[score_rows])
        out[method] = log_loss(q, positive)
    return out


def choose(requested: str, losses: dict[str, float]) -> str:
    """The requested method, or under 'auto' the lowest log-loss (ties: the simpler)."""
    if requested != "auto":
        return requested
    return min(("none", "sigmoid", "isotonic"), key=lambda m: (round(losses[m], 12),))


def fit_on_slice(
    requested: str,
    p: np.ndarray,
    positive: np.ndarray,
    seed: int,
    model: str,
) -> tuple[Calibrator | None, dict[str, t.Any]]:
    """(the calibrator or None, what to record) from the calibration slice's scores."""
    rows, positives = len(positive), int(np.sum(positive))
    record: dict[str, t.Any] = {"requested": requested, "rows": rows, "positives": positives}
    smallest = min(positives, rows - positives)
    if smallest < MIN_CLASS_ROWS:
        why = (
            f"the {rows} calibration rows hold {smallest} of the rarer class, fewer than "
            f"{MIN_CLASS_ROWS}"
        )
        if requested == "auto":
            return None, record | {"method": "none", "reason": why}
        raise TrainingError(
            f"Model '{model}': calibration='{requested}' cannot be fit: {why}. Train on more "
            "rows, or set calibration='auto' (which then keeps the model's own probabilities)."
        )
    losses = cross_validated(p, positive, seed)
    method = choose(requested, losses)
    record |= {"method": method, "cv_log_loss": {k: round(v, 6) for k, v in losses.items()}}
    if method == "none":
        return None, record | {"reason": "the model's own probabilities had the lowest log-loss"}
    calibrator = _FITTERS[method](p, positive)
    return calibrator, record | {"params": calibrator.describe()}


def calibrate(
    spec: t.Any,
    fit: t.Callable[[np.ndarray], Pipeline],
    evaluated: Pipeline,
    X: np.ndarray,
    target: t.Any,
    split: t.Any,
    table: t.Any,
) -> tuple[Pipeline, dict[str, t.Any]]:
    """The evaluated fit with its calibrator as ``spec.calibration`` asks, and the record
    for the registry ({} when calibration is 'none'). ``fit(rows)`` fits the chosen model
    on those rows, as the evaluated fit was."""
    if spec.calibration == "none":
        return evaluated, {}
    fit_rows, slice_rows, how = calibration_rows(table, target, split.train, spec.split)
    positive = np.searchsorted(target.classes_fit, target.y) == 1
    model = fit(fit_rows)
    p = ev.aligned_proba(model, X[slice_rows], target.classes_fit)[:, 1]
    calibrator, record = fit_on_slice(
        spec.calibration, p, positive[slice_rows], spec.split.seed, spec.name
    )
    record["fit_on"] = (
        f"{len(slice_rows)} of the training rows ({how}), scored by the model fit on the "
        f"other {len(fit_rows)}; never the evaluation rows"
    )
    calibrated = wrap(evaluated, calibrator)
    if calibrator is not None:
        rows = split.eval
        record["held_out"] = held_out_effect(evaluated, calibrated, X[rows], positive[rows])
    return calibrated, record


def calibration_rows(
    table: t.Any, target: t.Any, train: np.ndarray, split_spec: t.Any
) -> tuple[np.ndarray, np.ndarray, str]:
    """(rows to fit the scoring model on, calibration rows, how they were cut): the
    training rows split again as the evaluation split was; random when a temporal cut
    cannot be made inside them."""
    import dataclasses

    from warehouse_ml.ml.dataset import split_rows

    inner = dataclasses.replace(split_spec, eval_fraction=CALIBRATION_FRACTION)
    try:
        found = split_rows(table, target, inner, train)
    except TrainingError:
        if inner.method != "temporal":
            raise
        found = split_rows(table, target, dataclasses.replace(inner, method="random"), train)
        return found.train, found.eval, "random: the training rows cannot be cut by time"
    if found.column is None:
        return found.train, found.eval, "random"
    return found.train, found.eval, f"temporal: the latest, at or after {found.cut!r}"


def held_out_effect(
    evaluated: Pipeline, calibrated: Pipeline, X: np.ndarray, positive: np.ndarray
) -> dict[str, dict[str, float]]:
    """log-loss, Brier and ECE on the evaluation rows before and after calibration."""
    out = {}
    for key, pipe in (("uncalibrated", evaluated), ("calibrated", calibrated)):
        q = pipe.predict_proba(X)[:, 1]
        out[key] = {
            "log_loss": round(log_loss(q, positive), 6),
            "brier": round(float(np.mean((q - positive) ** 2)), 6),
            "ece": round(ev.expected_calibration_error(positive, q), 6),
        }
    return out
