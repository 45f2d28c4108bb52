"""The label horizon: how far past its cutoff a training row's label looks (ours).

A row at cutoff ``c`` whose label is, say, spend over the next 90 days is only known at
``c + 90 days``. Validating at a cutoff ``v`` earlier than that on a model trained with the
row leaks the validation period into training: the row's label overlaps it. So the search's
folds (ml/folds.py) keep a training row only when ``c + horizon <= v``, a gap before each
validation cutoff, as scikit-learn's ``TimeSeriesSplit(gap=...)`` does by row count.

``label_horizon`` (config) or ``SETTINGS (LABEL_HORIZON ...)`` (CREATE MODEL) is given in
the unit of the split column: a number is days for a date or timestamp column and the
column's own unit for a numeric one; ``'N days'`` says days explicitly; ``'N cutoffs'``
counts distinct cutoffs instead (1 cutoff: the label ends by the next cutoff, no gap).
Rows whose cutoff is NULL count as oldest, as in the evaluation split, and always train.

>>> parse("3 cutoffs"), parse(90), parse("90 days")
((3.0, 'cutoffs'), (90.0, 'split'), (90.0, 'days'))
"""

from __future__ import annotations

import re
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.errors import TrainingError

UNITS = ("split", "days", "cutoffs")  # 'split': the split column's unit (days for dates)
HINT = (
    "label_horizon is how far past its cutoff a row's label looks: a number in the split "
    "column's unit (days for a date column), or 'N days', or 'N cutoffs'."
)
_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(days?|cutoffs?)?\s*", re.IGNORECASE)
_SECONDS_PER_DAY = 86_400.0


def parse(value: t.Any) -> tuple[float, str]:
    """(horizon, unit) of a config or SETTINGS value; raises ValueError (with HINT) otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"label_horizon {value!r} is not a length. {HINT}")
    if isinstance(value, (int, float)):
        number, unit = float(value), "split"
    else:
        found = _TEXT.fullmatch(str(value))
        if found is None:
            raise ValueError(f"label_horizon {value!r} is not understood. {HINT}")
        word = (found.group(2) or "").lower()
        number = float(found.group(1))
        unit = "cutoffs" if word.startswith("cutoff") else "days" if word else "split"
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"label_horizon must be 0 or more, got {value!r}. {HINT}")
    if unit == "cutoffs" and number != int(number):
        raise ValueError(f"label_horizon '{value}' must be a whole number of cutoffs. {HINT}")
    return number, unit


def describe(horizon: float, unit: str) -> str:
    """'90 days', '2 cutoffs', '3.5' (a numeric column's own unit)."""
    shown = f"{horizon:g}"
    if unit == "cutoffs":
        return f"{shown} cutoff{'' if horizon == 1 else 's'}"
    return f"{shown} days" if unit == "days" else shown


def positions(keys: pa.Array, unit: str, column: str) -> np.ndarray:
    """Each cutoff as a float on the horizon's scale (days for dates and timestamps), NaN
    for NULL; raises TrainingError when the column has no such scale."""
    kind = keys.type
    if pa.types.is_date(kind):
        days = pc.cast(keys, pa.date32()).cast(pa.int32())
        return days.to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_timestamp(kind):
        seconds = pc.cast(pc.cast(keys, pa.timestamp("s", tz=kind.tz)), pa.int64())
        return seconds.to_numpy(zero_copy_only=False).astype(np.float64) / _SECONDS_PER_DAY
    if unit == "split" and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return keys.cast(pa.float64()).to_numpy(zero_copy_only=False)
    said = "in days needs a date or timestamp" if unit == "days" else "needs a date, timestamp or numeric"
    raise TrainingError(
        f"label_horizon {said} split column, but '{column}' is {kind}. Give it as 'N cutoffs' "
        "(distinct values of the split column), or split on a date column."
    )


def trainable(
    rank: np.ndarray,
    where: np.ndarray | None,
    cut_rank: int,
    cut_where: float | None,
    horizon: float,
    unit: str,
) -> np.ndarray:
    """Rows allowed to train for validation at cutoff ``cut_rank`` (its position
    ``cut_where``): cutoff before it by at least the horizon. NULL cutoffs (rank -1) train."""
    if unit == "cutoffs":
        return (rank < 0) | ((rank < cut_rank) & (rank + horizon <= cut_rank))
    assert where is not None and cut_where is not None
    with np.errstate(invalid="ignore"):
        return np.isnan(where) | ((rank < cut_rank) & (where + horizon <= cut_where))
