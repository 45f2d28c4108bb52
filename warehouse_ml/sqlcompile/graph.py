"""Walk an ONNX graph symbolically and return one SQL expression for one output.

Each graph input (one per raw feature column, shape [N, 1]) becomes a column
reference: numeric inputs as they are (onnxruntime sees them rounded to float32;
the tree splits account for it), text inputs as ``COALESCE(col, sentinel)`` because
the scorer maps NULL to the same sentinel before calling onnxruntime. Only the nodes
the requested output depends on are translated, in topological order.
"""

from __future__ import annotations

import typing as t

import onnx
from onnx import TensorProto, numpy_helper
from sqlglot import exp

from warehouse_ml.errors import CompilationError
from warehouse_ml.gc_pause import pausing
from warehouse_ml.sqlcompile import (  # noqa: F401  (imports register the translators)
    ops_basic,
    ops_calibration,
    ops_linear,
    ops_preprocess,
    ops_trees,
    trees64,
)
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.model import (
    DEFAULT_NULL_SENTINEL,
    CompiledModel,
    Options,
    Output,
    Parameter,
    TreeEncoding,
    finish_stats,
)
from warehouse_ml.sqlcompile.registry import REGISTRY, Context, describe
from warehouse_ml.sqlcompile.symbolic import DType, Kind, Scalar, Tensor, Value

_INPUT_TYPES: dict[int, tuple[DType, Kind, t.Any]] = {
    TensorProto.FLOAT: (DType.FLOAT, Kind.ROUND32, sx.DOUBLE),
    TensorProto.DOUBLE: (DType.DOUBLE, Kind.EXACT, sx.DOUBLE),
    TensorProto.INT64: (DType.INT64, Kind.EXACT, sx.BIGINT),
    TensorProto.STRING: (DType.STRING, Kind.EXACT, sx.VARCHAR),
}
TREE_PRECISIONS = ("float64", "float32")
_RETURNS = {
    DType.FLOAT: sx.DOUBLE,
    DType.DOUBLE: sx.DOUBLE,
    DType.INT64: sx.BIGINT,
    DType.STRING: sx.VARCHAR,
    DType.BOOL: sx.BOOLEAN,
}


@pausing  # hundreds of thousands of expression nodes (gc_pause.py)
def compile_model(
    model: onnx.ModelProto | bytes,
    *,
    outputs: str = "predict",
    classes: t.Any = None,
    null_sentinel: str = DEFAULT_NULL_SENTINEL,
    tree_encoding: TreeEncoding | str = TreeEncoding.SPINE,
    exact_float32: bool = True,
    max_exact_trees: int = 400,
    tree_precision: str = "float64",
) -> CompiledModel:
    """Compile one output of an ONNX graph into a single SQL expression.

    Args:
        model: the ONNX model (proto or serialized bytes), one input per feature column.
        outputs: ``'predict'`` (the first graph output: value, label or cluster id) or
            ``'proba'`` (one column of the probabilities output).
        classes: with ``'proba'``, the class label whose probability is returned; by
            default the second (positive) class of a binary classifier.
        null_sentinel: the string the scorer feeds onnxruntime for NULL text values.
        tree_encoding: how trees become CASE expressions (see :class:`TreeEncoding`).
        exact_float32: reproduce onnxruntime's float32 tree sums with REAL casts.
        max_exact_trees: above this many trees, tree sums are done in double.
        tree_precision: ``'float64'`` (default): a tree model whose ONNX file stores its
            float64 program (``wml.native_trees``, our exporter) is written from it and
            answers exactly as scikit-learn and the UDF do (sqlcompile/trees64.py);
            ``'float32'``: always from the ONNX trees, as onnxruntime answers.

    Returns:
        A :class:`CompiledModel`: ``.expression`` over columns named like the inputs.

    Raises:
        CompilationError: an operator or attribute has no SQL translation (the message
            names the operator and the node), or the output selection is invalid.
    """
    proto = _load(model)
    options = _options(outputs, classes, null_sentinel, tree_encoding, exact_float32, max_exact_trees, tree_precision)
    value, ctx, parameters, target = _translate(proto, options, tree_precision)
    expression, returns, chosen = _select(value, ctx, options, target, options.classes)
    return _compiled(proto, options, ctx, parameters, expression, returns, chosen)


@pausing
def compile_probabilities(
    model: onnx.ModelProto | bytes,
    *,
    null_sentinel: str = DEFAULT_NULL_SENTINEL,
    tree_encoding: TreeEncoding | str = TreeEncoding.SPINE,
    exact_float32: bool = True,
    max_exact_trees: int = 400,
    tree_precision: str = "float64",
) -> list[CompiledModel]:
    """Every class's probability (``compile_model``'s ``outputs='proba'`` for each label,
    in the model's class order) from ONE translation of the graph: the classes' expressions
    share the trees' nodes, where compiling each class alone translates every tree again."""
    proto = _load(model)
    options = _options("proba", None, null_sentinel, tree_encoding, exact_float32, max_exact_trees, tree_precision)
    value, ctx, parameters, target = _translate(proto, options, tree_precision)
    labels = ctx.class_labels or (value.labels if isinstance(value, Tensor) else None) or []
    out = []
    for label in labels:
        expression, returns, chosen = _select(value, ctx, options, target, label)
        out.append(_compiled(proto, options, ctx, parameters, expression, returns, chosen, stats=False))
    return out


def _options(
    outputs: str, classes: t.Any, null_sentinel: str, tree_encoding: TreeEncoding | str,
    exact_float32: bool, max_exact_trees: int, tree_precision: str,
) -> Options:  # fmt: skip
    try:
        output, encoding = Output(outputs), TreeEncoding(tree_encoding)
    except ValueError as exc:
        raise CompilationError(
            f"{exc}: outputs is 'predict' or 'proba', tree_encoding 'spine' or 'nested'."
        ) from None
    if tree_precision not in TREE_PRECISIONS:
        raise CompilationError(
            f"tree_precision {tree_precision!r}: choose one of {', '.join(TREE_PRECISIONS)}."
        )
    return Options(
        output=output,
        classes=classes,
        null_sentinel=null_sentinel,
        tree_encoding=encoding,
        exact_float32=exact_float32,
        max_exact_trees=max_exact_trees,
    )


def _translate(
    proto: onnx.ModelProto, options: Options, tree_precision: str
) -> tuple[Value | None, Context, list[Parameter], str]:
    """The requested output's value (a tensor of expressions), with its context and the
    model's parameters."""
    graph = proto.graph
    values: dict[str, Value | None] = {"": None}
    values.update({i.name: numpy_helper.to_array(i) for i in graph.initializer})
    kinds = _feature_kinds(proto)
    parameters = _bind_inputs(graph, values, options, kinds)
    target = _output_name(graph, options.output)
    ctx = Context(options)
    program = trees64.stored_program(proto) if tree_precision == "float64" else None
    if program is not None and trees64.usable(proto, program, [kinds.get(p.name) for p in parameters], options):
        # The stored float64 program: scikit-learn's (and the UDF's) answers, exactly.
        inputs = [values[p.name].cols[0] for p in parameters]
        values[target], ctx.class_labels = trees64.translate(proto, program, inputs, options, ctx.stats)
    else:
        _translate_graph(graph, target, values, ctx)
    return values[target], ctx, parameters, target


def _compiled(
    proto: onnx.ModelProto, options: Options, ctx: Context, parameters: list[Parameter],
    expression: exp.Expression, returns: exp.DataType, chosen: t.Any, stats: bool = True,
) -> CompiledModel:  # fmt: skip
    """The compiled model of one selected output (``stats=False``: its size is not
    measured, for a caller that measures what it builds from it)."""
    if options.output is Output.PREDICT and _metadata(proto, "wml.target_type") == "bool" and (
        [int(c) for c in ctx.class_labels or []] == [0, 1]
    ):
        # Our exporter encodes a BOOLEAN target as classes 0/1; return it as BOOLEAN, like
        # the Arrow UDF does (``label = 1`` keeps NULL as NULL in every dialect).
        expression = exp.EQ(this=exp.paren(expression, copy=False), expression=exp.Literal.number(1))
        returns = exp.DataType.build("BOOLEAN")
        ctx.class_labels = [False, True]
    compiled = CompiledModel(
        expression=expression,
        parameters=parameters,
        returns=returns,
        output=options.output,
        class_labels=ctx.class_labels,
        probability_of=chosen,
        stats=ctx.stats,
        notes=ctx.notes,
    )
    if stats:
        finish_stats(compiled)
    return compiled


def _translate_graph(graph: onnx.GraphProto, target: str, values: dict, ctx: Context) -> None:
    """Translate the nodes ``target`` needs, in order, into ``values``."""
    for node in _needed(graph, target):
        translate = REGISTRY.get((node.domain or "", node.op_type))
        if translate is None:
            raise CompilationError(
                f"cannot compile ONNX operator {describe(node)} to SQL: no translation for "
                f"{node.domain or 'ai.onnx'}.{node.op_type}.",
                hint="Use the Arrow UDF for this model, or a supported estimator.",
            )
        results = translate(ctx, node, [values[name] for name in node.input])
        values.update(zip(node.output, results, strict=False))


def _load(model: onnx.ModelProto | bytes) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        return onnx.load_from_string(bytes(model))
    except Exception as exc:  # onnx raises DecodeError subclasses of several kinds
        raise CompilationError(f"the bytes given are not an ONNX model: {exc}") from exc


def _metadata(proto: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in proto.metadata_props if p.key == key), None)


def _feature_kinds(proto: onnx.ModelProto) -> dict[str, str]:
    """Input name -> the SQL type our exporter recorded for it (``wml.features``)."""
    import json

    try:
        return {name: kind for name, kind in json.loads(_metadata(proto, "wml.features") or "[]")}
    except (ValueError, TypeError):
        return {}


def _bind_inputs(
    graph: onnx.GraphProto, values: dict, options: Options, kinds: dict[str, str]
) -> list[Parameter]:
    """One parameter per input. A BOOLEAN feature stays a BOOLEAN parameter (typed
    warehouses do not cast booleans to numbers implicitly) and becomes 0/1 inside; a
    TIMESTAMP feature (DATE too) becomes days since 1970-01-01, as the exporter fed it."""
    parameters = []
    for graph_input in graph.input:
        if graph_input.name in values:
            continue  # an initializer listed as an input (old opsets)
        tensor_type = graph_input.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        if len(dims) > 2 or (len(dims) == 2 and dims[1] not in (1, None)):
            raise CompilationError(
                f"input '{graph_input.name}' has shape {dims}; the compiler expects one "
                "input per feature column, shaped [N, 1]."
            )
        if tensor_type.elem_type not in _INPUT_TYPES:
            name = TensorProto.DataType.Name(tensor_type.elem_type)
            raise CompilationError(f"input '{graph_input.name}' has unsupported type {name}.")
        dtype, kind, sql_type = _INPUT_TYPES[tensor_type.elem_type]
        column = sx.col(graph_input.name)
        declared = kinds.get(graph_input.name)
        if dtype is DType.STRING:
            scalar = Scalar(sx.coalesce(column, sx.text(options.null_sentinel)), dtype, kind)
        elif declared == "BOOLEAN":
            as_number = exp.cast(exp.cast(column, exp.DataType.build("INT")), sql_type.copy())
            scalar = Scalar(as_number, dtype, kind, nullable=True)
            sql_type = exp.DataType.build("BOOLEAN")
        elif declared == "TIMESTAMP":
            stamp = exp.cast(column, exp.DataType.build("TIMESTAMP"))
            days = sx.div(exp.TimeToUnix(this=stamp), sx.num(86400.0))
            # Rounded to float32 as onnxruntime receives it: days near 20,000 lose up to
            # 0.001 in float32, enough to move a linear model's output in the 5th digit.
            scalar = Scalar(sx.f32(days), dtype, kind, nullable=True)
            sql_type = exp.DataType.build("TIMESTAMP")
        else:
            scalar = Scalar(column, dtype, kind, nullable=True)
        values[graph_input.name] = Tensor([scalar], (1,) if len(dims) == 2 else ())
        parameters.append(Parameter(graph_input.name, sql_type.copy()))
    return parameters


def _output_name(graph: onnx.GraphProto, output: Output) -> str:
    names = [o.name for o in graph.output]
    if output is Output.PREDICT:
        return names[0]
    if len(names) < 2:
        raise CompilationError(
            "outputs='proba' needs a probabilities output; this graph has only "
            f"{names}. Is it a classifier?"
        )
    return names[1]


def _needed(graph: onnx.GraphProto, target: str) -> list[onnx.NodeProto]:
    """The nodes ``target`` depends on, in an order where inputs come first."""
    producer = {out: node for node in graph.node for out in node.output}
    order: list[onnx.NodeProto] = []
    seen: set[int] = set()
    stack: list[tuple[onnx.NodeProto, bool]] = []
    if target in producer:
        stack.append((producer[target], False))
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend(
            (producer[i], False)
            for i in node.input
            if i in producer and id(producer[i]) not in seen
        )
    return order


def _select(value: Value | None, ctx: Context, options: Options, name: str, chosen: t.Any):
    if not isinstance(value, Tensor):
        raise CompilationError(f"output '{name}' does not depend on any input feature.")
    if options.output is Output.PREDICT:
        if value.width != 1:
            raise CompilationError(
                f"output '{name}' has {value.width} columns; 'predict' needs one value per row."
            )
        returns = _RETURNS[value.cols[0].dtype].copy()
        expr = _as_result(value.cols[0])
        if returns.this != sx.DOUBLE.this:
            # Integer literals are INT in Postgres and string ones TEXT: a SQL function
            # must return exactly its declared type, so say it.
            expr = sx.cast(expr, returns)
        return expr, returns, None
    labels = value.labels or ctx.class_labels or list(range(value.width))
    if chosen is None:
        if len(labels) != 2:
            raise CompilationError(
                f"outputs='proba' of a {len(labels)}-class model needs classes=<label>; "
                f"labels are {labels}."
            )
        chosen = labels[1]
    matches = [i for i, lab in enumerate(labels) if lab == chosen or str(lab) == str(chosen)]
    if not matches:
        raise CompilationError(f"class {chosen!r} is not one of the model's labels {labels}.")
    return _as_result(value.cols[matches[0]]), sx.DOUBLE.copy(), labels[matches[0]]


def _as_result(s: Scalar) -> sx.exp.Expression:
    expr = s.node  # the final value is used once: no copy needed
    if s.kind is Kind.ROUND32:  # a raw input passed through: onnxruntime returns float32(x)
        expr = sx.f32(expr)
    # A float32 running sum is typed REAL in DuckDB and Postgres: return DOUBLE.
    is_real = s.sql_real or (isinstance(expr, sx.exp.Cast) and expr.to.this == sx.FLOAT32.this)
    return sx.cast(expr, sx.DOUBLE) if is_real else expr
