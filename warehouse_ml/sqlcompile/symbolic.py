"""Symbolic values: an ONNX tensor [N, k] is a list of k scalar SQL expressions.

Each :class:`Scalar` also records how its SQL value relates to the float32 value
onnxruntime computes, so tree splits can compare exactly:

- ``EXACT``: the SQL value equals the ONNX value (constants, one-hot flags, float32 chains);
- ``ROUND32``: the ONNX value is the SQL value rounded to float32 (raw numeric inputs, which
  the scorer feeds as float32, and imputed inputs);
- ``APPROX``: computed in double; ``exact32`` optionally holds an expression that rounds
  every step to float32 (REAL casts) and so equals the ONNX value.

Expressions are shared, not copied: a class score used by the label and by each
probability is one node with several parents, so the expression is a DAG. Rendering
expands it (SQL has no let); rewrites in ddl.py are memoized by node identity, and
nothing mutates a node after it is built.
"""

from __future__ import annotations

import dataclasses
import enum
import typing as t

import numpy as np
from sqlglot import exp

from warehouse_ml.sqlcompile import sqlexpr as sx


class Kind(enum.Enum):
    EXACT = "exact"
    ROUND32 = "round32"
    APPROX = "approx"


class DType(enum.Enum):
    FLOAT = "float"
    DOUBLE = "double"
    INT64 = "int64"
    STRING = "string"
    BOOL = "bool"

    @property
    def is_numeric(self) -> bool:
        return self in (DType.FLOAT, DType.DOUBLE, DType.INT64, DType.BOOL)


@dataclasses.dataclass(frozen=True)
class OneHot:
    """Marks a 0/1 column as ``source = category`` so consumers can use the comparison."""

    key: str
    source: exp.Expression
    category: t.Any


@dataclasses.dataclass(frozen=True)
class Monotone:
    """The value is ``steps`` applied in float32 to ``source``: a monotone function.

    Scaler output is ``(x - offset) * scale``, rounded to float32 at each step; rounding
    is monotone, so a split on the scaled value is a split on ``source`` at a threshold
    the compiler finds once (see trees.py) instead of scaling every row.
    """

    source: Scalar
    steps: tuple[tuple[str, float], ...]

    def apply(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float32)
        for op, c in self.steps:
            k = np.float32(c)
            if op == "add":
                v = v + k
            elif op == "sub":
                v = v - k
            elif op == "mul":
                v = v * k
            else:
                v = v / k
        return v

    def invert(self, y: float) -> float:
        """The real x with g(x) = y, ignoring rounding: a starting guess for a search."""
        x = float(y)
        for op, c in reversed(self.steps):
            c = float(np.float32(c))
            x = {"add": x - c, "sub": x + c, "mul": x / c, "div": x * c}[op]
        return x

    @property
    def increasing(self) -> bool:
        return all(c > 0 for op, c in self.steps if op in ("mul", "div"))

    @property
    def constant_slope(self) -> bool:
        return any(c == 0 for op, c in self.steps if op in ("mul", "div"))


@dataclasses.dataclass(frozen=True, eq=False)
class Scalar:
    """One column of a symbolic tensor."""

    node: exp.Expression
    dtype: DType = DType.FLOAT
    kind: Kind = Kind.EXACT
    nullable: bool = False
    const: t.Any = None
    onehot: OneHot | None = None
    exact32_node: exp.Expression | None = None
    monotone: Monotone | None = None
    sql_real: bool = False  # typed REAL in SQL: float32 arithmetic where the dialect has it

    @property
    def expr(self) -> exp.Expression:
        return self.node

    @property
    def is_const(self) -> bool:
        return self.const is not None

    def float32_expr(self) -> exp.Expression | None:
        """An expression equal to onnxruntime's float32 value, or None when unknown."""
        if self.kind is Kind.EXACT:
            return self.expr
        if self.kind is Kind.ROUND32:
            return sx.f32(self.expr)
        return self.exact32_node


def constant(value: t.Any, dtype: DType = DType.FLOAT) -> Scalar:
    """A compile-time constant; float constants are float32 values in ONNX graphs."""
    if dtype is DType.STRING:
        return Scalar(sx.text(str(value)), dtype, Kind.EXACT, const=str(value))
    if dtype is DType.INT64:
        return Scalar(sx.integer(int(value)), dtype, Kind.EXACT, const=int(value))
    v = float(value)
    return Scalar(sx.num(v), dtype, Kind.EXACT, const=v)


@dataclasses.dataclass
class Tensor:
    """A batch tensor: ``shape`` are the dimensions after N, ``cols`` in row-major order."""

    cols: list[Scalar]
    shape: tuple[int, ...] = (1,)
    simplex: bool = False  # columns are probabilities that sum to one
    labels: list[t.Any] | None = None  # class labels of probability columns

    def __post_init__(self) -> None:
        if int(np.prod(self.shape)) != len(self.cols):
            raise ValueError(f"shape {self.shape} does not hold {len(self.cols)} columns")

    @property
    def width(self) -> int:
        return len(self.cols)


Value = Tensor | np.ndarray


def float_tensor(cols: list[Scalar], **kwargs: t.Any) -> Tensor:
    return Tensor(cols, (len(cols),), **kwargs)


# --- elementwise arithmetic with constant folding --------------------------------------


def _float32_pair(a: Scalar, b: Scalar, op: t.Callable) -> exp.Expression | None:
    ea, eb = a.float32_expr(), b.float32_expr()
    if ea is None or eb is None:
        return None
    return sx.f32(op(ea, eb))


def _chain(a: Scalar, b: Scalar, op: str) -> Monotone | None:
    """Extend a monotone float32 chain when one side is a constant."""
    if not b.is_const or a.dtype is not DType.FLOAT:
        return None
    if a.monotone is not None:
        return Monotone(a.monotone.source, (*a.monotone.steps, (op, float(b.const))))
    if a.kind in (Kind.ROUND32, Kind.EXACT) and not a.is_const:
        return Monotone(a, ((op, float(b.const)),))
    return None


def _result(
    node: exp.Expression, a: Scalar, b: Scalar, exact32: exp.Expression | None, op: str = ""
):
    return Scalar(
        node,
        DType.FLOAT,
        Kind.APPROX,
        nullable=a.nullable or b.nullable,
        exact32_node=exact32,
        monotone=_chain(a, b, op) if op else None,
    )


def _fold(a: Scalar, b: Scalar, fn: t.Callable[[float, float], float]) -> Scalar | None:
    if a.is_const and b.is_const:
        return constant(float(np.float32(fn(np.float32(a.const), np.float32(b.const)))))
    return None


def add(a: Scalar, b: Scalar) -> Scalar:
    if a.is_const and not b.is_const:
        a, b = b, a  # commutative: keep the constant on the right for monotone chains
    folded = _fold(a, b, lambda x, y: x + y)
    if folded is not None:
        return folded
    if b.is_const and b.const == 0.0 and a.dtype is DType.FLOAT:
        return a
    if a.is_const and a.const == 0.0 and b.dtype is DType.FLOAT:
        return b
    return _result(sx.add(a.expr, b.expr), a, b, _float32_pair(a, b, sx.add), "add")


def sub(a: Scalar, b: Scalar) -> Scalar:
    folded = _fold(a, b, lambda x, y: x - y)
    if folded is not None:
        return folded
    if b.is_const and b.const == 0.0 and a.dtype is DType.FLOAT:
        return a
    return _result(sx.sub(a.expr, b.expr), a, b, _float32_pair(a, b, sx.sub), "sub")


def mul(a: Scalar, b: Scalar) -> Scalar:
    if a.is_const and not b.is_const:
        a, b = b, a
    folded = _fold(a, b, lambda x, y: x * y)
    if folded is not None:
        return folded
    for x, y in ((a, b), (b, a)):
        # NULL * 0 is NULL in SQL as NaN * 0 is NaN in ONNX: fold only non-nullable values.
        if y.is_const and y.const == 0.0 and not x.nullable:
            return constant(0.0)
        if y.is_const and y.const == 1.0 and x.dtype is DType.FLOAT:
            return x
    return _result(sx.mul(a.expr, b.expr), a, b, _float32_pair(a, b, sx.mul), "mul")


def div(a: Scalar, b: Scalar) -> Scalar:
    if b.is_const and b.const == 0.0:
        return _result(sx.div(a.expr, b.expr), a, b, None)
    folded = _fold(a, b, lambda x, y: x / y)
    if folded is not None:
        return folded
    if b.is_const and b.const == 1.0 and a.dtype is DType.FLOAT:
        return a
    return _result(sx.div(a.expr, b.expr), a, b, _float32_pair(a, b, sx.div), "div")


def unary(a: Scalar, fn: t.Callable[[exp.Expression], exp.Expression]) -> Scalar:
    """Apply a SQL function; the result is computed in double."""
    return Scalar(fn(a.expr), DType.FLOAT, Kind.APPROX, nullable=a.nullable)


# --- linear combinations ---------------------------------------------------------------


def dot(xs: t.Sequence[Scalar], coefs: t.Sequence[float], intercept: float = 0.0) -> Scalar:
    """``sum(c_i * x_i) + intercept`` in double.

    One-hot columns of the same source collapse into one ``CASE source WHEN ...``, so a
    text feature with 50 categories costs one CASE instead of 50 products.
    """
    bias = float(intercept)
    terms: list[exp.Expression] = []
    groups: dict[str, tuple[OneHot, list[tuple[t.Any, float]]]] = {}
    nullable = False
    for x, c in zip(xs, coefs, strict=True):
        c = float(c)
        if c == 0.0 and not x.nullable:
            continue
        if x.is_const:
            bias += c * float(x.const)
        elif x.onehot is not None:
            groups.setdefault(x.onehot.key, (x.onehot, []))[1].append((x.onehot.category, c))
        else:
            nullable = nullable or x.nullable
            terms.append(x.expr if c == 1.0 else sx.mul(x.expr, sx.num(c)))
    for onehot, pairs in groups.values():
        terms.append(
            sx.simple_case(
                onehot.source.copy(),
                [(sx.label(cat), sx.num(c)) for cat, c in pairs],
                sx.num(0.0),
            )
        )
    if not terms:
        return constant(bias)
    if bias != 0.0:
        terms.append(sx.num(bias))
    # Order does not matter in double; a balanced sum keeps the nesting depth at log2(n).
    return Scalar(sx.balanced_total(terms), DType.FLOAT, Kind.APPROX, nullable=nullable)
