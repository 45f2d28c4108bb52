"""ONNX export: graph shape, the skl2onnx/protobuf bool fix, float32-exact tree thresholds,
and a parity check that fails loudly on a wrong model."""

from __future__ import annotations

import json

import google.protobuf
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from threadpoolctl import threadpool_limits

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.estimators import build_pipeline
from warehouse_ml.ml.features import Feature, table_matrix, to_onnx_feed
from warehouse_ml.ml.onnx_export import (
    _install_tree_attribute_fix,
    check_parity,
    round_down_float32,
    to_onnx,
)
from warehouse_ml.ml.spec import ModelType, ProblemType

HGB = ModelType.HIST_GRADIENT_BOOSTING
RF = ModelType.RANDOM_FOREST
ALLOWED_OPS = {
    "Concat",
    "Cast",
    "Imputer",
    "Scaler",
    "OneHotEncoder",
    "Reshape",
    "LinearRegressor",
    "LinearClassifier",
    "TreeEnsembleRegressor",
    "TreeEnsembleClassifier",
    "Normalizer",
}


@pytest.fixture(autouse=True)
def one_native_thread():
    # As train() does: scikit-learn's OpenMP threads crawl on a busy 2-core host.
    with threadpool_limits(limits=1):
        yield


def fit(model_type, problem, features, table, y, **params):
    pipeline = build_pipeline(model_type, problem, features, params, seed=0)
    return pipeline.fit(table_matrix(table, features), y)


def columns(table: pa.Table, features: list[Feature]) -> list[pa.ChunkedArray]:
    return [table.column(f.name) for f in features]


def edge_table(n: int = 3000, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """x takes 64 adjacent float32 values just above 1.0 (every split threshold sits
    between two neighbours), z is integer-valued and repeated."""
    rng = np.random.default_rng(seed)
    ulp = np.spacing(np.float32(1.0))
    values = np.float32(1.0) + np.arange(64, dtype=np.float32) * ulp
    k = rng.integers(0, 64, n)
    z = rng.integers(0, 4, n).astype(np.float64)
    y = (k % 2) * 10.0 + z + rng.normal(scale=0.01, size=n)
    return pa.table({"x": values[k].astype(np.float64), "z": z}), y


EDGE_FEATURES = [Feature("x", "DOUBLE"), Feature("z", "DOUBLE")]


def test_graph_has_one_named_input_per_feature_and_standard_ops() -> None:
    rng = np.random.default_rng(0)
    n = 300
    # Names that skl2onnx would rename or that clash with its output names.
    table = pa.table(
        {
            "label": rng.normal(size=n),
            "my col": rng.normal(size=n),
            "Ünï": pa.array(rng.choice(["a", "b"], size=n)),
            "flag": pa.array(rng.random(n) < 0.5),
        }
    )
    features = [
        Feature("label", "DOUBLE"),
        Feature("my col", "DOUBLE"),
        Feature("Ünï", "VARCHAR"),
        Feature("flag", "BOOLEAN"),
    ]
    y = np.where(table["label"].to_numpy() > 0, "yes", "no").astype(object)
    for model_type in (ModelType.LINEAR, HGB, RF):
        pipeline = fit(model_type, ProblemType.BINARY, features, table, y)
        model = onnx.load_from_string(
            to_onnx(pipeline, features, ProblemType.BINARY, classes=["no", "yes"])
        )
        inputs = [(i.name, i.type.tensor_type) for i in model.graph.input]
        assert [name for name, _ in inputs] == ["label", "my col", "Ünï", "flag"]
        kinds = [tensor.elem_type for _, tensor in inputs]
        assert kinds == [onnx.TensorProto.FLOAT] * 2 + [
            onnx.TensorProto.STRING,
            onnx.TensorProto.FLOAT,
        ]
        for _, tensor in inputs:
            assert tensor.shape.dim[1].dim_value == 1
        ops = {node.op_type for node in model.graph.node}
        assert ops <= ALLOWED_OPS and "ZipMap" not in ops
        assert len(model.graph.output) == 2  # label + probabilities, no ZipMap
        meta = {p.key: p.value for p in model.metadata_props}
        assert json.loads(meta["wml.classes"]) == ["no", "yes"]
        assert meta["wml.problem_type"] == "binary_classification"
        report = check_parity(
            model.SerializeToString(),
            pipeline,
            columns(table, features),
            features,
            ProblemType.BINARY,
        )
        assert report["rows"] == n


@pytest.mark.skipif(
    int(google.protobuf.__version__.split(".")[0]) < 7,
    reason="protobuf < 7 still accepts bools in int fields",
)
def test_protobuf_refuses_the_bool_skl2onnx_passes() -> None:
    # The root cause of "Expected an int, got a boolean" (shared/FINDINGS.md).
    with pytest.raises(TypeError, match="Expected an int, got a boolean"):
        onnx.helper.make_attribute("nodes_missing_value_tracks_true", [np.uint8(1), False])


def test_hist_gradient_boosting_converts_and_routes_missing_values_like_sklearn() -> None:
    _install_tree_attribute_fix()
    _install_tree_attribute_fix()  # idempotent: wraps once
    from skl2onnx.common import tree_ensemble

    assert tree_ensemble.add_node.__wrapped__.__name__ == "add_node"
    assert not hasattr(tree_ensemble.add_node.__wrapped__, "__wrapped__")
    rng = np.random.default_rng(3)
    n = 2000
    a = rng.normal(size=n)
    missing = rng.random(n) < 0.3
    # Missing a means "high": the trees must learn to send NaN right, and ONNX follow.
    y = np.where(missing, 8.0, a) + rng.normal(scale=0.01, size=n)
    table = pa.table({"a": pa.array(a, mask=missing), "b": rng.normal(size=n)})
    features = [Feature("a", "DOUBLE"), Feature("b", "DOUBLE")]
    for problem, target in (
        (ProblemType.REGRESSION, y),
        (ProblemType.BINARY, (y > 1.0).astype(np.int64)),
        (ProblemType.MULTICLASS, np.digitize(y, [0.0, 1.0, 5.0]).astype(np.int64)),
    ):
        pipeline = fit(HGB, problem, features, table, target, max_iter=20)
        onnx_bytes = to_onnx(pipeline, features, problem)
        report = check_parity(onnx_bytes, pipeline, columns(table, features), features, problem)
        assert report["rows"] == n and report["max_abs_diff"] < 1e-4
        nulls = pa.table({"a": pa.nulls(3, pa.float64()), "b": [0.0, 1.0, -1.0]})
        feed = to_onnx_feed(columns(nulls, features), features)
        out = ort.InferenceSession(onnx_bytes).run(None, feed)[0]
        X = table_matrix(nulls, features)
        if problem is ProblemType.REGRESSION:
            assert np.allclose(out.ravel(), pipeline.predict(X), rtol=1e-5)
            assert np.all(out > 6.0)  # learned: missing a -> about 8
        else:
            assert list(out) == list(pipeline.predict(X))


@pytest.mark.parametrize(
    "problem", [ProblemType.REGRESSION, ProblemType.BINARY, ProblemType.MULTICLASS]
)
def test_tree_thresholds_are_exact_in_float32(problem: ProblemType) -> None:
    table, y = edge_table()
    if problem is ProblemType.BINARY:
        y = (y % 10 > 5).astype(np.int64)
    elif problem is ProblemType.MULTICLASS:
        y = np.round(y).astype(np.int64) % 3
    pipeline = fit(
        HGB, problem, EDGE_FEATURES, table, y, max_iter=30, max_leaf_nodes=63, min_samples_leaf=1
    )
    feed = to_onnx_feed(columns(table, EDGE_FEATURES), EDGE_FEATURES)
    X = table_matrix(table, EDGE_FEATURES)

    # skl2onnx alone rounds HistGB thresholds to the nearest float32: wrong leaves here.
    _install_tree_attribute_fix()
    options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if problem.is_classification else None
    raw = convert_sklearn(
        pipeline,
        initial_types=[("x", FloatTensorType([None, 1])), ("z", FloatTensorType([None, 1]))],
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    raw_out = ort.InferenceSession(raw.SerializeToString()).run(None, feed)
    if problem is ProblemType.REGRESSION:
        assert np.sum(np.abs(raw_out[0].ravel() - pipeline.predict(X)) > 1e-3) > 100
    else:
        assert np.abs(raw_out[1] - pipeline.predict_proba(X)).max() > 1e-3

    onnx_bytes = to_onnx(pipeline, EDGE_FEATURES, problem)
    report = check_parity(
        onnx_bytes, pipeline, columns(table, EDGE_FEATURES), EDGE_FEATURES, problem
    )
    assert report["max_abs_diff"] < 1e-4
    assert report.get("label_ties", 0) == 0
    out = ort.InferenceSession(onnx_bytes).run(None, feed)
    if problem.is_classification:
        assert np.array_equal(out[0], pipeline.predict(X))


def test_random_forest_on_threshold_edges_and_repeated_integers() -> None:
    table, y = edge_table()
    for problem, target in (
        (ProblemType.REGRESSION, y),
        (ProblemType.BINARY, (y > 5).astype(np.int64)),
    ):
        pipeline = fit(
            RF,
            problem,
            EDGE_FEATURES,
            table,
            target,
            n_estimators=5,
            max_depth=None,
            min_samples_leaf=1,
        )
        onnx_bytes = to_onnx(pipeline, EDGE_FEATURES, problem)
        report = check_parity(
            onnx_bytes, pipeline, columns(table, EDGE_FEATURES), EDGE_FEATURES, problem
        )
        assert report["max_abs_diff"] < 1e-4


def test_parity_check_fails_loudly_for_a_wrong_model() -> None:
    table, y = edge_table()
    good = fit(HGB, ProblemType.REGRESSION, EDGE_FEATURES, table, y, max_iter=10)
    other = fit(HGB, ProblemType.REGRESSION, EDGE_FEATURES, table, -y, max_iter=10)
    wrong_bytes = to_onnx(other, EDGE_FEATURES, ProblemType.REGRESSION)
    with pytest.raises(TrainingError, match=r"does not match scikit-learn: at row \d+ .*x=.*z="):
        check_parity(
            wrong_bytes,
            good,
            columns(table, EDGE_FEATURES),
            EDGE_FEATURES,
            ProblemType.REGRESSION,
            model_name="'m'",
        )


def test_round_down_float32() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(scale=1e3, size=1000), [0.0, 1.0, -1.5, 1 + 1e-12, np.inf, -np.inf]]
    )
    rounded = round_down_float32(values)
    assert rounded.dtype == np.float32
    assert np.all(rounded.astype(np.float64) <= values)
    finite = np.isfinite(values)
    above = np.nextafter(rounded[finite], np.float32(np.inf)).astype(np.float64)
    assert np.all(above > values[finite])
