"""Tree ensembles compiled from their float64 program: scikit-learn's answers, in SQL.

Our exporter stores the fitted trees as float64 arrays beside the ONNX graph
(``wml.native_trees``, ml/native/program.py): the program the UDF's compiled C scores.
When it is there, the SQL is written from it instead of from the float32 ONNX trees:

- every split compares the feature as a DOUBLE with the DOUBLE threshold (forests: with
  the bound on the double that makes ``float32(x) <= t``, as scikit-learn's forests read
  float32 features), so a value exactly at a threshold goes where scikit-learn sends it;
- NULL goes to ``missing_go_to_left``'s side: ``COALESCE(x, -+DBL_MAX)`` where NULL must
  pass the test, ``x IS NULL`` for the "missing values only" split (threshold +inf);
- raw scores are summed in DOUBLE in scikit-learn's order (baseline, then tree 1, 2, ...;
  forests: the members in order, then divided by their number), with no REAL casts, so a
  compiled model answers exactly what the UDF does, to the bit, in DuckDB and Postgres.

The trees are spine CASEs (one CASE per chain of splits, :class:`TreeEncoding`); a sum of
32 trees or more is one ``list_reduce`` in DuckDB (sqlexpr.ORDERED_SUM). Measured in
``benchmarks/trees_sql.py`` against the float32 form and the UDF.
"""

from __future__ import annotations

import sys
import typing as t

import numpy as np
import onnx
from sqlglot import exp

from warehouse_ml.sqlcompile import scores as sc
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.model import Options, Output, Stats, TreeEncoding
from warehouse_ml.sqlcompile.registry import attrs
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Scalar, Tensor
from warehouse_ml.sqlcompile.trees import leq_cut

if t.TYPE_CHECKING:
    from warehouse_ml.ml.native.program import TreeProgram

METADATA_KEY = "wml.native_trees"  # ml/native/program.py's key (not imported: it is ml/)
_DBL_MAX = float(np.finfo(np.float64).max)
_NEGATE = {"<=": ">", "<": ">="}


def stored_program(proto: onnx.ModelProto) -> TreeProgram | None:
    """The float64 program our exporter stored, or None (none stored, or another format)."""
    text = next((p.value for p in proto.metadata_props if p.key == METADATA_KEY), None)
    if text is None:
        return None
    from warehouse_ml.ml.native.program import Unsupported, decode

    try:
        return decode(text)
    except Unsupported:
        return None


def usable(
    proto: onnx.ModelProto, program: TreeProgram, kinds: t.Sequence[str | None], options: Options
) -> bool:
    """Whether this compiler writes ``program``: not for TIMESTAMP features (the ONNX path
    rounds their day numbers to float32), nor sums longer than ``max_exact_trees`` (a
    chain of additions that deep outside DuckDB), nor a classifier whose labels the graph
    does not name."""
    if any(k == "TIMESTAMP" for k in kinds):
        return False
    if program.classifier and len(_labels(proto)) != max(program.n_outputs, 2):
        return False
    per_output = np.bincount(program.outputs, minlength=1)
    return int(per_output.max(initial=0)) <= options.max_exact_trees


class _Column:
    """One column of the matrix the trees read, as SQL, and whether it can be NULL."""

    def __init__(self, expr: exp.Expression, nullable: bool, category: str | None) -> None:
        self.expr, self.nullable, self.category = expr, nullable, category


def _columns(program: TreeProgram, inputs: t.Sequence[Scalar]) -> list[_Column]:
    out = []
    for col in program.columns:
        source = inputs[col.feature]
        if col.category is not None:  # OneHotEncoder: 1.0 where the text equals it
            out.append(_Column(source.node, False, col.category))
            continue
        expr, nullable = source.node, source.nullable
        if col.fill is not None:  # SimpleImputer (numpy: NaN -> fill)
            expr, nullable = sx.coalesce(expr.copy(), sx.num(col.fill)), False
        if col.mean is not None:  # StandardScaler: (x - mean) / scale, in float64
            expr = sx.div(sx.sub(expr.copy(), sx.num(col.mean)), sx.num(col.scale))
        out.append(_Column(expr, nullable, None))
    return out


class _Writer:
    """Writes the trees of one program as spine CASEs over its columns."""

    def __init__(self, program: TreeProgram, columns: list[_Column], nested: bool) -> None:
        self.p, self.columns, self.nested = program, columns, nested
        self._leaves: dict[int, int] = {}

    def leaves(self, node: int) -> int:
        count = self._leaves.get(node)
        if count is None:
            p = self.p
            count = (
                1
                if p.feature[node] < 0
                else self.leaves(int(p.left[node])) + self.leaves(int(p.right[node]))
            )
            self._leaves[node] = count
        return count

    def _bound(self, node: int) -> tuple[str, float]:
        """``(op, bound)``: the column goes left iff ``x op bound`` (numbers only)."""
        threshold = float(self.p.threshold[node])
        if not self.p.float32_inputs or np.isinf(threshold):
            return "<=", threshold
        # float32(x) <= t iff float32(x) <= t32, the largest float32 not above t.
        t32 = np.float32(threshold)
        if float(t32) > threshold:
            t32 = np.nextafter(t32, np.float32(-np.inf))
        with np.errstate(over="ignore"):
            return leq_cut(float(t32))

    def side(self, node: int, left: bool) -> exp.Expression | bool:
        """The SQL test that sends a row to the ``left`` (or right) child; a bool when
        every row goes the same way."""
        c = self.columns[int(self.p.feature[node])]
        missing_left = bool(self.p.missing_left[node])
        if c.category is not None:  # 0.0 / 1.0, never NULL (the input is coalesced)
            at0, at1 = (v <= self.p.threshold[node] for v in (0.0, 1.0))
            if at0 == at1:
                return bool(at0) == left
            equal = exp.EQ(this=c.expr, expression=sx.label(c.category))
            return equal if bool(at1) == left else exp.Not(this=exp.paren(equal, copy=False))
        op, bound = self._bound(node)
        if np.isinf(bound):  # +inf: numbers go left, so only NULL can go right
            if not c.nullable or missing_left:
                return left
            return exp.Not(this=sx.is_null(c.expr)) if left else sx.is_null(c.expr)
        if not left:
            op = _NEGATE[op]
        null_here = c.nullable and (missing_left == left)
        if not null_here:  # NULL fails the comparison, so it takes the other side
            return sx.compare(op, c.expr, sx.num(bound))
        beyond = -_DBL_MAX if left else _DBL_MAX
        if _holds(op, beyond, bound):
            return sx.compare(op, sx.coalesce(c.expr, sx.num(beyond)), sx.num(bound))
        return sx.or_(sx.compare(op, c.expr, sx.num(bound)), sx.is_null(c.expr))

    def tree(self, node: int, value: t.Callable[[int], float]) -> exp.Expression:
        """One CASE per chain of splits; the smaller side of each split is its WHEN
        (or, nested, one CASE per split)."""
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        while self.p.feature[node] >= 0:
            left, right = int(self.p.left[node]), int(self.p.right[node])
            go_left = self.leaves(left) <= self.leaves(right)
            small, large = (left, right) if go_left else (right, left)
            test = self.side(node, go_left)
            if isinstance(test, bool):  # decided at compile time
                node = small if test else large
                continue
            if self.nested:  # TreeEncoding.NESTED: a CASE at every split
                return sx.case([(test, self.tree(small, value))], self.tree(large, value))
            whens.append((test, self.tree(small, value)))
            node = large
        last = sx.num(value(node))
        return sx.case(whens, last) if whens else last


def _holds(op: str, a: float, b: float) -> bool:
    return {"<=": a <= b, "<": a < b, ">": a > b, ">=": a >= b}[op]


def _sums(program: TreeProgram, writer: _Writer, stats: Stats) -> list[exp.Expression]:
    """Per raw output: its trees' values in scikit-learn's order, as one ordered sum."""
    p = program
    stats.trees += len(p.roots)
    stats.tree_splits += int((p.feature >= 0).sum())
    stats.tree_leaves += int((p.feature < 0).sum())
    sums = []
    for k in range(p.n_outputs):
        terms: list[exp.Expression] = []
        if p.kind == "boosting":
            terms.append(sx.num(p.base[k]))
        for root, output in zip(p.roots, p.outputs, strict=True):
            column = k if p.kind == "forest" else 0
            if p.kind == "boosting" and int(output) != k:
                continue
            terms.append(writer.tree(int(root), lambda n, c=column: float(p.leaf[n, c])))
        total = sx.ordered_sum(terms) if len(terms) > 1 else terms[0]
        if p.kind == "forest":
            total = sx.div(total, sx.num(float(len(p.roots))))
        sums.append(total)
    return sums


def _probability(expr: exp.Expression) -> Scalar:
    return Scalar(expr, DType.FLOAT, Kind.APPROX)


def translate(
    proto: onnx.ModelProto, program: TreeProgram, inputs: t.Sequence[Scalar], options: Options,
    stats: Stats,
) -> tuple[Tensor, list[t.Any] | None]:  # fmt: skip
    """The graph's output (``options.output``) written from ``program``: a one-column
    tensor (prediction) or the class probabilities, and the class labels."""
    nested = options.tree_encoding is TreeEncoding.NESTED
    writer = _Writer(program, _columns(program, inputs), nested)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # a forest's deep trees recurse per level
    try:
        raw = _sums(program, writer, stats)
    finally:
        sys.setrecursionlimit(limit)
    if not program.classifier:
        value = raw[0]
        if program.link == "exp":
            value = sx.safe_exp(value)
        return Tensor([Scalar(value, DType.FLOAT, Kind.APPROX)], (1,)), None
    labels = _labels(proto)
    if program.link == "expit":  # binary boosting: label = raw > 0, p1 = expit(raw)
        p1 = _probability(sx.sigmoid(raw[0]))
        probs = [_probability(sx.sub(sx.num(1.0), p1.node.copy())), p1]
        label = sc.threshold_label(Scalar(raw[0].copy()), 0.0, labels[1], labels[0], labels)
    elif program.link == "softmax":
        # 1 / (1 + sum_i e^(s_i - s_k)): each score written 2(k - 1) times per class,
        # not k^2 as in max-shifted form; equal to scikit-learn's softmax to the last ulps.
        probs = sc.softmax([Scalar(r.copy()) for r in raw])
        label = sc.first_best([Scalar(r.copy()) for r in raw], labels)
    else:  # a forest: the mean of class fractions, the label its first maximum
        probs = [_probability(r) for r in raw]
        label = sc.first_best([Scalar(r.node.copy()) for r in probs], labels)
    if options.output is Output.PREDICT:
        return Tensor([label], (1,)), labels
    return Tensor(probs, (len(probs),), labels=labels), labels


def _labels(proto: onnx.ModelProto) -> list[t.Any]:
    for node in proto.graph.node:
        if node.op_type == "TreeEnsembleClassifier":
            return sc.labels_of(attrs(node), "classlabels_int64s", "classlabels_strings")
    return []
