"""Builders of sqlglot expressions that render to exactly the arithmetic we mean.

sqlglot does not add parentheses from operator precedence: the tree
``Mul(Add(a, b), c)`` renders as ``a + b * c``. Every builder here wraps its
operands where precedence or the floating-point evaluation order needs it, so the
rendered SQL computes the tree that was built, in every dialect.

Numbers are always DOUBLE: a bare ``0.3`` is a DECIMAL in DuckDB, Postgres and
Redshift, and DECIMAL arithmetic is about 3x slower (FINDINGS.md).

>>> add(col("x"), num(0.5)).sql()
'x + CAST(0.5 AS DOUBLE)'
>>> mul(add(col("x"), num(1.0)), num(2.0)).sql()
'(x + CAST(1.0 AS DOUBLE)) * CAST(2.0 AS DOUBLE)'
"""

from __future__ import annotations

import contextlib
import math
import sys
import typing as t

import numpy as np
from sqlglot import exp

from warehouse_ml.errors import CompilationError

DOUBLE = exp.DataType.build("DOUBLE")
# One node shared by every DOUBLE literal's cast (expressions here are DAGs: ddl.py and the
# generator never follow parent pointers), not a copy per literal.
_LITERAL_TYPE = exp.DataType.build("DOUBLE")
FLOAT32 = exp.DataType.build("FLOAT")  # REAL / FLOAT4 where the dialect has it
BIGINT = exp.DataType.build("BIGINT")
VARCHAR = exp.DataType.build("VARCHAR")
BOOLEAN = exp.DataType.build("BOOLEAN")

# Nodes that render as one token or a self-delimited call, never needing parentheses.
_ATOMIC = (
    exp.Column,
    exp.Literal,
    exp.Func,  # Cast, Case, Coalesce, Exp, ... render with their own parentheses
    exp.Paren,
    exp.Null,
    exp.Boolean,
    exp.Parameter,
    exp.Neg,  # neg() wraps a compound operand itself
)
_PRODUCT = (exp.Mul, exp.Div)
_ARITH = (exp.Add, exp.Sub, exp.Mul, exp.Div)


def _wrap(node: exp.Expression, allowed: tuple[type, ...] = ()) -> exp.Expression:
    return node if isinstance(node, _ATOMIC + allowed) else exp.Paren(this=node)


def col(name: str) -> exp.Column:
    """A quoted column reference: feature names may be reserved words (``order``)."""
    return exp.column(exp.to_identifier(name, quoted=True))


def num(value: float) -> exp.Expression:
    """A DOUBLE literal that round-trips ``value`` exactly (shortest repr, positional)."""
    v = float(value)
    if not math.isfinite(v):
        raise CompilationError(
            f"the model holds the non-finite constant {v!r}, which SQL cannot write as a "
            "literal. Retrain without infinite thresholds or weights."
        )
    text = repr(abs(v))  # shortest digits that round-trip
    if "e" in text:  # spell small and huge values out: not every dialect reads 1e-05
        positional = np.format_float_positional(abs(v), unique=True, trim="0")
        text = positional if len(positional) <= 40 else text
    cast = exp.Cast(this=exp.Literal.number(text), to=_LITERAL_TYPE)
    return exp.Neg(this=cast) if v < 0 else cast


def integer(value: int) -> exp.Expression:
    """An integer literal (labels, cluster ids)."""
    v = int(value)
    lit = exp.Literal.number(str(abs(v)))
    return exp.Neg(this=lit) if v < 0 else lit


def text(value: str) -> exp.Literal:
    """A string literal; sqlglot escapes quotes per dialect."""
    return exp.Literal.string(value)


def label(value: t.Any) -> exp.Expression:
    """A class label literal: integers stay integers, anything else is a string."""
    if isinstance(value, (int, np.integer)):
        return integer(int(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return text(str(value))


def cast(node: exp.Expression, to: exp.DataType) -> exp.Cast:
    return exp.Cast(this=node, to=to.copy())


def f32(node: exp.Expression) -> exp.Cast:
    """Round to float32, the way each float32 ONNX operation rounds its result."""
    return cast(node, FLOAT32)


def add(a: exp.Expression, b: exp.Expression) -> exp.Add:
    return exp.Add(this=_wrap(a, _ARITH), expression=_wrap(b, _PRODUCT))


def sub(a: exp.Expression, b: exp.Expression) -> exp.Sub:
    return exp.Sub(this=_wrap(a, _ARITH), expression=_wrap(b, _PRODUCT))


def mul(a: exp.Expression, b: exp.Expression) -> exp.Mul:
    return exp.Mul(this=_wrap(a, _PRODUCT), expression=_wrap(b))


def div(a: exp.Expression, b: exp.Expression) -> exp.Div:
    # typed=True: both sides are DOUBLE, so no dialect needs sqlglot's float-division cast.
    return exp.Div(this=_wrap(a, _PRODUCT), expression=_wrap(b), typed=True)


def neg(a: exp.Expression) -> exp.Neg:
    return exp.Neg(this=_wrap(a))


def total(terms: t.Sequence[exp.Expression]) -> exp.Expression:
    """Left-to-right sum: the evaluation order of the terms is kept."""
    if not terms:
        return num(0.0)
    acc = terms[0]
    for term in terms[1:]:
        acc = add(acc, term)
    return acc


# A left-to-right sum whose rounding order matters (a tree ensemble's float32 running
# sum), kept as a marker call until ddl.py writes it per dialect: DuckDB as one
# list_reduce (a chain of n additions nests n levels, and DuckDB's optimizer spends time
# quadratic in that depth: 71 s to plan 300 trees, 3.7 s as list_reduce), the others as
# the chain. (sqlglot's compiled classes cannot be subclassed, hence a named call.)
ORDERED_SUM = "wml_ordered_sum"


# Shorter sums stay a chain everywhere: planning it is cheap, and list_reduce costs some
# per-row time (10 trees: 0.50 against 0.61 M rows/s as a chain, benchmarks/trees_sql.py).
ORDERED_SUM_MIN_TERMS = 32


def is_ordered_sum(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name == ORDERED_SUM


def ordered_sum(terms: t.Sequence[exp.Expression]) -> exp.Expression:
    """A left-to-right sum rendered per dialect (see :data:`ORDERED_SUM`)."""
    if len(terms) < ORDERED_SUM_MIN_TERMS:
        return total(terms)
    return exp.Anonymous(this=ORDERED_SUM, expressions=list(terms))


def reduce_sum(terms: t.Sequence[exp.Expression]) -> exp.Expression:
    """DuckDB: ``list_reduce([t1, ..., tn], lambda s, t: s + t)``, left to right in the
    list's element type (REAL terms stay float32)."""
    a, b = exp.to_identifier("wml_sum"), exp.to_identifier("wml_tree")
    step = exp.Lambda(this=exp.Add(this=exp.column(a.copy()), expression=exp.column(b.copy())),
                      expressions=[a, b])
    return exp.Anonymous(this="list_reduce", expressions=[exp.Array(expressions=list(terms)), step])


def balanced_total(terms: t.Sequence[exp.Expression]) -> exp.Expression:
    """Pairwise sum, depth log2(n): for long sums whose order does not matter."""
    if not terms:
        return num(0.0)
    level = list(terms)
    while len(level) > 1:
        paired = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


_COMPARE = {
    "<=": exp.LTE,
    "<": exp.LT,
    ">=": exp.GTE,
    ">": exp.GT,
    "=": exp.EQ,
    "<>": exp.NEQ,
}
COMPLEMENT = {"<=": ">", "<": ">=", ">=": "<", ">": "<=", "=": "<>", "<>": "="}


def compare(op: str, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _COMPARE[op](this=_wrap(a, _ARITH), expression=_wrap(b, _ARITH))


def and_(*conds: exp.Expression) -> exp.Expression:
    return exp.and_(*conds, copy=False)


def or_(*conds: exp.Expression) -> exp.Expression:
    return exp.or_(*conds, copy=False)


def is_null(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=_wrap(node), expression=exp.Null())


def case(whens: t.Sequence[tuple[exp.Expression, exp.Expression]], default: exp.Expression):
    """``CASE WHEN c1 THEN v1 ... ELSE default END``."""
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in whens], default=default)


def simple_case(
    subject: exp.Expression,
    pairs: t.Sequence[tuple[exp.Expression, exp.Expression]],
    default: exp.Expression,
) -> exp.Case:
    """``CASE subject WHEN k1 THEN v1 ... ELSE default END``."""
    return exp.Case(this=subject, ifs=[exp.If(this=k, true=v) for k, v in pairs], default=default)


def coalesce(node: exp.Expression, default: exp.Expression) -> exp.Coalesce:
    return exp.Coalesce(this=node, expressions=[default])


def exp_(node: exp.Expression) -> exp.Exp:
    return exp.Exp(this=node)


def sqrt(node: exp.Expression) -> exp.Sqrt:
    return exp.Sqrt(this=node)


def abs_(node: exp.Expression) -> exp.Abs:
    return exp.Abs(this=node)


def greatest(*nodes: exp.Expression) -> exp.Greatest:
    return exp.Greatest(this=nodes[0], expressions=list(nodes[1:]), ignore_nulls=True)


def least(*nodes: exp.Expression) -> exp.Least:
    return exp.Least(this=nodes[0], expressions=list(nodes[1:]), ignore_nulls=True)


# EXP of a larger magnitude overflows or underflows a double; Postgres and Redshift
# raise an error instead of returning inf or 0, so every exponent is clamped.
EXP_LIMIT = 700.0


def safe_exp(node: exp.Expression) -> exp.Expression:
    return exp_(least(greatest(node, num(-EXP_LIMIT)), num(EXP_LIMIT)))


def null_guard(value: exp.Expression, *inputs: exp.Expression) -> exp.Expression:
    """NULL when any input is NULL: GREATEST and LEAST skip NULLs in most dialects."""
    return case([(or_(*(is_null(i) for i in inputs)), exp.Null())], value)


def sigmoid(score: exp.Expression, nullable: bool = False) -> exp.Expression:
    """1 / (1 + e^-s), clamped so no dialect raises on overflow; NULL stays NULL."""
    value = div(num(1.0), add(num(1.0), safe_exp(neg(score))))
    return null_guard(value, score) if nullable else value


def first_arg(
    values: t.Sequence[exp.Expression],
    labels: t.Sequence[exp.Expression],
    op: str,
    nullable: bool = False,
) -> exp.Expression:
    """The label of the first best value, ``op`` '>=' for argmax, '<=' for argmin.

    A value wins when it is at least as good as every later one; all earlier values
    have lost by then, so ties go to the lowest index, as in onnxruntime. With
    ``nullable``, NULL plays NaN in onnxruntime's running maximum: a NaN first value
    keeps index 0, later NaNs never win.
    """
    whens = [(is_null(values[0]), labels[0])] if nullable else []
    for i in range(len(values) - 1):
        conds = []
        for j in range(i + 1, len(values)):
            cond = compare(op, values[i], values[j])
            conds.append(or_(cond, is_null(values[j])) if nullable else cond)
        whens.append((and_(*conds), labels[i]))
    if not whens:
        return labels[0]
    return case(whens, labels[-1])


def size(node: exp.Expression) -> tuple[int, int]:
    """``(nodes, depth)`` of the expression as rendered, in one pass over the DAG of
    shared nodes (each visited once, no recursion; shared nodes count once per use)."""
    memo: dict[int, tuple[int, int]] = {}
    stack: list[tuple[exp.Expression, list[exp.Expression] | None]] = [(node, None)]
    while stack:
        current, children = stack.pop()
        if children is None:
            if id(current) in memo:
                continue
            children = list(current.iter_expressions())
            stack.append((current, children))
            stack.extend((c, None) for c in children if id(c) not in memo)
        else:
            count, deepest = 1, 0
            for c in children:
                n, d = memo[id(c)]
                count += n
                deepest = d if d > deepest else deepest
            memo[id(current)] = (count, deepest + 1)
    return memo[id(node)]


def depth(node: exp.Expression) -> int:
    """Nesting depth of the expression as rendered."""
    return size(node)[1]


def node_count(node: exp.Expression) -> int:
    """Nodes of the expression as rendered."""
    return size(node)[0]


@contextlib.contextmanager
def deep_recursion(limit: int = 50_000) -> t.Iterator[None]:
    """Let sqlglot render or parse deeply nested trees (its generator recurses per level)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
