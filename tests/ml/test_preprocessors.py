"""Redshift ML PREPROCESSORS: each transformer trains, exports to ONNX and scores like sklearn."""

from __future__ import annotations

import typing as t

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from ml.test_ml_sql import customers_csv
from ml.test_trainer import make_table, spec_for
from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import features as feats
from warehouse_ml.ml import portable
from warehouse_ml.ml.materialize import version_from_trained
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType
from warehouse_ml.ml.trainer import train
from warehouse_ml.sqlcompile import ddl

NUMERIC, TEXT = ["x1", "x2"], ["color"]


def _sets(numeric: list[str], text: list[str] | None = None) -> list[dict[str, list[str]]]:
    groups = [{"ColumnSet": NUMERIC, "Transformers": numeric}]
    return groups + ([{"ColumnSet": TEXT, "Transformers": text}] if text else [])


def _steps(pipeline: t.Any) -> list[str]:
    """Class names of every step the column sets put in the fitted pipeline."""
    names = []
    for name, step, _ in pipeline.named_steps["prep"].transformers_:
        if name.startswith("set"):
            inner = step.steps if hasattr(step, "steps") else [(name, step)]
            names += [type(s).__name__ if s != "passthrough" else s for _, s in inner]
    return names


@pytest.mark.parametrize(
    ("model_type", "groups", "expected"),
    [
        (ModelType.LINEAR, _sets(["Imputer", "MinMax"], ["OrdinalEncoder"]),
         ["SimpleImputer", "MinMaxScaler", "OrdinalEncoder"]),
        (ModelType.LINEAR, _sets(["ImputerWithIndicator", "StandardScaler"], ["OneHotEncoder"]),
         ["FeatureUnion", "StandardScaler", "OneHotEncoder"]),
        (ModelType.LINEAR, _sets(["Imputer", "Normalizer"]), ["SimpleImputer", "Normalizer"]),
        (ModelType.MLP, _sets(["Imputer", "StandardScaler", "PCA"]),
         ["SimpleImputer", "StandardScaler", "PCA"]),
        (ModelType.HIST_GRADIENT_BOOSTING,
         [{"ColumnSet": ["*"], "Transformers": ["NumericPassthrough"]}], ["FunctionTransformer"]),
    ],
)  # fmt: skip
def test_each_transformer_trains_exports_and_scores(
    model_type: ModelType, groups: list[dict[str, list[str]]], expected: list[str]
) -> None:
    spec = spec_for("amount", model_type, preprocessors=groups)
    if model_type is ModelType.MLP:
        spec.hyperparameters = {"hidden_layer_sizes": [8], "max_iter": 200}
    model = train(make_table(), spec)  # the ONNX parity check runs inside
    assert _steps(model.pipeline) == expected
    # Fresh rows with NULLs and an unseen category score in ONNX exactly as in sklearn.
    fresh = make_table(200, seed=9).select(["x1", "x2", "color", "is_member"])
    fresh = fresh.set_column(2, "color", pa.array(["purple"] * 100 + fresh["color"].to_pylist()[100:]))
    features = model.features
    got = OnnxScorer(model.onnx_bytes).predict([fresh[f.name] for f in features])
    want = model.pipeline.predict(feats.table_matrix(fresh, features))
    np.testing.assert_allclose(got.to_numpy(zero_copy_only=False), want, rtol=1e-4, atol=1e-3)
    assert model.metrics["r2"] > 0.3


def test_indicator_adds_one_column_per_input_column() -> None:
    model = train(make_table(), spec_for("amount", ModelType.LINEAR,
                  preprocessors=_sets(["ImputerWithIndicator"])))  # fmt: skip
    prep = model.pipeline.named_steps["prep"]
    assert prep.named_transformers_["set1"].transform(np.array([[np.nan, 1.0]])).shape == (1, 4)


@pytest.mark.parametrize(
    ("numeric", "mode"),
    [(["Imputer", "MinMax"], "sql"), (["Imputer", "Normalizer"], "sql"),
     (["Imputer", "StandardScaler", "PCA"], "sql"), (["ImputerWithIndicator"], "udf")],
)  # fmt: skip
def test_deploy_auto_compiles_what_it_can_and_sql_agrees(numeric: list[str], mode: str) -> None:
    model = train(make_table(), spec_for("amount", ModelType.LINEAR, preprocessors=_sets(numeric)))
    version = version_from_trained(model, source="config")
    chosen, compiled, note = portable.choose("auto", version)
    assert chosen == mode, note
    if mode != "sql":
        return
    con = duckdb.connect()
    fresh = make_table(300, seed=4).select([f.name for f in model.features])
    con.register("fresh", fresh)
    con.execute(ddl(compiled[0][1], "f", "duckdb"))
    args = ", ".join(f.name for f in model.features)
    got = np.array([r[0] for r in con.execute(f"select f({args}) from fresh").fetchall()])
    want = OnnxScorer(model.onnx_bytes).predict([fresh[f.name] for f in model.features])
    np.testing.assert_allclose(got, want.to_numpy(zero_copy_only=False), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([{"ColumnSet": ["x9"], "Transformers": ["MinMax"]}], "names column 'x9', which is not a feature"),
        ([{"ColumnSet": ["x1"], "Transformers": ["MinMax"]}, {"ColumnSet": ["X1"], "Transformers": ["Imputer"]}],
         "items 1 and 2 both name column 'X1'"),
        ([{"ColumnSet": ["x1", "color"], "Transformers": ["OneHotEncoder"]}], "mixes text and numeric"),
        ([{"ColumnSet": ["color"], "Transformers": ["Imputer", "OneHotEncoder"]}], "first transformer must be"),
        ([{"ColumnSet": ["x1"], "Transformers": ["DateTimeVectorizer"]}], "DateTimeVectorizer is not supported"),
        ([{"ColumnSet": ["x1", "x2"], "Transformers": ["NumericPassthrough"]}], "Add an Imputer"),
    ],
)  # fmt: skip
def test_bad_column_sets_are_clear_training_errors(
    groups: list[dict[str, list[str]]], message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        train(make_table(), spec_for("amount", ModelType.LINEAR, preprocessors=groups))


def test_kmeans_passthrough_with_nulls_says_to_fix_the_query() -> None:
    spec = spec_for(None, ModelType.KMEANS, k=3,
                    preprocessors=[{"ColumnSet": ["*"], "Transformers": ["NumericPassthrough"]}])  # fmt: skip
    spec.exclude = [*spec.exclude, "amount"]
    with pytest.raises(TrainingError, match="KMEANS preprocessors do not impute"):
        train(make_table(), spec)


def test_create_model_preprocessors_and_config_in_a_build(project) -> None:
    project.write({
        "seeds/customers.csv": customers_csv(),
        "models_sql/ltv_model.sql": """
            {{ config(materialized='ml_model', target='ltv', function='predict_ltv',
                      model_type='linear', exclude=['id', 'churned'],
                      preprocessors=[{'ColumnSet': ['recency', 'frequency'],
                                      'Transformers': ['Imputer', 'MinMax']}]) }}
            select * from {{ ref('customers') }}
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    created = project.wml("sql", """
        CREATE MODEL ltv_ordinal FROM (SELECT recency, frequency, plan, ltv FROM customers)
        TARGET ltv FUNCTION predict_ltv_ordinal MODEL_TYPE LINEAR_LEARNER
        PREPROCESSORS '[{"ColumnSet": ["plan"], "Transformers": ["OrdinalEncoder"]},
                        {"ColumnSet": ["*"], "Transformers": ["Imputer", "StandardScaler"]}]'
        SETTINGS (S3_BUCKET 'b');
    """)  # fmt: skip
    assert created.exit_code == 0, created.output + created.stderr
    rows = project.query_with_functions(
        "select count(*), count(predict_ltv(recency, frequency, plan, active)),"
        " count(predict_ltv_ordinal(recency, frequency, 'unseen')) from customers"
    )
    assert rows == [(400, 400, 400)]
    project.write({"models_sql/ltv_model.sql": project.root.joinpath("models_sql/ltv_model.sql")
                   .read_text().replace("'MinMax'", "'MinMaxx'")})  # fmt: skip
    assert_clean_error(project.wml("build"), 1, "models_sql/ltv_model.sql", "ltv_model",
                       "unknown transformer 'MinMaxx' (did you mean MinMax?)")  # fmt: skip
