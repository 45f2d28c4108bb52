"""Translators of the default-domain operators: shapes, casts and arithmetic.

These cover what skl2onnx emits around the ML operators: column selection
(Concat, Gather, ArrayFeatureExtractor, Reshape) and the arithmetic of KMeans
(ReduceSumSquare, Mul, Gemm, Add, ArgMin, Sqrt).
"""

from __future__ import annotations

import typing as t

import numpy as np
import onnx
from onnx import TensorProto

from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile import symbolic as sy
from warehouse_ml.sqlcompile.registry import (
    ML,
    Context,
    attrs,
    const_input,
    fail,
    register,
    tensor_input,
)
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Scalar, Tensor, Value

# --- structure -------------------------------------------------------------------------


@register("Identity")
def identity(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    return [inputs[0]]


@register("Constant")
def constant_op(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    a = attrs(node)
    if "value" not in a:
        raise fail(node, "only the 'value' form of Constant is supported")
    return [np.asarray(a["value"])]


def _last_axis(node: onnx.NodeProto, axis: int, rank: int) -> None:
    # rank counts the batch dimension; only the feature axis (last, of rank 2) is symbolic.
    if axis not in (1, -1) or rank != 2:
        raise fail(node, f"axis {axis} of a rank-{rank} tensor; only axis 1 of [N, k] is supported")


def _grid(tensor: Tensor) -> np.ndarray:
    """The columns as an object array of the tensor's feature shape."""
    grid = np.empty(len(tensor.cols), dtype=object)
    grid[:] = tensor.cols
    return grid.reshape(tensor.shape)


@register("Concat")
def concat(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    axis = attrs(node).get("axis", 1)
    if all(isinstance(v, np.ndarray) for v in inputs):
        return [np.concatenate(inputs, axis=axis)]
    tensors = [tensor_input(node, v, i) for i, v in enumerate(inputs)]
    rank = len(tensors[0].shape) + 1
    if any(len(x.shape) + 1 != rank for x in tensors) or axis % rank == 0:
        raise fail(node, f"axis {axis}: only feature axes of equal-rank tensors are supported")
    joined = np.concatenate([_grid(x) for x in tensors], axis=axis % rank - 1)
    return [Tensor(list(joined.ravel()), joined.shape)]


def _select(node: onnx.NodeProto, tensor: Tensor, indices: np.ndarray) -> Tensor:
    _last_axis(node, 1, len(tensor.shape) + 1)
    flat = [int(i) + (tensor.width if i < 0 else 0) for i in np.ravel(indices)]
    if any(not 0 <= i < tensor.width for i in flat):
        raise fail(node, f"index out of range for a tensor of width {tensor.width}")
    cols = [tensor.cols[i] for i in flat]
    shape = () if np.ndim(indices) == 0 else (len(cols),)
    return Tensor(cols, shape)


@register("Gather")
def gather(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    indices = const_input(node, inputs[1], 1)
    if isinstance(inputs[0], np.ndarray):
        return [np.take(inputs[0], indices, axis=attrs(node).get("axis", 0))]
    tensor = tensor_input(node, inputs[0])
    _last_axis(node, attrs(node).get("axis", 0), len(tensor.shape) + 1)
    return [_select(node, tensor, indices)]


@register("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    tensor = tensor_input(node, inputs[0])
    indices = np.ravel(const_input(node, inputs[1], 1))
    return [_select(node, tensor, indices)]


def _reshaped(node: onnx.NodeProto, tensor: Tensor, target: list[int]) -> Tensor:
    if target == [-1] and tensor.width == 1:
        return Tensor(tensor.cols, ())
    if not target or target[0] not in (-1, 0):
        raise fail(node, f"reshape to {target} would mix rows; only [-1, ...] is supported")
    rest = list(target[1:])
    if rest.count(-1) == 1:
        known = int(np.prod([d for d in rest if d != -1])) or 1
        rest[rest.index(-1)] = tensor.width // known
    if int(np.prod(rest)) != tensor.width or any(d <= 0 for d in rest):
        raise fail(node, f"cannot reshape {tensor.width} columns to {target}")
    return Tensor(tensor.cols, tuple(rest), tensor.simplex, tensor.labels)


@register("Reshape")
def reshape(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    shape = [int(d) for d in const_input(node, inputs[1], 1)]
    if isinstance(inputs[0], np.ndarray):
        return [inputs[0].reshape(shape)]
    return [_reshaped(node, tensor_input(node, inputs[0]), shape)]


@register("Flatten")
def flatten(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    if attrs(node).get("axis", 1) != 1:
        raise fail(node, "only axis=1 is supported")
    tensor = tensor_input(node, inputs[0])
    return [Tensor(tensor.cols, (tensor.width,), tensor.simplex, tensor.labels)]


def _axes(node: onnx.NodeProto, inputs: list) -> list[int] | None:
    if len(inputs) > 1 and inputs[1] is not None:
        return [int(a) for a in np.ravel(const_input(node, inputs[1], 1))]
    axes = attrs(node).get("axes")
    return None if axes is None else [int(a) for a in axes]


@register("Squeeze")
def squeeze(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    tensor = tensor_input(node, inputs[0])
    axes = _axes(node, inputs)
    rank = len(tensor.shape) + 1
    drop = (
        {a % rank for a in axes}
        if axes is not None
        else {i + 1 for i, d in enumerate(tensor.shape) if d == 1}
    )
    if 0 in drop or any(tensor.shape[a - 1] != 1 for a in drop):
        raise fail(node, "only size-1 feature axes can be squeezed")
    shape = tuple(d for i, d in enumerate(tensor.shape) if i + 1 not in drop)
    return [Tensor(tensor.cols, shape, tensor.simplex, tensor.labels)]


@register("Unsqueeze")
def unsqueeze(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    tensor = tensor_input(node, inputs[0])
    shape = list(tensor.shape)
    for a in sorted(_axes(node, inputs) or []):
        a = a % (len(shape) + 2)
        if a == 0:
            raise fail(node, "cannot add an axis before the batch axis")
        shape.insert(a - 1, 1)
    return [Tensor(tensor.cols, tuple(shape), tensor.simplex, tensor.labels)]


# --- casts -------------------------------------------------------------------------------

_CASTS = {
    TensorProto.FLOAT: DType.FLOAT,
    TensorProto.DOUBLE: DType.DOUBLE,
    TensorProto.INT64: DType.INT64,
    TensorProto.INT32: DType.INT64,
    TensorProto.BOOL: DType.BOOL,
}


def cast_scalar(node: onnx.NodeProto, s: Scalar, to: DType) -> Scalar:
    """Cast one column with onnxruntime's semantics (float to int truncates)."""
    if s.dtype is to or (s.dtype.is_numeric and to is DType.DOUBLE):
        return (
            s
            if s.dtype is to
            else Scalar(s.node, to, s.kind, s.nullable, s.const, s.onehot, s.exact32_node)
        )
    if to is DType.FLOAT and s.dtype is DType.DOUBLE:
        kind = Kind.ROUND32 if s.kind is Kind.EXACT else s.kind
        return Scalar(s.node, to, kind, s.nullable, s.const, s.onehot)
    if to is DType.FLOAT and s.dtype in (DType.INT64, DType.BOOL):
        expr = s.expr if s.dtype is DType.INT64 else sx.case([(s.expr, sx.num(1.0))], sx.num(0.0))
        return Scalar(sx.cast(expr, sx.DOUBLE), to, Kind.ROUND32, s.nullable)
    if to is DType.INT64 and s.dtype in (DType.FLOAT, DType.DOUBLE):
        return Scalar(sx.cast(sx.exp.Trunc(this=s.expr), sx.BIGINT), to, Kind.EXACT, s.nullable)
    if to is DType.BOOL and s.dtype.is_numeric:
        return Scalar(sx.compare("<>", s.expr, sx.num(0.0)), to, Kind.EXACT, s.nullable)
    raise fail(node, f"casting {s.dtype.value} to {to.value} is not supported")


@register("Cast")
def cast(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    to = attrs(node)["to"]
    if isinstance(inputs[0], np.ndarray):
        return [inputs[0].astype(onnx.helper.tensor_dtype_to_np_dtype(to))]
    if to not in _CASTS:
        raise fail(node, f"cast to {TensorProto.DataType.Name(to)} is not supported")
    tensor = tensor_input(node, inputs[0])
    cols = [cast_scalar(node, s, _CASTS[to]) for s in tensor.cols]
    return [Tensor(cols, tensor.shape, tensor.simplex, tensor.labels)]


# --- elementwise arithmetic ----------------------------------------------------------------


def _as_grid(node: onnx.NodeProto, value: Value, shape: tuple[int, ...]) -> np.ndarray:
    """Index grid (object array of Scalars) of ``value`` broadcast over feature ``shape``."""
    if isinstance(value, Tensor):
        grid = np.empty(len(value.cols), dtype=object)
        grid[:] = value.cols
        return np.broadcast_to(grid.reshape(value.shape), shape)
    arr = np.asarray(value, dtype=np.float32)
    lead = arr.ndim - len(shape)
    if lead > 0:
        if any(d != 1 for d in arr.shape[:lead]):
            raise fail(node, f"a constant of shape {arr.shape} would broadcast over rows")
        arr = arr.reshape(arr.shape[lead:])
    grid = np.empty(arr.size, dtype=object)
    grid[:] = [sy.constant(float(v)) for v in arr.ravel()]
    return np.broadcast_to(grid.reshape(arr.shape), shape)


def _feature_shape(value: Value) -> tuple[int, ...]:
    if isinstance(value, Tensor):
        return value.shape
    arr = np.asarray(value)
    return arr.shape[1:] if arr.ndim > 1 else arr.shape


def elementwise(
    node: onnx.NodeProto, a: Value, b: Value, fn: t.Callable[[Scalar, Scalar], Scalar]
) -> Value:
    shape = tuple(np.broadcast_shapes(_feature_shape(a), _feature_shape(b)))
    ga, gb = _as_grid(node, a, shape), _as_grid(node, b, shape)
    cols = [fn(x, y) for x, y in zip(ga.ravel(), gb.ravel(), strict=True)]
    return Tensor(cols, shape)


def _binary(fn: t.Callable[[Scalar, Scalar], Scalar], np_fn: t.Callable) -> t.Callable:
    def translate(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
        a, b = inputs[0], inputs[1]
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return [np_fn(a, b)]
        return [elementwise(node, a, b, fn)]

    return translate


register("Add")(_binary(sy.add, np.add))
register("Sub")(_binary(sy.sub, np.subtract))
register("Mul")(_binary(sy.mul, np.multiply))
register("Div")(_binary(sy.div, np.divide))


def _unary(fn: t.Callable[[sx.exp.Expression], sx.exp.Expression], np_fn: t.Callable):
    def translate(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
        if isinstance(inputs[0], np.ndarray):
            return [np_fn(inputs[0])]
        tensor = tensor_input(node, inputs[0])
        return [Tensor([sy.unary(s, fn) for s in tensor.cols], tensor.shape)]

    return translate


register("Sqrt")(_unary(sx.sqrt, np.sqrt))
register("Abs")(_unary(sx.abs_, np.abs))
# Clamped: Postgres and Redshift raise on EXP overflow or underflow where onnxruntime's
# float32 gives inf or 0 (a log-link regressor's Exp never comes near the limits).
register("Exp")(_unary(sx.safe_exp, np.exp))
register("Neg")(_unary(sx.neg, np.negative))


@register("Clip")
def clip(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    """``LEAST(GREATEST(x, low), high)`` with constant bounds (opset 11+: inputs; a missing
    bound is no bound). The link guard of a log-link GLM (ml/link_guard.py) is one."""
    bounds = []
    for position in (1, 2):
        given = inputs[position] if len(inputs) > position else None
        bounds.append(
            None if given is None else float(np.asarray(const_input(node, given, position)).ravel()[0])
        )
    low, high = bounds
    if isinstance(inputs[0], np.ndarray):
        return [np.clip(inputs[0], low, high)]

    def bounded(s: Scalar) -> Scalar:
        # GREATEST and LEAST skip NULLs in most dialects: a NULL input stays NULL.
        expr = s.expr if low is None else sx.greatest(s.expr, sx.num(low))
        expr = expr if high is None else sx.least(expr, sx.num(high))
        expr = sx.null_guard(expr, s.expr) if s.nullable else expr
        return Scalar(expr, s.dtype, s.kind, nullable=s.nullable)

    tensor = tensor_input(node, inputs[0])
    return [Tensor([bounded(s) for s in tensor.cols], tensor.shape)]


# --- linear algebra ------------------------------------------------------------------------


def _matrix_columns(tensor: Tensor, matrix: np.ndarray, node: onnx.NodeProto) -> list[np.ndarray]:
    if matrix.ndim != 2 or matrix.shape[0] != tensor.width:
        raise fail(node, f"a [{tensor.width}] row times a {matrix.shape} matrix")
    return [matrix[:, j] for j in range(matrix.shape[1])]


@register("Gemm")
def gemm(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    """Y = alpha * A @ B + beta * C with A the features and B, C constants or C a tensor."""
    a = attrs(node)
    if a.get("transA", 0):
        raise fail(node, "transA=1 (features as columns) is not supported")
    x = tensor_input(node, inputs[0])
    b = const_input(node, inputs[1], 1).astype(np.float64)
    b = b.T if a.get("transB", 0) else b
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    cols = [sy.dot(x.cols, alpha * w) for w in _matrix_columns(x, b, node)]
    out: Value = sy.float_tensor(cols)
    if len(inputs) > 2 and inputs[2] is not None:
        c = inputs[2]
        c = (
            c * beta
            if isinstance(c, np.ndarray)
            else elementwise(node, c, np.float32(beta), sy.mul)
        )
        out = elementwise(node, out, c, sy.add)
    return [out]


@register("MatMul")
def matmul(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    x = tensor_input(node, inputs[0])
    b = const_input(node, inputs[1], 1).astype(np.float64)
    if b.ndim == 1 and len(x.shape) == 1 and b.shape[0] == x.width:
        # [N, k] @ [k] -> [N] (numpy's rule for a 1-D right side): skl2onnx's GLMs
        # (PoissonRegressor, TweedieRegressor, ...) write their coefficients this way.
        return [Tensor([sy.dot(x.cols, b)], ())]
    return [sy.float_tensor([sy.dot(x.cols, w) for w in _matrix_columns(x, b, node)])]


def _reduce(ctx: Context, node: onnx.NodeProto, inputs: list, square: bool) -> list[Value]:
    tensor = tensor_input(node, inputs[0])
    axes = _axes(node, inputs)
    if axes is not None and [a % 2 for a in axes] != [1] or len(tensor.shape) != 1:
        raise fail(node, "only the reduction of axis 1 of [N, k] is supported")
    terms = [sy.mul(s, s) if square else s for s in tensor.cols]
    total = terms[0]
    for term in terms[1:]:
        total = sy.add(total, term)
    keep = attrs(node).get("keepdims", 1)
    return [Tensor([total], (1,) if keep else ())]


@register("ReduceSumSquare")
def reduce_sum_square(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    return _reduce(ctx, node, inputs, square=True)


@register("ReduceSum")
def reduce_sum(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    return _reduce(ctx, node, inputs, square=False)


def _arg(ctx: Context, node: onnx.NodeProto, inputs: list, op: str) -> list[Value]:
    a = attrs(node)
    tensor = tensor_input(node, inputs[0])
    _last_axis(node, a.get("axis", 0), len(tensor.shape) + 1)
    if a.get("select_last_index", 0):
        raise fail(node, "select_last_index=1 is not supported")
    values = [s.expr for s in tensor.cols]
    labels = [sx.integer(i) for i in range(len(values))]
    winner = Scalar(sx.first_arg(values, labels, op), DType.INT64, Kind.EXACT)
    return [Tensor([winner], (1,) if a.get("keepdims", 1) else ())]


@register("ArgMin")
def argmin(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    return _arg(ctx, node, inputs, "<=")


@register("ArgMax")
def argmax(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    return _arg(ctx, node, inputs, ">=")
