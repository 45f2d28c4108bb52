"""Translators of TreeEnsembleRegressor and TreeEnsembleClassifier (ai.onnx.ml).

Accumulation follows onnxruntime run with one intra-op thread (as our scorer runs it):
per output, a float32 running sum over the trees in order, then the base value. In
exact mode the leaves are REAL (float32) literals, so the warehouse itself adds in
float32: sums, ties between classes and ``score > 0`` labels match bit for bit where
the dialect has a float32 type (DuckDB, Postgres, Redshift); Snowflake and BigQuery
have none and add in double. (onnxruntime with several threads splits the trees into
per-thread partial sums, so its own results then differ in the last bit.)
The label and probability rules copy onnxruntime's TreeAggregatorClassifier, as
measured on onnxruntime 1.32 (tests/sqlcompile/test_compile_semantics.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx

from warehouse_ml.sqlcompile import scores as sc
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile import symbolic as sy
from warehouse_ml.sqlcompile.registry import ML, Context, attrs, fail, register, tensor_input
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Scalar, Tensor, Value
from warehouse_ml.sqlcompile.trees import Ensemble, Leaf, build_ir, parse_ensemble, render


class Accumulator:
    """Adds float32 values the way onnxruntime does, or in double past the depth limit.

    Exact mode types every leaf as REAL (float32), so ``t0 + t1 + ...`` is float32
    arithmetic in the warehouse itself: the same roundings as onnxruntime, no casts.
    """

    def __init__(self, ctx: Context, ensemble: Ensemble, node: onnx.NodeProto) -> None:
        opts = ctx.options
        self.exact = opts.exact_float32 and len(ensemble.trees) <= opts.max_exact_trees
        if opts.exact_float32 and not self.exact:
            ctx.note(
                f"{node.name or node.op_type}: {len(ensemble.trees)} trees exceed "
                f"max_exact_trees={opts.max_exact_trees}; tree outputs are summed in double, "
                "so rare ties may resolve differently from onnxruntime's float32 sums."
            )

    def literal(self, value: float) -> sx.exp.Expression:
        return sx.f32(sx.num(value)) if self.exact else sx.num(value)

    def _scalar(self, expr: sx.exp.Expression) -> Scalar:
        if self.exact:
            return Scalar(expr, DType.FLOAT, Kind.EXACT, sql_real=True)
        return Scalar(expr, DType.FLOAT, Kind.APPROX)

    def total(self, terms: list) -> Scalar:
        if not terms:
            return sy.constant(0.0)
        # Exact: left to right, in tree order; otherwise pairwise (depth log2 n).
        return self._scalar(sx.ordered_sum(terms) if self.exact else sx.balanced_total(terms))

    def add(self, a: Scalar, value: float) -> Scalar:
        if value == 0.0:
            return a
        if a.is_const:
            return sy.constant(float(np.float32(a.const) + np.float32(value)))
        return self._scalar(sx.add(a.expr, self.literal(value)))

    def divide(self, a: Scalar, value: float) -> Scalar:
        if a.is_const:
            return sy.constant(float(np.float32(a.const) / np.float32(value)))
        return self._scalar(sx.div(a.expr, self.literal(value)))


def _sums(ctx: Context, ens: Ensemble, x: Tensor, acc: Accumulator) -> list[Scalar | None]:
    """Per output: the summed tree values, or None for outputs no leaf ever writes."""
    ctx.stats.trees += len(ens.trees)
    ctx.stats.tree_splits += ens.splits
    ctx.stats.tree_leaves += sum(n.mode == "LEAF" for tr in ens.trees for n in tr.nodes.values())
    sums: list[Scalar | None] = []
    for output in range(ens.outputs):
        if output not in ens.used_outputs:
            sums.append(None)
            continue
        terms = []
        for tree in ens.trees:
            ir = build_ir(tree, output, x.cols)
            if isinstance(ir, Leaf) and ir.value == 0.0:
                continue  # adding 0.0 changes no float32 sum
            terms.append(render(ir, ctx.options.tree_encoding, acc.literal))
        sums.append(acc.total(terms))
    return sums


def _refuse_partial_votes(node: onnx.NodeProto, ens: Ensemble, what: str) -> None:
    if ens.partial_outputs:
        raise fail(
            node,
            f"{what} {sorted(ens.partial_outputs)} get votes from only some leaves of a tree; "
            "onnxruntime then decides per row whether an output was scored (and skips its "
            "base value), which has no SQL translation here; scikit-learn exports vote uniformly",
        )


def _features(node: onnx.NodeProto, value: Value | None) -> Tensor:
    x = tensor_input(node, value)
    if len(x.shape) != 1:
        raise fail(node, f"features of shape {x.shape}; trees need [N, k]")
    return x


@register("TreeEnsembleRegressor", domain=ML)
def tree_ensemble_regressor(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    x = _features(node, inputs[0])
    n_targets = int(attrs(node).get("n_targets", 1))
    ens = parse_ensemble(node, "target", n_targets)
    _refuse_partial_votes(node, ens, "targets")
    if ens.post_transform != "NONE":
        raise fail(node, f"post_transform {ens.post_transform} is not supported")
    if ens.aggregate not in ("SUM", "AVERAGE"):
        raise fail(node, f"aggregate_function {ens.aggregate} is not supported")
    acc = Accumulator(ctx, ens, node)
    base = ens.base_values
    cols = []
    for k, total in enumerate(_sums(ctx, ens, x, acc)):
        total = total or sy.constant(0.0)
        if ens.aggregate == "AVERAGE":
            total = acc.divide(total, float(len(ens.trees)))
        # One target adds base_values[0] when given; several add theirs when all given.
        offset = base[k] if len(base) == n_targets else (base[0] if len(base) == 1 else 0.0)
        cols.append(acc.add(total, offset) if offset else total)
    return [sy.float_tensor(cols)]


@register("TreeEnsembleClassifier", domain=ML)
def tree_ensemble_classifier(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    x = _features(node, inputs[0])
    labels = sc.labels_of(attrs(node), "classlabels_int64s", "classlabels_strings")
    ens = parse_ensemble(node, "class", len(labels))
    _refuse_partial_votes(node, ens, "classes")
    if ens.post_transform in ("PROBIT", "SOFTMAX_ZERO"):
        raise fail(node, f"post_transform {ens.post_transform} is not supported")
    acc = Accumulator(ctx, ens, node)
    sums = _sums(ctx, ens, x, acc)
    ctx.class_labels = labels
    if len(labels) > 2:
        label, probs = _multiclass(node, ens, sums, labels, acc)
    elif len(labels) == 2:
        label, probs = _binary(node, ens, sums, labels, acc)
    else:
        raise fail(node, "a classifier needs at least two class labels")
    probs.labels = labels
    return [Tensor([label], ()), probs]


def _multiclass(node, ens: Ensemble, sums: list, labels: list, acc: Accumulator):
    scores, has = [], []
    for k, total in enumerate(sums):
        if k < len(ens.base_values):
            base = ens.base_values[k]
            scores.append(acc.add(total, base) if total is not None else sy.constant(base))
            has.append(True)
        else:
            scores.append(total or sy.constant(0.0))
            has.append(total is not None)
    # Classes no leaf writes (and without a base value) never win in onnxruntime.
    ranked = [(s, lab) for s, lab, h in zip(scores, labels, has, strict=True) if h]
    label = sc.first_best([s for s, _ in ranked], [lab for _, lab in ranked])
    return label, sc.post_transform(node, scores, ens.post_transform)


def _binary(node, ens: Ensemble, sums: list, labels: list, acc: Accumulator):
    """Two classes: onnxruntime's special cases, keyed on which classes carry weights."""
    h0, h1 = sums[0] is not None, sums[1] is not None
    s0, s1 = sums[0] or sy.constant(0.0), sums[1] or sy.constant(0.0)
    base = ens.base_values
    second = -1  # onnxruntime's write_additional_scores
    if len(base) == 2 and h1:
        p1 = acc.add(s0, base[1])  # sic: onnxruntime adds base_values[1] to class 0's sum
        p0, single = _negate(p1), False
    elif len(base) == 2:
        # Class 1 never scored: onnxruntime 1.32 leaves it at 0 (measured; no base added).
        p0, p1, single = acc.add(s0, base[0]), sy.constant(0.0), False
    elif len(base) == 1:
        p0, p1, single = acc.add(s0, base[0]), s1, not h1
    elif not base:
        p0, p1, single, second = s0, s1, not h1, 3
    else:
        raise fail(node, f"{len(base)} base_values for two classes")
    # onnxruntime reads the positive weight from class 1 when it has a score, else class 0.
    pos = p1 if (not single and h1) else (p0 if h0 else sy.constant(0.0))
    binary_case = len(ens.used_outputs) == 1
    if binary_case and ens.weights_all_positive:
        label, second = sc.threshold_label(pos, 0.5, labels[1], labels[0], labels), 0
    elif binary_case:
        label, second = sc.threshold_label(pos, 0.0, labels[1], labels[0], labels), 2
    else:
        strings = isinstance(labels[0], str)
        positive, negative = (labels[1], labels[0]) if strings else (1, 0)
        label = sc.threshold_label(pos, 0.0, positive, negative, labels)
    if not single:
        return label, sc.post_transform(node, [p0, p1], ens.post_transform)
    return label, _single_probabilities(node, p0, second, ens.post_transform)


def _negate(s: Scalar) -> Scalar:
    return dataclasses.replace(s, node=sx.neg(s.expr), const=None, monotone=None)


def _single_probabilities(node, p0: Scalar, second: int, transform: str) -> Tensor:
    """One score column expanded to two, as onnxruntime's write_scores does."""
    if second in (0, 1):
        pair = [sc.probability(sx.sub(sx.num(1.0), p0.expr)), p0]
    elif second in (2, 3) and transform == "LOGISTIC":
        pair = [sc.probability(sx.sigmoid(sx.neg(p0.expr))), sc.probability(sx.sigmoid(p0.expr))]
    elif second in (2, 3):
        pair = [_negate(p0), p0]
    else:
        raise fail(node, "a single score without a second class is not supported")
    return Tensor(pair, (2,))
