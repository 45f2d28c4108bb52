"""End-to-end behaviour of seed / run / test / build on a real DuckDB file."""

from __future__ import annotations

import json

from conftest import assert_clean_error

BASE = {
    "seeds/raw_orders.csv": """
        order_id,customer_id,amount,day
        1,10,5.5,SAT
        2,10,7.0,SUN
        3,11,1.0,MON
    """,
    "models_sql/staging/stg_orders.sql": """
        select order_id, customer_id, amount, day from {{ ref('raw_orders') }}
    """,
    "models_sql/marts/customers.sql": """
        {{ config(materialized='table', tags=['nightly']) }}
        select customer_id, count(*) as orders, sum(amount) as revenue
        from {{ ref('stg_orders') }} group by customer_id
    """,
    "models_sql/marts/schema.yml": """
        models:
          - name: customers
            columns:
              - name: customer_id
                tests: [unique, not_null]
    """,
}


def test_build_creates_tables_views_and_runs_tests(project):
    project.write(BASE)
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.customers order by customer_id") == [
        (10, 2, 12.5),
        (11, 1, 1.0),
    ]
    kinds = dict(project.query("select table_name, table_type from information_schema.tables"))
    assert kinds == {"raw_orders": "BASE TABLE", "stg_orders": "VIEW", "customers": "BASE TABLE"}
    # 'SAT' stays text: no type-guessing surprises in seeds.
    assert (
        project.scalar("select data_type from information_schema.columns where column_name = 'day'")
        == "VARCHAR"
    )
    results = json.loads((project.root / "target/run_results.json").read_text())
    statuses = {".".join(r["unique_id"].split(".")[0:3:2]): r["status"] for r in results["results"]}
    assert statuses["model.customers"] == "success"
    assert statuses["test.unique_customers_customer_id"] == "pass"
    rows = {".".join(r["unique_id"].split(".")[0:3:2]): r["adapter_response"].get("rows_affected") for r in results["results"]}
    assert rows["model.customers"] == 2 and rows["seed.raw_orders"] == 3
    manifest = json.loads((project.root / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.test.customers"]["depends_on"]["nodes"] == ["model.test.stg_orders"]


def test_folder_config_is_inherited_and_file_config_wins(project):
    project.write(BASE)
    project.write(
        {
            "wml_project.yml": """
            name: test
            models:
              +materialized: view
              staging:
                +materialized: table
                +tags: [stage]
        """,
        }
    )
    assert project.wml("build").exit_code == 0
    kinds = dict(project.query("select table_name, table_type from information_schema.tables"))
    assert kinds["stg_orders"] == "BASE TABLE"
    listed = project.wml("ls", "-s", "tag:stage").output.split()
    assert listed == ["stg_orders"]


def test_seed_column_types_are_honoured(project):
    project.write(BASE)
    project.write(
        {
            "seeds/schema.yml": """
        seeds:
          - name: raw_orders
            config:
              column_types: {order_id: VARCHAR, amount: "DECIMAL(10, 2)"}
    """
        }
    )
    assert project.wml("seed").exit_code == 0
    types = dict(
        project.query(
            "select column_name, data_type from information_schema.columns where table_name = 'raw_orders'"
        )
    )
    assert types["order_id"] == "VARCHAR" and types["amount"] == "DECIMAL(10,2)"


def test_failing_test_skips_downstream_in_build_and_warn_does_not(project):
    project.write(BASE)
    project.write(
        {
            "models_sql/marts/schema.yml": """
            models:
              - name: stg_orders
                columns:
                  - name: customer_id
                    tests: [unique]
                  - name: amount
                    tests:
                      - accepted_values:
                          values: [5.5, 7.0]
                          quote: false
                          config: {severity: warn}
        """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 1
    out = result.output
    assert "FAIL" in out and "unique_stg_orders_customer_id" in out
    assert "WARN" in out and "SKIPPED" in out
    results = json.loads((project.root / "target/run_results.json").read_text())
    statuses = {".".join(r["unique_id"].split(".")[0:3:2]): r["status"] for r in results["results"]}
    assert statuses["model.customers"] == "skipped"
    assert statuses["test.accepted_values_stg_orders_amount__False__5_5__7_0"] == "warn"


def test_test_where_config_filters_rows(project):
    project.write(BASE)
    project.write(
        {
            "models_sql/marts/schema.yml": """
        models:
          - name: stg_orders
            columns:
              - name: customer_id
                tests:
                  - unique:
                      config: {where: "customer_id <> 10"}
    """
        }
    )
    assert project.wml("build").exit_code == 0


def test_singular_test_and_test_command(project):
    project.write(BASE)
    project.write(
        {"tests/sql/no_big_orders.sql": "select * from {{ ref('stg_orders') }} where amount > 6\n"}
    )
    project.wml("seed")
    project.wml("run")
    result = project.wml("test", "-s", "no_big_orders")
    assert result.exit_code == 1
    assert "got 1 failing rows" in result.output


def test_failed_model_keeps_previous_table_and_skips_children(project):
    project.write(BASE)
    assert project.wml("build").exit_code == 0
    project.write(
        {
            "models_sql/marts/customers.sql": """
            {{ config(materialized='table') }}
            select customer_id, no_such_column from {{ ref('stg_orders') }}
        """,
            "models_sql/marts/top.sql": "select * from {{ ref('customers') }}\n",
        }
    )
    result = project.wml("run")
    assert_clean_error(result, 1, "models_sql/marts/customers.sql", "customers", "no_such_column")
    assert "SKIPPED" in result.output
    assert project.scalar("select count(*) from main.customers") == 2  # previous table intact
    assert (
        project.query("select * from information_schema.tables where table_name like '%wml_tmp%'")
        == []
    )


def test_ephemeral_model_is_inlined_as_cte(project):
    project.write(BASE)
    project.write(
        {
            "models_sql/staging/big.sql": """
            {{ config(materialized='ephemeral') }}
            select * from {{ ref('raw_orders') }} where amount > 2
        """,
            "models_sql/marts/big_customers.sql": """
            with counted as (select customer_id, count(*) as n from {{ ref('big') }} group by 1)
            select * from counted
        """,
        }
    )
    assert project.wml("build").exit_code == 0
    assert project.query("select * from main.big_customers") == [(10, 2)]
    names = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "big" not in names


def test_edited_properties_and_models_apply_on_the_next_run(project):
    """Parsed YAML, templates and transpiled SQL are cached in target/: edits must show."""
    project.write(BASE)
    assert project.wml("build").exit_code == 0
    project.write({
        "models_sql/marts/schema.yml": BASE["models_sql/marts/schema.yml"].replace(
            "[unique, not_null]", "[unique, not_null, {accepted_values: {values: [10]}}]"),
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 1 and "accepted_values_customers_customer_id" in result.output
    project.write({
        "models_sql/marts/customers.sql": BASE["models_sql/marts/customers.sql"].replace(
            "group by customer_id", "where customer_id = 10 group by customer_id"),
    })  # fmt: skip
    assert project.wml("build").exit_code == 0
    assert project.query("select customer_id from main.customers") == [(10,)]


def test_in_file_alias_and_schema_reach_models_rendered_before(project):
    """Rendering once to parse and reusing it must not freeze a relation name that a later
    config() changes: a_child is parsed before b_parent sets its alias and schema."""
    project.write({
        "models_sql/a_child.sql": "select me from {{ ref('b_parent') }}",
        "models_sql/b_parent.sql": """
            {{ config(materialized='table', alias='parent_renamed', schema='marts') }}
            select '{{ this }}' as me
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select me from main.a_child") == [('"marts"."parent_renamed"',)]


def test_vars_env_var_target_and_this(project):
    project.write(
        {
            "wml_project.yml": "name: test\nvars:\n  threshold: 3\n",
            "models_sql/m.sql": """
            {{ config(materialized='table') }}
            select {{ var('threshold') }} as threshold,
                   '{{ env_var('WML_TEST_COLOUR', 'red') }}' as colour,
                   '{{ target.name }}' as target_name,
                   '{{ this.name }}' as me
        """,
        }
    )
    result = project.wml("run", "--vars", "{threshold: 7}", env={"WML_TEST_COLOUR": "blue"})
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.m") == [(7, "blue", "dev", "m")]
    assert project.wml("run", "--target", "other").exit_code == 0
    assert project.query("select threshold from main.m", db="other.duckdb") == [(3,)]


def test_project_and_builtin_macros(project):
    project.write(
        {
            "macros/cents.sql": "{% macro cents(col) %}({{ col }} * 100)::bigint{% endmacro %}\n",
            "macros/from_orders.sql": "{% macro from_orders() %}from {{ ref('raw_orders') }}{% endmacro %}\n",
            "seeds/raw_orders.csv": BASE["seeds/raw_orders.csv"],
            "models_sql/m.sql": "select {{ cents('amount') }} as c {{ from_orders() }} order by 1\n",
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select c from main.m") == [(100,), (550,), (700,)]
    # The macro's ref() counts as the calling model's dependency.
    ls = project.wml("ls", "-s", "+m").output.split()
    assert ls == ["raw_orders", "m"]


def test_json_log_format_is_one_object_per_line(project):
    project.write(BASE)
    result = project.wml("build", "--log-format", "json")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.output.strip().splitlines()]
    finished = [e for e in events if e["event"] == "node_finish"]
    assert {e["name"] for e in finished} >= {"customers", "raw_orders"}
    assert events[-1]["event"] == "run_finish"


def test_selection_and_exclusion(project):
    project.write(BASE)
    out = project.wml("ls", "-s", "+customers", "--exclude", "raw_orders").output.split()
    assert out == [
        "stg_orders",
        "customers",
        "not_null_customers_customer_id",
        "unique_customers_customer_id",
    ]
    assert project.wml(
        "ls", "-s", "config.materialized:table", "--resource-type", "model"
    ).output.split() == ["customers"]
    # fqn: the project name, folders under models_sql/, the name.
    assert project.wml("ls", "-s", "fqn:test.marts", "--resource-type", "model").output.split() == [
        "customers"
    ]
    assert project.wml("ls", "-s", "fqn:staging.*").output.split() == ["stg_orders"]


def test_init_scaffold_builds(tmp_path):
    from click.testing import CliRunner

    from warehouse_ml.cli.main import main

    target = tmp_path / "fresh"
    assert CliRunner().invoke(main, ["init", str(target)]).exit_code == 0
    result = CliRunner().invoke(main, ["build", "--project-dir", str(target)])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, ["init", str(target)])
    assert again.exit_code == 2 and "already holds a project" in again.output + again.stderr
