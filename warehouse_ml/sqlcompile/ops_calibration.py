"""Translators of our calibration nodes (``wml.calibration``, see ml/onnx_calibration.py).

Each node reads a binary classifier's probabilities ``[1 - p, p]`` and returns a label and
the calibrated ``[1 - q, q]``:

- ``Sigmoid(proba, a, b, labels)``: ``q = 1 / (1 + exp(-(a * p + b)))``, label
  ``a * p + b > 0``;
- ``Isotonic(proba, lo, hi, slope, y0, t, labels)``: a ``CASE`` over the breakpoints,
  ``WHEN p <= x_k THEN y_(k-1) + (p - x_(k-1)) * slope_(k-1)``, constant beyond the ends;
  label ``p > t``.

Multiclass (ml/calibration_ovr.py): ``SigmoidOvR`` / ``IsotonicOvR`` map each class's
probability ``p_j`` to ``r_j`` (sigmoid as above; isotonic as the ONNX body computes it,
``y0 + sum_m slope_m * (LEAST(GREATEST(p, lo_m), hi_m) - lo_m)``, which names ``p`` once
per segment where the CASE names it twice), then ``q_j = COALESCE(r_j / NULLIF(s, 0), 1/k)``
with ``s = r_1 + ... + r_k``, and the label is the first class with the largest ``r_j``
(the argmax of the calibrated probabilities).

SQL has no let, so the CASE repeats ``p`` once per breakpoint (and a multiclass ``q_j``
repeats every ``r_i``): above
:data:`MAX_ISOTONIC_NODES` expression nodes the compiler refuses and ``deploy='auto'``
serves the Arrow UDF instead (a large tree ensemble times many breakpoints).
"""

from __future__ import annotations

import numpy as np
import onnx
from sqlglot import exp

from warehouse_ml.sqlcompile import scores as sc
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.registry import Context, const_input, fail, register, tensor_input
from warehouse_ml.sqlcompile.symbolic import Scalar, Tensor, Value

DOMAIN = "wml.calibration"
MAX_ISOTONIC_NODES = 400_000


def _probability(ctx: Context, node: onnx.NodeProto, inputs: list) -> tuple[Scalar, list]:
    proba = tensor_input(node, inputs[0])
    if proba.width != 2:
        raise fail(
            node, f"calibration reads a binary classifier's 2 probabilities, not {proba.width}"
        )
    labels = [
        v.item() if hasattr(v, "item") else v
        for v in const_input(node, inputs[-1], len(inputs) - 1)
    ]
    labels = [v.decode() if isinstance(v, bytes) else v for v in labels]
    ctx.class_labels = labels
    return proba.cols[1], labels


def _outputs(label: Scalar, q: sx.exp.Expression, nullable: bool, labels: list) -> list[Value]:
    complement = sc.probability(sx.sub(sx.num(1.0), q), nullable)
    probs = Tensor([complement, sc.probability(q, nullable)], (2,), labels=labels)
    return [Tensor([label], ()), probs]


def _scalar(node: onnx.NodeProto, inputs: list, position: int) -> float:
    return float(np.asarray(const_input(node, inputs[position], position)).ravel()[0])


@register("Sigmoid", domain=DOMAIN)
def sigmoid(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    p, labels = _probability(ctx, node, inputs)
    a, b = _scalar(node, inputs, 1), _scalar(node, inputs, 2)
    z = Scalar(sx.add(sx.mul(p.expr, sx.num(a)), sx.num(b)), p.dtype, p.kind, p.nullable)
    label = sc.threshold_label(z, 0.0, labels[1], labels[0], labels)
    return _outputs(label, sx.sigmoid(z.expr, p.nullable), p.nullable, labels)


@register("Isotonic", domain=DOMAIN)
def isotonic(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    p, labels = _probability(ctx, node, inputs)
    lo, hi, slope = (np.asarray(const_input(node, inputs[i], i)).ravel() for i in (1, 2, 3))
    y0, threshold = _scalar(node, inputs, 4), _scalar(node, inputs, 5)
    size = sx.size(p.expr)[0] * (len(lo) + 2)
    if size > MAX_ISOTONIC_NODES:
        raise fail(
            node,
            f"the isotonic map has {len(lo) + 1} breakpoints over a {sx.size(p.expr)[0]}-node "
            f"probability: about {size} nodes, above {MAX_ISOTONIC_NODES}",
            hint="Serve it with deploy='udf' (deploy='auto' does), or use calibration='sigmoid'.",
        )
    q = _isotonic_case(p, lo, hi, slope, y0)
    label = sc.threshold_label(p, threshold, labels[1], labels[0], labels)
    return _outputs(label, q, p.nullable, labels)


def _isotonic_case(
    p: Scalar, lo: np.ndarray, hi: np.ndarray, slope: np.ndarray, y0: float
) -> sx.exp.Expression:
    """The piecewise-linear map as one CASE over its breakpoints (flat padding dropped)."""
    keep = hi > lo
    keep[0] = True  # a constant map keeps one segment
    lo, hi, slope = lo[keep], hi[keep], slope[keep]
    # y at each breakpoint, summed as the ONNX body sums its ramps
    ys = y0 + np.concatenate([[0.0], np.cumsum(slope * (hi - lo))])
    whens = [(sx.compare("<=", p.expr, sx.num(float(lo[0]))), sx.num(float(ys[0])))]
    for k in range(len(lo)):
        ramp = sx.mul(sx.sub(p.expr, sx.num(float(lo[k]))), sx.num(float(slope[k])))
        whens.append(
            (sx.compare("<=", p.expr, sx.num(float(hi[k]))), sx.add(sx.num(float(ys[k])), ramp))
        )
    q = sx.case(whens, sx.num(float(ys[-1])))
    return sx.null_guard(q, p.expr) if p.nullable else q


def _class_probabilities(ctx: Context, node: onnx.NodeProto, inputs: list) -> tuple[list[Scalar], list]:
    proba = tensor_input(node, inputs[0])
    labels = [
        v.item() if hasattr(v, "item") else v
        for v in const_input(node, inputs[-1], len(inputs) - 1)
    ]
    labels = [v.decode() if isinstance(v, bytes) else v for v in labels]
    if proba.width != len(labels) or proba.width < 3:
        raise fail(node, f"one-vs-rest calibration of {proba.width} probabilities, {len(labels)} labels")
    ctx.class_labels = labels
    return list(proba.cols), labels


def _renormalised(rs: list[Scalar], labels: list) -> list[Value]:
    """``r_j / sum r`` (uniform when the sum is 0) and the first class with the largest r."""
    nullable = [r.expr for r in rs if r.nullable]
    k = len(rs)
    outs = []
    for r in rs:
        total = exp.Nullif(this=sx.total([x.expr for x in rs]), expression=sx.num(0.0))
        q = sx.coalesce(sx.div(r.expr, total), sx.num(1.0 / k))
        # COALESCE would turn a NULL row into 1/k: keep it NULL, as onnxruntime's NaN
        outs.append(sc.probability(sx.null_guard(q, *nullable) if nullable else q, bool(nullable)))
    label = sc.first_best(rs, labels)
    return [Tensor([label], ()), Tensor(outs, (k,), labels=labels)]


def _matrix(node: onnx.NodeProto, inputs: list, position: int) -> np.ndarray:
    return np.atleast_2d(np.asarray(const_input(node, inputs[position], position), dtype=np.float64))


@register("SigmoidOvR", domain=DOMAIN)
def sigmoid_ovr(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    ps, labels = _class_probabilities(ctx, node, inputs)
    a, b = _matrix(node, inputs, 1).ravel(), _matrix(node, inputs, 2).ravel()
    rs = []
    for j, p in enumerate(ps):
        z = sx.add(sx.mul(p.expr, sx.num(float(a[j]))), sx.num(float(b[j])))
        rs.append(sc.probability(sx.sigmoid(z, p.nullable), p.nullable))
    return _renormalised(rs, labels)


@register("IsotonicOvR", domain=DOMAIN)
def isotonic_ovr(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    ps, labels = _class_probabilities(ctx, node, inputs)
    lo, hi, slope = (_matrix(node, inputs, i) for i in (1, 2, 3))
    y0 = _matrix(node, inputs, 4).ravel()
    segments = int(np.sum(hi > lo))
    # each q_j names r_j and every r_i of the sum once; r_i names p_i once per segment
    size = 2 * sum(sx.size(p.expr)[0] * (int(np.sum(hi[j] > lo[j])) + 1) for j, p in enumerate(ps))
    if size > MAX_ISOTONIC_NODES:
        raise fail(
            node,
            f"the {len(ps)} isotonic maps have {segments} segments over the class "
            f"probabilities: about {size} nodes, above {MAX_ISOTONIC_NODES}",
            hint="Serve it with deploy='udf' (deploy='auto' does), or use calibration='sigmoid'.",
        )
    rs = [
        sc.probability(_isotonic_ramps(p, lo[j], hi[j], slope[j], float(y0[j])), p.nullable)
        for j, p in enumerate(ps)
    ]
    return _renormalised(rs, labels)


def _isotonic_ramps(
    p: Scalar, lo: np.ndarray, hi: np.ndarray, slope: np.ndarray, y0: float
) -> sx.exp.Expression:
    """``y0 + sum_m slope_m * (LEAST(GREATEST(p, lo_m), hi_m) - lo_m)``, the ONNX body's
    sum of ramps (flat padding dropped); NULL stays NULL (LEAST/GREATEST skip NULLs)."""
    terms = [sx.num(y0)]
    for m in np.flatnonzero(hi > lo):
        ramp = sx.least(sx.greatest(p.expr, sx.num(float(lo[m]))), sx.num(float(hi[m])))
        terms.append(sx.mul(sx.sub(ramp, sx.num(float(lo[m]))), sx.num(float(slope[m]))))
    r = sx.balanced_total(terms)  # pairwise: a long chain costs DuckDB's planner (sqlexpr.py)
    return sx.null_guard(r, p.expr) if p.nullable else r
