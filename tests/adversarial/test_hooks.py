"""pre_hook / post_hook run as in dbt: rendered like the model, around its build, in its
transaction; folder and in-file hooks accumulate; a failing hook rolls the model back."""

from __future__ import annotations

from tests.conftest import Project, assert_clean_error

AUDIT_PRE = "create table if not exists main.audit (model varchar, n bigint)"
AUDIT_POST = "insert into main.audit select '{{ this.name }}', count(*) from {{ this }}"


def test_bad_hook_value_is_a_config_error(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": "select 1 as id\n",
            "models_sql/orders.yml": """
                models:
                  - name: orders
                    config:
                      post_hook: [{sql: "select 1", transaction: false}]
                """,
        }
    )
    assert_clean_error(project.wml("run"), 2, "orders.yml", "post_hook #1 must be SQL text")
