"""Scores to labels and probabilities, shared by linear and tree classifiers.

onnxruntime picks the first best class (ties go to the lowest index) and applies the
``post_transform`` attribute (NONE, LOGISTIC, SOFTMAX) to the raw scores.
"""

from __future__ import annotations

import typing as t

import onnx

from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.registry import fail
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Scalar, Tensor


def labels_of(attributes: dict[str, t.Any], ints: str, strings: str) -> list[t.Any]:
    """Class labels from ``classlabels_int64s`` (or ``_ints``) or ``classlabels_strings``."""
    if attributes.get(strings):
        return [str(v) for v in attributes[strings]]
    return [int(v) for v in attributes.get(ints, [])]


def label_dtype(labels: t.Sequence[t.Any]) -> DType:
    return DType.STRING if labels and isinstance(labels[0], str) else DType.INT64


def label_scalar(expr: sx.exp.Expression, labels: t.Sequence[t.Any]) -> Scalar:
    return Scalar(expr, label_dtype(labels), Kind.EXACT)


def first_best(scores: t.Sequence[Scalar], labels: t.Sequence[t.Any]) -> Scalar:
    """Label of the first maximum, as onnxruntime's argmax (strict ``>`` update)."""
    nullable = any(s.nullable for s in scores)
    expr = sx.first_arg([s.expr for s in scores], [sx.label(v) for v in labels], ">=", nullable)
    return label_scalar(expr, labels)


def threshold_label(
    score: Scalar, bound: float, positive: t.Any, negative: t.Any, labels: t.Sequence[t.Any]
) -> Scalar:
    """``positive`` when ``score > bound``, else ``negative`` (NULL scores: negative)."""
    cond = sx.compare(">", score.expr, sx.num(bound))
    return label_scalar(sx.case([(cond, sx.label(positive))], sx.label(negative)), labels)


def probability(expr: sx.exp.Expression, nullable: bool = False) -> Scalar:
    return Scalar(expr, DType.FLOAT, Kind.APPROX, nullable=nullable)


def softmax(scores: t.Sequence[Scalar]) -> list[Scalar]:
    """p_j = 1 / (1 + sum_{i != j} e^(s_i - s_j)): no overflow, one division per class."""
    nullable = [s.expr for s in scores if s.nullable]
    out = []
    for j, sj in enumerate(scores):
        terms = [sx.safe_exp(sx.sub(si.expr, sj.expr)) for i, si in enumerate(scores) if i != j]
        value = sx.div(sx.num(1.0), sx.total([sx.num(1.0), *terms]))
        out.append(
            probability(sx.null_guard(value, *nullable) if nullable else value, bool(nullable))
        )
    return out


def post_transform(node: onnx.NodeProto, scores: list[Scalar], transform: str) -> Tensor:
    """Apply ``post_transform`` to a row of scores (two or more columns)."""
    if transform == "NONE":
        return Tensor(list(scores), (len(scores),))
    if transform == "LOGISTIC":
        probs = [probability(sx.sigmoid(s.expr, s.nullable), s.nullable) for s in scores]
        return Tensor(probs, (len(probs),))
    if transform == "SOFTMAX":
        return Tensor(softmax(scores), (len(scores),), simplex=True)
    raise fail(node, f"post_transform {transform} is not supported")
