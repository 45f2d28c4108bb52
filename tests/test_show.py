"""``wml show NAME`` previews a SQL model's or seed's rows (dbt show); ``--inline`` a query."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error

FILES = {
    "seeds/people.csv": "id,name\n" + "".join(f"{i},p{i}\n" for i in range(1, 9)),
    "models_sql/adults.sql": "select id, name from {{ ref('people') }} where id > 1 order by id",
    "models_sql/as_table.sql": "{{ config(materialized='table', alias='tbl', schema='marts') }}\n"
    "select count(*) as n from {{ ref('people') }}",
    "models_sql/cte.sql": "{{ config(materialized='ephemeral') }} select id * 10 as id from "
    "{{ ref('people') }}",
}


@pytest.fixture
def built(project):
    project.write(FILES)
    assert project.wml("build").exit_code == 0
    return project


def test_a_model_shows_its_first_five_rows_in_the_sql_table_format(built):
    result = built.wml("show", "adults")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "name"] and set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:-1]] == ["2", "3", "4", "5", "6"]
    assert lines[-1] == "(5 rows)"


def test_limit_format_seed_alias_and_schema(built):
    assert built.wml("show", "people", "--limit", "2", "--format", "csv").output == (
        'id,name\n1,"p1"\n2,"p2"\n'
    )
    rows = [json.loads(line) for line in built.wml("show", "as_table", "--format", "json").output.splitlines()]
    assert rows == [{"n": 8}]  # read from marts.tbl, the relation config() names
    assert built.wml("show", "adults", "--limit", "0", "--format", "csv").output == "id,name\n"


def test_an_ephemeral_model_shows_the_rows_of_its_query(built):
    assert built.wml("show", "cte", "--limit", "1", "--format", "csv").output == "id\n10\n"


def test_a_model_not_built_yet_says_how_to_build_it(built):
    built.write({"models_sql/later.sql": "select 1 as x"})
    assert_clean_error(
        built.wml("show", "later"), 2,
        "models_sql/later.sql", "model 'later' has not been built", '"main"."later"',
        "wml build -s later",
    )  # fmt: skip


def test_an_unknown_name_suggests_models_seeds_and_ml_models(built):
    assert_clean_error(built.wml("show", "adult"), 2, "'adult' does not exist", "Did you mean 'adults'")
    assert_clean_error(built.wml("show"), 2, "give a NAME or --inline QUERY")


def test_inline_is_wml_sql_with_a_limit(built):
    result = built.wml(
        "show", "--inline", "select * from {{ ref('adults') }} order by id desc",
        "--limit", "2", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == 'id,name\n8,"p8"\n7,"p7"\n'
    default = built.wml("show", "--inline", "select * from range(100)")
    assert default.output.splitlines()[-1] == "(5 rows)"
    assert_clean_error(built.wml("show", "--inline", "select {{ nope }}"), 2, "<sql>:1:")


def test_a_name_outside_the_project_does_not_parse_it(built):
    built.write({"models_sql/broken.sql": "select * from {{ ref('missing') }}"})
    # Not a project file: straight to the registry (no model trained yet here).
    assert_clean_error(built.wml("show", "ghost"), 2, "ghost", "does not exist")
    assert "broken" not in built.wml("show", "ghost").output
