"""Append a classifier's calibration to its ONNX graph, and check it (multiclass:
ml/onnx_calibration_ovr.py builds the node).

The classifier's two outputs (``label``, ``probabilities``) are renamed ``*_uncalibrated``
and fed to one node of our own domain, ``wml.calibration.Sigmoid`` or ``.Isotonic``,
which gives back the outputs under their old names. The node's body is a model-local
ONNX function of standard operators, so any onnxruntime runs it, and the SQL compiler
translates the single node (``sqlcompile/ops_calibration.py``) instead of re-deriving the
map from its arithmetic. The body works in double from the float32 probability:

- Sigmoid(proba, a, b, labels): ``z = a * p + b``; ``q = Sigmoid(z)``; label ``z > 0``;
- Isotonic(proba, lo, hi, slope, y0, t, labels): ``q = y0 + sum_k slope_k *
  (clip(p, lo_k, hi_k) - lo_k)``, the piecewise-linear interpolation as a sum of ramps
  (one broadcast Min/Max and a MatMul, no loop); label ``p > t``, where the map crosses 0.5.

Probabilities come out as ``[1 - q, q]`` in float32, like every classifier's.
"""

from __future__ import annotations

import json
import typing as t

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper
from onnx import helper as h

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import onnx_calibration_ovr as ovr
from warehouse_ml.ml.calibration import AnyCalibrator, Calibrator
from warehouse_ml.ml.calibration_ovr import OneVsRest
from warehouse_ml.ml.features import (
    METADATA_PREFIX,
    ArrowColumn,
    Feature,
    feed_to_matrix,
    to_onnx_feed,
)

DOMAIN = "wml.calibration"
STAGE_ATOL = 1e-6  # the appended stage against numpy on the same float32 probabilities
_INPUTS = {
    "Sigmoid": ["proba", "a", "b", "labels"],
    "Isotonic": ["proba", "lo", "hi", "slope", "y0", "t", "labels"],
}


NATIVE_TREES = "wml.native_trees"  # ml/native/program.py's METADATA_KEY (not imported: that
# module is only needed when a tree program is compiled)


def append(onnx_bytes: bytes, calibrator: AnyCalibrator, classes: t.Sequence[t.Any]) -> bytes:
    """The model with ``calibrator`` applied to its probabilities and labels."""
    model = onnx.load_from_string(onnx_bytes)
    # The compiled-trees program (ml/native) scores the uncalibrated model only: drop it, so
    # a calibrated tree model is served by onnxruntime, which runs the calibration node.
    kept = [p for p in model.metadata_props if p.key != NATIVE_TREES]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    graph = model.graph
    label, proba = graph.output[0].name, graph.output[1].name
    renamed = {label: label + "_uncalibrated", proba: proba + "_uncalibrated"}
    for node in graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renamed.get(name, name)
    multi = isinstance(calibrator, OneVsRest)
    op = ovr.op_name(calibrator) if multi else calibrator.method.capitalize()
    inputs = ovr.INPUTS[op] if multi else _INPUTS[op]
    constants = (
        ovr.constants(calibrator, _labels(classes)) if multi else _constants(calibrator, classes)
    )
    prefix = "wml_calibration_"
    for name, value in constants.items():
        graph.initializer.append(numpy_helper.from_array(value, prefix + name))
    graph.node.append(
        h.make_node(
            op,
            [renamed[proba], *(prefix + n for n in inputs[1:])],
            [label, proba],
            domain=DOMAIN,
            name="wml_calibration",
        )
    )
    # The body imports the model's own default-domain opset; its operators mean the same
    # from opset 11 on (no Squeeze/ReduceSum, whose axes moved to an input in 13).
    version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    model.functions.append(ovr.function(op, version, DOMAIN) if multi else _function(op, version))
    model.opset_import.append(h.make_opsetid(DOMAIN, 1))
    model.metadata_props.add(
        key=METADATA_PREFIX + "calibration",
        value=json.dumps(
            ovr.describe(calibrator) if multi else {"method": calibrator.method, **calibrator.describe()}
        ),
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export(
    base_bytes: bytes,
    calibrated: t.Any,
    columns: t.Sequence[ArrowColumn],
    features: t.Sequence[Feature],
    model_name: str,
) -> tuple[bytes, dict[str, t.Any]]:
    """(the calibrated ONNX bytes, their parity report) for a calibrated pipeline whose
    uncalibrated export ``base_bytes`` already passed the parity check."""
    from warehouse_ml.ml.calibration import unwrap

    base, calibrator = unwrap(calibrated)
    assert calibrator is not None
    out = append(base_bytes, calibrator, base.classes_)

    def reference(cols: t.Sequence[ArrowColumn]) -> np.ndarray:
        X = feed_to_matrix(to_onnx_feed(cols, features), features)
        proba = calibrated.predict_proba(X)
        return proba if isinstance(calibrator, OneVsRest) else proba[:, 1]

    report = check(
        base_bytes, out, calibrator, base.classes_, columns, features, reference, model_name
    )
    return out, report


def check(
    base_bytes: bytes,
    calibrated_bytes: bytes,
    calibrator: AnyCalibrator,
    classes: np.ndarray,
    columns: t.Sequence[ArrowColumn],
    features: t.Sequence[Feature],
    reference: t.Callable[[t.Any], np.ndarray],
    model_name: str,
) -> dict[str, t.Any]:
    """Check the appended stage against numpy on onnxruntime's own uncalibrated
    probabilities (1e-6, labels identical), and report the end-to-end difference from
    ``reference`` (scikit-learn's calibrated probabilities of the same rows).

    The stage is checked on ONNX's own float32 probabilities because the base model's
    parity (1e-5) is checked separately: a steep isotonic segment multiplies that float32
    difference, which says nothing about whether the calibration was exported right.
    """
    feed = to_onnx_feed(columns, features)
    if isinstance(calibrator, OneVsRest):
        base = _session(base_bytes).run(None, feed)[1]
        labels, proba = _session(calibrated_bytes).run(None, feed)[:2]
        diff = ovr.check(base, labels, proba, calibrator, classes, model_name, STAGE_ATOL)
        end_to_end = np.abs(np.asarray(proba, dtype=np.float64) - reference(columns))
        return {
            "method": calibrator.method,
            "one_vs_rest": True,
            "stage_max_abs_diff": float(diff.max()) if len(diff) else 0.0,
            "end_to_end_max_abs_diff": float(end_to_end.max()) if end_to_end.size else 0.0,
        }
    p = _session(base_bytes).run(None, feed)[1][:, 1].astype(np.float64)
    labels, proba = _session(calibrated_bytes).run(None, feed)[:2]
    expected = calibrator.apply(p)
    diff = np.abs(np.asarray(proba[:, 1], dtype=np.float64) - expected)
    worst = int(np.argmax(diff)) if len(diff) else 0
    if len(diff) and diff[worst] > STAGE_ATOL:
        raise TrainingError(
            f"The ONNX calibration of {model_name} does not match its numpy reference: at row "
            f"{worst} of the parity sample p={p[worst]!r} calibrates to {expected[worst]!r} "
            f"but ONNX gives {float(proba[worst, 1])!r}. The model was not saved. Please "
            "report this with the model's definition."
        )
    expected_labels = np.where(calibrator.positive(p), classes[1], classes[0])
    wrong = np.flatnonzero(np.asarray(labels).astype(str) != expected_labels.astype(str))
    if len(wrong):
        row = int(wrong[0])
        raise TrainingError(
            f"The ONNX calibration of {model_name} labels row {row} of the parity sample "
            f"{labels[row]!r}, but its calibrated probability {expected[row]!r} says "
            f"{expected_labels[row]!r}. The model was not saved. Please report this."
        )
    end_to_end = np.abs(np.asarray(proba[:, 1], dtype=np.float64) - reference(columns))
    return {
        "method": calibrator.method,
        "stage_max_abs_diff": float(diff.max()) if len(diff) else 0.0,
        "end_to_end_max_abs_diff": float(end_to_end.max()) if len(end_to_end) else 0.0,
    }


def _labels(classes: t.Sequence[t.Any]) -> np.ndarray:
    return (
        np.array([str(c) for c in classes], dtype=object)
        if isinstance(classes[0], str)
        else np.array([int(c) for c in classes], dtype=np.int64)
    )


def _constants(calibrator: Calibrator, classes: t.Sequence[t.Any]) -> dict[str, np.ndarray]:
    labels = _labels(classes)
    if calibrator.method == "sigmoid":
        return {"a": np.array([calibrator.a]), "b": np.array([calibrator.b]), "labels": labels}
    x, y = np.asarray(calibrator.x, dtype=np.float64), np.asarray(calibrator.y, dtype=np.float64)
    return {
        "lo": x[:-1].reshape(1, -1),
        "hi": x[1:].reshape(1, -1),
        "slope": (np.diff(y) / np.diff(x)).reshape(-1, 1),  # a column: MatMul sums the ramps
        "y0": np.array([y[0]]),
        "t": np.array([calibrator.threshold()]),
        "labels": labels,
    }


def _function(op: str, opset: int) -> onnx.FunctionProto:
    double, flt, i64 = TensorProto.DOUBLE, TensorProto.FLOAT, TensorProto.INT64
    nodes = [
        h.make_node("Constant", [], ["one"], value=h.make_tensor("one", i64, [1], [1])),
        h.make_node("Constant", [], ["unit"], value=h.make_tensor("unit", flt, [], [1.0])),
        h.make_node("Gather", ["proba", "one"], ["p1"], axis=1),
        h.make_node("Cast", ["p1"], ["p"], to=double),
    ]
    if op == "Sigmoid":
        nodes += [
            h.make_node("Constant", [], ["zero"], value=h.make_tensor("zero", double, [], [0.0])),
            h.make_node("Mul", ["p", "a"], ["ap"]),
            h.make_node("Add", ["ap", "b"], ["z"]),
            h.make_node("Sigmoid", ["z"], ["q64"]),
            h.make_node("Greater", ["z", "zero"], ["positive"]),
        ]
    else:
        nodes += [
            h.make_node("Min", ["p", "hi"], ["upto"]),
            h.make_node("Max", ["upto", "lo"], ["clipped"]),
            h.make_node("Sub", ["clipped", "lo"], ["run"]),
            h.make_node("MatMul", ["run", "slope"], ["rises"]),  # sum of slope_k * run_k
            h.make_node("Add", ["rises", "y0"], ["q64"]),
            h.make_node("Greater", ["p", "t"], ["positive"]),
        ]
    nodes += [
        h.make_node("Cast", ["q64"], ["q"], to=flt),
        h.make_node("Sub", ["unit", "q"], ["q0"]),
        h.make_node("Concat", ["q0", "q"], ["probabilities"], axis=1),
        h.make_node("Cast", ["positive"], ["index2d"], to=i64),
        h.make_node("Constant", [], ["flat"], value=h.make_tensor("flat", i64, [1], [-1])),
        h.make_node("Reshape", ["index2d", "flat"], ["index"]),
        h.make_node("Gather", ["labels", "index"], ["label"], axis=0),
    ]
    return h.make_function(
        DOMAIN, op, _INPUTS[op], ["label", "probabilities"], nodes, [h.make_opsetid("", opset)]
    )


def _session(onnx_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
