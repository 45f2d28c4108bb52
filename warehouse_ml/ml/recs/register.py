"""Train a recommender and register it: row, tables and macros in one transaction.

Training runs before anything is written; serving.add then inserts the registry row,
creates the version's tables in schema ``wml`` (``write`` below) and, when it deploys,
replaces the two table macros, all inside one transaction: a failure (or Ctrl-C) at any
point leaves the previous version serving and no table of the new one behind.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.ml import registry, serving
from warehouse_ml.ml.recs import serve, train
from warehouse_ml.ml.recs.spec import RecSpec


def train_and_register(
    session: t.Any,
    spec: RecSpec,
    *,
    source: str,
    data_fingerprint: str | None,
    should_deploy: t.Callable[[t.Any, registry.ModelVersion], bool],
    progress: t.Callable[[str], None] | None,
    reason: str | None = None,
) -> registry.ModelVersion:
    con = session.adapter.connection
    trained = serving.checked_then(
        con, spec.name, spec.function, lambda cur: train.train(cur, spec, progress)
    )
    version = train.version(trained, source=source, data_fingerprint=data_fingerprint)
    version.settings["deploy_requested"] = "sql"
    version.retrain_reason = reason  # why this build trained (ml/monitoring/retrain.py)
    tables = trained.tables()

    def write(cur: t.Any, v: registry.ModelVersion) -> None:
        serve.write_tables(cur, v.name, v.version, tables)

    return serving.add(
        con, version, should_deploy=lambda cur: should_deploy(cur, version), requested="sql",
        before_commit=session.adapter.check_cancelled, write=write,
    )  # fmt: skip
