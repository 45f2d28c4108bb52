"""Metrics of benchmarks/model_quality.py, each with a bootstrap interval over customers.

Spend: RMSE, MAE and Spearman's rho of predicted vs actual holdout spend. Repeat purchase:
AUC, log-loss and expected calibration error (10 equal-width bins, weighted by rows).
Intervals are the 2.5th and 97.5th percentiles of the metric over ``draws`` resamples of
the evaluation rows (the same resamples for every method, so methods compare row for row).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import log_loss, roc_auc_score

EPS = 1e-15


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def spearman(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.corrcoef(rankdata(y), rankdata(p))[0, 1])


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p))


def logloss(y: np.ndarray, p: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1]))


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(total)


SPEND = {"rmse": rmse, "mae": mae, "spearman": spearman}
REPEAT = {"auc": auc, "log_loss": logloss, "ece": ece}


def resamples(n: int, draws: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(draws, n))


def with_interval(metric, y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> tuple[float, float, float]:
    """(value on all rows, low, high) of the bootstrap percentile interval."""
    values = [metric(y[i], p[i]) for i in idx]
    return metric(y, p), float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))
