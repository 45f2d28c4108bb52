"""OnnxScorer: predictions from Arrow columns match scikit-learn (NULLs, unseen categories,
chunked input), output types, probabilities, column-count errors, and imported models."""

from __future__ import annotations

import numpy as np
import onnx
import pyarrow as pa
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from warehouse_ml.errors import ExecutionError
from warehouse_ml.ml.features import NULL_SENTINEL, Feature, table_matrix
from warehouse_ml.ml.scoring import OnnxScorer, describe_onnx, output_names
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.ml.trainer import TrainedModel, train

TARGETS = ["amount", "churned", "tier", "segment"]


@pytest.fixture(autouse=True)
def one_native_thread():
    with threadpool_limits(limits=1):
        yield


def training_table(n: int = 400, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    member = rng.random(n) < 0.5
    amount = 2.0 * x + np.where(color == "red", 3.0, 0.0) + member + rng.normal(scale=0.2, size=n)
    tier = np.digitize(amount, [0.0, 2.0])
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.05),
            "color": pa.array(color.astype(object), mask=rng.random(n) < 0.05),
            "member": pa.array(member),
            "amount": amount,
            "churned": pa.array(amount > 1.0),
            "tier": pa.array(tier, type=pa.int16()),
            "segment": pa.array(np.array(["a", "b", "c"])[tier]),
        }
    )


def scoring_table() -> pa.Table:
    """NULLs in every column, an unseen category, and several chunks."""
    first = pa.table(
        {
            "x": pa.array([0.5, None, -1.0, 2.0], type=pa.float64()),
            "color": pa.array(["red", "purple", None, "green"]),
            "member": pa.array([True, None, False, True]),
        }
    )
    second = pa.table(
        {
            "x": pa.array([None, 1.5], type=pa.float64()),
            "color": pa.array([None, "blue"]),
            "member": pa.array([None, False]),
        }
    )
    return pa.concat_tables([first, second])


def fit(target: str | None, model_type: ModelType, **kw) -> TrainedModel:
    spec = TrainingSpec(
        name="m",
        function="f",
        query="select 1",
        target=target,
        model_type=model_type,
        exclude=[t for t in TARGETS if t != target],
        **kw,
    )
    return train(training_table(), spec)


@pytest.fixture(scope="module")
def models() -> dict[str, TrainedModel]:
    with threadpool_limits(limits=1):
        return {
            "regression": fit(
                "amount", ModelType.HIST_GRADIENT_BOOSTING, hyperparameters={"max_iter": 15}
            ),
            "binary": fit("churned", ModelType.LINEAR),
            "multiclass": fit(
                "segment", ModelType.RANDOM_FOREST, hyperparameters={"n_estimators": 5}
            ),
            "int_classes": fit("tier", ModelType.LINEAR),
            "clusters": fit(None, ModelType.KMEANS, k=3),
        }


def columns(table: pa.Table, model: TrainedModel) -> list[pa.ChunkedArray]:
    return [table.column(f.name) for f in model.features]


def test_scoring_matches_sklearn_with_nulls_and_unseen_categories(models) -> None:
    table = scoring_table()
    assert table.column("x").num_chunks == 2
    for kind, model in models.items():
        scorer = OnnxScorer(model.onnx_bytes)
        got = scorer.predict(columns(table, model))
        assert len(got) == table.num_rows and got.null_count == 0
        expected = model.pipeline.predict(table_matrix(table, model.features))
        if kind == "regression":
            assert got.type == pa.float64()
            np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-4, atol=1e-5)
        elif kind == "clusters":
            assert got.type == pa.int64()
            assert got.to_pylist() == expected.tolist()
        else:
            assert got.to_pylist() == [
                model.classes[list(model.pipeline.classes_).index(e)] for e in expected
            ]


def test_labels_come_back_in_the_targets_type(models) -> None:
    table = scoring_table()
    binary = OnnxScorer(models["binary"].onnx_bytes).predict(columns(table, models["binary"]))
    assert binary.type == pa.bool_()
    ints = OnnxScorer(models["int_classes"].onnx_bytes).predict(
        columns(table, models["int_classes"])
    )
    assert ints.type == pa.int16()
    text = OnnxScorer(models["multiclass"].onnx_bytes).predict(columns(table, models["multiclass"]))
    assert text.type == pa.string() and set(text.to_pylist()) <= {"a", "b", "c"}


def test_predict_proba(models) -> None:
    table = scoring_table()
    binary = models["binary"]
    proba = OnnxScorer(binary.onnx_bytes).predict_proba(columns(table, binary))
    assert proba.type == pa.float64()
    expected = binary.pipeline.predict_proba(table_matrix(table, binary.features))[:, 1]
    np.testing.assert_allclose(proba.to_numpy(), expected, atol=1e-5)  # P(classes[1] = True)
    multi = models["multiclass"]
    scorer = OnnxScorer(multi.onnx_bytes)
    mapped = scorer.predict_proba(columns(table, multi))
    assert mapped.type == pa.map_(pa.string(), pa.float64())
    assert mapped.keys.to_pylist()[:3] == ["a", "b", "c"]
    assert np.diff(mapped.offsets.to_numpy()).tolist() == [3] * table.num_rows
    expected = multi.pipeline.predict_proba(table_matrix(table, multi.features))
    np.testing.assert_allclose(mapped.items.to_numpy().reshape(-1, 3), expected, atol=1e-5)
    with pytest.raises(ExecutionError, match="no probability output"):
        OnnxScorer(models["regression"].onnx_bytes).predict_proba(
            columns(table, models["regression"])
        )


def test_plain_arrays_and_duckdb_style_types(models) -> None:
    """Arrow UDFs may hand over DOUBLE for every numeric column and plain arrays."""
    model = models["binary"]
    scorer = OnnxScorer(model.onnx_bytes)
    table = scoring_table()
    as_arrays = [c.combine_chunks() for c in columns(table, model)]
    assert scorer.predict(as_arrays).equals(scorer.predict(columns(table, model)))
    nulls = [
        pa.array([None], type=pa.float64()),
        pa.array([None], type=pa.string()),
        pa.array([None], type=pa.bool_()),
    ]
    assert len(scorer.predict(nulls)) == 1


def test_wrong_column_count_names_the_expected_features(models) -> None:
    scorer = OnnxScorer(models["binary"].onnx_bytes)
    with pytest.raises(
        ExecutionError,
        match=r"takes 3 columns, in this order: x DOUBLE, color VARCHAR, member BOOLEAN; 2 were given",
    ):
        scorer.predict([pa.array([1.0]), pa.array(["red"])])


def test_scorer_uses_one_thread_and_reads_metadata(models) -> None:
    scorer = OnnxScorer(models["int_classes"].onnx_bytes)
    options = scorer.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert scorer.classes == [0, 1, 2] and scorer.problem_type == "multiclass_classification"
    assert [f.name for f in scorer.features] == ["x", "color", "member"]
    assert OnnxScorer(models["clusters"].onnx_bytes).classes is None


def test_bring_your_own_onnx_is_described_from_its_inputs() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    reg = LinearRegression().fit(X, y)
    per_column = convert_sklearn(
        reg,
        initial_types=[("all", FloatTensorType([None, 3]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    ).SerializeToString()
    features = describe_onnx(per_column)
    assert features == [
        Feature("all_0", "DOUBLE"),
        Feature("all_1", "DOUBLE"),
        Feature("all_2", "DOUBLE"),
    ]
    assert output_names(per_column) == ["variable"]
    scorer = OnnxScorer(per_column)
    assert scorer.features == features and scorer.classes is None
    got = scorer.predict([pa.array(X[:, j]) for j in range(3)])
    np.testing.assert_allclose(got.to_numpy(), reg.predict(X), rtol=1e-4)

    doubles = convert_sklearn(
        reg,
        initial_types=[("all", DoubleTensorType([None, 3]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    ).SerializeToString()
    scorer = OnnxScorer(doubles)
    got = scorer.predict([pa.array(X[:, j]) for j in range(3)])
    np.testing.assert_allclose(got.to_numpy(), reg.predict(X), rtol=1e-10)


def test_bring_your_own_model_with_named_inputs(models) -> None:
    # Strip our metadata: the scorer must rebuild the features from the graph alone.
    model = onnx.load_from_string(models["multiclass"].onnx_bytes)
    del model.metadata_props[:]
    bare = model.SerializeToString()
    assert describe_onnx(bare) == [
        Feature("x", "DOUBLE"),
        Feature("color", "VARCHAR"),
        Feature("member", "DOUBLE"),  # booleans travel as float32
    ]
    scorer = OnnxScorer(bare)
    assert scorer.classes == ["a", "b", "c"]  # from the classifier's class labels
    table = scoring_table()
    assert scorer.predict(columns(table, models["multiclass"])).equals(
        OnnxScorer(models["multiclass"].onnx_bytes).predict(columns(table, models["multiclass"]))
    )


def test_null_text_uses_the_sentinel_category() -> None:
    from warehouse_ml.ml.features import column_to_numpy

    got = column_to_numpy(pa.chunked_array([["a", None], [None]]), "VARCHAR")
    assert got.shape == (3, 1) and got[:, 0].tolist() == ["a", NULL_SENTINEL, NULL_SENTINEL]
    numbers = column_to_numpy(pa.array([1, None, 3], type=pa.int32()), "DOUBLE")
    assert numbers.dtype == np.float32 and np.isnan(numbers[1, 0])
    flags = column_to_numpy(pa.array([True, None, False]), "BOOLEAN")
    assert flags[:, 0].tolist()[0] == 1.0 and np.isnan(flags[1, 0]) and flags[2, 0] == 0.0
