"""What a model card needs from the evaluation, recorded once at training time.

The held-out predictions exist only while a model trains, so the trainer keeps a compact
summary of them in the registry row (``metrics['intervals']``, ``metrics['plots']``):

- bootstrap 95% intervals of every held-out metric, the model's and the baseline's
  (percentiles of ``DRAWS`` resamples of the evaluation rows, as ``ml/recs`` does over users),
  Brier score, expected calibration error (ECE) and a log-link loss's deviance included;
- binary classification: ROC and precision-recall points, a reliability table (mean
  predicted probability against the observed rate per probability bin) and cumulative
  gains (share of positives in the top q of scores), the marketers' "top 10% of scores
  capture X% of buyers";
- multiclass: the confusion matrix;
- regression: a seeded sample of (actual, predicted) pairs and a residual histogram;
- clustering: per-cluster sizes and feature profiles (means of numeric features, the most
  common value of text features) over every row.

Curves are thinned to at most ``CURVE_POINTS`` points, so a version row stays a few KB.
"""

from __future__ import annotations

import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics as skm

from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml import losses

DRAWS = 200
MAX_ROWS = 20_000  # larger evaluations are sampled (seeded) for intervals and curves
CURVE_POINTS = 120
SCATTER_POINTS = 500
GAIN_STEPS = 20  # 5%, 10%, ... 100% of the scored rows
CALIBRATION_BINS = 10
RESIDUAL_BINS = 30


def supervised(
    proba_or_pred: np.ndarray,
    y_eval: np.ndarray,
    y_train: np.ndarray,
    problem: str,
    classes_fit: np.ndarray | None,
    *,
    seed: int,
    loss: t.Any = None,
) -> dict[str, t.Any]:
    """Intervals and plot data of a classifier (``proba`` aligned to ``classes_fit``) or a
    regressor (``pred``) on the evaluation rows."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(y_eval))
    if len(rows) > MAX_ROWS:
        rows = np.sort(rng.choice(rows, size=MAX_ROWS, replace=False))
    scores, y = proba_or_pred[rows], y_eval[rows]
    draws = rng.integers(0, len(rows), size=(DRAWS, len(rows))) if len(rows) > 1 else None
    if problem == "regression":
        baseline = np.full(len(y), float(np.mean(y_train)))
        return {
            "intervals": _regression_intervals(y, scores, draws, loss),
            "baseline_intervals": _regression_intervals(y, baseline, draws, loss),
            "plots": _regression_plots(y, scores, rng),
        }
    assert classes_fit is not None
    y_idx = np.searchsorted(classes_fit, y)
    counts = np.bincount(np.searchsorted(classes_fit, y_train), minlength=len(classes_fit))
    priors = np.tile(counts / counts.sum(), (len(y), 1))
    base_pred = np.full(len(y), int(np.argmax(counts)))
    plots = (
        _binary_plots(y_idx, scores[:, 1], classes_fit)
        if scores.shape[1] == 2
        else _confusion(y_idx, scores.argmax(axis=1), classes_fit)
    )
    return {
        "intervals": _classification_intervals(y_idx, scores, scores.argmax(axis=1), draws),
        "baseline_intervals": _classification_intervals(y_idx, priors, base_pred, draws),
        "plots": plots,
    }


def clustering(labels: np.ndarray, table: pa.Table, features: t.Sequence[t.Any], k: int) -> dict:
    """Cluster sizes and profiles over every row (the deployed model's assignments)."""
    sizes = np.bincount(labels.astype(np.int64), minlength=k)
    profiles: list[dict[str, t.Any]] = []
    for feature in features:
        column = table.column(feature.name)
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            values = np.where(pd_null(column), np.nan, values)
            overall = float(np.nanmean(values)) if np.isfinite(values).any() else None
            spread = float(np.nanstd(values)) if overall is not None else 0.0
            means = [_mean(values[labels == c]) for c in range(k)]
            profiles.append({"feature": feature.name, "kind": "numeric", "overall": overall,
                             "std": spread, "means": means})  # fmt: skip
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            texts = np.asarray(column.to_pylist(), dtype=object)
            top = [_top_value(texts[labels == c]) for c in range(k)]
            profiles.append({"feature": feature.name, "kind": "text", "top": top})
    return {"kind": "clustering", "sizes": [int(s) for s in sizes], "profiles": profiles}


# -- intervals ----------------------------------------------------------------------------


def _percentiles(values: list[float | None]) -> list[float] | None:
    finite = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(finite) < DRAWS // 2:  # undefined in most resamples (e.g. one class): no interval
        return None
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]


def _regression_intervals(
    y: np.ndarray, pred: np.ndarray, draws: np.ndarray | None, loss: t.Any = None
) -> dict[str, list[float]]:
    if draws is None:
        return {}
    yt, yp = y[draws], pred[draws]  # (DRAWS, n): every resample at once
    err = yp - yt
    mse = np.mean(err**2, axis=1)
    total = np.sum((yt - yt.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1 - np.sum(err**2, axis=1) / total, np.nan)
    out = {"r2": _percentiles(list(r2)), "mae": _percentiles(list(np.mean(np.abs(err), axis=1))),
           "mse": _percentiles(list(mse)), "rmse": _percentiles(list(np.sqrt(mse)))}  # fmt: skip
    unit = losses.unit_deviance(loss, y, pred) if loss is not None else None
    if unit is not None:  # a log-link loss: its deviance (ml/losses.py) gets an interval too
        out[loss.metric] = _percentiles(list(np.mean(unit[draws], axis=1)))
    return {k: v for k, v in out.items() if v is not None}


def _classification_intervals(
    y_idx: np.ndarray, proba: np.ndarray, pred: np.ndarray, draws: np.ndarray | None
) -> dict[str, list[float]]:
    if draws is None:
        return {}
    n_classes = proba.shape[1]
    picked = np.clip(proba[np.arange(len(y_idx)), y_idx], 1e-15, 1.0)
    squared, bins, gap = _calibration_terms(y_idx, proba)
    found: dict[str, list[float | None]] = {
        "accuracy": [], "f1": [], "precision": [], "recall": [], "log_loss": [], "auc": [],
        "brier": [], "ece": [],
    }  # fmt: skip
    for rows in draws:
        yi, pi = y_idx[rows], pred[rows]
        precision, recall, f1 = ev.precision_recall_f1(yi, pi, n_classes)
        found["accuracy"].append(float(np.mean(yi == pi)))
        found["precision"].append(precision)
        found["recall"].append(recall)
        found["f1"].append(f1)
        found["log_loss"].append(float(-np.mean(np.log(picked[rows]))))
        found["brier"].append(float(np.mean(squared[rows])))
        per_bin = np.bincount(bins[rows], weights=gap[rows], minlength=ev.ECE_BINS)
        found["ece"].append(float(np.sum(np.abs(per_bin)) / len(rows)))
    if n_classes == 2:
        found["auc"] = _bootstrap_auc(y_idx == 1, proba[:, 1], draws)
    if n_classes > 2:
        found["f1macro"] = found["f1"]
    out = {k: _percentiles(v) for k, v in found.items()}
    return {k: v for k, v in out.items() if v is not None}


def _calibration_terms(
    y_idx: np.ndarray, proba: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the Brier term, the ECE bin and (probability - outcome), as
    ``evaluate.brier`` and ``evaluate.calibration_error`` define them, so a resample's
    metric is a sum over its rows."""
    if proba.shape[1] == 2:
        score, outcome = proba[:, 1], (y_idx == 1).astype(np.float64)
        squared = (score - outcome) ** 2
    else:
        top = proba.argmax(axis=1)
        score, outcome = proba[np.arange(len(top)), top], (top == y_idx).astype(np.float64)
        squared = np.sum((proba - np.eye(proba.shape[1])[y_idx]) ** 2, axis=1)
    return squared, ev.ece_bins(score), score - outcome


def _bootstrap_auc(positive: np.ndarray, score: np.ndarray, draws: np.ndarray) -> list:
    """AUC of each resample without re-sorting: a resample is a weighting of the rows, and
    AUC = P(score of a positive > score of a negative) with ties counted half."""
    _, group = np.unique(score, return_inverse=True)
    groups = int(group.max()) + 1
    out: list[float | None] = []
    for rows in draws:
        weight = np.bincount(rows, minlength=len(score)).astype(np.float64)
        pos = np.bincount(group, weights=weight * positive, minlength=groups)
        neg = np.bincount(group, weights=weight * ~positive, minlength=groups)
        below = np.cumsum(neg) - neg
        pairs = pos.sum() * neg.sum()
        out.append(float(np.sum(pos * (below + 0.5 * neg)) / pairs) if pairs else None)
    return out


# -- plot data ----------------------------------------------------------------------------


def _thin(*columns: np.ndarray) -> list[list[float]]:
    """At most CURVE_POINTS evenly spaced points (always the first and the last)."""
    n = len(columns[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int))
    return [[round(float(c[i]), 5) for i in keep] for c in columns]


def _binary_plots(y_idx: np.ndarray, score: np.ndarray, classes: np.ndarray) -> dict[str, t.Any]:
    positive = y_idx == 1
    out: dict[str, t.Any] = {"kind": "binary", "positive_class": _plain(classes[1]),
                             "rows": int(len(y_idx)), "positives": int(positive.sum())}  # fmt: skip
    if 0 < positive.sum() < len(positive):
        fpr, tpr, _ = skm.roc_curve(positive, score)
        out["roc"] = dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True))
        precision, recall, _ = skm.precision_recall_curve(positive, score)
        out["pr"] = dict(zip(("recall", "precision"), _thin(recall[::-1], precision[::-1]),
                             strict=True))  # fmt: skip
    out["calibration"] = _calibration(positive, score)
    out["gains"] = _gains(positive, score)
    return out


def _calibration(positive: np.ndarray, score: np.ndarray) -> list[dict[str, float]]:
    """Equal-width probability bins: mean predicted, observed rate, rows (empty bins out)."""
    which = ev.ece_bins(score, CALIBRATION_BINS)  # the bins ECE is computed over
    rows = []
    for b in range(CALIBRATION_BINS):
        mask = which == b
        if mask.any():
            rows.append({"predicted": round(float(score[mask].mean()), 5),
                         "observed": round(float(positive[mask].mean()), 5),
                         "rows": int(mask.sum())})  # fmt: skip
    return rows


def _gains(positive: np.ndarray, score: np.ndarray) -> list[dict[str, float]]:
    """Cumulative gains: the top q of rows by score and the share of positives they hold."""
    order = np.argsort(-score, kind="stable")
    captured = np.cumsum(positive[order])
    total = max(int(positive.sum()), 1)
    out = []
    for step in range(1, GAIN_STEPS + 1):
        share = step / GAIN_STEPS
        top = max(int(round(share * len(order))), 1)
        gain = float(captured[top - 1] / total)
        out.append({"top": round(share, 4), "captured": round(gain, 5),
                    "lift": round(gain / share, 4)})  # fmt: skip
    return out


def _confusion(y_idx: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> dict[str, t.Any]:
    n = len(classes)
    matrix = np.bincount(y_idx * n + pred, minlength=n * n).reshape(n, n)
    return {"kind": "multiclass", "classes": [_plain(c) for c in classes],
            "confusion": matrix.tolist(), "rows": int(len(y_idx))}  # fmt: skip


def _regression_plots(y: np.ndarray, pred: np.ndarray, rng: np.random.Generator) -> dict:
    rows = np.arange(len(y))
    if len(rows) > SCATTER_POINTS:
        rows = np.sort(rng.choice(rows, size=SCATTER_POINTS, replace=False))
    residual = y - pred
    counts, edges = np.histogram(residual, bins=RESIDUAL_BINS)
    return {
        "kind": "regression",
        "rows": int(len(y)),
        "actual": [round(float(v), 5) for v in y[rows]],
        "predicted": [round(float(v), 5) for v in pred[rows]],
        "residual_hist": {"edges": [round(float(e), 5) for e in edges],
                          "counts": [int(c) for c in counts]},  # fmt: skip
    }


def pd_null(column: t.Any) -> np.ndarray:
    return column.is_null().to_numpy(zero_copy_only=False)


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def _top_value(values: np.ndarray) -> dict[str, t.Any] | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    counts = pc.value_counts(pa.array(present, pa.string()))
    best = min(counts.to_pylist(), key=lambda c: (-c["counts"], c["values"]))  # ties: a-z
    return {"value": best["values"], "share": round(best["counts"] / len(values), 4)}


def _plain(value: t.Any) -> t.Any:
    return value.item() if hasattr(value, "item") else value
