"""Decision trees: parse ONNX tree-ensemble attributes, build exact splits, render SQL.

Exact splits. onnxruntime compares the float32 feature value with a float32
threshold. A raw feature arrives in SQL as a double x; ``float32(x) <= t`` holds
exactly when x lies below the midpoint between t and the next float32 up (at the
midpoint, round-half-to-even decides). So each split becomes one double comparison
with a midpoint literal: no cast per row, and the same leaves as onnxruntime.

>>> leq_cut(0.5)  # float32(x) <= 0.5 iff x <= 0.5 + 2**-25 (0.5 has an even mantissa)
('<=', 0.5000000298023224)
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t

import numpy as np
import onnx
from sqlglot import exp

from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.model import TreeEncoding
from warehouse_ml.sqlcompile.registry import attrs, fail
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Monotone, Scalar

# --- float32 threshold arithmetic --------------------------------------------------------

_INF32 = np.float32(np.inf)


def _even(v: np.float32) -> bool:
    return int(np.float32(v).view(np.uint32)) & 1 == 0


def _midpoint_up(v: np.float32) -> float:
    """The double halfway between v and the next float32 towards +inf."""
    up = np.nextafter(v, _INF32)
    if np.isinf(up):  # v is FLT_MAX: the next value would be 2**128
        return float(v) + (float(v) - float(np.nextafter(v, -_INF32))) / 2
    if np.isinf(v):  # -inf: everything below -FLT_MAX - ulp/2 rounds to it
        top = np.float32(np.finfo(np.float32).max)
        return -(float(top) + (float(top) - float(np.nextafter(top, -_INF32))) / 2)
    return (float(v) + float(up)) / 2


def leq_cut(threshold: float) -> tuple[str, float]:
    """``(op, bound)`` such that ``float32(x) <= threshold`` iff ``x op bound``."""
    v = np.float32(threshold)
    return ("<=" if _even(v) else "<"), _midpoint_up(v)


def _cuts(mode: str, threshold: float) -> list[tuple[str, float]]:
    """Conjunction of double comparisons equivalent to ``float32(x) <mode> threshold``."""
    v = np.float32(threshold)
    below = np.nextafter(v, -_INF32)
    leq, lt = leq_cut(v), leq_cut(below)
    negate = {"<=": ">", "<": ">="}
    if mode == "BRANCH_LEQ":
        return [leq]
    if mode == "BRANCH_LT":
        return [lt]
    if mode == "BRANCH_GT":
        return [(negate[leq[0]], leq[1])]
    if mode == "BRANCH_GTE":
        return [(negate[lt[0]], lt[1])]
    if mode == "BRANCH_EQ":
        return [leq, (negate[lt[0]], lt[1])]
    raise ValueError(mode)


_PY = {
    "BRANCH_LEQ": lambda a, b: a <= b,
    "BRANCH_LT": lambda a, b: a < b,
    "BRANCH_GTE": lambda a, b: a >= b,
    "BRANCH_GT": lambda a, b: a > b,
    "BRANCH_EQ": lambda a, b: a == b,
    "BRANCH_NEQ": lambda a, b: a != b,
}
_PY_OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
}
# NULL stands in as +-4e38 where a split sends it the way such a number goes: beyond
# FLT_MAX (3.4e38), so past every float32 threshold, and short enough to write
# positionally in every dialect (sx.num). A real value that large is inf in float32.
NULL_BEYOND = 4e38
_SQL = {
    "BRANCH_LEQ": "<=",
    "BRANCH_LT": "<",
    "BRANCH_GTE": ">=",
    "BRANCH_GT": ">",
    "BRANCH_EQ": "=",
}


class Cond:
    """A split as two predicates that partition every input, NULLs included.

    Only one of the two is rendered (the encoding picks the side), so they are built
    on demand from ``x`` and the cuts ``[(op, bound), ...]`` whose conjunction is true.
    """

    def __init__(
        self,
        x: exp.Expression | None = None,
        cuts: t.Sequence[tuple[str, t.Any]] = (),
        *,
        negated: bool = False,
        null_side: bool | None = None,
        const: bool | None = None,
    ) -> None:
        self.x, self.cuts, self.negated, self.null_side, self.const = (
            x,
            cuts,
            negated,
            null_side,
            const,
        )

    def _side(self, positive: bool, x: exp.Expression | None = None) -> exp.Expression:
        assert self.x is not None
        x = self.x if x is None else x
        if positive:
            expr = sx.and_(*(sx.compare(op, x.copy(), _lit(b)) for op, b in self.cuts))
        else:
            expr = sx.or_(
                *(sx.compare(sx.COMPLEMENT[op], x.copy(), _lit(b)) for op, b in self.cuts)
            )
        return expr

    def _holds_at(self, positive: bool, value: float) -> bool:
        checks = [_PY_OPS[op if positive else sx.COMPLEMENT[op]](value, b) for op, b in self.cuts]
        return all(checks) if positive else any(checks)

    def _with_nulls(self, positive: bool, side: bool) -> exp.Expression:
        """The side ``positive`` of the split; where NULL must make it true, NULL is
        replaced by a number beyond every float32 threshold that takes this side
        (one comparison instead of ``... OR x IS NULL``)."""
        if self.null_side is not side:
            return self._side(positive)
        assert self.x is not None
        if all(isinstance(b, float) for _, b in self.cuts):
            for beyond in (NULL_BEYOND, -NULL_BEYOND):
                if self._holds_at(positive, beyond):
                    return self._side(positive, sx.coalesce(self.x.copy(), sx.num(beyond)))
        return sx.or_(self._side(positive), sx.is_null(self.x.copy()))

    @property
    def when_true(self) -> exp.Expression:
        return self._with_nulls(not self.negated, True)

    @property
    def when_false(self) -> exp.Expression:
        return self._with_nulls(self.negated, False)


class NullCond(Cond):
    """A split decided only by whether the feature is NULL (NaN)."""

    def __init__(self, x: exp.Expression, null_goes_true: bool) -> None:
        super().__init__(x)
        self.null_goes_true = null_goes_true

    def _is_null(self, want_null: bool) -> exp.Expression:
        check = sx.is_null(self.x.copy())
        return check if want_null else exp.Not(this=check)

    @property
    def when_true(self) -> exp.Expression:
        return self._is_null(self.null_goes_true)

    @property
    def when_false(self) -> exp.Expression:
        return self._is_null(not self.null_goes_true)


def _lit(value: t.Any) -> exp.Expression:
    return value.copy() if isinstance(value, exp.Expression) else sx.num(value)


def _keys_to_float32(keys: np.ndarray) -> np.ndarray:
    """Inverse of the order-preserving key: k >= 0 are the bits of +x, k < 0 of -x."""
    keys = np.asarray(keys, dtype=np.int64)
    bits = np.where(keys >= 0, keys, (-keys) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _key(value: float) -> int:
    bits = int(np.array([value], dtype=np.float32).view(np.uint32)[0])
    return bits if bits < 0x80000000 else -(bits & 0x7FFFFFFF)


_LOWEST, _HIGHEST = -0x7F800000, 0x7F800000  # keys of -inf and +inf
_WINDOW = 64


def _transition(flags: np.ndarray, prefix: bool) -> int | None:
    """Index of the last true (prefix) or first true (suffix) inside a window, if there."""
    if prefix:
        inside = np.flatnonzero(flags)
        return int(inside[-1]) if inside.size and inside[-1] < flags.size - 1 else None
    inside = np.flatnonzero(flags)
    return int(inside[0]) if inside.size and inside[0] > 0 else None


def _boundary(
    pred: t.Callable[[np.ndarray], np.ndarray], prefix: bool, guess: float
) -> np.float32 | bool:
    """The last float32 of a true prefix (or first of a true suffix); a bool if constant.

    The answer is a few ulps from ``guess`` (the exact inverse): one vectorized window
    around it usually holds it; otherwise a k-ary search over all 2**32 values.
    """
    ends = pred(_keys_to_float32(np.array([_LOWEST, _HIGHEST])))
    if not ends[0 if prefix else 1]:
        return False
    if ends[1 if prefix else 0]:
        return True
    if np.isfinite(guess) and abs(guess) < 3e38:
        center = _key(guess)
        keys = np.arange(max(center - _WINDOW, _LOWEST), min(center + _WINDOW, _HIGHEST) + 1)
        i = _transition(pred(_keys_to_float32(keys)), prefix)
        if i is not None:
            return _keys_to_float32(keys[i : i + 1])[0]
    lo, hi = _LOWEST, _HIGHEST
    while hi - lo > 1:  # invariant: the answer changes between key lo and key hi
        keys = np.linspace(lo, hi, 1025).astype(np.int64)
        flags = pred(_keys_to_float32(keys))
        i = int(np.argmin(flags) if prefix else np.argmax(flags)) - 1
        lo, hi = int(keys[i]), int(keys[i + 1])
    return _keys_to_float32(np.array([lo if prefix else hi]))[0]


@functools.lru_cache(maxsize=65536)
def _monotone_bound(chain: Monotone, mode: str, t32: float) -> tuple[bool, np.float32 | bool]:
    compare = _PY[mode]
    threshold = np.float32(t32)

    def pred(values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(compare(chain.apply(values), threshold))

    prefix = (mode in ("BRANCH_LEQ", "BRANCH_LT")) == chain.increasing
    with np.errstate(all="ignore"):
        guess = chain.invert(t32)
    return prefix, _boundary(pred, prefix, guess)


def _monotone_cuts(
    s: Scalar, mode: str, t32: float
) -> tuple[Scalar, list[tuple[str, float]] | bool]:
    """A split on ``g(source)`` for monotone g, as cuts on the source itself."""
    chain = s.monotone
    assert chain is not None
    prefix, bound = _monotone_bound(chain, mode, t32)
    if isinstance(bound, bool):
        return chain.source, bound
    return chain.source, _cuts("BRANCH_LEQ" if prefix else "BRANCH_GTE", float(bound))


def split_condition(s: Scalar, mode: str, threshold: float, missing_true: bool) -> Cond:
    """Translate ``feature <mode> threshold`` with onnxruntime's float32 and NaN rules."""
    t32 = float(np.float32(threshold))
    if s.is_const:
        return Cond(const=bool(_PY[mode](np.float32(s.const), np.float32(t32))))
    if s.onehot is not None:  # a 0/1 flag: the split is source = category or its negation
        at0, at1 = (bool(_PY[mode](np.float32(v), np.float32(t32))) for v in (0.0, 1.0))
        if at0 == at1:
            return Cond(const=at0)
        category = sx.label(s.onehot.category)
        return Cond(s.onehot.source, [("=", category)], negated=not at1)
    negated = mode == "BRANCH_NEQ"
    if np.isinf(t32):
        return _infinite_split(s, mode, t32, missing_true or negated)
    base_mode = "BRANCH_EQ" if negated else mode
    cuts: list[tuple[str, float]] | bool
    if s.monotone is not None and base_mode != "BRANCH_EQ" and not s.monotone.constant_slope:
        s, cuts = _monotone_cuts(s, base_mode, t32)
    elif s.kind is Kind.ROUND32:
        cuts = _cuts(base_mode, t32)
    else:
        cuts = [(_SQL[base_mode], t32)]
    if s.kind is Kind.ROUND32 or (s.kind is Kind.EXACT and s.dtype is not DType.STRING):
        x = s.node
    else:  # computed in double: compare its exact float32 form, or round it
        x = s.float32_expr() or sx.f32(s.expr)
    # NaN (NULL) fails every comparison but !=; missing_value_tracks_true overrides.
    null_side = (missing_true or negated) if s.nullable else None
    if isinstance(cuts, bool):
        if null_side is None or null_side == cuts:
            return Cond(const=cuts)
        # Constant for numbers, but NULL goes the other way: the split is "x IS NULL".
        return NullCond(x, null_goes_true=null_side)
    return Cond(x, cuts, negated=negated, null_side=null_side)


def _infinite_split(s: Scalar, mode: str, t32: float, missing_true: bool) -> Cond:
    """``x <= +inf`` and kin: skl2onnx exports HistGradientBoosting's "missing values only"
    split this way. Every number answers the same, so only NULL can take the other branch.
    (A double beyond FLT_MAX would round to inf in float32: outside any trained range.)"""
    value = bool(_PY[mode](np.float32(0.0), np.float32(t32)))
    if not s.nullable or missing_true == value:
        return Cond(const=value)
    exact = s.kind is Kind.ROUND32 or (s.kind is Kind.EXACT and s.dtype is not DType.STRING)
    x = s.node if exact else (s.float32_expr() or sx.f32(s.expr))
    return NullCond(x, null_goes_true=missing_true)


# --- parsed ensembles --------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    feature: int = 0
    mode: str = "LEAF"
    value: float = 0.0
    true: int = 0
    false: int = 0
    missing_true: bool = False
    weights: dict[int, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Tree:
    id: int
    root: int
    nodes: dict[int, Node]


@dataclasses.dataclass
class Ensemble:
    trees: list[Tree]
    base_values: list[float]
    post_transform: str
    aggregate: str
    outputs: int
    used_outputs: set[int]
    weights_all_positive: bool

    @property
    def partial_outputs(self) -> set[int]:
        """Outputs that only some leaves of a tree vote for.

        onnxruntime tracks per row whether any reached leaf voted for an output, and
        binary classifiers branch on it; with uniform votes that flag is a constant.
        """
        partial: set[int] = set()
        for tree in self.trees:
            leaves = [n.weights for n in tree.nodes.values() if n.mode == "LEAF"]
            voted = set().union(*leaves)
            partial |= {k for k in voted if any(k not in w for w in leaves)}
        return partial

    @property
    def splits(self) -> int:
        return sum(n.mode != "LEAF" for tr in self.trees for n in tr.nodes.values())


def tree_splits(model: onnx.ModelProto | bytes) -> int:
    """Internal nodes of every tree ensemble in the graph, read from the attributes alone
    (no compilation): the size ``deploy='auto'`` decides by (ml/portable.py)."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load_from_string(bytes(model))
    count = 0
    for node in proto.graph.node:
        if node.domain == "ai.onnx.ml" and node.op_type.startswith("TreeEnsemble"):
            for attribute in node.attribute:
                if attribute.name == "nodes_modes":
                    count += sum(mode != b"LEAF" for mode in attribute.strings)
    return count


def parse_ensemble(node: onnx.NodeProto, prefix: str, outputs: int) -> Ensemble:
    """Read a TreeEnsembleRegressor (``prefix='target'``) or ...Classifier (``'class'``)."""
    a = attrs(node)
    for name in ("nodes_values_as_tensor", "base_values_as_tensor", f"{prefix}_weights_as_tensor"):
        if name in a:
            raise fail(node, f"{name}: double-precision trees are not supported")
    trees: dict[int, dict[int, Node]] = {}
    missing = a.get("nodes_missing_value_tracks_true") or [0] * len(a["nodes_nodeids"])
    for i, (tid, nid) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"], strict=True)):
        mode = a["nodes_modes"][i]
        if mode not in _PY and mode != "LEAF":
            raise fail(node, f"node mode {mode} is not supported")
        trees.setdefault(int(tid), {})[int(nid)] = Node(
            int(a["nodes_featureids"][i]),
            mode,
            float(a["nodes_values"][i]),
            int(a["nodes_truenodeids"][i]),
            int(a["nodes_falsenodeids"][i]),
            bool(missing[i]),
        )
    weights = a.get(f"{prefix}_weights", [])
    votes = zip(
        a[f"{prefix}_treeids"], a[f"{prefix}_nodeids"], a[f"{prefix}_ids"], weights, strict=True
    )
    for tid, nid, oid, w in votes:
        leaf = trees[int(tid)][int(nid)]
        # Several votes of one leaf for one output are added in float32.
        leaf.weights[int(oid)] = float(np.float32(leaf.weights.get(int(oid), 0.0)) + np.float32(w))
    parsed = [Tree(tid, _root(nodes), nodes) for tid, nodes in sorted(trees.items())]
    return Ensemble(
        trees=parsed,
        base_values=[float(v) for v in a.get("base_values", [])],
        post_transform=a.get("post_transform", "NONE"),
        aggregate=a.get("aggregate_function", "SUM"),
        outputs=outputs,
        used_outputs={int(v) for v in a.get(f"{prefix}_ids", [])},
        weights_all_positive=all(float(w) >= 0 for w in weights),
    )


def _root(nodes: dict[int, Node]) -> int:
    children = {n.true for n in nodes.values() if n.mode != "LEAF"}
    children |= {n.false for n in nodes.values() if n.mode != "LEAF"}
    roots = [nid for nid in nodes if nid not in children]
    return roots[0] if len(roots) == 1 else min(nodes)


# --- tree IR with constant folding, and its SQL encodings ---------------------------------


@dataclasses.dataclass
class Leaf:
    value: float
    leaves: int = 1


@dataclasses.dataclass
class Split:
    cond: Cond
    yes: Leaf | Split
    no: Leaf | Split
    leaves: int


IR = Leaf | Split


def build_ir(
    tree: Tree, output: int, features: t.Sequence[Scalar], node_id: int | None = None
) -> IR:
    """The tree's value for one output, with constant splits and equal leaves folded."""
    n = tree.nodes[tree.root if node_id is None else node_id]
    if n.mode == "LEAF":
        return Leaf(n.weights.get(output, 0.0))
    if n.feature >= len(features):
        raise ValueError(f"feature {n.feature} of {len(features)}")
    cond = split_condition(features[n.feature], n.mode, n.value, n.missing_true)
    if cond.const is not None:
        return build_ir(tree, output, features, n.true if cond.const else n.false)
    yes = build_ir(tree, output, features, n.true)
    no = build_ir(tree, output, features, n.false)
    if isinstance(yes, Leaf) and isinstance(no, Leaf) and yes.value == no.value:
        return Leaf(yes.value)
    return Split(cond, yes, no, yes.leaves + no.leaves)


def render(
    ir: IR, encoding: TreeEncoding, literal: t.Callable[[float], exp.Expression] = sx.num
) -> exp.Expression:
    """SQL for one tree (see :class:`TreeEncoding`); ``literal`` writes leaf values."""
    if isinstance(ir, Leaf):
        return literal(ir.value)
    if encoding is TreeEncoding.NESTED:
        yes, no = render(ir.yes, encoding, literal), render(ir.no, encoding, literal)
        return sx.case([(ir.cond.when_true, yes)], no)
    whens = []
    current: IR = ir
    while isinstance(current, Split):
        # The larger side continues the chain; the smaller one becomes this WHEN's value.
        if current.no.leaves >= current.yes.leaves:
            whens.append((current.cond.when_true, render(current.yes, encoding, literal)))
            current = current.no
        else:
            whens.append((current.cond.when_false, render(current.no, encoding, literal)))
            current = current.yes
    return sx.case(whens, literal(current.value))
