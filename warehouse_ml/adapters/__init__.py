"""Database adapters: DuckDB (embedded default) and Redshift."""

from __future__ import annotations

from warehouse_ml.adapters.base import Adapter
from warehouse_ml.errors import ConfigError
from warehouse_ml.project.profiles import Target


def make_adapter(target: Target, *, read_only: bool = False) -> Adapter:
    """The adapter for ``target.type`` (``read_only``: the command only reads)."""
    if target.type == "duckdb":
        from warehouse_ml.adapters.duckdb import DuckDBAdapter

        return DuckDBAdapter(target, read_only=read_only)
    if target.type == "redshift":
        from warehouse_ml.adapters.redshift import RedshiftAdapter

        return RedshiftAdapter(target, read_only=read_only)
    raise ConfigError(
        f"target type '{target.type}' is not supported.",
        path=target.profile_path,
        hint="Use type: duckdb or type: redshift.",
    )
