"""Calibrated probabilities for classifiers: sigmoid (Platt) or isotonic, fit on rows held
out of the training rows, chosen by cross-validated log-loss under ``auto``; multiclass
models one-vs-rest and renormalised (ml/calibration_ovr.py).

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
A multiclass model gets one map per class (ml/calibration_ovr.py) and its label is the
argmax of the calibrated probabilities. The maps themselves are ml/calibration_maps.py.
"""

from __future__ import annotations

import typing as t

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import calibration_maps, calibration_ovr
from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml.calibration_maps import (  # noqa: F401  (re-exported: Calibrator, fitters)
    CV_FOLDS,
    FITTERS,
    Calibrator,
    cv_folds,
    fit_isotonic,
    fit_sigmoid,
    log_loss,
)

METHODS = ("none", "auto", "sigmoid", "isotonic")
CALIBRATION_FRACTION = 0.2
MIN_CLASS_ROWS = 10  # of each class among the calibration rows
_FITTERS = FITTERS


AnyCalibrator = Calibrator | calibration_ovr.OneVsRest


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities pass through a :class:`Calibrator` (binary)
    or a :class:`~warehouse_ml.ml.calibration_ovr.OneVsRest` (multiclass).

    The last step of a calibrated pipeline, so evaluation, importance and monitoring read
    calibrated probabilities through ``predict_proba`` like any classifier's.
    """

    def __init__(self, estimator: t.Any, calibrator: AnyCalibrator) -> None:
        self.estimator = estimator
        self.calibrator = calibrator
        self.classes_ = estimator.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: t.Any, y: t.Any = None) -> CalibratedClassifier:
        raise NotImplementedError("built fitted by ml/calibration.calibrate, never refit")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.calibrator, calibration_ovr.OneVsRest):
            return self.calibrator.apply(self.estimator.predict_proba(X))
        q = self.calibrator.apply(self.estimator.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - q, q])

    def predict(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.calibrator, calibration_ovr.OneVsRest):
            return self.classes_[self.calibrator.predict_index(self.estimator.predict_proba(X))]
        positive = self.calibrator.positive(self.estimator.predict_proba(X)[:, 1])
        return np.where(positive, self.classes_[1], self.classes_[0])

    def get_params(self, deep: bool = False) -> dict[str, t.Any]:
        return self.estimator.get_params(deep=deep)


def wrap(pipeline: Pipeline, calibrator: AnyCalibrator | None) -> Pipeline:
    """``pipeline`` with its estimator calibrated (itself when ``calibrator`` is None)."""
    if calibrator is None or isinstance(pipeline.steps[-1][1], CalibratedClassifier):
        return pipeline
    name, estimator = pipeline.steps[-1]
    return Pipeline([*pipeline.steps[:-1], (name, CalibratedClassifier(estimator, calibrator))])


def unwrap(pipeline: Pipeline) -> tuple[Pipeline, AnyCalibrator | None]:
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
    """Calibration applies to classifiers only: say so for any other problem."""
    if requested == "none" or problem in ("binary_classification", "multiclass_classification"):
        return
    raise TrainingError(
        f"Model '{model}': calibration='{requested}' applies to classification only; it "
        f"calibrates classifier probabilities, and this is {problem}. Remove calibration "
        "(or set it to 'none')."
    )


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


def fit_on_slice_multi(
    requested: str, proba: np.ndarray, y_idx: np.ndarray, seed: int, model: str
) -> tuple[calibration_ovr.OneVsRest | None, dict[str, t.Any]]:
    """:func:`fit_on_slice` for a multiclass model: ``proba`` has a column per class."""
    rows, classes = len(y_idx), proba.shape[1]
    record: dict[str, t.Any] = {"requested": requested, "rows": rows, "one_vs_rest": True,
                                "class_rows": np.bincount(y_idx, minlength=classes).tolist()}  # fmt: skip
    j, smallest = calibration_ovr.smallest_class(y_idx, classes)
    if smallest < MIN_CLASS_ROWS:
        why = (
            f"the {rows} calibration rows hold {smallest} rows of class index {j} (or of the "
            f"rest), fewer than {MIN_CLASS_ROWS}: each class's one-vs-rest map needs both"
        )
        return None, _too_few(requested, why, record, model)
    losses = calibration_ovr.cross_validated(proba, y_idx, seed)
    method = choose(requested, losses)
    record |= {"method": method, "cv_log_loss": {k: round(v, 6) for k, v in losses.items()}}
    if method == "none":
        return None, record | {"reason": "the model's own probabilities had the lowest log-loss"}
    calibrator = calibration_ovr.fit(method, proba, y_idx)
    return calibrator, record | {"params": calibrator.describe()}


def _too_few(requested: str, why: str, record: dict[str, t.Any], model: str) -> dict[str, t.Any]:
    """Too few rows of a class to calibrate: 'auto' keeps the model's own probabilities
    (the record says why); an explicit method is an error."""
    if requested == "auto":
        return record | {"method": "none", "reason": why}
    raise TrainingError(
        f"Model '{model}': calibration='{requested}' cannot be fit: {why}. Train on more "
        "rows, or set calibration='auto' (which then keeps the model's own probabilities)."
    )


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
        return None, _too_few(requested, why, record, model)
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
    y_idx = np.searchsorted(target.classes_fit, target.y)
    model = fit(fit_rows)
    proba = ev.aligned_proba(model, X[slice_rows], target.classes_fit)
    calibrator: AnyCalibrator | None
    if proba.shape[1] > 2:
        calibrator, record = fit_on_slice_multi(
            spec.calibration, proba, y_idx[slice_rows], spec.split.seed, spec.name
        )
    else:
        calibrator, record = fit_on_slice(
            spec.calibration, proba[:, 1], y_idx[slice_rows] == 1, spec.split.seed, spec.name
        )
    record["fit_on"] = (
        f"{len(slice_rows)} of the training rows ({how}), scored by the model fit on the "
        f"other {len(fit_rows)}; never the evaluation rows"
    )
    calibrated = wrap(evaluated, calibrator)
    if calibrator is not None:
        rows = split.eval
        record["held_out"] = held_out_effect(evaluated, calibrated, X[rows], y_idx[rows])
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
    evaluated: Pipeline, calibrated: Pipeline, X: np.ndarray, y_idx: np.ndarray
) -> dict[str, dict[str, float]]:
    """log-loss, Brier and ECE on the evaluation rows before and after calibration.

    Multiclass: Brier summed over classes, ECE top-label (as the held-out metrics are) and
    ``ece_classwise``, the mean over classes of each class's one-vs-rest ECE (what the
    per-class maps each correct)."""
    out = {}
    for key, pipe in (("uncalibrated", evaluated), ("calibrated", calibrated)):
        proba = pipe.predict_proba(X)
        out[key] = {
            "log_loss": round(calibration_maps.log_loss_multi(proba, y_idx), 6),
            "brier": round(ev.brier(y_idx, proba), 6),
            "ece": round(ev.calibration_error(y_idx, proba), 6),
        }
        if proba.shape[1] > 2:
            classwise = [
                ev.expected_calibration_error(y_idx == j, proba[:, j]) for j in range(proba.shape[1])
            ]
            out[key]["ece_classwise"] = round(float(np.mean(classwise)), 6)
    return out
