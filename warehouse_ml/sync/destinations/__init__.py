"""One module per destination type; :func:`make` picks the class for a sync's type."""

from __future__ import annotations

import typing as t

from warehouse_ml.sync.destinations.base import Context, Delivery, Destination


def make(spec: t.Any, config: dict[str, t.Any], ctx: Context) -> Destination:
    kind = config["type"]
    if kind == "file":
        from warehouse_ml.sync.destinations.file import FileDestination as cls
    elif kind == "http":
        from warehouse_ml.sync.destinations.http import HttpDestination as cls
    elif kind == "segment":
        from warehouse_ml.sync.destinations.segment import SegmentDestination as cls
    else:
        from warehouse_ml.sync.destinations.postgres import PostgresDestination as cls
    return cls(spec, config, ctx)


__all__ = ["Context", "Delivery", "Destination", "make"]
