"""Tree ensembles served by compiled C: exact parity with scikit-learn, the onnxruntime
fallback, and the artifact kept beside the ONNX (rebuilt when it was built elsewhere)."""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from warehouse_ml.ml import functions, registry
from warehouse_ml.ml.native import build
from warehouse_ml.ml.native.scorer import NativeScorer
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, SplitSpec, TrainingSpec
from warehouse_ml.ml.trainer import train

N = 3000
FEATURES = [f"x{i}" for i in range(4)]


@pytest.fixture(autouse=True)
def native_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WML_NATIVE_CACHE", str(tmp_path_factory.getbasetemp() / "native-cache"))


def _table() -> pa.Table:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, 4)).astype(np.float32).astype(np.float64)  # what training sees
    x0 = X[:, 0].copy()
    x0[rng.random(N) < 0.08] = np.nan
    plan = rng.choice(["free", "pro", "team"], size=N).astype(object)
    plan[rng.random(N) < 0.05] = None
    y = 2 * X[:, 1] + np.nan_to_num(x0) - X[:, 2] ** 2 + (plan == "pro") + rng.normal(0, 0.3, N)
    return pa.table({
        "x0": pa.array(x0, from_pandas=True), "x1": X[:, 1], "x2": X[:, 2], "x3": X[:, 3],
        "plan": pa.array(plan, type=pa.string()),
        "y": y, "yb": y > 0.5, "yc": pa.array(np.digitize(y, [-1.0, 0.5]).astype(str)),
        "count": np.round(np.exp(0.3 * X[:, 1])).astype(np.float64),
    })  # fmt: skip


TABLE = _table()
TARGETS = {"y", "yb", "yc", "count"}
CASES = {
    "hgb_reg": ("y", ModelType.HIST_GRADIENT_BOOSTING, {}),
    "hgb_bin": ("yb", ModelType.HIST_GRADIENT_BOOSTING, {}),
    "hgb_multi": ("yc", ModelType.HIST_GRADIENT_BOOSTING, {}),
    "hgb_poisson": ("count", ModelType.HIST_GRADIENT_BOOSTING, {"loss": "poisson"}),
    # AUTO's trees for objective='mae': identity link, the median as the starting value.
    "hgb_mae": ("y", ModelType.HIST_GRADIENT_BOOSTING, {"loss": "absolute_error"}),
    "rf_reg": ("y", ModelType.RANDOM_FOREST, {"n_estimators": 8, "max_depth": 6}),
    "rf_bin": ("yb", ModelType.RANDOM_FOREST, {"n_estimators": 8, "max_depth": 6}),
}


@pytest.fixture(scope="module")
def models():
    out = {}
    for name, (target, model_type, params) in CASES.items():
        hyper = {"max_iter": 12, "early_stopping": False} if "hgb" in name else {}
        spec = TrainingSpec(
            name=name, function=f"predict_{name}", query="", target=target,
            model_type=model_type, hyperparameters={**hyper, **params},
            exclude=sorted(TARGETS - {target}), split=SplitSpec(eval_fraction=0.2), refit=False,
        )  # fmt: skip
        trained = train(TABLE, spec)
        version = registry.ModelVersion(
            name=name, version=1, function=spec.function,
            problem_type=trained.problem_type.value, model_type=trained.model_type,
            target=target, features=[[f.name, f.sql_type] for f in trained.features],
            onnx=trained.onnx_bytes, classes=trained.classes,
        )  # fmt: skip
        out[name] = (trained, version)
    return out


def _rows(trained) -> tuple[pa.Table, np.ndarray]:
    """Scoring rows: the training rows plus rows exactly at split thresholds (float64 values
    a float32 cannot hold), NULLs included; and scikit-learn's matrix of the same values."""
    est = trained.pipeline.steps[-1][1]
    thresholds: list[tuple[int, float]] = []
    if hasattr(est, "_predictors"):
        for predictors in est._predictors:
            for p in predictors:
                nodes = p.nodes[p.nodes["is_leaf"] == 0]
                thresholds += [(int(f), float(v)) for f, v in zip(nodes["feature_idx"], nodes["num_threshold"], strict=True)]
    else:
        for member in est.estimators_:
            tree = member.tree_
            split = tree.children_left >= 0
            thresholds += [(int(f), float(v)) for f, v in zip(tree.feature[split], tree.threshold[split], strict=True)]
    numeric = {f.name: i for i, f in enumerate(trained.features) if not f.is_text}
    base = TABLE.select([f.name for f in trained.features]).slice(0, 1000)
    extra = {f.name: base.column(f.name).to_pylist()[:1] * 0 for f in trained.features}
    trap = 0
    for feature, value in thresholds:
        # Columns before the text one-hot block are the numeric features in order.
        if feature >= len(numeric) or not np.isfinite(value) or float(np.float32(value)) == value:
            continue
        name = list(numeric)[feature]
        row = {f.name: base.column(f.name)[0].as_py() for f in trained.features}
        row[name] = value
        for key, v in row.items():
            extra[key].append(v)
        trap += 1
    assert trap >= 1  # the data really has thresholds float32 cannot hold
    rows = pa.concat_tables([base, pa.table(extra, schema=base.schema)])
    X = np.empty((rows.num_rows, len(trained.features)), dtype=object)
    for j, f in enumerate(trained.features):
        values = rows.column(f.name).to_pylist()
        X[:, j] = [("<NULL>" if v is None else v) for v in values] if f.is_text else [
            np.nan if v is None else float(v) for v in values
        ]
    if not any(f.is_text for f in trained.features):
        X = X.astype(np.float64)
    return rows, X


def _sql(con, version, rows: pa.Table, fn: str) -> list:
    con.register("rows_in", rows)
    args = ", ".join(f'"{n}"' for n, _ in version.features)
    return [r[0] for r in con.execute(f"select {fn}({args}) from rows_in").fetchall()]


@pytest.mark.parametrize("name", list(CASES))
def test_udf_matches_scikit_learn_exactly(models, name):
    trained, version = models[name]
    from warehouse_ml.ml.features import NULL_SENTINEL

    rows, X = _rows(trained)
    if X.dtype == object:
        X[X == "<NULL>"] = NULL_SENTINEL
    chosen = functions.engine_for(version)
    assert isinstance(chosen.scorer, NativeScorer), chosen.note
    con = duckdb.connect()
    functions.bind_version(con, version)
    pipeline = trained.pipeline
    got = _sql(con, version, rows, version.function)
    onnx = OnnxScorer(version.onnx, chosen.scorer.features, classes=version.classes)
    cols = [rows.column(n) for n, _ in version.features]
    if version.problem_type == "regression":
        want = pipeline.predict(X)
        assert np.abs(np.array(got) - want).max() < 1e-9
        ort_diff = np.abs(onnx.predict(cols).to_numpy() - want).max()
        assert ort_diff > 1e-9  # onnxruntime (float32) is not exact on these rows
        return
    assert got == list(pipeline.predict(X))
    proba = pipeline.predict_proba(X)
    got_p = _sql(con, version, rows, f"{version.function}_prob")
    if proba.shape[1] == 2:
        assert np.abs(np.array(got_p) - proba[:, 1]).max() < 1e-9
    else:
        keys = list(pipeline.classes_)
        got_m = np.array([[dict(m)[k] for k in keys] for m in got_p])
        assert np.abs(got_m - proba).max() < 1e-9


def test_float32_threshold_trap_takes_scikit_learns_branch(models):
    """A value equal to a threshold in float64 goes left in scikit-learn; onnxruntime rounds
    it up to float32 first and goes right. The compiled trees must go left."""
    trained, version = models["hgb_reg"]
    est = trained.pipeline.steps[-1][1]
    traps = [
        (int(f), float(v))
        for predictors in est._predictors
        for p in predictors
        for f, v, leaf in zip(p.nodes["feature_idx"], p.nodes["num_threshold"], p.nodes["is_leaf"], strict=True)
        if not leaf and f < 4 and np.isfinite(v) and float(np.float32(v)) > v
    ]
    base = TABLE.slice(0, 20)
    X = np.array([[*(base.column(n)[i].as_py() for n in FEATURES), "pro"] for i in range(20)], dtype=object)
    X[:, :4] = np.where(X[:, :4] == None, np.nan, X[:, :4])  # noqa: E711 - elementwise
    rows = np.vstack([np.array([[*r[:f], v, *r[f + 1:]] for r in X], dtype=object) for f, v in traps])
    cols = [pa.array(rows[:, j].astype(np.float64)) for j in range(4)] + [pa.array(rows[:, 4].tolist())]
    want = trained.pipeline.predict(rows)
    native = functions.engine_for(version).scorer.predict(cols).to_numpy()
    onnx = OnnxScorer(version.onnx, None).predict(cols).to_numpy()
    assert np.abs(native - want).max() < 1e-12
    assert (np.abs(onnx - want) > 1e-3).sum() >= 1  # rows that took the other branch there


def test_no_compiler_falls_back_to_onnxruntime_once_with_reason(models, monkeypatch, caplog):
    trained, version = models["hgb_bin"]
    monkeypatch.setenv("CC", "/nonexistent/bin/cc")
    rows, X = _rows(trained)
    from warehouse_ml.ml.features import NULL_SENTINEL

    X[X == "<NULL>"] = NULL_SENTINEL
    with caplog.at_level(logging.INFO, logger="warehouse_ml"):
        chosen = functions.engine_for(version)
        functions.engine_for(dict_copy(version))
    assert isinstance(chosen.scorer, OnnxScorer) and chosen.note.startswith("engine: onnxruntime (")
    assert chosen.fallback is not None and "/nonexistent/bin/cc" in chosen.fallback
    said = [r.getMessage() for r in caplog.records if "No C compiler" in r.getMessage()]
    assert len(said) == 1 and "/nonexistent/bin/cc" in said[0]
    con = duckdb.connect()
    functions.bind_version(con, version)
    got = np.array(_sql(con, version, rows, f"{version.function}_prob"))
    assert np.abs(got - trained.pipeline.predict_proba(X)[:, 1]).max() < 1e-5


def dict_copy(version: registry.ModelVersion) -> registry.ModelVersion:
    """Another version with the same ONNX (not the cached scorer object)."""
    import dataclasses

    return dataclasses.replace(version, version=2, onnx=version.onnx + b"")


def test_linear_models_keep_onnxruntime():
    spec = TrainingSpec(name="lin", function="predict_lin", query="", target="y",
                        model_type=ModelType.LINEAR, exclude=sorted(TARGETS - {"y"}))
    trained = train(TABLE, spec)
    version = registry.ModelVersion("lin", 1, "predict_lin", "regression", "linear", "y",
                                    [[f.name, f.sql_type] for f in trained.features],
                                    trained.onnx_bytes)
    assert isinstance(functions.engine_for(version).scorer, OnnxScorer)


def test_artifact_key_names_platform_compiler_and_source():
    chain = build.toolchain()
    key = build.artifact_key("int x;", chain)
    platform, compiler, digest = key.split("|")
    assert platform == build.platform_tag() and chain.path in compiler and len(digest) == 32
    assert build.artifact_key("int y;", chain) != key


@pytest.mark.parametrize("name", ["hgb_multi", "rf_bin", "hgb_reg"])
def test_node_table_layout_gives_the_same_bits(models, name):
    """Large ensembles are written as node tables instead of if/else: same answers."""
    from warehouse_ml.ml.native import codegen

    trained, version = models[name]
    scorer = functions.engine_for(version).scorer
    rows, _ = _rows(trained)
    cols = [rows.column(n) for n, _ in version.features]
    chain = build.toolchain()
    source = codegen.source(scorer.program, "arrays")
    assert "static const node_t NODE[]" in source and "tree_0" not in source
    library = build.compile_source(source, chain, build.artifact_key(source, chain))
    tables = NativeScorer(scorer.program, build.load(library), scorer.features,
                          classes=scorer.classes, label_type=scorer.label_type, key="k",
                          library=library)  # fmt: skip
    assert np.array_equal(tables.raw(cols), scorer.raw(cols))
