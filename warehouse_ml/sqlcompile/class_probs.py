"""A multiclass model's probabilities as one SQL function, ``<function>_prob``.

The Arrow UDF returns a ``MAP(label, probability)``; so does DuckDB's compiled form, as
``MAP([labels], [p_1, ..., p_k])``, so a model serves the same value whichever form
``deploy`` picks. Postgres and Redshift SQL functions cannot return a map (Redshift has
no MAP type, and a SUPER object would be parsed per row), so there ``<function>_prob``
takes the class as one more, last argument and returns its probability:
``predict_tier_prob(x1, x2, 'gold')`` (NULL for a label the model does not know).

Each class's probability is the compiler's ``outputs='proba', classes=label`` expression,
calibrated and renormalised when the model is (``sqlcompile/ops_calibration.py``).
"""

from __future__ import annotations

import onnx
from sqlglot import exp

from warehouse_ml.gc_pause import pausing
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.graph import compile_probabilities
from warehouse_ml.sqlcompile.model import CompiledModel, Output, Parameter, Stats, finish_stats

CLASS_PARAMETER = "wml_class"  # the class argument outside DuckDB
MAP_DIALECTS = ("duckdb",)


@pausing  # hundreds of thousands of expression nodes (gc_pause.py)
def class_probabilities(model: onnx.ModelProto | bytes, dialect: str = "duckdb") -> CompiledModel:
    """``<function>_prob`` of a multiclass model for ``dialect`` (see the module docstring)."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load_from_string(bytes(model))
    per_class = compile_probabilities(proto)  # one translation: the classes share the trees
    first = per_class[0]
    labels = list(first.class_labels or [])
    # Each class's expression holds every tree (a softmax reads all the scores), as the
    # rendered SQL does: counted once per class.
    one = first.stats
    k = len(per_class)
    stats = Stats(trees=k * one.trees, tree_splits=k * one.tree_splits, tree_leaves=k * one.tree_leaves)
    parameters = list(first.parameters)
    if dialect in MAP_DIALECTS:
        expression: exp.Expression = exp.Map(
            keys=exp.Array(expressions=[sx.label(v) for v in labels]),
            values=exp.Array(expressions=[c.expression for c in per_class]),
        )
        key = "BIGINT" if isinstance(labels[0], int) else "VARCHAR"
        returns = exp.DataType.build(f"MAP({key}, DOUBLE)", dialect="duckdb")
    else:
        chosen = sx.col(CLASS_PARAMETER)
        expression = sx.case(
            [(exp.EQ(this=chosen, expression=sx.label(v)), c.expression) for v, c in zip(labels, per_class, strict=True)],
            exp.Null(),
        )
        kind = "BIGINT" if isinstance(labels[0], int) else "VARCHAR"
        parameters.append(Parameter(CLASS_PARAMETER, exp.DataType.build(kind)))
        returns = sx.DOUBLE.copy()
    compiled = CompiledModel(
        expression=expression,
        parameters=parameters,
        returns=returns,
        output=Output.PROBA,
        class_labels=list(labels),
        stats=stats,
        notes=[n for c in per_class for n in c.notes],
    )
    finish_stats(compiled)
    return compiled
