"""Portable models: compile an ONNX graph into one SQL expression, per dialect.

The graph a scikit-learn pipeline exports (imputers, scalers, one-hot encoders, then a
linear model, tree ensemble or KMeans) is evaluated symbolically: every tensor [N, k]
becomes k sqlglot expressions over the raw feature columns. The result installs as a
DuckDB macro or a SQL UDF (Postgres, Redshift, Snowflake, BigQuery), so predictions run
natively in the warehouse and agree with onnxruntime; tree
ensembles our exporter stored as float64 programs compile from those (trees64.py) and
agree with scikit-learn and the UDF exactly.

>>> compiled = compile_model(onnx_bytes)                      # doctest: +SKIP
>>> ddl(compiled, "predict_ltv", "redshift")                  # doctest: +SKIP
'CREATE OR REPLACE FUNCTION predict_ltv(DOUBLE PRECISION, VARCHAR) RETURNS ...'
"""

from __future__ import annotations

from warehouse_ml.sqlcompile.ddl import DIALECTS, ddl, render, sql_size
from warehouse_ml.sqlcompile.graph import compile_model
from warehouse_ml.sqlcompile.model import (
    DEFAULT_NULL_SENTINEL,
    CompiledModel,
    Parameter,
    Stats,
    TreeEncoding,
)
from warehouse_ml.sqlcompile.trees import tree_splits

__all__ = [
    "DEFAULT_NULL_SENTINEL",
    "DIALECTS",
    "CompiledModel",
    "Parameter",
    "Stats",
    "TreeEncoding",
    "compile_model",
    "ddl",
    "render",
    "sql_size",
    "tree_splits",
]
