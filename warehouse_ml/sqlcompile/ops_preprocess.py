"""Translators of the preprocessing operators: Imputer, Scaler, Normalizer, OneHotEncoder."""

from __future__ import annotations

import math

import onnx

from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile import symbolic as sy
from warehouse_ml.sqlcompile.registry import ML, Context, attrs, fail, register, tensor_input
from warehouse_ml.sqlcompile.symbolic import DType, Kind, OneHot, Scalar, Tensor, Value


def _per_column(node: onnx.NodeProto, values: list, width: int, name: str) -> list[float]:
    if len(values) == 1:
        return [float(values[0])] * width
    if len(values) != width:
        raise fail(node, f"{name} has {len(values)} values for {width} columns")
    return [float(v) for v in values]


def impute(s: Scalar, value: float) -> Scalar:
    """NaN (NULL in SQL, as the scorer feeds NaN for NULL) becomes ``value``."""
    if not s.nullable:
        return s
    fill = sx.num(value)
    exact32 = s.float32_expr() if s.kind is Kind.APPROX else None
    return Scalar(
        sx.coalesce(s.expr, fill),
        s.dtype,
        s.kind,  # the imputed value is a float32 constant: exactness is kept
        nullable=False,
        exact32_node=sx.coalesce(exact32, sx.num(value)) if exact32 is not None else None,
    )


@register("Imputer", domain=ML)
def imputer(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    a = attrs(node)
    tensor = tensor_input(node, inputs[0])
    if a.get("imputed_value_int64s"):
        raise fail(node, "integer imputation is not supported")
    replaced = float(a.get("replaced_value_float", 0.0))
    if not math.isnan(replaced):
        raise fail(
            node,
            f"replaced_value_float={replaced}: only NaN (missing) replacement is supported",
            hint="Impute missing values only (SimpleImputer(missing_values=np.nan)).",
        )
    fills = _per_column(
        node, a.get("imputed_value_floats", []), tensor.width, "imputed_value_floats"
    )
    return [Tensor([impute(s, v) for s, v in zip(tensor.cols, fills, strict=True)], tensor.shape)]


@register("Scaler", domain=ML)
def scaler(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    """y = (x - offset) * scale, each step float32 in onnxruntime (kept in ``exact32``)."""
    a = attrs(node)
    tensor = tensor_input(node, inputs[0])
    offsets = _per_column(node, a.get("offset", [0.0]), tensor.width, "offset")
    scales = _per_column(node, a.get("scale", [1.0]), tensor.width, "scale")
    cols = [
        sy.mul(sy.sub(s, sy.constant(o)), sy.constant(k))
        for s, o, k in zip(tensor.cols, offsets, scales, strict=True)
    ]
    return [Tensor(cols, tensor.shape)]


@register("Normalizer", domain=ML)
def normalizer(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    norm = attrs(node).get("norm", "MAX")
    tensor = tensor_input(node, inputs[0])
    if norm == "L1" and tensor.simplex:
        # skl2onnx divides softmax output by its L1 norm: already 1, an identity.
        return [tensor]
    exprs = [s.expr for s in tensor.cols]
    if norm == "L1":
        scale = sx.total([sx.abs_(e) for e in exprs])
    elif norm == "L2":
        scale = sx.sqrt(sx.total([sx.mul(e, e.copy()) for e in exprs]))
    elif norm == "MAX":
        scale = sx.greatest(*exprs) if len(exprs) > 1 else exprs[0]
    else:
        raise fail(node, f"norm {norm} is not supported")
    cols = [
        Scalar(sx.div(s.expr, scale.copy()), DType.FLOAT, Kind.APPROX, nullable=s.nullable)
        for s in tensor.cols
    ]
    return [Tensor(cols, tensor.shape, simplex=norm == "L1", labels=tensor.labels)]


def _flag(source: Scalar, category: object) -> Scalar:
    """1.0 when ``source = category``, else 0.0, marked so consumers see the comparison."""
    if source.is_const:
        return sy.constant(1.0 if source.const == category else 0.0)
    cond = sx.compare("=", source.expr, sx.label(category))
    expr = sx.case([(cond, sx.num(1.0))], sx.num(0.0))
    onehot = OneHot(key=source.node.sql(), source=source.node, category=category)
    return Scalar(expr, DType.FLOAT, Kind.EXACT, onehot=None if source.nullable else onehot)


@register("OneHotEncoder", domain=ML)
def one_hot_encoder(ctx: Context, node: onnx.NodeProto, inputs: list) -> list[Value]:
    a = attrs(node)
    tensor = tensor_input(node, inputs[0])
    categories = a.get("cats_strings") or [int(v) for v in a.get("cats_int64s", [])]
    if not a.get("zeros", 1):
        ctx.note(
            f"{node.name or 'OneHotEncoder'}: onnxruntime fails on unknown categories "
            "(zeros=0); the SQL encodes them as all zeros."
        )
    cols = [_flag(s, c) for s in tensor.cols for c in categories]
    return [Tensor(cols, (*tensor.shape, len(categories)))]
