"""Guard rails: warnings about training data that would make a model look better than it is.

Checked on the training rows before anything is fit, recorded on the version
(``metrics['guard_rails']``, shown by ``wml show`` and the model card) and logged:

- a feature that alone predicts the target almost perfectly: AUC of its values against
  the positive class above ``LEAK_THRESHOLD`` (either direction, binary), or R^2 above it
  (regression; the larger of the squared correlation and the R^2 of an isotonic fit of the
  target on the feature, so a monotone non-linear copy is caught too);
  the feature is usually computed from the outcome (after the cut-off, a join on the label);
- a feature whose name holds the target's name as a whole word (``churned_flag`` for
  ``churned``) or whose values equal the target's on more than ``LEAK_THRESHOLD`` of rows;
- a constant regression target (every prediction is that constant). A constant target
  for a classifier is an error already (``dataset.prepare_target``: nothing to classify).

Multiclass targets get the name and value checks, not the single-feature AUC check.
"""

from __future__ import annotations

import re
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.ml.spec import ProblemType

LEAK_THRESHOLD = 0.99
MAX_ROWS = 100_000
_WORD = re.compile(r"[a-z0-9]+")


def check(
    table: pa.Table,
    X: np.ndarray,
    features: t.Sequence[t.Any],
    target: t.Any,
    rows: np.ndarray,
) -> list[dict[str, t.Any]]:
    """The guard-rail findings on ``rows`` (the training rows), each with its message."""
    if target.y is None or target.name is None:
        return []
    if len(rows) > MAX_ROWS:  # seeded: a near-perfect predictor shows in 100k rows
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(rows, size=MAX_ROWS, replace=False))
    y = target.y[rows]
    found: list[dict[str, t.Any]] = []
    if target.problem_type is ProblemType.REGRESSION and np.ptp(y) == 0:
        found.append({
            "check": "constant_target", "feature": None, "value": float(y[0]),
            "message": (
                f"the target '{target.name}' is {float(y[0])!r} in every training row: the "
                "model can only predict that constant, and R^2 is undefined. Check the "
                "query's filters."
            ),
        })  # fmt: skip
        return found
    labels = table.column(target.name).take(pa.array(rows))
    for j, feature in enumerate(features):
        found += _name(feature.name, target.name)
        column = table.column(feature.name).take(pa.array(rows))
        found += _values(feature.name, column, target.name, labels)
        if not feature.is_text:
            found += _alone(feature.name, X[rows, j], y, target)
    return found


def _name(feature: str, target: str) -> list[dict[str, t.Any]]:
    words, wanted = _WORD.findall(feature.lower()), _WORD.findall(target.lower())
    n = len(wanted)
    if not n or feature.lower() == target.lower():
        return []
    if not any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
        return []
    return [{
        "check": "name", "feature": feature, "value": None,
        "message": (
            f"feature '{feature}' is named like the target '{target}': if it is the label "
            f"or derived from it, the model learns nothing usable. Check how it is built, or "
            f"exclude=['{feature}']."
        ),
    }]  # fmt: skip


def _values(
    feature: str, column: pa.ChunkedArray, target: str, labels: pa.ChunkedArray
) -> list[dict[str, t.Any]]:
    share = _equal_share(column, labels)
    if share is None or share <= LEAK_THRESHOLD:
        return []
    return [{
        "check": "values", "feature": feature, "value": round(share, 6),
        "message": (
            f"feature '{feature}' equals the target '{target}' on {share:.1%} of the "
            f"training rows (above {LEAK_THRESHOLD:.0%}): it is probably the label under "
            f"another name. Exclude it (exclude=['{feature}']) or fix the query."
        ),
    }]  # fmt: skip


def _equal_share(column: pa.ChunkedArray, labels: pa.ChunkedArray) -> float | None:
    """Rows where the values are equal (NULLs never equal), as a share of all rows."""
    if len(column) == 0:
        return None
    a, b = _comparable(column), _comparable(labels)
    if a is None or b is None:
        return None
    try:
        equal = pc.equal(a, b)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None
    return float(pc.sum(pc.fill_null(equal, False)).as_py() or 0) / len(column)


def _comparable(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Numbers and booleans as float64, text as text (a date is compared as itself)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = pc.cast(column, kind.value_type), kind.value_type
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.cast(column, pa.float64())
    if pa.types.is_decimal(kind):
        return pc.cast(column, pa.float64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.cast(column, pa.string())
    return None


def _alone(feature: str, x: np.ndarray, y: np.ndarray, target: t.Any) -> list[dict[str, t.Any]]:
    x = np.asarray(x, dtype=np.float64)
    known = np.isfinite(x)
    if known.sum() < max(10, len(x) // 2) or np.ptp(x[known]) == 0:
        return []
    x, y = x[known], y[known]
    if target.problem_type is ProblemType.BINARY:
        positive = np.searchsorted(target.classes_fit, y) == 1
        if positive.all() or not positive.any():
            return []
        auc = _auc(positive, x)
        value, metric = max(auc, 1.0 - auc), "AUC"
    elif target.problem_type is ProblemType.REGRESSION:
        value, metric = _r2(x, np.asarray(y, dtype=np.float64)), "R^2"
    else:
        return []
    if value <= LEAK_THRESHOLD:
        return []
    return [{
        "check": "single_feature", "feature": feature, "value": round(value, 6),
        "message": (
            f"feature '{feature}' alone predicts the target '{target.name}' almost perfectly "
            f"on the training rows ({metric} {value:.4f} > {LEAK_THRESHOLD}): it is likely "
            "computed from the outcome (after the prediction time, or joined on the label). "
            f"Check how it is built, or exclude=['{feature}']."
        ),
    }]  # fmt: skip


def _auc(positive: np.ndarray, x: np.ndarray) -> float:
    """Mann-Whitney AUC from average ranks (ties count half): one sort, no curve."""
    from scipy.stats import rankdata

    n_pos = float(positive.sum())
    n_neg = float(len(positive) - n_pos)
    ranks = rankdata(x)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    """max(squared correlation, R^2 of the best monotone function of x): an isotonic fit,
    increasing or decreasing, so a monotone non-linear copy of the target is caught.

    The fit runs on the target's mean per distinct x (weighted by rows), which is what an
    isotonic regression of y on x fits (scipy's PAV, no per-row Python)."""
    from scipy.optimize import isotonic_regression

    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return 0.0
    best = float(np.corrcoef(x, y)[0, 1] ** 2)
    _, group, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(group, weights=y) / counts
    for increasing in (True, False):
        fitted = isotonic_regression(means, weights=counts, increasing=increasing).x
        best = max(best, 1.0 - float(np.sum((y - fitted[group]) ** 2)) / total)
    return best
