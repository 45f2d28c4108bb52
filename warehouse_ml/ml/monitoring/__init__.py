"""Monitoring: profiles of training and scoring runs, drift as data tests, retraining.

``drift_table(con, model)`` is the Python entry point (see ``report.py``); the rest is
used by the build (``record.py``), the generic tests (``tests_sql.py``), ``wml monitor``
and the ML materialization (``retrain.py``). This file imports nothing, so config
validation can reach ``retrain.parse`` cheaply.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from warehouse_ml.ml.monitoring.report import DriftRow


def drift_table(con: t.Any, model: str, **options: t.Any) -> list[DriftRow]:
    """The drift table of ``model``'s newest scoring run (see ``report.drift_table``)."""
    from warehouse_ml.ml.monitoring import report

    return report.drift_table(con, model, **options)
