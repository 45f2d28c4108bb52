"""Tree models compiled from their stored float64 program answer scikit-learn's
``predict`` / ``predict_proba`` exactly, in DuckDB and on a real PostgreSQL server.

Models come from our ``train()`` (so the ONNX file carries ``wml.native_trees``); the rows
scored hold NULLs in a number and a text column, an unseen category, and every split
threshold of one feature as a value, with the doubles just below and above it: the rows
where a float32 comparison (onnxruntime's) takes the other branch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_postgres_parity import fit, load, make_data  # noqa: E402

from warehouse_ml.ml.features import column_to_numpy, feed_to_matrix  # noqa: E402
from warehouse_ml.ml.native.program import from_onnx  # noqa: E402
from warehouse_ml.ml.spec import ModelType  # noqa: E402
from warehouse_ml.sqlcompile import compile_model, ddl  # noqa: E402
from warehouse_ml.sqlcompile.class_probs import class_probabilities  # noqa: E402

CASES = [
    ("regression", ModelType.HIST_GRADIENT_BOOSTING),
    ("binary", ModelType.HIST_GRADIENT_BOOSTING),
    ("multiclass", ModelType.HIST_GRADIENT_BOOSTING),
    ("regression", ModelType.RANDOM_FOREST),
    ("binary", ModelType.RANDOM_FOREST),
    ("multiclass", ModelType.RANDOM_FOREST),
]
IDS = [f"{k}-{m.value}" for k, m in CASES]


@pytest.fixture(scope="module")
def models():
    train = make_data(2_000, 1, unseen=False)
    return {case: fit(case[0], case[1], train) for case in CASES}


def _at_thresholds(trained, table: pa.Table) -> pa.Table:
    """``table`` with x1 set to each threshold x1 is split at, and its two neighbours."""
    program = from_onnx(trained.onnx_bytes)
    names = [f.name for f in trained.features]
    x1 = names.index("x1")
    columns = [j for j, c in enumerate(program.columns) if c.feature == x1 and c.category is None]
    values = np.unique(program.threshold[np.isin(program.feature, columns)])
    values = values[np.isfinite(values)]
    assert values.size > 3, "the fixture must split on x1"
    at = np.concatenate([values, np.nextafter(values, -np.inf), np.nextafter(values, np.inf)])
    at = np.resize(at, table.num_rows)
    return table.set_column(table.schema.get_field_index("x1"), "x1", pa.array(at))


def _rows(trained) -> pa.Table:
    score = make_data(3_000, 2, unseen=True)  # NULLs in x1 and plan, unseen 'enterprise'
    return pa.concat_tables([score, _at_thresholds(trained, score)])


def _matrix(trained, table: pa.Table) -> np.ndarray:
    """What scikit-learn's pipeline reads, in float64 (as the UDF's compiled trees read)."""
    feed = {
        f.name: column_to_numpy(table.column(f.name), f.sql_type, np.float64).reshape(-1, 1)
        for f in trained.features
    }
    return feed_to_matrix(feed, trained.features)


def _functions(trained, kind: str, dialect: str) -> list[tuple[str, str, object]]:
    """(function, DDL, reference) for the prediction and the probabilities."""
    compiled = compile_model(trained.onnx_bytes)
    assert compiled.notes == []
    out = [("f_predict", ddl(compiled, "f_predict", dialect), "predict")]
    if kind == "binary":
        out.append(("f_prob", ddl(compile_model(trained.onnx_bytes, outputs="proba"), "f_prob", dialect), 1))
    if kind == "multiclass":
        out.append(("f_probs", ddl(class_probabilities(trained.onnx_bytes, dialect), "f_probs", dialect), "all"))
    return out


def _check(trained, table: pa.Table, name: str, what: object, got: list) -> None:
    X = _matrix(trained, table)
    if what == "predict":
        want = trained.pipeline.predict(X)
        if want.dtype.kind == "f":
            np.testing.assert_array_equal(np.array(got, dtype=float), want)  # bit for bit
        else:  # a BOOLEAN target is classes 0/1 in the pipeline, BOOLEAN from SQL
            assert [str(int(g) if isinstance(g, bool) else g) for g in got] == [str(w) for w in want], name
        return
    proba = trained.pipeline.predict_proba(X)
    # Probabilities pass through exp() in SQL and in numpy: equal to the last ulps.
    np.testing.assert_allclose(np.array(got, dtype=float), proba[:, 1] if what == 1 else proba,
                               rtol=1e-12, atol=1e-15)  # fmt: skip


def _args(trained) -> str:
    return ", ".join(f'"{f.name}"' for f in trained.features)


@pytest.mark.parametrize(("kind", "model_type"), CASES, ids=IDS)
def test_duckdb_matches_scikit_learn(models, kind, model_type):
    trained = models[(kind, model_type)]
    table = _rows(trained)
    con = duckdb.connect()
    try:
        con.register("scoring", table)
        for name, statement, what in _functions(trained, kind, "duckdb"):
            con.execute(statement)
            if what == "all":  # the MAP of every class's probability, in class order
                rows = con.execute(f"select map_values({name}({_args(trained)})) from scoring").fetchall()
                got = [r[0] for r in rows]
            else:
                got = [r[0] for r in con.execute(f"select {name}({_args(trained)}) from scoring").fetchall()]
            _check(trained, table, name, what, got)
    finally:
        con.close()


def test_postgres_matches_scikit_learn(pg, models):
    for kind, model_type in CASES:
        trained = models[(kind, model_type)]
        table = _rows(trained)
        load(pg, table, trained.features)
        args = _args(trained)
        for name, statement, what in _functions(trained, kind, "postgres"):
            pg.execute(f"drop function if exists {name}")  # the last case's, another signature
            pg.execute(statement)
            if what == "all":  # the class is the last argument outside DuckDB
                labels = [str(c) for c in trained.pipeline.classes_]
                columns = [
                    [r[0] for r in pg.execute(f"select {name}({args}, %s) from scoring order by row_id", [lab])]
                    for lab in labels
                ]
                got = np.array(columns, dtype=float).T.tolist()
            else:
                got = [r[0] for r in pg.execute(f"select {name}({args}) from scoring order by row_id")]
            _check(trained, table, f"{kind}-{model_type.value} {name}", what, got)


def test_float32_precision_still_answers_as_onnxruntime(models):
    """``tree_precision='float32'`` keeps the ONNX form: REAL sums, float32 splits."""
    trained = models[("regression", ModelType.HIST_GRADIENT_BOOSTING)]
    float32 = compile_model(trained.onnx_bytes, tree_precision="float32").sql("duckdb")
    float64 = compile_model(trained.onnx_bytes).sql("duckdb")
    assert "REAL" in float32 and "REAL" not in float64
    with pytest.raises(Exception, match="tree_precision"):
        compile_model(trained.onnx_bytes, tree_precision="float16")


@pytest.mark.parametrize("model_type", [ModelType.HIST_GRADIENT_BOOSTING, ModelType.RANDOM_FOREST])
def test_one_translation_gives_each_class_what_compiling_it_alone_gives(models, model_type):
    """``compile_probabilities`` shares the trees between the classes (one translation,
    not one per class): each class renders exactly as ``compile_model`` of it alone."""
    from warehouse_ml.sqlcompile.graph import compile_probabilities

    onnx_bytes = models[("multiclass", model_type)].onnx_bytes
    together = compile_probabilities(onnx_bytes)
    labels = compile_model(onnx_bytes).class_labels
    assert [c.probability_of for c in together] == labels and len(labels) == 3
    for label, compiled in zip(labels, together, strict=True):
        alone = compile_model(onnx_bytes, outputs="proba", classes=label)
        for dialect in ("duckdb", "postgres"):
            assert ddl(compiled, "f", dialect) == ddl(alone, "f", dialect)


def test_the_compiler_runs_with_the_cycle_collector_paused(models, monkeypatch):
    """Half of a large forest's compile was the collector rescanning the growing heap."""
    import gc

    from warehouse_ml.sqlcompile import graph

    states: list[bool] = []
    translate = graph._translate

    def spy(*args, **kwargs):
        states.append(gc.isenabled())
        return translate(*args, **kwargs)

    monkeypatch.setattr(graph, "_translate", spy)
    onnx_bytes = models[("multiclass", ModelType.RANDOM_FOREST)].onnx_bytes
    class_probabilities(onnx_bytes, "duckdb")
    compile_model(onnx_bytes)
    assert states == [False, False] and gc.isenabled()
