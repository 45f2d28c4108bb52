"""Bring your own model: any ONNX model with named inputs becomes a versioned function."""

from __future__ import annotations

import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.ml import registry
from warehouse_ml.ml.scoring import OnnxScorer, describe_onnx


def import_onnx(session: t.Any, path: Path, name: str, function: str) -> registry.ModelVersion:
    """Check the file loads and scores, then add it as the model's next (deployed) version."""
    data = path.read_bytes()
    try:
        features = describe_onnx(data)
        scorer = OnnxScorer(data)
    except Exception as exc:
        raise ConfigError(
            f"{path} is not a loadable ONNX model: {str(exc).splitlines()[0]}",
            path=path,
            hint="Export it again (e.g. with skl2onnx) and retry.",
        ) from None
    problem = scorer.problem_type or (
        "binary_classification"
        if scorer.classes and len(scorer.classes) == 2
        else "multiclass_classification"
        if scorer.classes
        else "regression"
    )
    version = registry.ModelVersion(
        name=name,
        version=0,
        function=function,
        problem_type=problem,
        model_type="onnx_import",
        target=None,
        features=[[f.name, f.sql_type] for f in features],
        classes=scorer.classes,
        settings={"imported_from": path.name},
        onnx=data,
        source="import",
    )
    from warehouse_ml.ml import serving

    return serving.add(session.connection(), version, should_deploy=lambda _cursor: True)
