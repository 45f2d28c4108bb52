"""Honest evaluation: held-out metrics, the same metrics for a naive baseline, objectives,
and permutation feature importance.

Classification metrics work on class *indices* (positions in the sorted class list) and on
probability matrices aligned to that list, so a class missing from some split cannot shift
columns. The baseline predicts what a model that ignores the features would: the training
mean (regression) or the training class frequencies (classification).
"""

from __future__ import annotations

import typing as t

import numpy as np
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import losses
from warehouse_ml.ml.losses import Loss
from warehouse_ml.ml.spec import OBJECTIVES, ProblemType

# Objective spellings from Redshift ML / XGBoost / scikit-learn, mapped to ours.
_OBJECTIVE_ALIASES = {
    "reg:squarederror": "mse",
    "reg:linear": "mse",
    "reg:absoluteerror": "mae",  # XGBoost's L1 objective (boosted trees then fit it)
    "binary:logistic": "log_loss",
    "multi:softmax": "accuracy",
    "multi:softprob": "log_loss",
    "logloss": "log_loss",
    "f1_macro": "f1macro",
    "roc_auc": "auc",
}
LOWER_IS_BETTER = frozenset(
    {"mse", "rmse", "mae", "log_loss", "brier", "ece", *losses.DEVIANCE_METRICS}
)
SILHOUETTE_SAMPLE = 5000
ECE_BINS = 10


def resolve_objective(
    problem_type: ProblemType, objective: str | None, loss: Loss | None = None
) -> str:
    """The objective to select models by: the given one (validated) or the default (the
    loss's deviance for a log-link loss)."""
    allowed = OBJECTIVES[problem_type]
    if objective is None:
        return (loss.metric if loss is not None else None) or allowed[0]
    name = _OBJECTIVE_ALIASES.get(objective.lower(), objective.lower())
    if name in losses.DEVIANCE_METRICS and (loss is None or loss.metric != name):
        raise TrainingError(
            f"Objective '{objective}' is the deviance of another loss than "
            f"'{loss.name if loss else losses.SQUARED}'; set the matching loss or drop it."
        )
    if name not in allowed:
        raise TrainingError(
            f"Objective '{objective}' does not apply to {problem_type.value}; "
            f"choose one of: {', '.join(allowed)}."
        )
    return name


def higher_is_better(objective: str, metrics: dict[str, t.Any]) -> float:
    """The objective's value oriented so that bigger is better (-inf when undefined)."""
    value = metrics.get(objective)
    if value is None or not np.isfinite(value):
        return float("-inf")
    return -float(value) if objective in LOWER_IS_BETTER else float(value)


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, loss: Loss | None = None
) -> dict[str, float | None]:
    """r2, mae, mse and rmse, and the loss's mean deviance for a log-link loss (None
    where a prediction is <= 0 and the deviance is undefined)."""
    mse = float(skm.mean_squared_error(y_true, y_pred))
    r2 = float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")
    out: dict[str, float | None] = {
        "r2": r2,
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
    }
    if loss is not None and loss.metric is not None:
        out[loss.metric] = losses.deviance(loss, y_true, y_pred)
    return out


def classification_metrics(
    y_idx: np.ndarray, proba: np.ndarray, pred_idx: np.ndarray
) -> dict[str, float | None]:
    """accuracy, f1, precision, recall, auc, log_loss, brier, ece (+ f1macro for multiclass).

    Binary: the positive class is index 1 (the second class in sorted order); brier and
    ece are of its probability. Multiclass: macro averages; auc is one-vs-rest and None
    when a class is absent from ``y_idx``; brier sums over classes and ece is top-label.
    """
    n_classes = proba.shape[1]
    labels = list(range(n_classes))
    precision, recall, f1 = precision_recall_f1(y_idx, pred_idx, n_classes)
    out: dict[str, float | None] = {
        "accuracy": float(np.mean(y_idx == pred_idx)),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "log_loss": float(skm.log_loss(y_idx, np.clip(proba, 1e-15, 1.0), labels=labels)),
        "auc": _auc(y_idx, proba),
        "brier": brier(y_idx, proba),
        "ece": calibration_error(y_idx, proba),
    }
    if n_classes > 2:
        out["f1macro"] = out["f1"]
    return out


def brier(y_idx: np.ndarray, proba: np.ndarray) -> float:
    """Binary: mean (p - y)^2 of the positive class; multiclass: summed over classes."""
    if proba.shape[1] == 2:
        return float(np.mean((proba[:, 1] - (y_idx == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[y_idx]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def calibration_error(y_idx: np.ndarray, proba: np.ndarray) -> float:
    """ECE of the positive class (binary) or of the top label (multiclass)."""
    if proba.shape[1] == 2:
        return expected_calibration_error(y_idx == 1, proba[:, 1])
    top = proba.argmax(axis=1)
    return expected_calibration_error(top == y_idx, proba[np.arange(len(top)), top])


def expected_calibration_error(
    outcome: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Expected calibration error over ``bins`` equal-width bins of ``probability``:
    sum over bins of (rows in bin / rows) x |mean probability - observed rate|.

    Equal-width, as the model card's reliability plot draws it (bin b holds
    b/bins <= p < (b+1)/bins, the last bin includes 1.0).
    """
    which = ece_bins(probability, bins)
    gap = np.bincount(which, weights=np.asarray(probability, dtype=np.float64), minlength=bins)
    gap -= np.bincount(which, weights=np.asarray(outcome, dtype=np.float64), minlength=bins)
    return float(np.sum(np.abs(gap)) / max(len(which), 1))


def ece_bins(probability: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """The equal-width bin of each probability (0 .. bins - 1)."""
    return np.clip((np.asarray(probability) * bins).astype(np.int64), 0, bins - 1)


def precision_recall_f1(
    y_idx: np.ndarray, pred_idx: np.ndarray, n_classes: int
) -> tuple[float, float, float]:
    """Binary: of class 1; multiclass: macro averages over all classes. 0 where undefined
    (scikit-learn's ``zero_division=0``), computed with bincount instead of 3 sklearn calls."""
    hits = np.bincount(y_idx[y_idx == pred_idx], minlength=n_classes)
    predicted = np.bincount(pred_idx, minlength=n_classes)
    actual = np.bincount(y_idx, minlength=n_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(actual > 0, hits / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if n_classes == 2:
        return float(precision[1]), float(recall[1]), float(f1[1])
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def clustering_metrics(
    transformed: np.ndarray, labels: np.ndarray, all_labels: np.ndarray, k: int, seed: int
) -> dict[str, t.Any]:
    """Silhouette on held-out rows (sampled) and cluster sizes over all rows."""
    distinct = len(np.unique(labels))
    silhouette = None
    if 2 <= distinct < len(labels):
        sample = min(len(labels), SILHOUETTE_SAMPLE)
        silhouette = float(
            skm.silhouette_score(transformed, labels, sample_size=sample, random_state=seed)
        )
    sizes = np.bincount(all_labels.astype(np.int64), minlength=k)
    return {"silhouette": silhouette, "cluster_sizes": [int(s) for s in sizes]}


def aligned_proba(pipeline: Pipeline, X: np.ndarray, classes_fit: np.ndarray) -> np.ndarray:
    """predict_proba with one column per class of ``classes_fit`` (zeros for classes the
    fitted model never saw)."""
    proba = pipeline.predict_proba(X)
    seen = np.asarray(pipeline.classes_)
    if len(seen) == len(classes_fit):
        return proba
    out = np.zeros((proba.shape[0], len(classes_fit)))
    out[:, np.searchsorted(classes_fit, seen)] = proba
    return out


def supervised_metrics(
    pipeline: Pipeline,
    X: np.ndarray,
    y: np.ndarray,
    problem_type: ProblemType,
    classes_fit: np.ndarray | None,
    loss: Loss | None = None,
) -> dict[str, t.Any]:
    """Metrics of a fitted pipeline on (X, y); y holds labels as the pipeline was fit."""
    if problem_type is ProblemType.REGRESSION:
        return regression_metrics(y, pipeline.predict(X), loss)
    assert classes_fit is not None
    proba = aligned_proba(pipeline, X, classes_fit)
    # scikit-learn classifiers predict the most probable class; one call instead of two.
    return classification_metrics(np.searchsorted(classes_fit, y), proba, proba.argmax(axis=1))


def objective_score(
    metric: str,
    pipeline: Pipeline,
    X: np.ndarray,
    y: np.ndarray,
    problem_type: ProblemType,
    classes_fit: np.ndarray | None,
    loss: Loss | None = None,
) -> float:
    """One metric, oriented higher-is-better; cheaper than all of them (permutation
    importance calls this a few times per feature)."""
    if problem_type is ProblemType.REGRESSION:
        pred = pipeline.predict(X)
        if metric in losses.DEVIANCE_METRICS:
            assert loss is not None
            return higher_is_better(metric, {metric: losses.deviance(loss, y, pred)})
        value = {
            "r2": lambda: skm.r2_score(y, pred),
            "mae": lambda: skm.mean_absolute_error(y, pred),
            "rmse": lambda: np.sqrt(skm.mean_squared_error(y, pred)),
        }.get(metric, lambda: skm.mean_squared_error(y, pred))()
        return higher_is_better(metric, {metric: float(value)})
    assert classes_fit is not None
    proba = aligned_proba(pipeline, X, classes_fit)
    y_idx = np.searchsorted(classes_fit, y)
    if metric == "accuracy":
        return float(np.mean(proba.argmax(axis=1) == y_idx))
    if metric == "log_loss":
        labels = list(range(proba.shape[1]))
        return -float(skm.log_loss(y_idx, np.clip(proba, 1e-15, 1.0), labels=labels))
    if metric == "auc":
        return higher_is_better(metric, {"auc": _auc(y_idx, proba)})
    precision, recall, f1 = precision_recall_f1(y_idx, proba.argmax(axis=1), proba.shape[1])
    return {"precision": precision, "recall": recall}.get(metric, f1)


def baseline_metrics(
    y_train: np.ndarray,
    y_eval: np.ndarray,
    problem_type: ProblemType,
    classes_fit: np.ndarray | None,
    loss: Loss | None = None,
) -> dict[str, t.Any]:
    """The same metrics for a model that ignores the features."""
    if problem_type is ProblemType.REGRESSION:
        return regression_metrics(y_eval, np.full(len(y_eval), float(np.mean(y_train))), loss)
    assert classes_fit is not None
    counts = np.bincount(np.searchsorted(classes_fit, y_train), minlength=len(classes_fit))
    priors = counts / counts.sum()
    proba = np.tile(priors, (len(y_eval), 1))
    pred = np.full(len(y_eval), int(np.argmax(counts)))
    return classification_metrics(np.searchsorted(classes_fit, y_eval), proba, pred)


def permutation_importance(
    score: t.Callable[[np.ndarray], float] | None,
    X: np.ndarray,
    names: t.Sequence[str],
    *,
    seed: int,
    repeats: int = 3,
    score_all: t.Callable[[list[np.ndarray]], list[float]] | None = None,
) -> dict[str, float]:
    """Mean drop of ``score`` (higher is better) when one feature column of ``X`` is
    shuffled. The caller passes a row sample (``score`` knows its labels) to cap the cost.

    ``score_all`` scores every shuffled copy at once (``[score(b) for b in blocks]`` by
    default): the trainer predicts them in one call, since a pipeline's fixed cost per call
    is most of the work at a 2,000-row sample (46 calls for 15 features)."""
    rng = np.random.default_rng(seed)
    blocks = [X]
    for j in range(len(names)):
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[:, j] = X[rng.permutation(len(X)), j]
            blocks.append(shuffled)
    if score_all is None:
        assert score is not None
        score_all = lambda bs: [score(b) for b in bs]  # noqa: E731
    scores = score_all(blocks)
    base = scores[0]
    return {
        name: float(np.mean([base - s for s in scores[1 + j * repeats : 1 + (j + 1) * repeats]]))
        for j, name in enumerate(names)
    }


class StackedPredictions:
    """Stands in for a fitted pipeline on each of ``blocks`` (equal-sized row blocks):
    the first predict / predict_proba runs once over all of them stacked, and each block
    gets its slice. Predictions are row by row, so a block's are the ones it would get alone
    (up to the last bits a BLAS kernel's blocking may change)."""

    def __init__(self, pipeline: t.Any, blocks: list[np.ndarray]):
        self.pipeline = pipeline
        self.blocks = blocks
        self._out: dict[str, list[np.ndarray]] = {}

    def for_block(self, i: int) -> t.Any:
        stacked = self

        class _Block:
            classes_ = getattr(self.pipeline, "classes_", None)

            def predict(self, X: np.ndarray) -> np.ndarray:
                return stacked._slice("predict", i)

            def predict_proba(self, X: np.ndarray) -> np.ndarray:
                return stacked._slice("predict_proba", i)

        return _Block()

    def _slice(self, method: str, i: int) -> np.ndarray:
        if method not in self._out:
            out = getattr(self.pipeline, method)(np.concatenate(self.blocks))
            self._out[method] = np.split(np.asarray(out), len(self.blocks))
        return self._out[method][i]


def _auc(y_idx: np.ndarray, proba: np.ndarray) -> float | None:
    present = np.unique(y_idx)
    n_classes = proba.shape[1]
    if len(present) < 2:
        return None
    if n_classes == 2:
        return float(skm.roc_auc_score(y_idx == 1, proba[:, 1]))
    if len(present) < n_classes:
        return None  # one-vs-rest AUC is undefined for a class with no rows
    return float(skm.roc_auc_score(y_idx, proba, multi_class="ovr", labels=list(range(n_classes))))
