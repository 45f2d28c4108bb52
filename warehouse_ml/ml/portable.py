"""Serve a model version as plain SQL (a persistent DuckDB macro, a Redshift SQL UDF) or
as a vectorized Python function, per the ``deploy`` setting: ``sql``, ``udf`` or ``auto``.

Python UDFs are not stored in the DuckDB file and Redshift ends Python UDFs in 2026, so
SQL is the portable form: ``SELECT predict_ltv(...)`` then works from the plain duckdb CLI,
from views reopened by any client, and natively on a Redshift cluster.

``auto`` picks SQL unless the model is a large tree ensemble: it counts the ensemble's
internal nodes in the ONNX graph first (no compilation, so a model the UDF serves is never
compiled and dropped) and keeps the Arrow UDF above :data:`AUTO_MAX_TREE_SPLITS` splits,
where the UDF was measured faster (benchmarks/trees_sql.py: compiled trees against the
Arrow UDF per ensemble size on 1M rows, DuckDB). Graphs the compiler does not support
fall back to the UDF, and ``wml show`` says why.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import registry

DEPLOY_MODES = ("auto", "sql", "udf")
# Total internal tree nodes above which 'auto' keeps the Arrow UDF (see module docstring).
# Measured with trees compiled from their float64 program (sqlcompile/trees64.py) against
# the UDF's compiled-C trees (trees_sql.py, 500k rows, median of 3, host load 0.5-1.4 on 2
# cores): SQL / UDF speed 1.49 at 140 splits, 1.20 at 300, 0.88 at 450, 0.73 at 600, 0.65
# at 900, 0.27 at 3,000, 0.17 at 9,000: the crossover is near 400.
AUTO_MAX_TREE_SPLITS = 400
# A multiclass model's ``_prob`` MAP names every class's probability k + 1 times per class
# (sqlcompile/class_probs.py): above this many expression nodes 'auto' keeps the UDF.
# Measured (DuckDB, 2,000 rows, 3 classes, linear): 948 nodes uncalibrated 0.05 s a query,
# 4,167 sigmoid-calibrated 0.2 s, 89,180 isotonic-calibrated 6 s (the planner's time).
AUTO_MAX_PROB_NODES = 25_000


def compile_version(
    version: registry.ModelVersion, dialect: str = "duckdb"
) -> list[tuple[str, t.Any]]:
    """(function name, CompiledModel) for the prediction and, for classifiers, ``_prob``:
    the positive class's probability (binary) or every class's (multiclass: a MAP in
    DuckDB, the class as a last argument elsewhere; sqlcompile/class_probs.py)."""
    from warehouse_ml.sqlcompile import compile_model
    from warehouse_ml.sqlcompile.class_probs import class_probabilities

    functions = [(version.function, compile_model(version.onnx, outputs="predict"))]
    if version.problem_type == "binary_classification":
        functions.append((f"{version.function}_prob", compile_model(version.onnx, outputs="proba")))
    elif version.problem_type == "multiclass_classification":
        functions.append((f"{version.function}_prob", class_probabilities(version.onnx, dialect)))
    return functions


def ddl_statements(version: registry.ModelVersion, dialect: str) -> list[str]:
    """``CREATE ... FUNCTION/MACRO`` statements for ``version`` in ``dialect``."""
    from warehouse_ml.sqlcompile import ddl

    return [ddl(compiled, name, dialect) for name, compiled in compile_version(version, dialect)]


def choose(
    requested: str, version: registry.ModelVersion
) -> tuple[str, list[tuple[str, t.Any]], str]:
    """(mode, compiled functions, note) for a DuckDB deployment."""
    if requested not in DEPLOY_MODES:
        raise CompilationError(f"unknown deploy mode '{requested}'.", hint="Use auto, sql or udf.")
    if requested == "udf":
        return "udf", [], "deploy='udf' requested"
    if requested == "auto":
        from warehouse_ml.sqlcompile import tree_splits

        counted = tree_splits(version.onnx)
        if counted > AUTO_MAX_TREE_SPLITS:
            reason = f"{counted} tree splits: above {AUTO_MAX_TREE_SPLITS} compiled SQL is slower"
            return "udf", [], reason
    try:
        compiled = compile_version(version)
    except CompilationError as exc:
        if requested == "sql":
            raise
        return "udf", [], f"the SQL compiler does not support it: {exc.message}"
    if version.problem_type == "multiclass_classification" and len(compiled) > 1:
        nodes = compiled[1][1].node_count
        if requested == "auto" and nodes > AUTO_MAX_PROB_NODES:
            reason = (f"its class probabilities compile to {nodes} expression nodes: above "
                      f"{AUTO_MAX_PROB_NODES} DuckDB plans each query for seconds")  # fmt: skip
            return "udf", [], reason
    splits = sum(c.stats.tree_splits for _, c in compiled[:1])
    nodes = compiled[0][1].node_count
    return "sql", compiled, f"compiled to {nodes} expression nodes, {splits} tree splits"
