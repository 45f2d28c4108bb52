"""The rows a model card's Monitoring section shows, one place to wire them.

The card renders whatever rows :func:`rows` returns (a table, their keys as columns).
Drift monitoring (issue 13, part 2: ``wml.monitoring``, score and feature drift) fills
them; until it records something for a version, the card says "no monitoring runs
recorded".
"""

from __future__ import annotations

import typing as t

from warehouse_ml.ml.registry import ModelVersion


def rows(cursor: t.Any, version: ModelVersion) -> list[dict[str, t.Any]]:
    """Monitoring runs of ``version``, newest first (none recorded yet)."""
    del cursor, version  # read by the monitoring tables once they exist
    return []
