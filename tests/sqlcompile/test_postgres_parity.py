"""Compiled models run on a real PostgreSQL server and agree with onnxruntime.

Reference: onnxruntime on the same rows (float32 inputs, as our scorer feeds it). The
server is Debian's postgresql, started on loopback by the fixture (.ci/run installs it,
so CI never skips these tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warehouse_ml.ml.scoring import OnnxScorer  # noqa: E402
from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec  # noqa: E402
from warehouse_ml.ml.trainer import train  # noqa: E402
from warehouse_ml.sqlcompile import compile_model, ddl  # noqa: E402

ROWS = 10_000
PG_TYPES = {"DOUBLE": "double precision", "VARCHAR": "text", "BOOLEAN": "boolean"}


def make_data(n: int, seed: int, unseen: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(50, 20, n).round(1)
    x2 = rng.integers(0, 10, n).astype(float)
    plans = np.array(["free", "pro", "team"] + (["enterprise"] if unseen else []))
    plan = plans[rng.integers(0, len(plans), n)]
    active = rng.random(n) < 0.5
    y = 2.0 * x1 - 3.0 * x2 + np.where(plan == "pro", 25.0, 0.0) + 7.0 * active + rng.normal(0, 5, n)
    table = pa.table({
        "x1": pa.array(x1, mask=rng.random(n) < 0.05),
        "x2": pa.array(x2),
        "plan": pa.array(plan.astype(object), mask=rng.random(n) < 0.05),
        "active": pa.array(active),
        "y": pa.array(y),
        "label": pa.array(y > np.median(y)),
        "tier": pa.array(np.where(y > 120, "gold", np.where(y > 60, "silver", "bronze")).astype(object)),
    })
    return table


def fit(kind: str, model_type: ModelType, table: pa.Table):
    target = {"regression": "y", "binary": "label", "multiclass": "tier", "clustering": None}[kind]
    drop = [c for c in ("y", "label", "tier") if c != target]
    problem = {"regression": ProblemType.REGRESSION, "binary": ProblemType.BINARY,
               "multiclass": ProblemType.MULTICLASS, "clustering": ProblemType.CLUSTERING}[kind]
    spec = TrainingSpec(name=f"m_{kind}", function=f"f_{kind}", query="", target=target,
                        problem_type=problem, model_type=model_type, k=4,
                        hyperparameters={"max_iter": 20} if model_type is ModelType.HIST_GRADIENT_BOOSTING
                        else {"n_estimators": 10} if model_type is ModelType.RANDOM_FOREST else {})
    return train(table.drop_columns(drop), spec)


CASES = [
    ("regression", ModelType.LINEAR),
    ("regression", ModelType.HIST_GRADIENT_BOOSTING),
    ("binary", ModelType.LINEAR),
    ("binary", ModelType.RANDOM_FOREST),
    ("multiclass", ModelType.HIST_GRADIENT_BOOSTING),
    ("clustering", ModelType.KMEANS),
]


def load(pg, table: pa.Table, features) -> None:
    cols = ", ".join(f'"{f.name}" {PG_TYPES[f.sql_type]}' for f in features)
    pg.execute("drop table if exists scoring")
    pg.execute(f"create table scoring (row_id int, {cols})")
    names = ", ".join(f'"{f.name}"' for f in features)
    with pg.cursor().copy(f"copy scoring (row_id, {names}) from stdin") as copy:
        data = [table.column(f.name).to_pylist() for f in features]
        for i, values in enumerate(zip(*data, strict=True)):
            copy.write_row((i, *values))


@pytest.mark.parametrize(("kind", "model_type"), CASES, ids=[f"{k}-{m.value}" for k, m in CASES])
def test_postgres_matches_onnxruntime(pg, kind, model_type):
    trained = fit(kind, model_type, make_data(2_000, 1, unseen=False))
    score = make_data(ROWS, 2, unseen=True)  # unseen category 'enterprise', NULLs
    features = trained.features
    load(pg, score, features)
    scorer = OnnxScorer(trained.onnx_bytes, features)
    columns = [score.column(f.name) for f in features]
    args = ", ".join(f'"{f.name}"' for f in features)

    # The float32 form (as onnxruntime answers); test_trees64_parity.py checks the float64
    # form tree models get by default against scikit-learn.
    compiled = compile_model(trained.onnx_bytes, outputs="predict", tree_precision="float32")
    fn = f"predict_{kind}_{model_type.value}"
    pg.execute(ddl(compiled, fn, "postgres"))
    got = [r[0] for r in pg.execute(f"select {fn}({args}) from scoring order by row_id").fetchall()]
    expected = scorer.predict(columns).to_pylist()
    if kind == "regression":
        # onnxruntime adds linear terms in float32 and SQL in double: near zero the
        # difference is the float32 rounding of the terms (about 1e-7 of their size),
        # so the absolute tolerance scales with the outputs' magnitude.
        want = np.array(expected, float)
        np.testing.assert_allclose(np.array(got, float), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    else:
        assert [str(g) for g in got] == [str(e) for e in expected]

    if kind == "binary":
        proba = compile_model(trained.onnx_bytes, outputs="proba", tree_precision="float32")
        pg.execute(ddl(proba, f"{fn}_prob", "postgres"))
        got_p = [r[0] for r in pg.execute(f"select {fn}_prob({args}) from scoring order by row_id")]
        np.testing.assert_allclose(np.array(got_p, float), scorer.predict_proba(columns).to_numpy(),
                                   rtol=0, atol=1e-5)
