"""Redshift ML statements -> specs, table-driven in the style of sqlglot's validate_all."""

from __future__ import annotations

import doctest
import typing as t

import pytest

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import create_model as cm
from warehouse_ml.ml.create_model import (
    CreateModel,
    DropModel,
    ShowModel,
    Statement,
    parse_ml_statement,
    split_statements,
)
from warehouse_ml.ml.spec import ModelType, ProblemType

# The simple CREATE MODEL example of the AWS docs (r_create_model_use_cases.html).
AWS_CHURN = """CREATE MODEL customer_churn_auto_model
FROM (SELECT state,
             account_length,
             area_code,
             total_charge/account_length AS average_daily_spend,
             cust_serv_calls/account_length AS average_daily_cases,
             churn
      FROM customer_activity
      WHERE  record_date < '2020-01-01'
     )
TARGET churn
FUNCTION ml_fn_customer_churn_auto
IAM_ROLE default
SETTINGS (
  S3_BUCKET 'amzn-s3-demo-bucket'
);"""

AWS_CHURN_QUERY = """SELECT state,
             account_length,
             area_code,
             total_charge/account_length AS average_daily_spend,
             cust_serv_calls/account_length AS average_daily_cases,
             churn
      FROM customer_activity
      WHERE  record_date < '2020-01-01'"""

# The AWS docs' K-means example: AUTO OFF, JSON preprocessors, K from HYPERPARAMETERS.
AWS_KMEANS = """CREATE MODEL customers_clusters
FROM customers
FUNCTION customers_cluster
IAM_ROLE 'arn:aws:iam::123456789012:role/Redshift-ML'
AUTO OFF
MODEL_TYPE KMEANS
PREPROCESSORS '[
  {
    "ColumnSet": [ "*" ],
    "Transformers": [ "NumericPassthrough" ]
  }
]'
HYPERPARAMETERS DEFAULT EXCEPT ( K '5' )
SETTINGS (S3_BUCKET 'amzn-s3-demo-bucket');"""

# XGBoost with AUTO OFF, from the AWS docs' abalone example.
AWS_ABALONE = """CREATE MODEL abalone_xgboost_multi_predict_age
FROM ( SELECT length_val, diameter, height, whole_weight, shucked_weight,
              viscera_weight, shell_weight, rings
        FROM abalone_xgb WHERE record_number < 2500 )
TARGET rings FUNCTION ml_fn_abalone_xgboost_multi_predict_age
IAM_ROLE 'arn:aws:iam::XXXXXXXXXXXX:role/Redshift-ML'
AUTO OFF
MODEL_TYPE XGBOOST
OBJECTIVE 'multi:softmax'
PREPROCESSORS 'none'
HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '100', NUM_CLASS '30')
SETTINGS (S3_BUCKET 'bucket');"""

BASE = "CREATE MODEL m FROM t TARGET y FUNCTION f"


def _get(obj: t.Any, dotted: str) -> t.Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(sql: str, expected: dict[str, t.Any]) -> CreateModel:
    """Parse ``sql`` and compare each dotted field ('spec.query', 'warnings', ...)."""
    result = parse_ml_statement(sql)
    assert isinstance(result, CreateModel), result
    assert result.spec.source == "create_model"
    for field, value in expected.items():
        assert _get(result, field) == value, f"{field}: {_get(result, field)!r} != {value!r}"
    return result


CREATE_CASES: list[tuple[str, dict[str, t.Any]]] = [
    (
        AWS_CHURN,
        {
            "spec.name": "customer_churn_auto_model",
            "spec.function": "ml_fn_customer_churn_auto",
            "spec.query": AWS_CHURN_QUERY,
            "spec.target": "churn",
            "spec.problem_type": None,
            "spec.model_type": ModelType.AUTO,
            "spec.objective": None,
            "spec.max_runtime": 5400.0,
            "spec.ignored_settings": {"IAM_ROLE": "default", "S3_BUCKET": "amzn-s3-demo-bucket"},
            "spec.preprocessors": None,
            "auto": True,
            "source_table": None,
            "declared_argument_types": None,
            "warnings": [
                "IAM_ROLE, S3_BUCKET only matter on AWS and are ignored when training locally "
                "(kept in ignored_settings for SHOW MODEL)."
            ],
        },
    ),
    (
        AWS_KMEANS,
        {
            "spec.name": "customers_clusters",
            "spec.query": "SELECT * FROM customers",
            "spec.target": None,
            "spec.model_type": ModelType.KMEANS,
            "spec.problem_type": ProblemType.CLUSTERING,
            "spec.k": 5,
            "spec.hyperparameters": {},
            "spec.preprocessors": [{"ColumnSet": ["*"], "Transformers": ["NumericPassthrough"]}],
            "spec.ignored_settings": {
                "IAM_ROLE": "arn:aws:iam::123456789012:role/Redshift-ML",
                "S3_BUCKET": "amzn-s3-demo-bucket",
            },
            "source_table": "customers",
            "auto": False,
        },
    ),
    (
        AWS_ABALONE,
        {
            "spec.target": "rings",
            "spec.model_type": ModelType.HIST_GRADIENT_BOOSTING,
            "spec.objective": "accuracy",
            "spec.problem_type": ProblemType.MULTICLASS,
            "spec.hyperparameters": {"max_iter": 100},
            "spec.preprocessors": [],
            "spec.query": "SELECT length_val, diameter, height, whole_weight, shucked_weight,\n"
            "              viscera_weight, shell_weight, rings\n"
            "        FROM abalone_xgb WHERE record_number < 2500",
        },
    ),
    # The user-guidance example: PROBLEM_TYPE and OBJECTIVE given.
    (
        "CREATE MODEL customer_churn_user_model FROM customer_activity TARGET churn "
        "FUNCTION ml_fn_customer_churn_user IAM_ROLE default "
        "PROBLEM_TYPE BINARY_CLASSIFICATION OBJECTIVE 'F1' "
        "SETTINGS (S3_BUCKET 'b', MAX_RUNTIME 1800)",
        {
            "spec.problem_type": ProblemType.BINARY,
            "spec.objective": "f1",
            "spec.max_runtime": 1800.0,
            "spec.query": "SELECT * FROM customer_activity",
        },
    ),
    # Schema-qualified and quoted names; unquoted names fold to lower case.
    (
        'CREATE MODEL Demo_ML.Churn FROM "Sales Data"."Orders" TARGET "Churned" '
        "FUNCTION demo_ml.Predict_Churn",
        {
            "spec.name": "demo_ml.churn",
            "spec.query": 'SELECT * FROM "Sales Data"."Orders"',
            "spec.target": "Churned",
            "spec.function": "demo_ml.predict_churn",
            "source_table": '"Sales Data"."Orders"',
        },
    ),
    (
        'CREATE MODEL "m" FROM "select" TARGET Y FUNCTION "f""x"',
        {"spec.name": "m", "spec.query": 'SELECT * FROM "select"', "spec.function": '"f""x"'},
    ),
    # Case-insensitive keywords; comments and ';' inside the query are kept verbatim.
    (
        "create model m from (select a, 'x;)' as b -- c)\n from t) target y function f",
        {"spec.query": "select a, 'x;)' as b -- c)\n from t", "spec.target": "y"},
    ),
    (
        "CREATE MODEL m FROM (WITH s AS (SELECT 1 AS y) SELECT * FROM s) TARGET y FUNCTION f",
        {"spec.query": "WITH s AS (SELECT 1 AS y) SELECT * FROM s"},
    ),
    # FUNCTION types and RETURNS are kept as written.
    (
        BASE + "(int, float8, varchar(10), decimal(10, 2), double precision) RETURNS float8",
        {
            "declared_argument_types": [
                "int",
                "float8",
                "varchar(10)",
                "decimal(10, 2)",
                "double precision",
            ],
            "returns_type": "float8",
        },
    ),
    (BASE + "()", {"declared_argument_types": []}),
    # MODEL_TYPE and AUTO.
    (BASE + " MODEL_TYPE XGBOOST", {"spec.model_type": ModelType.HIST_GRADIENT_BOOSTING}),
    (BASE + " AUTO ON MODEL_TYPE MLP", {"spec.model_type": ModelType.MLP, "auto": True}),
    (
        BASE + " AUTO OFF MODEL_TYPE LINEAR_LEARNER",
        {"spec.model_type": ModelType.LINEAR, "auto": False},
    ),
    (BASE + " AUTO ON", {"spec.model_type": ModelType.AUTO}),
    # Objectives: Autopilot names lower-cased, XGBoost objectives mapped.
    (BASE + " OBJECTIVE 'MSE'", {"spec.objective": "mse", "spec.problem_type": None}),
    (BASE + " OBJECTIVE 'F1Macro'", {"spec.objective": "f1macro"}),
    (BASE + " OBJECTIVE 'F1_Macro'", {"spec.objective": "f1macro"}),
    (BASE + " OBJECTIVE 'AUC'", {"spec.objective": "auc"}),
    (BASE + " OBJECTIVE 'Accuracy'", {"spec.objective": "accuracy"}),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST OBJECTIVE 'reg:squarederror' PREPROCESSORS 'none'",
        {"spec.objective": "mse", "spec.problem_type": ProblemType.REGRESSION, "warnings": []},
    ),
    (
        BASE + " PROBLEM_TYPE BINARY_CLASSIFICATION OBJECTIVE 'binary:logistic'",
        {"spec.objective": "log_loss", "spec.problem_type": ProblemType.BINARY},
    ),
    (
        BASE + " PROBLEM_TYPE REGRESSION",
        {"spec.problem_type": ProblemType.REGRESSION, "spec.objective": None},
    ),
    (
        BASE + " PROBLEM_TYPE multiclass_classification",
        {"spec.problem_type": ProblemType.MULTICLASS},
    ),
    # Hyperparameters for XGBOOST map to HistGradientBoosting's names.
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST PREPROCESSORS 'none' "
        "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '50', MAX_DEPTH '6', ETA '0.1')",
        {"spec.hyperparameters": {"max_iter": 50, "max_depth": 6, "learning_rate": 0.1}},
    ),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST PREPROCESSORS 'none' "
        "HYPERPARAMETERS DEFAULT EXCEPT (SUBSAMPLE '0.8')",
        {
            "spec.hyperparameters": {"SUBSAMPLE": "0.8"},
            "warnings": [
                "hyperparameter SUBSAMPLE has no scikit-learn equivalent for MODEL_TYPE "
                "XGBOOST; kept raw as SUBSAMPLE='0.8'."
            ],
        },
    ),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST PREPROCESSORS 'none' HYPERPARAMETERS DEFAULT",
        {"spec.hyperparameters": {}, "warnings": []},
    ),
    # PREPROCESSORS.
    (
        BASE + ' PREPROCESSORS \'[{"ColumnSet": ["age", "salary"], '
        '"Transformers": ["Imputer", "StandardScaler"]}, '
        '{"ColumnSet": ["state"], "Transformers": ["OneHotEncoder"]}]\'',
        {
            "spec.preprocessors": [
                {"ColumnSet": ["age", "salary"], "Transformers": ["Imputer", "StandardScaler"]},
                {"ColumnSet": ["state"], "Transformers": ["OneHotEncoder"]},
            ]
        },
    ),
    (BASE + " PREPROCESSORS 'NONE'", {"spec.preprocessors": []}),
    # SETTINGS: AWS-only ones are kept and warned about; MAX_CELLS never downsamples.
    (
        BASE + " SETTINGS (S3_BUCKET 'b', KMS_KEY_ID 'k', S3_GARBAGE_COLLECT OFF, "
        "MAX_CELLS 1000, MAX_RUNTIME 60)",
        {
            "spec.max_runtime": 60.0,
            "spec.ignored_settings": {
                "S3_BUCKET": "b",
                "KMS_KEY_ID": "k",
                "S3_GARBAGE_COLLECT": "OFF",
                "MAX_CELLS": "1000",
            },
            "warnings": [
                "S3_BUCKET, KMS_KEY_ID, S3_GARBAGE_COLLECT only matter on AWS and are ignored "
                "when training locally (kept in ignored_settings for SHOW MODEL).",
                "MAX_CELLS 1000 is ignored: Redshift downsamples training data above MAX_CELLS, "
                "we never downsample and train on every row.",
            ],
        },
    ),
    # REFIT: our setting (deploy a refit on every row, default ON), warned about.
    (BASE, {"spec.refit": True, "warnings": []}),
    (
        BASE + " SETTINGS (S3_BUCKET 'b', REFIT OFF)",
        {
            "spec.refit": False,
            "spec.ignored_settings": {"S3_BUCKET": "b"},
            "warnings": [
                "REFIT OFF is a warehouse-ml setting: Redshift rejects unknown SETTINGS, so "
                "remove it before running this statement on Redshift.",
                "S3_BUCKET only matter on AWS and are ignored when training locally (kept in "
                "ignored_settings for SHOW MODEL).",
            ],
        },
    ),
    (
        BASE + " SAGEMAKER 'endpoint':'model' IAM_ROLE default",
        {"spec.ignored_settings": {"SAGEMAKER": "endpoint:model", "IAM_ROLE": "default"}},
    ),
    # Statements Redshift would reject but which mean something locally: warned.
    (
        "CREATE MODEL m FROM t FUNCTION f MODEL_TYPE KMEANS HYPERPARAMETERS DEFAULT EXCEPT (K '3')",
        {
            "spec.k": 3,
            "warnings": [
                "Redshift trains MODEL_TYPE KMEANS only with AUTO OFF; add AUTO OFF.",
                "Redshift accepts HYPERPARAMETERS only with AUTO OFF; add AUTO OFF.",
            ],
        },
    ),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST",
        {
            "spec.preprocessors": None,
            "warnings": [
                "Redshift requires PREPROCESSORS 'none' with AUTO OFF MODEL_TYPE XGBOOST."
            ],
        },
    ),
]


@pytest.mark.parametrize("sql, expected", CREATE_CASES)
def test_create_model(sql: str, expected: dict[str, t.Any]) -> None:
    validate(sql, expected)


def test_abalone_num_class_is_warned_about() -> None:
    result = validate(AWS_ABALONE, {})
    assert result.warnings[0] == (
        "NUM_CLASS is ignored: the classes are taken from the TARGET column."
    )


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SHOW MODEL ALL", ShowModel(name=None, all=True)),
        ("show model all;", ShowModel(name=None, all=True)),
        ("SHOW MODEL demo_ml.Customer_Churn", ShowModel(name="demo_ml.customer_churn", all=False)),
        ('SHOW MODEL "all"', ShowModel(name='"all"', all=False)),
        ("DROP MODEL m", DropModel(name="m", if_exists=False)),
        ('drop model if exists s."My Model";', DropModel(name='s."My Model"', if_exists=True)),
    ],
)
def test_show_and_drop(sql: str, expected: ShowModel | DropModel) -> None:
    assert parse_ml_statement(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "CREATE TABLE model AS SELECT 1",
        "CREATE OR REPLACE MODEL m OPTIONS(model_type='linear_reg') AS SELECT 1",
        "SHOW TABLES",
        "DROP TABLE model",
        'CREATE "MODEL" m FROM t',
        "CREATE FUNCTION f(float) RETURNS float STABLE AS $$ SELECT $1; $$ LANGUAGE sql",
        "-- only a comment",
        "",
    ],
)
def test_plain_sql_is_not_ours(sql: str) -> None:
    assert parse_ml_statement(sql) is None


# (statement, fragment of the message, line when parsed with line_offset=10)
ERROR_CASES: list[tuple[str, str, int]] = [
    (
        "CREATE MODEL m FROM (SELECT 1)\nFUNCTON f",
        "expected TARGET or FUNCTION after FROM (...), got 'FUNCTON' at line 12, column 1.",
        12,
    ),
    ("CREATE MODEL m FROM t TARGET y FUNCTON f", "Did you mean FUNCTION?", 11),
    (
        "CREATE MODEL m FROM t TARGET y FUNCTION f\n  IAM_ROLE default OBJECTIV 'mse'",
        "expected AUTO, MODEL_TYPE, PROBLEM_TYPE, OBJECTIVE, PREPROCESSORS, HYPERPARAMETERS,",
        12,
    ),
    (
        BASE + " IAM_ROL default",
        "expected RETURNS, SAGEMAKER, IAM_ROLE, AUTO, MODEL_TYPE, PROBLEM_TYPE, OBJECTIVE, "
        "PREPROCESSORS, HYPERPARAMETERS, SETTINGS or the end of the statement after "
        "FUNCTION f, got 'IAM_ROL' at line 11, column 43. Did you mean IAM_ROLE?",
        11,
    ),
    (
        "CREATE MODEL m FROM t TARGET y FUNCTION f\n  IAM_ROLE default OBJECTIV 'mse'",
        "or the end of the statement after IAM_ROLE, got 'OBJECTIV' at line 12, column 20.",
        12,
    ),
    # Clause order and repetition.
    (
        "CREATE MODEL m FROM t TARGET y FUNCTION f\nSETTINGS (S3_BUCKET 'b')\nIAM_ROLE default",
        "IAM_ROLE is out of order: it must come before SETTINGS at line 13, column 1.",
        13,
    ),
    (
        "CREATE MODEL m FROM t FUNCTION f TARGET y",
        "TARGET is out of order: it must come before FUNCTION",
        11,
    ),
    ("CREATE MODEL m FROM t TARGET y FUNCTION f AUTO ON AUTO OFF", "AUTO is given twice", 11),
    # Missing FROM / FUNCTION / TARGET.
    ("CREATE MODEL m TARGET y FUNCTION f", "expected FROM after CREATE MODEL m, got 'TARGET'", 11),
    (
        "CREATE MODEL FROM t TARGET y FUNCTION f",
        "expected a model name after CREATE MODEL, got 'FROM'",
        11,
    ),
    ("CREATE MODEL m FROM t\nTARGET y", "missing FUNCTION at the end of CREATE MODEL", 12),
    ("CREATE MODEL m FROM t TARGET y\nIAM_ROLE default", "missing FUNCTION before IAM_ROLE", 12),
    ("CREATE MODEL m FROM t\nFUNCTION f", "missing TARGET before FUNCTION at line 12", 12),
    ("CREATE MODEL m FROM TARGET y FUNCTION f", "expected a table name or (SELECT ...)", 11),
    ("CREATE MODEL m FROM () TARGET y FUNCTION f", "expected a SELECT query after FROM (", 11),
    # Parentheses.
    (
        "CREATE MODEL m\nFROM (SELECT a FROM t\nTARGET y FUNCTION f",
        "unbalanced parentheses: '(' is never closed at line 12, column 6.",
        12,
    ),
    ("CREATE MODEL m FROM t TARGET y FUNCTION f(int))", "')' has no matching '('", 11),
    ("CREATE MODEL m FROM t TARGET y FUNCTION f(int,)", "missing data type in FUNCTION f(", 11),
    ("CREATE MODEL m FROM t TARGET y FUNCTION f(int, banana)", "'banana' is not a Redshift", 11),
    # Values.
    (
        BASE + "\nPROBLEM_TYPE REGRESION",
        "expected REGRESSION, BINARY_CLASSIFICATION or MULTICLASS_CLASSIFICATION after "
        "PROBLEM_TYPE, got 'REGRESION' at line 12, column 14.",
        12,
    ),
    (BASE + " MODEL_TYPE RANDOM_FOREST", "expected XGBOOST, MLP, LINEAR_LEARNER, KMEANS or CLV", 11),
    (BASE + " AUTO MAYBE", "expected ON or OFF after AUTO, got 'MAYBE'", 11),
    (BASE + " OBJECTIVE mse", "expected an objective in quotes after OBJECTIVE, got 'mse'", 11),
    (BASE + " OBJECTIVE 'reg:pseudohubererror'", "OBJECTIVE 'reg:pseudohubererror' has no local equivalent", 11),
    (
        BASE + " PROBLEM_TYPE REGRESSION OBJECTIVE 'F1'",
        "OBJECTIVE 'F1' does not fit regression: use mse, rmse, mae, r2",
        11,
    ),
    (
        BASE + " PROBLEM_TYPE REGRESSION OBJECTIVE 'binary:logistic'",
        "OBJECTIVE 'binary:logistic' is for binary_classification, not regression",
        11,
    ),
    (BASE + " IAM_ROLE", "expected default or 'arn:aws:iam::...' after IAM_ROLE", 11),
    (BASE + " HYPERPARAMETERS EXCEPT (K '5')", "expected DEFAULT after HYPERPARAMETERS", 11),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND 'lots')",
        "NUM_ROUND must be a positive int, got 'lots'",
        11,
    ),
    (
        BASE + " HYPERPARAMETERS DEFAULT EXCEPT (ETA '0.1' MAX_DEPTH '3')",
        "expected ',' or ')' after ETA '0.1', got 'MAX_DEPTH'",
        11,
    ),
    (
        BASE + " HYPERPARAMETERS DEFAULT EXCEPT (ETA '0.1', ETA '0.2')",
        "ETA is given twice in EXCEPT",
        11,
    ),
    (BASE + " SETTINGS (S3_BUCKT 'b')", "unknown setting 'S3_BUCKT', expected S3_BUCKET", 11),
    (BASE + " SETTINGS (S3_BUCKT 'b')", "Did you mean S3_BUCKET?", 11),
    (BASE + " SETTINGS (MAX_RUNTIME 'soon')", "MAX_RUNTIME must be a positive whole number", 11),
    (BASE + " SETTINGS (S3_BUCKET b)", "S3_BUCKET must be a quoted string, got 'b'", 11),
    (BASE + " SETTINGS (S3_GARBAGE_COLLECT 'yes')", "S3_GARBAGE_COLLECT must be ON or OFF", 11),
    (BASE + " SETTINGS (REFIT 'no')", "REFIT must be ON or OFF", 11),
    (
        BASE + " AUTO OFF MODEL_TYPE XGBOOST HYPERPARAMETERS DEFAULT EXCEPT (REFIT 'off')",
        "REFIT is a setting, not a hyperparameter",
        11,
    ),
    # AUTO OFF and KMEANS rules.
    (BASE + "\nAUTO OFF", "AUTO OFF needs MODEL_TYPE XGBOOST, MLP, LINEAR_LEARNER or KMEANS", 12),
    (
        "CREATE MODEL m FROM t FUNCTION f AUTO OFF\nMODEL_TYPE KMEANS",
        "KMEANS needs the number of clusters, K at line 12, column 12.",
        12,
    ),
    (
        BASE + " AUTO OFF MODEL_TYPE KMEANS HYPERPARAMETERS DEFAULT EXCEPT (K '5')",
        "MODEL_TYPE KMEANS is clustering and takes no TARGET",
        11,
    ),
    (
        "CREATE MODEL m FROM t FUNCTION f AUTO OFF MODEL_TYPE KMEANS "
        "HYPERPARAMETERS DEFAULT EXCEPT (K '1')",
        "K must be a whole number of at least 2, got '1'",
        11,
    ),
    # PREPROCESSORS.
    (
        BASE + '\nPREPROCESSORS \'[{"ColumnSet": ["a"],\n"Transformers": ["MinMax"]\'',
        "PREPROCESSORS is not valid JSON: Expecting ',' delimiter at line 13, column 27.",
        13,
    ),
    (
        BASE + ' PREPROCESSORS \'{"ColumnSet": ["a"], "Transformers": ["MinMax"]}\'',
        "invalid PREPROCESSORS: expected a JSON list, got dict",
        11,
    ),
    (
        BASE + ' PREPROCESSORS \'[{"Columns": ["a"], "Transformers": ["MinMax"]}]\'',
        'item 1 must have exactly the keys "ColumnSet" and "Transformers"',
        11,
    ),
    (
        BASE + ' PREPROCESSORS \'[{"ColumnSet": [], "Transformers": ["MinMax"]}]\'',
        'item 1: "ColumnSet" must be a non-empty list of names',
        11,
    ),
    (
        BASE + ' PREPROCESSORS \'[{"ColumnSet": ["a"], "Transformers": ["OneHotEncodr"]}]\'',
        "unknown transformer 'OneHotEncodr' (did you mean OneHotEncoder?)",
        11,
    ),
    (
        "CREATE MODEL m FROM t FUNCTION f AUTO OFF MODEL_TYPE KMEANS PREPROCESSORS "
        '\'[{"ColumnSet": ["a"], "Transformers": ["OneHotEncoder"]}]\' '
        "HYPERPARAMETERS DEFAULT EXCEPT (K '5')",
        "expected StandardScaler, MinMax or NumericPassthrough",
        11,
    ),
    # Forms that cannot train locally.
    (
        "CREATE MODEL customer_churn\nFROM 'training-job-customer-churn-v4'\n"
        "FUNCTION customer_churn_predict (varchar, int, float, float)\nRETURNS int",
        "FROM 'training-job-customer-churn-v4' names a SageMaker job",
        12,
    ),
    (
        "CREATE MODEL m FROM 's3://bucket/model.tar.gz' FUNCTION f(int) RETURNS int",
        "local training needs a table or a query",
        11,
    ),
    (
        "CREATE MODEL remote FUNCTION f (varchar) RETURNS int SAGEMAKER 'endpoint' "
        "IAM_ROLE default",
        "calls a remote SageMaker endpoint, which cannot run locally",
        11,
    ),
    # Tokens that never close, one statement only, bad names.
    (BASE + "\nOBJECTIVE 'mse", 'unterminated quote, comment or $$ body starting with "\'mse"', 12),
    ("SHOW MODEL", "expected a model name or ALL after SHOW MODEL, got the end of", 11),
    ("SHOW MODEL a b", "expected the end of the statement after SHOW MODEL a, got 'b'", 11),
    ("DROP MODEL IF m", "expected EXISTS after DROP MODEL IF, got 'm'", 11),
    ("DROP MODEL s.", "expected a model name after 's.', got the end of the statement", 11),
    ('DROP MODEL ""', "a quoted name cannot be empty", 11),
    ("SHOW MODEL m; SHOW MODEL n", "expected one statement, found ';'", 11),
]


@pytest.mark.parametrize("sql, fragment, line", ERROR_CASES)
def test_errors(sql: str, fragment: str, line: int) -> None:
    with pytest.raises(CompilationError) as info:
        parse_ml_statement(sql, path="models/churn.sql", line_offset=10)
    error = info.value
    assert fragment in error.message + " " + (error.hint or ""), str(error)
    assert error.line == line
    assert error.path == "models/churn.sql"
    assert str(error).startswith(f"models/churn.sql:{line}: ")
    assert error.exit_code == 2


SCRIPT = """-- churn model; trained locally
SELECT 'a;b' AS "x;y", $$ c;d $$ AS body; /* ; */
CREATE MODEL m
FROM t TARGET y FUNCTION f;;
  SHOW MODEL ALL ;  DROP MODEL IF EXISTS m
-- trailing comment ;
"""


def test_split_statements() -> None:
    statements = split_statements(SCRIPT)
    assert [(s.text, s.line, s.column) for s in statements] == [
        ("""SELECT 'a;b' AS "x;y", $$ c;d $$ AS body""", 2, 1),
        ("CREATE MODEL m\nFROM t TARGET y FUNCTION f", 3, 1),
        ("SHOW MODEL ALL", 5, 3),
        ("DROP MODEL IF EXISTS m", 5, 21),
    ]
    assert SCRIPT[statements[3].start :].startswith("DROP MODEL")
    assert [type(s.parse()).__name__ for s in statements] == [
        "NoneType",
        "CreateModel",
        "ShowModel",
        "DropModel",
    ]
    assert split_statements("  -- nothing\n ; ;") == []


def test_statement_errors_point_into_the_script() -> None:
    script = "SELECT 1;\n\nSELECT 2; CREATE MODEL m FRUM t;"
    statement = split_statements(script)[2]
    assert statement == Statement("CREATE MODEL m FRUM t", 3, 11, script.index("CREATE"))
    with pytest.raises(CompilationError, match=r"got 'FRUM' at line 3, column 26\."):
        statement.parse(path="x.sql")
    with pytest.raises(CompilationError) as info:
        split_statements("SELECT 1;\n SELECT 'open", path="x.sql")
    assert info.value.line == 2
    assert "at line 2, column 9" in info.value.message


def test_create_model_line_is_absolute() -> None:
    script = "SELECT 1;\n\n" + AWS_CHURN
    statement = split_statements(script)[1]
    result = statement.parse()
    assert isinstance(result, CreateModel)
    assert result.line == 3
    assert result.spec.query == AWS_CHURN_QUERY


def test_module_docstring_example_runs() -> None:
    failures, tried = doctest.testmod(cm)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize(
    "sql", [AWS_CHURN, AWS_KMEANS, AWS_ABALONE], ids=["churn", "kmeans", "abalone"]
)
def test_every_prefix_parses_or_fails_cleanly(sql: str) -> None:
    """A statement cut anywhere gives a spec, None or a CompilationError: never a crash."""
    outcomes = set()
    for end in range(len(sql) + 1):
        try:
            outcomes.add(type(parse_ml_statement(sql[:end])).__name__)
        except CompilationError as error:
            assert error.line is not None and " at line " in error.message
            outcomes.add("CompilationError")
    assert outcomes == {"NoneType", "CompilationError", "CreateModel"}
