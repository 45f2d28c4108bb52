"""Translators of LinearRegressor and LinearClassifier (ai.onnx.ml).

Scores are computed in double from the float32 coefficients; onnxruntime computes
them in float32 with GEMM, so results agree to float32 rounding (about 1e-7 relative).
"""

from __future__ import annotations

import numpy as np
import onnx

from warehouse_ml.sqlcompile import scores as sc
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile import symbolic as sy
from warehouse_ml.sqlcompile.registry import ML, Context, attrs, fail, register, tensor_input
from warehouse_ml.sqlcompile.symbolic import Scalar, Tensor, Value


def _linear_scores(node: onnx.NodeProto, x: Tensor, coefficients: list, intercepts: list):
    targets = max(len(intercepts), 1)
    coefs = np.asarray(coefficients, dtype=np.float64)
    if coefs.size != targets * x.width:
        raise fail(node, f"{coefs.size} coefficients for {targets} targets x {x.width} features")
    coefs = coefs.reshape(targets, x.width)
    bias = list(intercepts) or [0.0]
    return coefs, [sy.dot(x.cols, coefs[k], bias[k]) for k in range(targets)]


@register("LinearRegressor", domain=ML)
def linear_regressor(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    a = attrs(node)
    if a.get("post_transform", "NONE") != "NONE":
        raise fail(node, f"post_transform {a['post_transform']} is not supported")
    x = tensor_input(node, inputs[0])
    _, scores = _linear_scores(node, x, a.get("coefficients", []), a.get("intercepts", []))
    return [sy.float_tensor(scores)]


def _negated_pair(coefs: np.ndarray, intercepts: list) -> bool:
    """skl2onnx writes a binary model as two rows [-w, w], [-b, b]."""
    return (
        coefs.shape[0] == 2
        and np.array_equal(coefs[0], -coefs[1])
        and len(intercepts) == 2
        and intercepts[0] == -intercepts[1]
    )


@register("LinearClassifier", domain=ML)
def linear_classifier(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    a = attrs(node)
    x = tensor_input(node, inputs[0])
    labels = sc.labels_of(a, "classlabels_ints", "classlabels_strings")
    transform = a.get("post_transform", "NONE")
    intercepts = [float(v) for v in a.get("intercepts", [])]
    coefs, scores = _linear_scores(node, x, a.get("coefficients", []), intercepts)
    ctx.class_labels = labels
    if len(scores) == 1:
        return _single_score(ctx, node, scores[0], labels, transform)
    if _negated_pair(coefs, intercepts):
        # s0 = -s1 exactly (IEEE rounding is sign-symmetric), so s1 > s0 iff s1 > 0:
        # one dot product instead of two.
        label = sc.threshold_label(scores[1], 0.0, labels[1], labels[0], labels)
        negated = Scalar(sx.neg(scores[1].expr), scores[1].dtype, scores[1].kind)
        probs = sc.post_transform(node, [negated, scores[1]], transform)
    else:
        label = sc.first_best(scores, labels)
        probs = sc.post_transform(node, scores, transform)
    probs.labels = labels
    return [Tensor([label], ()), probs]


def _single_score(
    ctx: Context, node: onnx.NodeProto, score: Scalar, labels: list, transform: str
) -> list[Value]:
    """One coefficient row: onnxruntime labels by ``score > 0``.

    With two class labels it writes [1 - p, p], p = sigmoid(s) under LOGISTIC and the
    raw score under NONE or SOFTMAX (measured on onnxruntime 1.32).
    """
    if len(labels) != 2:
        raise fail(node, "one coefficient row needs exactly two class labels")
    if transform not in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        raise fail(node, f"post_transform {transform} with one score row is not supported")
    label = sc.threshold_label(score, 0.0, labels[1], labels[0], labels)
    p = score
    if transform == "LOGISTIC":
        p = sc.probability(sx.sigmoid(score.expr, score.nullable), score.nullable)
    complement = sc.probability(sx.sub(sx.num(1.0), p.expr), score.nullable)
    return [Tensor([label], ()), Tensor([complement, p], (2,), labels=labels)]
