"""Fit a CLV model and register it: the row and its three macros in one transaction.

The fitted parameters (BG/NBD's r, alpha, a, b and Gamma-Gamma's p, q, v) are the model's
artifact: they sit in the registry row's ``settings['params']`` (there is no ONNX graph),
and the macros are rebuilt from them on deploy, rollback or a repair.
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml import redaction
from warehouse_ml.ml import registry, serving
from warehouse_ml.ml.clv import fit
from warehouse_ml.ml.clv.serve import PROBLEM
from warehouse_ml.ml.clv.spec import ClvSpec

MODEL_TYPE = "bg_nbd_gamma_gamma"


def version(fitted: fit.Fitted, *, source: str, data_fingerprint: str | None) -> registry.ModelVersion:
    spec = fitted.spec
    settings = {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("query", "path")}
    settings.update(kind="clv", params=fitted.params.as_dict(), series_terms=fitted.terms,
                    functions=spec.functions(), deploy_requested="sql")  # fmt: skip
    return registry.ModelVersion(
        name=spec.name, version=0, function=spec.function, problem_type=PROBLEM,
        model_type=MODEL_TYPE, target=None,
        features=[[c, "DOUBLE"] for c in spec.columns()],
        objective="log_likelihood", metrics=fitted.metrics, settings=settings,
        training_query=redaction.mask(spec.query), query_hash=registry.query_hash(spec.query),
        data_fingerprint=data_fingerprint, rows_train=fitted.rows, rows_eval=None,
        training_seconds=fitted.seconds, onnx=b"", source=source, deploy_mode="sql",
    )  # fmt: skip


def train_and_register(
    session: t.Any,
    spec: ClvSpec,
    *,
    source: str,
    data_fingerprint: str | None,
    should_deploy: t.Callable[[t.Any, registry.ModelVersion], bool],
    progress: t.Callable[[str], None] | None,
    reason: str | None = None,
) -> registry.ModelVersion:
    con = session.adapter.connection
    table = serving.checked_then(
        con, spec.name, spec.function, lambda cur: cur.sql(spec.query).to_arrow_table()
    )
    fitted = fit.fit(table, spec, progress)  # raises before anything is written
    v = version(fitted, source=source, data_fingerprint=data_fingerprint)
    v.retrain_reason = reason

    return serving.add(
        con, v, should_deploy=lambda cur: should_deploy(cur, v), requested="sql", before_commit=session.adapter.check_cancelled,
    )
