"""A model's rendered body is one query: vars and macros cannot add statements."""

from __future__ import annotations

import doctest
import json

import pytest
from conftest import assert_clean_error

import warehouse_ml.run.statements

MODEL = "{{ config(materialized='MAT') }}\nselect {{ var('x') }} as v\n"
INJECTED = "1); drop table customers; select (1"

REFUSED = [
    # id, materialized, sql_dialect, var value, expected fragments
    ("semicolon-table", "table", "duckdb", INJECTED, ["more than one statement", "line 2"]),
    ("semicolon-view", "view", "duckdb", INJECTED, ["more than one statement"]),
    ("semicolon-incremental", "incremental", "duckdb", INJECTED, ["more than one statement"]),
    ("second-statement", "table", "duckdb", "1; delete from customers", ["more than one statement"]),
    ("transpiled-redshift", "table", "redshift", INJECTED, ["statement"]),
]
ACCEPTED = [
    # id, body, expected value of v
    ("trailing-semicolon", "select 1 as v;", 1),
    ("semicolons-and-comment", "select 1 as v ;; -- done\n", 1),
    ("semicolon-in-string", "select length('a;b') as v", 3),
    ("semicolon-in-comments", "-- a; b\n/* c; d */ select 1 as v -- e;\n", 1),
    ("with-cte", "with a as (select 2 as v) select v from a;", 2),
    ("values", "select * from (values (4)) as t(v)", 4),
    ("union", "(select 5 as v) union all (select 5)", 5),
]


def _base(project, dialect: str = "duckdb") -> None:
    project.write(
        {
            "wml_project.yml": f"name: test\nsql_dialect: {dialect}\n",
            "seeds/customers.csv": "id\n1\n2\n3\n",
            "models_sql/kept.sql": "{{ config(materialized='table') }}\nselect 7 as k\n",
        }
    )
    assert project.wml("build").exit_code == 0


@pytest.mark.parametrize(
    ("materialized", "dialect", "value", "fragments"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_var_cannot_add_statements(project, materialized, dialect, value, fragments):
    _base(project, dialect)
    project.write({"models_sql/evil.sql": MODEL.replace("MAT", materialized)})
    result = project.wml("run", "--vars", json.dumps({"x": value}))
    assert_clean_error(result, 1, "models_sql/evil.sql", "model 'evil'", *fragments)
    assert project.scalar("select count(*) from main.customers") == 3  # nothing lost
    assert project.scalar("select count(*) from main.kept") == 1
    compiled = project.wml("compile", "--vars", json.dumps({"x": value}))
    assert_clean_error(compiled, 2, "models_sql/evil.sql", "model 'evil'", *fragments)


@pytest.mark.parametrize("materialized", ["table", "view"])
@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_one_query_with_semicolons_and_comments_runs(project, materialized, body, expected):
    _base(project)
    project.write({"models_sql/ok.sql": f"{{{{ config(materialized='{materialized}') }}}}\n{body}"})
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.scalar("select v from main.ok") == expected
    assert project.scalar("select count(*) from main.customers") == 3


def test_body_that_is_not_a_query_is_refused(project):
    _base(project)
    project.write({"models_sql/evil.sql": "{{ var('x') }}\n"})
    result = project.wml("run", "--vars", "{x: drop table customers}")
    assert_clean_error(result, 1, "models_sql/evil.sql", "model 'evil'", "starts with 'drop'")
    assert project.scalar("select count(*) from main.customers") == 3


@pytest.mark.parametrize(
    ("eph_body", "ok"),
    [("select 8 as v;\n", True), ("select {{ var('x', 1) }} as v\n", False)],
    ids=["ephemeral-trailing-semicolon", "ephemeral-injected"],
)
def test_ephemeral_models_are_one_query(project, eph_body, ok):
    _base(project)
    project.write(
        {
            "models_sql/eph.sql": "{{ config(materialized='ephemeral') }}\n" + eph_body,
            "models_sql/top.sql": "{{ config(materialized='table') }}\nselect v from {{ ref('eph') }}\n",
        }
    )
    result = project.wml("run", "--vars", json.dumps({"x": "1 as v; drop table customers; select 1"}))
    if ok:
        assert result.exit_code == 0, result.output
        assert project.scalar("select v from main.top") == 8
    else:
        assert_clean_error(result, 1, "models_sql/eph.sql", "model 'eph'", "more than one statement")
    assert project.scalar("select count(*) from main.customers") == 3


def test_module_doctest() -> None:
    assert doctest.testmod(warehouse_ml.run.statements).failed == 0
