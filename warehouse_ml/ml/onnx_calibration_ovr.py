"""The ONNX form of a multiclass calibration (ml/calibration_ovr.py): one node,
``wml.calibration.SigmoidOvR`` or ``.IsotonicOvR``, whose body (a model-local ONNX function
of standard operators) maps every class's probability column and renormalises.

- SigmoidOvR(proba, a, b, ones, uniform, labels): ``r = Sigmoid(a * p + b)`` with ``a``,
  ``b`` one per class (broadcast over rows);
- IsotonicOvR(proba, lo, hi, slope, y0, steps, ones, uniform, labels): ``p`` reshaped to
  ``[N, k, 1]`` against ``[k, m]`` breakpoint matrices (shorter maps padded with flat
  segments), ``r = y0 + sum_m slope * (clip(p, lo, hi) - lo)`` (the sum as a MatMul with
  ``steps``, a column of ones, so no ReduceSum whose axes moved in opset 13);
- then ``s = r @ ones``; ``q = r / s`` where ``s > 0``, else ``uniform`` (1/k); the label
  is ``labels[ArgMax(r)]`` (the first maximum, as numpy's argmax).

Probabilities come out ``[N, k]`` in float32, like every classifier's; the body works in
double from the float32 probabilities.
"""

from __future__ import annotations

import typing as t

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.calibration_ovr import OneVsRest

INPUTS = {
    "SigmoidOvR": ["proba", "a", "b", "ones", "uniform", "labels"],
    "IsotonicOvR": ["proba", "lo", "hi", "slope", "y0", "steps", "ones", "uniform", "labels"],
}


def op_name(calibrator: OneVsRest) -> str:
    return calibrator.method.capitalize() + "OvR"


def constants(calibrator: OneVsRest, labels: np.ndarray) -> dict[str, np.ndarray]:
    k = len(calibrator.maps)
    common = {
        "ones": np.ones((k, 1)),
        "uniform": np.full((1, k), 1.0 / k),
        "labels": labels,
    }
    if calibrator.method == "sigmoid":
        a = np.array([[m.a for m in calibrator.maps]])
        b = np.array([[m.b for m in calibrator.maps]])
        return {"a": a, "b": b} | common
    width = max(len(m.x) for m in calibrator.maps) - 1  # segments of the longest map
    lo, hi, slope = (np.zeros((k, width)) for _ in range(3))
    for j, m in enumerate(calibrator.maps):
        x, y = np.asarray(m.x, dtype=np.float64), np.asarray(m.y, dtype=np.float64)
        n = len(x) - 1
        lo[j, :n], hi[j, :n], slope[j, :n] = x[:-1], x[1:], np.diff(y) / np.diff(x)
        lo[j, n:], hi[j, n:] = x[-1], x[-1]  # flat padding: clip(p, x_end, x_end) - x_end = 0
    y0 = np.array([[m.y[0] for m in calibrator.maps]])
    return {"lo": lo, "hi": hi, "slope": slope, "y0": y0, "steps": np.ones((width, 1))} | common


def function(op: str, opset: int, domain: str) -> onnx.FunctionProto:
    double, flt, i64 = TensorProto.DOUBLE, TensorProto.FLOAT, TensorProto.INT64
    nodes = [
        h.make_node("Cast", ["proba"], ["p"], to=double),
        h.make_node("Constant", [], ["zero"], value=h.make_tensor("zero", double, [], [0.0])),
        h.make_node("Constant", [], ["unit"], value=h.make_tensor("unit", double, [], [1.0])),
    ]
    if op == "SigmoidOvR":
        nodes += [
            h.make_node("Mul", ["p", "a"], ["ap"]),
            h.make_node("Add", ["ap", "b"], ["z"]),
            h.make_node("Sigmoid", ["z"], ["r"]),
        ]
    else:
        nodes += [
            h.make_node("Constant", [], ["cube"], value=h.make_tensor("cube", i64, [3], [0, -1, 1])),
            h.make_node("Constant", [], ["flat"], value=h.make_tensor("flat", i64, [2], [0, -1])),
            h.make_node("Reshape", ["p", "cube"], ["p3"]),  # [N, k, 1] against [k, m]
            h.make_node("Min", ["p3", "hi"], ["upto"]),
            h.make_node("Max", ["upto", "lo"], ["clipped"]),
            h.make_node("Sub", ["clipped", "lo"], ["run"]),
            h.make_node("Mul", ["run", "slope"], ["rise"]),
            h.make_node("MatMul", ["rise", "steps"], ["rises3"]),  # [N, k, 1]: summed ramps
            h.make_node("Reshape", ["rises3", "flat"], ["rises"]),
            h.make_node("Add", ["rises", "y0"], ["r"]),
        ]
    nodes += [
        h.make_node("MatMul", ["r", "ones"], ["total"]),  # [N, 1]
        h.make_node("Greater", ["total", "zero"], ["some"]),
        h.make_node("Where", ["some", "total", "unit"], ["divisor"]),
        h.make_node("Div", ["r", "divisor"], ["share"]),
        h.make_node("Where", ["some", "share", "uniform"], ["q64"]),
        h.make_node("Cast", ["q64"], ["probabilities"], to=flt),
        h.make_node("ArgMax", ["r"], ["index"], axis=1, keepdims=0),
        h.make_node("Gather", ["labels", "index"], ["label"], axis=0),
    ]
    return h.make_function(
        domain, op, INPUTS[op], ["label", "probabilities"], nodes, [h.make_opsetid("", opset)]
    )


def check(
    base_proba: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    calibrator: OneVsRest,
    classes: np.ndarray,
    model_name: str,
    atol: float,
) -> np.ndarray:
    """Raise unless the appended stage matches numpy on onnxruntime's own uncalibrated
    probabilities (``atol``) and labels each row with the argmax; the per-row difference."""
    p = np.asarray(base_proba, dtype=np.float64)
    expected = calibrator.apply(p)
    diff = np.abs(np.asarray(proba, dtype=np.float64) - expected).max(axis=1) if len(p) else np.zeros(0)
    worst = int(np.argmax(diff)) if len(diff) else 0
    if len(diff) and diff[worst] > atol:
        raise TrainingError(
            f"The ONNX calibration of {model_name} does not match its numpy reference: at row "
            f"{worst} of the parity sample the probabilities {p[worst].tolist()} calibrate to "
            f"{expected[worst].tolist()} but ONNX gives {proba[worst].tolist()}. The model was "
            "not saved. Please report this with the model's definition."
        )
    want = np.asarray(classes)[calibrator.predict_index(p)]
    top2 = np.sort(calibrator.raw(p), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-9  # a near-tie may go either way in float
    wrong = np.flatnonzero((np.asarray(labels).astype(str) != want.astype(str)) & clear)
    if len(wrong):
        row = int(wrong[0])
        raise TrainingError(
            f"The ONNX calibration of {model_name} labels row {row} of the parity sample "
            f"{labels[row]!r}, but its calibrated probabilities {expected[row].tolist()} say "
            f"{want[row]!r}. The model was not saved. Please report this."
        )
    return diff


def describe(calibrator: OneVsRest) -> dict[str, t.Any]:
    return {"method": calibrator.method, **calibrator.describe()}
