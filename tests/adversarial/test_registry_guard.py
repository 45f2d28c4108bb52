"""The registry (schema ``wml``) is wml's alone, and ``wml predict --output`` never
overwrites what it was not asked to: each refused write leaves every model version and
the existing relation as they were."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

from adversarial.test_model_lifecycle import line_csv, model_sql


@pytest.fixture
def trained(project):
    project.write({"seeds/points.csv": line_csv(2.0), "models_sql/m.sql": model_sql()})
    assert project.wml("build").exit_code == 0
    return project


def registry_state(project) -> list[tuple]:
    return project.query("select name, version, deployed, octet_length(onnx) from wml.models")


@pytest.mark.parametrize(
    "statement",
    [
        "drop table wml.models",
        "drop schema wml cascade",
        "delete from wml.models",
        "update wml.models set deployed = false",
        "insert into wml.models (name, version, function) values ('x', 9, 'f')",
        "create or replace table wml.models as select 1 as x",
        "alter table wml.models rename to gone",
        "truncate wml.models",
        "create view wml.peek as select 1 as x",
    ],
    ids=["drop", "drop_schema", "delete", "update", "insert", "ctas", "rename", "truncate", "view"],
)
def test_wml_sql_refuses_writes_into_the_registry(trained, statement):
    before = registry_state(trained)
    assert_clean_error(trained.wml("sql", statement), 2, "schema 'wml'", "model registry")
    assert registry_state(trained) == before
    assert trained.wml("models").exit_code == 0


def test_wml_sql_still_reads_the_registry(trained):
    out = trained.wml("sql", "create table my_copy as select name, version from wml.models")
    assert out.exit_code == 0, out.output
    assert trained.scalar("select count(*) from my_copy") == 1


@pytest.mark.parametrize(
    "config",
    ["schema='wml', alias='models'", "schema='WML'", "schema='wml', materialized='view'"],
    ids=["alias_models", "upper_case", "view"],
)
def test_a_model_in_the_registry_schema_is_refused_at_parse_time(trained, config):
    before = registry_state(trained)
    trained.write({"models_sql/evil.sql": f"{{{{ config({config}) }}}}\nselect 1 as x\n"})
    assert_clean_error(trained.wml("build"), 2, "evil.sql", "model 'evil'", "schema 'wml'")
    assert registry_state(trained) == before


def test_predict_refuses_the_registry_as_output(trained):
    before = registry_state(trained)
    out = trained.wml("predict", "m", "--input", "points", "--output", "wml.models", "--replace")
    assert_clean_error(out, 2, "schema 'wml'")
    assert registry_state(trained) == before


def test_predict_onto_an_existing_table_needs_replace(trained):
    first = trained.wml("predict", "m", "--input", "points", "--output", "scores", "--id", "id")
    assert first.exit_code == 0, first.output
    trained.wml("sql", "delete from scores where id >= 10")
    again = trained.wml("predict", "m", "--input", "points", "--output", "scores")
    assert_clean_error(again, 2, "already exists", "--replace")
    assert trained.scalar("select count(*) from scores") == 10  # untouched
    replaced = trained.wml("predict", "m", "--input", "points", "--output", "scores", "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert trained.scalar("select count(*) from scores") == 200


def test_predict_never_turns_a_view_into_a_table(trained):
    assert trained.wml("sql", "create view recent as select * from points where id < 5").exit_code == 0
    out = trained.wml("predict", "m", "--input", "points", "--output", "recent", "--replace")
    assert_clean_error(out, 2, "is a view")
    assert trained.query("select table_type from information_schema.tables where table_name = 'recent'") == [("VIEW",)]
    assert trained.scalar("select count(*) from recent") == 5


def test_predict_refuses_to_overwrite_its_own_input(trained):
    out = trained.wml("predict", "m", "--input", "points", "--output", "points", "--replace")
    assert_clean_error(out, 2, "is the --input relation")
    assert trained.scalar("select count(*) from points") == 200
