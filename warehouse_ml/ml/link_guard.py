"""A guard against a log-link linear model's extrapolation: its linear predictor clipped to
the range seen on its training rows, widened by a margin.

A GLM with a log link predicts ``exp(eta)`` with ``eta = X @ coef + intercept``. On a row
whose features lie far outside the training rows ``eta`` keeps growing linearly, and its
exponential explodes: on CDNOW, AUTO's Tweedie GLM predicted tens of thousands of dollars
for a few extreme customers (holdout RMSE 816 against ~100 for every other method,
``benchmarks/model_quality.py --only tweedie``). Tree ensembles cannot do this (their raw
score is a sum of fitted leaves), so only the linear family is guarded.

The guard, fit with the model on the rows it is fit on (so AUTO's validation folds score
the guarded model, and the deployed refit carries bounds from all its rows)::

    low  = min(eta over the training rows) - MARGIN
    high = min(max(eta over the training rows) + MARGIN, ln(max target on those rows))
    prediction = exp(clip(eta, low, high))

``MARGIN = ln 2``: a prediction is never more than twice the largest, nor less than half
the smallest, that the model gave on its own training rows; and never above the largest
target value those rows hold (an expected value above every outcome observed is an
extrapolation too: on CDNOW the GLM's largest in-sample prediction was already $6,685
where the largest holdout spend learned from was $5,763). Inside both ranges the model is
unchanged (the cap can also lower the model's own largest training predictions, which is
the point). Measured on CDNOW's Tweedie row (``--only tweedie``): holdout RMSE 816 without
the guard, 190 with the eta range and margin alone, 118 with the target cap as well.

``config(link_guard=false)`` switches the guard off (recorded as off; a warning says
when the key cannot apply: a squared-error loss, or a tree model chosen).

The bounds are recorded in the registry (``metrics['link_guard']``, with how many held-out
rows they clipped) and the ONNX metadata (``wml.link_guard``), shown by ``wml show`` and
the model card, and served identically by both forms: a ``Clip`` node before the ONNX graph's ``Exp`` (the
UDF) and ``LEAST(GREATEST(eta, low), high)`` in compiled SQL (``sqlcompile/ops_basic.py``
translates ``Clip``). The native tree engine serves trees only, which need no guard.
"""

from __future__ import annotations

import math
import typing as t

import numpy as np
import onnx
from onnx import numpy_helper
from sklearn import linear_model as lm

from warehouse_ml.errors import TrainingError

MARGIN = math.log(2.0)
METADATA_KEY = "link_guard"  # wml.link_guard in the ONNX metadata


class _Guarded:
    """Mixin over a scikit-learn GLM: ``fit`` records the bounds, ``predict`` clips."""

    link_bounds_: tuple[float, float]
    link_fit_range_: tuple[float, float]
    link_target_max_: float

    def fit(self, X: t.Any, y: t.Any, sample_weight: t.Any = None) -> t.Any:
        super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        eta = self._linear_predictor(X)  # type: ignore[attr-defined]
        lo, hi = float(np.min(eta)), float(np.max(eta))
        largest = float(np.max(y))  # > 0: the losses refuse an all-zero target
        self.link_fit_range_ = (lo, hi)
        self.link_target_max_ = largest
        high = min(hi + MARGIN, math.log(largest)) if largest > 0 else hi + MARGIN
        self.link_bounds_ = (lo - MARGIN, max(high, lo - MARGIN))
        return self

    def predict(self, X: t.Any) -> np.ndarray:
        eta = self._linear_predictor(X)  # type: ignore[attr-defined]
        return np.exp(np.clip(eta, *self.link_bounds_))

    def clipped(self, X: t.Any) -> int:
        """How many rows of ``X`` the guard changes."""
        eta = self._linear_predictor(X)  # type: ignore[attr-defined]
        lo, hi = self.link_bounds_
        return int(np.sum((eta < lo) | (eta > hi)))

    def describe(self) -> dict[str, t.Any]:
        lo, hi = self.link_bounds_
        return {
            "low": lo,
            "high": hi,
            "fit_range": list(self.link_fit_range_),
            "margin": MARGIN,
            "target_max": self.link_target_max_,
            "predictions": [math.exp(lo), math.exp(hi)],
            "describe": (
                f"linear predictor clipped to [{lo:.4g}, {hi:.4g}] (its training range +- ln 2, "
                f"capped at ln of the largest training target {self.link_target_max_:.4g}): "
                f"predictions within [{math.exp(lo):.4g}, {math.exp(hi):.4g}]"
            ),
        }


# Each guarded GLM keeps its parent's class name, so what reads an estimator's name (its
# repr in `wml show`, ml/search.py's Tweedie power lookup) sees the model it is.
class TweedieRegressor(_Guarded, lm.TweedieRegressor):
    """TweedieRegressor(link='log') with the link guard (see the module docstring)."""


class PoissonRegressor(_Guarded, lm.PoissonRegressor):
    """PoissonRegressor with the link guard."""


class GammaRegressor(_Guarded, lm.GammaRegressor):
    """GammaRegressor with the link guard."""


GUARDED: dict[type, type] = {
    lm.TweedieRegressor: TweedieRegressor,
    lm.PoissonRegressor: PoissonRegressor,
    lm.GammaRegressor: GammaRegressor,
}


def ignored(requested: bool, loss: t.Any, model_type: t.Any) -> str | None:
    """Why ``link_guard=false`` does nothing for this model, or None when it applies (or
    was not given)."""
    if requested:
        return None
    if not loss.is_log_link:
        return ("link_guard=false is ignored: the guard applies to a log-link loss "
                "(loss='poisson', 'gamma' or 'tweedie'), and this model's is squared error.")  # fmt: skip
    if getattr(model_type, "value", model_type) != "linear":
        return ("link_guard=false has no effect on the chosen model, "
                f"{getattr(model_type, 'value', model_type)}: its score is a sum of fitted "
                "leaves and needs no guard; only linear (GLM) models are guarded.")  # fmt: skip
    return None


def is_guarded(estimator: t.Any) -> bool:
    return isinstance(estimator, _Guarded) and hasattr(estimator, "link_bounds_")


def register_converters() -> None:
    """The guarded GLMs convert as their parents do; :func:`append_clip` adds the guard."""
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator

    for parent, guarded in GUARDED.items():
        alias = sklearn_operator_name_map[parent]
        convert = get_converter(alias)
        convert = getattr(convert, "_fct", convert)  # the function a RegisteredConverter wraps
        update_registered_converter(
            guarded, "WmlGuarded" + guarded.__name__, get_shape_calculator(alias), convert
        )


def append_clip(graph: onnx.GraphProto, estimator: t.Any) -> dict[str, t.Any] | None:
    """Insert ``Clip(eta, low, high)`` before the GLM's ``Exp``; the guard's record, or None
    for an estimator without one."""
    if not is_guarded(estimator):
        return None
    exps = [n for n in graph.node if n.op_type == "Exp"]
    if len(exps) != 1:
        raise TrainingError(
            f"The ONNX export of a log-link {type(estimator).__name__} has {len(exps)} Exp nodes "
            "where one was expected, so its link guard cannot be placed. The model was not "
            "saved; train it with link_guard=false, and please report this."
        )
    node = exps[0]
    eta = node.input[0]
    lo, hi = estimator.link_bounds_
    names = {"low": "wml_link_low", "high": "wml_link_high"}
    # float32, as the graph computes the linear predictor (numpy clips in double: the two
    # bounds differ by a float32 rounding, 6e-8 of the prediction).
    for key, value in (("low", lo), ("high", hi)):
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), names[key]))
    clipped = eta + "_link_guarded"
    index = list(graph.node).index(node)
    graph.node.insert(
        index,
        onnx.helper.make_node(
            "Clip", [eta, names["low"], names["high"]], [clipped], name="wml_link_guard"
        ),
    )
    node.input[0] = clipped
    return estimator.describe()


def record(
    deployed: t.Any, evaluated: t.Any, X_eval: np.ndarray, loss: t.Any, model_type: t.Any
) -> dict[str, t.Any] | None:
    """What the registry keeps (``metrics['link_guard']``): the deployed fit's bounds, and
    how many held-out rows the evaluated fit's guard clipped; that it is off when
    ``link_guard=false`` switched it off; None for models it does not apply to."""
    model = deployed.steps[-1][1]
    if not is_guarded(model):
        if loss.is_log_link and not loss.guard and getattr(model_type, "value", model_type) == "linear":
            return {"off": True, "describe": "off (link_guard=false): exp(score) is not clipped"}
        return None
    out = model.describe()
    judged = evaluated.steps[-1][1]
    if is_guarded(judged) and len(X_eval):
        out["held_out_clipped"] = judged.clipped(evaluated[:-1].transform(X_eval))
        out["held_out_rows"] = int(len(X_eval))
    return out
