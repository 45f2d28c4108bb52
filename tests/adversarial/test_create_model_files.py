"""Redshift ML's CREATE MODEL kept in a project file is an ML-model node: it trains in DAG
order, so what calls its function builds on a fresh database."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

from adversarial.test_model_lifecycle import line_csv

CREATE = """
-- the churn model, as it runs on Redshift
CREATE MODEL slope
FROM (SELECT x, y FROM {{ ref('points') }})
TARGET y
FUNCTION predict_slope
IAM_ROLE default
AUTO OFF
MODEL_TYPE LINEAR_LEARNER
PROBLEM_TYPE REGRESSION
SETTINGS (S3_BUCKET 'my-bucket');
"""
SCORES = """
{{ config(materialized='table') }}
select id, predict_slope(x) as y_hat from {{ ref('points') }}
"""


@pytest.fixture
def files(project):
    project.write({
        "seeds/points.csv": line_csv(2.0),
        "models_sql/slope.sql": CREATE,
        "models_sql/scores.sql": SCORES,
    })
    return project


def test_create_model_file_trains_before_what_calls_it_on_a_fresh_database(files):
    order = files.wml("ls").output.split()
    assert order.index("slope") < order.index("scores")
    built = files.wml("build")
    assert built.exit_code == 0, built.output
    assert "IAM_ROLE" in built.output  # AWS-only clauses are reported as ignored
    assert files.scalar("select round(y_hat) from scores where id = 10") == 21
    assert files.query("select source, deployed from wml.models where name = 'slope'") == [("config", True)]
    again = files.wml("build")
    assert "up to date: version 1" in again.output


def test_create_model_file_compiles_its_training_query(files):
    assert files.wml("compile").exit_code == 0
    compiled = next((files.root / "target" / "compiled").rglob("slope.sql")).read_text()
    assert compiled.lstrip().lower().startswith("select") and '"points"' in compiled


@pytest.mark.parametrize(
    "text, fragments",
    [
        (CREATE.replace("CREATE MODEL slope", "CREATE MODEL other"), ["creates model 'other'", "Rename the file"]),
        (CREATE + "\nselect 1;", ["that one statement only"]),
        (CREATE.replace("TARGET y", "TARGET y TARGET y"), ["slope.sql"]),
    ],
    ids=["name_mismatch", "two_statements", "malformed"],
)
def test_bad_create_model_files_are_clear(files, text, fragments):
    files.write({"models_sql/slope.sql": text})
    assert_clean_error(files.wml("ls"), 2, *fragments)


def test_config_a_clause_decides_is_reported_as_ignored(files):
    files.write({"models_sql/slope.sql": "{{ config(target='x', max_runtime=5) }}\n" + CREATE})
    built = files.wml("build")
    assert built.exit_code == 0 and "config max_runtime, target ignored" in built.output
    assert files.query("select target from wml.models") == [("y",)]


def test_config_can_still_set_the_split_and_deploy(files):
    files.write({"models_sql/slope.sql": "{{ config(deploy='udf', eval_fraction=0.3) }}\n" + CREATE})
    assert files.wml("build").exit_code == 0
    assert files.query("select deploy_mode, rows_eval from wml.models") == [("udf", 60)]


def test_a_function_only_wml_sql_provides_is_reported(project):
    project.write({"seeds/points.csv": line_csv(2.0), "models_sql/scores.sql": SCORES})
    assert project.wml("seed").exit_code == 0
    statement = CREATE.replace("{{ ref('points') }}", "points")
    assert project.wml("sql", statement).exit_code == 0
    built = project.wml("run")
    assert built.exit_code == 0
    assert "created in wml sql" in built.output and "models_sql/slope.sql" in built.output
