"""The rows a model card's Monitoring section shows: the drift table of the version's
newest scoring run of each relation (``warehouse_ml.ml.monitoring``, what ``wml monitor``
prints), or nothing, and the card says "no monitoring runs recorded"."""

from __future__ import annotations

import typing as t

import duckdb

from warehouse_ml.ml.registry import ModelVersion


def rows(cursor: t.Any, version: ModelVersion) -> list[dict[str, t.Any]]:
    """PSI and KS per scored column of ``version``, against its training profile."""
    from warehouse_ml.ml.monitoring import drift_table

    try:
        found = drift_table(cursor, version.name)
    except duckdb.CatalogException:  # a database from before monitoring: nothing recorded
        return []
    return [
        {
            "relation": r.relation, "column": r.column, "feature": r.feature, "metric": r.metric,
            "value": r.value, "threshold": r.threshold, "status": r.status,
            "run at": r.run_at.isoformat(sep=" ", timespec="seconds"), "against": r.reference,
        }
        for r in found
        if r.version == version.version
    ]  # fmt: skip
