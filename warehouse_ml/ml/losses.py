"""Losses for money and counts: Poisson, Gamma and Tweedie regression with a log link.

A regression model minimises squared error unless told otherwise. Spend per customer (many
zeros, a long right tail), counts of orders and positive amounts are better fit by the
deviance of a distribution that matches them, each with predictions ``exp(raw score)``:

=========  =====================  ==================  ===================================
loss       target                 scikit-learn        spellings accepted
=========  =====================  ==================  ===================================
poisson    >= 0, not all zero     PoissonRegressor,   'poisson', 'count:poisson' (XGBoost)
                                  HGB loss='poisson'
gamma      > 0                    GammaRegressor,     'gamma', 'reg:gamma' (XGBoost)
                                  HGB loss='gamma'
tweedie    >= 0, not all zero     TweedieRegressor    'tweedie', 'reg:tweedie' (XGBoost,
           (power 1 < p < 2)      (link='log')        Redshift ML's OBJECTIVE list)
=========  =====================  ==================  ===================================

HistGradientBoosting has no Tweedie loss: an explicit ``hist_gradient_boosting`` model with
``loss='tweedie'`` is refused, and AUTO also tries boosted trees with the Poisson loss (the
Tweedie family's power-1 member, same log link) and picks by the Tweedie deviance at the
power given, so the choice is made on the metric the user asked for.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
import pyarrow as pa
from sklearn import metrics as skm

from warehouse_ml.errors import TrainingError

SQUARED = "squared_error"
LOSSES = (SQUARED, "poisson", "gamma", "tweedie")
DEFAULT_TWEEDIE_POWER = 1.5
# Every spelling of a loss, lower-cased: ours, XGBoost's objectives, the deviance metrics.
SPELLINGS = {
    "squared_error": SQUARED,
    "reg:squarederror": SQUARED,
    "poisson": "poisson",
    "count:poisson": "poisson",
    "poisson_deviance": "poisson",
    "gamma": "gamma",
    "reg:gamma": "gamma",
    "gamma_deviance": "gamma",
    "tweedie": "tweedie",
    "reg:tweedie": "tweedie",
    "tweedie_deviance": "tweedie",
}
# The metric each non-squared loss is judged by (and selected on by default).
DEVIANCE = {"poisson": "poisson_deviance", "gamma": "gamma_deviance", "tweedie": "tweedie_deviance"}
DEVIANCE_METRICS = tuple(DEVIANCE.values())
# Objectives that name a loss as well as a metric (objective='reg:tweedie').
IMPLYING_OBJECTIVES = {k: v for k, v in SPELLINGS.items() if v != SQUARED}
EXAMPLE_ROWS = 3
ROW_COLUMNS = 4  # columns shown per refused row, besides the target


@dataclasses.dataclass(frozen=True)
class Loss:
    """The loss a regression model is fit with; ``power`` is Tweedie's variance power."""

    name: str = SQUARED
    power: float = DEFAULT_TWEEDIE_POWER
    guard: bool = True  # a linear model's score clipped to its training range (ml/link_guard.py)
    log_target: bool = False  # squared error on log1p(y), the mean served (ml/log_target.py)

    @property
    def is_log_link(self) -> bool:
        return self.name != SQUARED

    @property
    def metric(self) -> str | None:
        return DEVIANCE.get(self.name)

    def describe(self) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {"name": self.name, "link": "log" if self.is_log_link else "identity"}
        if self.name == "tweedie":
            out["power"] = self.power
        if self.log_target:
            out["target_transform"] = "log1p, mean by smearing"
        return out

    @property
    def sklearn_power(self) -> float:
        return {"poisson": 1.0, "gamma": 2.0}.get(self.name, self.power)


def canonical(name: str) -> str | None:
    """Our loss name for a spelling ('count:poisson' -> 'poisson'), None if unknown."""
    return SPELLINGS.get(str(name).strip().lower())


def check_power(power: t.Any) -> float | None:
    """The power as a float when 1 < p < 2 (XGBoost's tweedie_variance_power range), else None."""
    try:
        value = float(power)
    except (TypeError, ValueError):
        return None
    return value if 1.0 < value < 2.0 else None


POWER_HINT = (
    "tweedie_power must be a number strictly between 1 and 2 (default 1.5); power 1 is "
    "loss='poisson' and power 2 is loss='gamma'."
)


def check_target(
    y: np.ndarray, loss: Loss, model: str, target: str, table: pa.Table | None = None
) -> None:
    """Refuse target values the loss's distribution cannot produce, showing the first rows
    (their columns, from ``table`` aligned with ``y``) so they can be found in the query."""
    if not loss.is_log_link:
        return
    strict = loss.name == "gamma"
    bad = np.flatnonzero(y <= 0) if strict else np.flatnonzero(y < 0)
    need = "greater than 0" if strict else "0 or more"
    if len(bad):
        shown = "; ".join(_row(table, int(i), target, float(y[i])) for i in bad[:EXAMPLE_ROWS])
        more = f"; and {len(bad) - EXAMPLE_ROWS} more" if len(bad) > EXAMPLE_ROWS else ""
        where = f"{target} > 0" if strict else f"{target} >= 0"
        raise TrainingError(
            f"Model '{model}' uses loss='{loss.name}', which needs every '{target}' {need}, "
            f"but {len(bad)} of {len(y)} training rows are not: {shown}{more}. Fix those rows "
            f"or filter them in the query (WHERE {where}), or use the default squared-error "
            "loss. Nothing was saved."
        )
    if not np.any(y > 0):
        raise TrainingError(
            f"Model '{model}' uses loss='{loss.name}', but '{target}' is 0 in every row: a "
            "log-link model cannot fit an all-zero target. Check the query's filters."
        )


def _row(table: pa.Table | None, i: int, target: str, value: float) -> str:
    if table is None:
        return f"{target}={value!r}"
    row = table.slice(i, 1).to_pylist()[0]
    cells = [f"{k}={v!r}" for k, v in row.items() if k != target][:ROW_COLUMNS]
    return ", ".join([f"{target}={value!r}", *cells])


def deviance(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Mean deviance of the loss's distribution (scikit-learn's), None when a prediction is
    outside the distribution's support (<= 0), where the deviance is undefined."""
    if loss.metric is None or len(y_true) == 0:
        return None
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if not np.all(np.isfinite(y_pred)) or np.any(y_pred <= 0):
        return None
    if loss.name == "poisson":
        return float(skm.mean_poisson_deviance(y_true, y_pred))
    if loss.name == "gamma":
        return float(skm.mean_gamma_deviance(y_true, y_pred))
    return float(skm.mean_tweedie_deviance(y_true, y_pred, power=loss.power))


def unit_deviance(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray | None:
    """Each row's deviance (their mean is :func:`deviance`), for bootstrap intervals; None
    where :func:`deviance` is None."""
    if loss.metric is None or deviance(loss, y_true, y_pred) is None:
        return None
    y, mu = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    power = {"poisson": 1.0, "gamma": 2.0}.get(loss.name, loss.power)
    with np.errstate(divide="ignore", invalid="ignore"):
        if power == 1.0:
            return 2 * (np.where(y > 0, y * np.log(y / mu), 0.0) - y + mu)
        if power == 2.0:
            return 2 * (np.log(mu / y) + y / mu - 1)
        return 2 * (
            np.maximum(y, 0) ** (2 - power) / ((1 - power) * (2 - power))
            - y * mu ** (1 - power) / (1 - power)
            + mu ** (2 - power) / (2 - power)
        )


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What a spec's loss settings mean together (see :func:`resolve`)."""

    loss: Loss
    objective: str | None
    hyperparameters: dict[str, t.Any]


def resolve(
    loss: str | None,
    power: t.Any,
    objective: str | None,
    hyperparameters: t.Mapping[str, t.Any] | None = None,
) -> Resolved:
    """Combine ``loss=``, ``tweedie_power=``, an objective that names a loss
    (``'reg:tweedie'``) and a ``loss`` hyperparameter (``hyperparameters={'loss':
    'poisson'}``, scikit-learn's spelling) into one :class:`Loss`.

    An objective that names a loss selects on that loss's deviance. Raises TrainingError
    (callers with a file re-raise it as ConfigError) for unknown names, disagreeing
    spellings, or a power without the Tweedie loss.
    """
    params = dict(hyperparameters or {})
    found: list[tuple[str, str]] = []  # (where it was said, our name)
    if loss is not None and str(loss).strip():
        name = canonical(loss)
        if name is None:
            raise TrainingError(
                f"unknown loss '{loss}': use one of {', '.join(LOSSES)} (XGBoost's "
                "'count:poisson', 'reg:gamma' and 'reg:tweedie' are understood too)."
            )
        found.append((f"loss='{loss}'", name))
    implied = IMPLYING_OBJECTIVES.get(str(objective).strip().lower()) if objective else None
    if implied is not None:
        found.append((f"objective='{objective}'", implied))
    hp = params.get("loss")
    tweedie = any(name == "tweedie" for _, name in found)
    if isinstance(hp, str) and canonical(hp) is not None and not (tweedie and canonical(hp) == "poisson"):
        found.append((f"hyperparameters loss='{hp}'", canonical(hp) or SQUARED))
        del params["loss"]  # the loss is ours to apply, not a raw estimator parameter
    # else: loss='poisson' trees judged by Tweedie deviance stay a tree hyperparameter.
    names = {name for _, name in found}
    if len(names) > 1:
        said = " and ".join(where for where, _ in found)
        raise TrainingError(f"{said} name different losses; keep one of them.")
    chosen = names.pop() if names else SQUARED
    if power is not None and chosen != "tweedie":
        raise TrainingError(
            f"tweedie_power is set but the loss is '{chosen}': it only applies to "
            "loss='tweedie'. Remove it or set loss='tweedie'."
        )
    value = DEFAULT_TWEEDIE_POWER if power is None else check_power(power)
    if value is None:
        raise TrainingError(f"tweedie_power {power!r} is out of range. {POWER_HINT}")
    if implied is not None:
        objective = DEVIANCE[implied]
    return Resolved(Loss(chosen, value), objective, params)
