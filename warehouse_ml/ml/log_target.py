"""``target_transform='log'``: fit a regression on ``log(1 + y)`` and predict the mean of y.

Spend and counts are skewed; a squared-error model fit on ``log1p(y)`` weighs the many
small customers as much as the few large ones. Its plain back-transform ``expm1(f(x))`` is
the *median* of y given x (for a symmetric error), which under-predicts totals. We predict
the mean instead, with Duan's smearing estimate, which assumes nothing about the error's
shape::

    E[y | x] = S * exp(f(x)) - 1,    S = mean_i exp(r_i),   r_i = log1p(y_i) - f(x_i)

``S`` is computed from out-of-fold residuals (3-fold, the same estimator refit on each
part): a flexible model's in-sample residuals are too small and would shrink it. The final
fit is on every row. Both serving forms apply the same arithmetic after the model's score:
``Exp``, ``Mul`` by S and ``Sub`` of 1 appended to the ONNX graph (the SQL compiler reads
those operators as it reads any graph), so the UDF, compiled SQL and scikit-learn agree.
Tree models with a log target are served by onnxruntime, not ml/native's compiled trees,
which score the raw ensemble only.

A target below 0 is refused (``log1p`` needs y > -1, and a negative spend is a data
error), and so are a log-link loss (it already models the log of the mean), a
classification and ``objective='mae'`` (the mean this predicts is not what MAE rewards).
"""

from __future__ import annotations

import typing as t

VALUES = ("log",)
METADATA_KEY = "target_transform"  # wml.target_transform in the ONNX metadata


def check(value: t.Any) -> str | None:
    """The transform for a config value (None for 'none'/'identity'/None), or ValueError."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "none", "identity"):
        return None
    if text in VALUES:
        return text
    raise ValueError(f"target_transform='{value}' is not known: use 'log' (or leave it out)")


def conflict(transform: str | None, loss: str, problem: str | None, objective: str | None) -> str | None:
    """Why a log target cannot go with this loss, problem type or objective, or None."""
    if transform is None:
        return None
    if loss != "squared_error":
        return (f"target_transform='log' with loss='{loss}': a log-link loss already models the "
                "log of the mean; use one or the other")
    if problem not in (None, "regression"):
        return f"target_transform='log' is for regression, not {problem}"
    if objective and objective.strip().lower() == "mae":
        return ("target_transform='log' predicts the mean of the target and objective='mae' "
                "rewards the median; use one or the other")
    return None


def unwrap(estimator: t.Any) -> tuple[t.Any, t.Any]:
    """The fitted inner estimator, and the wrapper (None when there is none)."""
    if getattr(estimator, "wml_log_target", False):
        return estimator.estimator_, estimator
    return estimator, None


def append_back_transform(graph: t.Any, wrapper: t.Any) -> None:
    """``out = S * exp(score) - 1`` after the graph's regression output."""
    import numpy as np
    import onnx

    output = graph.output[0].name
    producer = next(n for n in graph.node if output in n.output)
    raw = output + "_log_target"
    producer.output[list(producer.output).index(output)] = raw
    s_name, one_name = output + "_smearing", output + "_one"
    graph.initializer.extend([
        onnx.numpy_helper.from_array(np.array([wrapper.smearing_], dtype=np.float32), s_name),
        onnx.numpy_helper.from_array(np.array([1.0], dtype=np.float32), one_name),
    ])
    graph.node.extend([
        onnx.helper.make_node("Exp", [raw], [raw + "_exp"], name="wml_log_target_exp"),
        onnx.helper.make_node("Mul", [raw + "_exp", s_name], [raw + "_mean"], name="wml_log_target_smear"),
        onnx.helper.make_node("Sub", [raw + "_mean", one_name], [output], name="wml_log_target_shift"),
    ])
