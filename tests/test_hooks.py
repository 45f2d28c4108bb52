"""dbt's pre_hook / post_hook: rendered at run time in the model's context, run in its transaction."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("dialect", ["duckdb", "redshift"])
def test_post_hook_runs_after_a_table_is_built(project, dialect):
    project.write({
        "wml_project.yml": f"name: test\nsql_dialect: {dialect}\n",
        "models_sql/nums.sql": """
            {{ config(materialized='table', post_hook="delete from {{ this }} where n > 2") }}
            select 1 as n union all select 2 union all select 3
        """,
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.query("select n from nums order by n") == [(1,), (2,)]


def test_incremental_hooks_see_is_incremental_and_refs(project):
    project.write({
        "models_sql/keep.sql": "select 1 as id union all select 3",
        "models_sql/inc.sql": """
            {{ config(materialized='incremental', unique_key='id', pre_hook=["select 1"],
                      post_hook="{% if is_incremental() %}delete from {{ this }} where id not in (select id from {{ ref('keep') }}){% endif %}") }}
            select id from {{ ref('keep') }}
            {% if is_incremental() %} union all select 2 {% else %} union all select 2 {% endif %}
        """,
    })  # fmt: skip
    assert project.wml("run").exit_code == 0
    assert project.query("select id from inc order by id") == [(1,), (2,), (3,)]  # full build: no delete
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.query("select id from inc order by id") == [(1,), (3,)]


def test_a_failing_post_hook_leaves_the_previous_table(project):
    project.write({"models_sql/t.sql": "select 1 as n"})
    assert project.wml("run").exit_code == 0
    project.write({"models_sql/t.sql": """
        {{ config(post_hook="delete from no_such_table") }}
        select 2 as n
    """})  # fmt: skip
    result = project.wml("run")
    assert result.exit_code != 0
    assert project.query("select n from t") == [(1,)]
