"""Serve a model version as plain SQL (a persistent DuckDB macro, a Redshift SQL UDF) or
as a vectorized Python function, per the ``deploy`` setting: ``sql``, ``udf`` or ``auto``.

Python UDFs are not stored in the DuckDB file and Redshift ends Python UDFs in 2026, so
SQL is the portable form: ``SELECT predict_ltv(...)`` then works from the plain duckdb CLI,
from views reopened by any client, and natively on a Redshift cluster.

``auto`` picks SQL unless the compiled expression is a large tree ensemble: measured here
(benchmarks/predict_udf.py, FINDINGS.md), CASE-encoded trees beat the Arrow UDF up to a
few hundred internal nodes (about 500 with the "spine" CASE encoding) and lose beyond, so above :data:`AUTO_MAX_TREE_SPLITS` splits
the UDF serves. Graphs the compiler does not support fall back to the UDF, and ``wml show``
says why.
"""

from __future__ import annotations

import json
import typing as t

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import registry

DEPLOY_MODES = ("auto", "sql", "udf")
# Total internal tree nodes above which 'auto' keeps the Arrow UDF (see module docstring).
AUTO_MAX_TREE_SPLITS = 500


def compile_version(version: registry.ModelVersion) -> list[tuple[str, t.Any]]:
    """(function name, CompiledModel) for the prediction and, for classifiers, ``_prob``."""
    from warehouse_ml.sqlcompile import compile_model

    functions = [(version.function, compile_model(version.onnx, outputs="predict"))]
    if version.problem_type == "binary_classification":
        functions.append((f"{version.function}_prob", compile_model(version.onnx, outputs="proba")))
    return functions


def ddl_statements(version: registry.ModelVersion, dialect: str) -> list[str]:
    """``CREATE ... FUNCTION/MACRO`` statements for ``version`` in ``dialect``."""
    from warehouse_ml.sqlcompile import ddl

    return [ddl(compiled, name, dialect) for name, compiled in compile_version(version)]


def choose(
    requested: str, version: registry.ModelVersion
) -> tuple[str, list[tuple[str, t.Any]], str]:
    """(mode, compiled functions, note) for a DuckDB deployment."""
    if requested not in DEPLOY_MODES:
        raise CompilationError(f"unknown deploy mode '{requested}'.", hint="Use auto, sql or udf.")
    if requested == "udf":
        return "udf", [], "deploy='udf' requested"
    try:
        compiled = compile_version(version)
    except CompilationError as exc:
        if requested == "sql":
            raise
        return "udf", [], f"the SQL compiler does not support it: {exc.message}"
    splits = sum(c.stats.tree_splits for _, c in compiled[:1])
    if requested == "auto" and splits > AUTO_MAX_TREE_SPLITS:
        reason = f"{splits} tree splits, above {AUTO_MAX_TREE_SPLITS} compiled SQL is slower"
        return "udf", [], reason
    nodes = compiled[0][1].node_count
    return "sql", compiled, f"compiled to {nodes} expression nodes, {splits} tree splits"


def deploy_duckdb(cursor: t.Any, con: t.Any, version: registry.ModelVersion, requested: str) -> str:
    """Install ``version`` on a DuckDB database; returns the mode used and records it."""
    from warehouse_ml.ml import functions
    from warehouse_ml.sqlcompile import ddl

    mode, compiled, note = choose(requested, version)
    names = [version.function, f"{version.function}_prob"]
    if mode == "sql":
        for name in names:
            functions.unbind(con, name)  # a Python UDF of the same name would shadow the macro
        for name, model in compiled:
            cursor.execute(ddl(model, name, "duckdb"))
    else:
        # The previous version's UDF may be registered on ``con``; DROP MACRO refuses to
        # drop it ("internal catalog entry"), so unregister it first (bind replaces it).
        functions.unbind(con, version.function)
        for name in names:
            cursor.execute(f'drop macro if exists "{name}"')
        functions.bind_version(con, version)
    settings = dict(version.settings or {})
    settings.update(deploy_requested=requested, deploy_note=note)
    cursor.execute(
        f"update {registry.TABLE} set deploy_mode = ?, settings = ? where name = ? and version = ?",
        [mode, json.dumps(settings, default=str), version.name, version.version],
    )
    version.deploy_mode, version.settings = mode, settings
    return mode
