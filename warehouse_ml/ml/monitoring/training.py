"""The training profile of a new model version: features, evaluation scores, metrics.

Features are profiled over every training row (what the deployed refit learned from),
scores over the deployed fit's predictions on the held-out evaluation rows (what its SQL
function answers there: what a scoring run should look like if nothing moved), beside the evaluation metrics that
``wml.performance_decay`` compares later rows with. The profile is computed in DuckDB
over the Arrow tables training already holds, and written in the registry transaction
that adds the version (``serving.add``'s ``write``), so a failed training writes none.
"""

from __future__ import annotations

import typing as t

import numpy as np
import pyarrow as pa

from warehouse_ml.ml.monitoring import profile, store

# Evaluation metrics kept for wml.performance_decay (higher is better unless listed below).
METRICS = ("auc", "accuracy", "f1", "precision", "recall", "rmse", "mae", "r2", "mse")
LOWER_IS_BETTER = ("rmse", "mae", "mse", "log_loss")


def eval_scores(pipeline: t.Any, X_eval: np.ndarray, target: t.Any) -> dict[str, pa.Array]:
    """What ``pipeline`` predicts on the held-out rows, as its SQL functions answer.

    ``prediction`` is ``predict_x``'s value (a number, a label of the target's type, or a
    cluster id); ``probability`` is ``predict_x_prob`` for a binary classifier.
    """
    if len(X_eval) == 0:
        return {}
    predicted = pipeline.predict(X_eval)
    if target.y is None:  # clustering
        return {"prediction": pa.array(np.asarray(predicted).astype(np.int64))}
    if target.classes_fit is None:  # regression
        return {"prediction": pa.array(np.asarray(predicted, dtype=np.float64))}
    index = np.searchsorted(target.classes_fit, predicted)
    out = {"prediction": pa.array([target.classes[i] for i in index])}
    if len(target.classes_fit) == 2:
        from warehouse_ml.ml.evaluate import aligned_proba

        out["probability"] = pa.array(aligned_proba(pipeline, X_eval, target.classes_fit)[:, 1])
    return out


def _profilable(field: pa.Field) -> bool:
    kind = field.type
    return not (pa.types.is_temporal(kind) or pa.types.is_nested(kind) or pa.types.is_binary(kind))


def _categorical(field: pa.Field) -> bool:
    kind = field.type
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind) or pa.types.is_dictionary(kind)
    )  # fmt: skip


def rows(
    con: t.Any,
    table: pa.Table,
    features: list[str],
    scores: dict[str, pa.Array],
    metrics: dict[str, t.Any],
    categorical_scores: bool,
) -> list[dict[str, t.Any]]:
    """The profile rows of one version (without run keys), computed in DuckDB.

    ``categorical_scores``: the ``prediction`` is a label or cluster id, not a number.
    Features DuckDB cannot count as numbers or text (dates, timestamps) are left out.
    """
    out: list[dict[str, t.Any]] = []
    cursor = con.cursor()
    try:
        query = lambda text: cursor.execute(text).fetchall()  # noqa: E731
        names = [f for f in features if f in table.column_names]
        cols = [
            profile.Column(n, n, "feature", _categorical(table.schema.field(n)))
            for n in names
            if _profilable(table.schema.field(n))
        ]
        cursor.register("wml_training_rows", table.select([c.column for c in cols]))
        out += profile.profile(query, "wml_training_rows", cols, "duckdb")
        if scores:
            score_table = pa.table(scores)
            cursor.register("wml_eval_scores", score_table)
            score_cols = [
                profile.Column(n, n, "score", categorical_scores and n == "prediction")
                for n in score_table.column_names
            ]
            out += profile.profile(query, "wml_eval_scores", score_cols, "duckdb")
    finally:
        cursor.close()
    for name in METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and np.isfinite(value):
            out.append({
                "column_name": name, "feature": name, "role": "metric",
                "value_type": "metric", "metric_value": float(value),
                "rows_total": metrics.get("rows_eval"),
            })  # fmt: skip
    return out


def writer(
    profile_rows: list[dict[str, t.Any]],
) -> t.Callable[[t.Any, t.Any], None]:
    """``serving.add``'s ``write``: the rows keyed by the new version, in its transaction."""

    def write(cursor: t.Any, version: t.Any) -> None:
        run_id, run_at = store.new_run()
        keyed = [
            {**r, "run_id": run_id, "run_at": run_at, "kind": "training",
             "model_name": version.name, "model_version": version.version}
            for r in profile_rows
        ]  # fmt: skip
        store.insert(lambda text, params: cursor.execute(text, params).fetchall(), keyed)

    return write
