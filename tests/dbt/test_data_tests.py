"""Data tests as dbt runs them: names, {% test %} blocks, model-level tests, configs,
store_failures and test selection."""

from __future__ import annotations

import hashlib
import json

from conftest import Project, assert_clean_error

ORDERS = {
    "seeds/raw_orders.csv": """
        id,customer_id,status,amount
        1,10,placed,5
        2,10,shipped,7
        3,11,returned,1
        4,,placed,2
    """,
    "seeds/raw_customers.csv": "id,name\n10,ada\n11,bob\n",
    "models_sql/orders.sql": "select id as order_id, customer_id, status, amount from {{ ref('raw_orders') }}\n",
    "models_sql/customers.sql": "select id as customer_id, name from {{ ref('raw_customers') }}\n",
}


def _name(unique_id: str) -> str:
    """The node name in dbt's unique id (model.<package>.<name>, test.<package>.<name>.<hash>,
    unit_test.<package>.<model>.<name>)."""
    parts = unique_id.split(".")
    return parts[-1] if parts[0] == "unit_test" else parts[2]


def _statuses(project: Project) -> dict[str, str]:
    results = json.loads((project.root / "target/run_results.json").read_text())
    return {_name(r["unique_id"]): r["status"] for r in results["results"]}


def _failures(project: Project) -> dict[str, int]:
    results = json.loads((project.root / "target/run_results.json").read_text())
    return {
        _name(r["unique_id"]): r["failures"]
        for r in results["results"]
        if "failures" in r
    }


def _names(project: Project, *args: str) -> list[str]:
    result = project.wml("ls", *args)
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_generic_tests_are_named_as_dbt_names_them(project: Project) -> None:
    long_values = [f"value_number_{i}" for i in range(6)]
    project.write(
        {
            **ORDERS,
            "models_sql/schema.yml": f"""
                models:
                  - name: orders
                    columns:
                      - name: order_id
                        data_tests: [not_null, unique]
                      - name: status
                        data_tests:
                          - accepted_values: {{values: [placed, shipped]}}
                          - accepted_values: {{values: {long_values}}}
                      - name: customer_id
                        tests:
                          - relationships: {{to: ref('customers'), field: customer_id}}
                          - not_null:
                              name: orders_have_a_customer
                sources:
                  - name: raw
                    schema: main
                    tables:
                      - name: raw_orders
                        columns:
                          - name: id
                            data_tests: [not_null]
            """,
        }
    )
    names = set(_names(project, "--resource-type", "test"))
    full = "accepted_values_orders_status__" + "__".join(long_values)
    identifier = "accepted_values_orders"[:30]  # test and model: 30 characters at most
    assert names == {
        "not_null_orders_order_id",
        "unique_orders_order_id",
        "accepted_values_orders_status__placed__shipped",
        full,  # the node keeps the full name; its relation (alias) is the short one
        "relationships_orders_customer_id__customer_id__ref_customers_",
        "orders_have_a_customer",
        "source_not_null_raw_raw_orders_id",
    }, names
    assert project.wml("compile").exit_code == 0
    manifest = json.loads((project.root / "target/manifest.json").read_text())
    [node] = [n for n in manifest["nodes"].values() if n["name"] == full]
    assert node["config"]["alias"] == f"{identifier}_{hashlib.md5(full.encode()).hexdigest()}"
    assert node["attached_node"] == "model.test.orders"
    assert node["test_metadata"]["kwargs"]["values"] == long_values


def test_model_level_tests_with_arguments_and_config_run(project: Project) -> None:
    """Model-level `data_tests:` were silently dropped before; dbt 1.10's `arguments:` and
    the flat form both pass arguments, `config:` and top-level config keys both apply."""
    project.write(
        {
            **ORDERS,
            "macros/expression_is_true.sql": """
                {% test expression_is_true(model, expression, column_name=none) %}
                select * from {{ model }} where not ({{ column_name ~ ' ' if column_name }}{{ expression }})
                {% endtest %}
            """,
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    data_tests:
                      - expression_is_true:
                          arguments: {expression: "amount > 1"}
                          config: {severity: warn}
                      - expression_is_true:
                          expression: "amount < 100"
                      - unique:
                          column_name: "order_id || '-' || status"
                      - expression_is_true:
                          name: positive_amounts
                          expression: "amount > 0"
                          where: "status = 'placed'"
                          error_if: ">5"
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    statuses = _statuses(project)
    assert statuses["expression_is_true_orders_amount_1"] == "warn"  # 'amount > 1': order 3
    assert statuses["expression_is_true_orders_amount_100"] == "pass"
    assert statuses["unique_orders_order_id_status"] == "pass"
    assert statuses["positive_amounts"] == "pass"
    assert _failures(project)["expression_is_true_orders_amount_1"] == 1
    # `wml test -s orders` runs the model-level tests too.
    assert "expression_is_true_orders_amount_100" in _names(project, "-s", "orders")


def test_test_blocks_from_tests_generic_and_project_overrides_of_builtins(project: Project) -> None:
    project.write(
        {
            **ORDERS,
            "tests/sql/generic/is_even.sql": """
                {%- test is_even(model, column_name) -%}
                select {{ column_name }} from {{ model }} where {{ column_name }} % 2 <> 0
                {%- endtest %}
            """,
            "macros/overrides.sql": """
                {% test not_null(model, column_name) %}
                select * from {{ model }} where {{ column_name }} is null and {{ column_name }} <> -1
                {% endtest %}
            """,
            "tests/sql/no_big_orders.sql": "select * from {{ ref('orders') }} where amount > 100\n",
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: amount
                        data_tests: [is_even]
                      - name: customer_id
                        data_tests: [not_null]
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 1, result.output
    statuses = _statuses(project)
    assert statuses["is_even_orders_amount"] == "fail"  # 5, 7, 1 are odd
    assert _failures(project)["is_even_orders_amount"] == 3
    # The project's not_null (NULL is never <> -1: it finds nothing) replaced the built-in one.
    assert statuses["not_null_orders_customer_id"] == "pass"
    assert statuses["no_big_orders"] == "pass"  # singular tests still run
    # tests/sql/generic/ holds definitions, not singular tests.
    assert "is_even" not in _names(project)
    assert set(_names(project, "-s", "test_type:singular")) == {"no_big_orders"}
    assert set(_names(project, "-s", "test_type:generic")) == {
        "is_even_orders_amount", "not_null_orders_customer_id",
    }  # fmt: skip
    assert set(_names(project, "-s", "test_name:is_even")) == {"is_even_orders_amount"}


def test_string_arguments_render_like_dbt(project: Project) -> None:
    """ref('x') arguments become relations and Jinja in arguments renders, as in dbt."""
    project.write(
        {
            **ORDERS,
            "wml_project.yml": "name: test\nvars: {min_amount: 2}\n",
            "macros/tests.sql": """
                {% test has_parent(model, column_name, parent, parent_column) %}
                select * from {{ model }} where {{ column_name }} not in
                  (select {{ parent_column }} from {{ parent }}) and {{ column_name }} is not null
                {% endtest %}
                {% test at_least(model, column_name, value) %}
                select * from {{ model }} where {{ column_name }} < {{ value }}
                {% endtest %}
            """,
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: customer_id
                        data_tests:
                          - has_parent: {parent: ref('customers'), parent_column: customer_id}
                      - name: amount
                        data_tests:
                          - at_least: {value: "{{ var('min_amount') }}"}
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 1, result.output
    failures = _failures(project)
    assert failures["has_parent_orders_customer_id__ref_customers___customer_id"] == 0
    assert failures["at_least_orders_amount___var_min_amount_"] == 1
    manifest = json.loads((project.root / "target/manifest.json").read_text())
    [test] = [n for n in manifest["nodes"].values()
              if n["name"] == "has_parent_orders_customer_id__ref_customers___customer_id"]  # fmt: skip
    assert sorted(test["depends_on"]["nodes"]) == ["model.test.customers", "model.test.orders"]


def test_severity_conditions_limit_and_fail_calc(project: Project) -> None:
    project.write(
        {
            **ORDERS,
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: status
                        data_tests:
                          - accepted_values:
                              values: [placed]
                              name: lenient
                              config: {error_if: ">5", warn_if: ">1"}
                          - accepted_values:
                              values: [placed]
                              name: capped
                              config: {limit: 1}
                          - accepted_values:
                              values: [placed]
                              name: summed
                              config: {fail_calc: "sum(n_records)", error_if: "= 2"}
                          - accepted_values:
                              values: [placed, shipped, returned]
                              name: all_good
                              config: {warn_if: "!=0"}
            """,
        }
    )
    result = project.wml("test") if project.wml("build").exit_code else None
    assert result is not None and result.exit_code == 1
    statuses, failures = _statuses(project), _failures(project)
    assert (statuses["lenient"], failures["lenient"]) == ("warn", 2)  # shipped, returned
    assert (statuses["capped"], failures["capped"]) == ("fail", 1)  # limit caps the count
    assert (statuses["summed"], failures["summed"]) == ("fail", 2)
    assert statuses["all_good"] == "pass"


def test_store_failures_writes_the_audit_table_and_replaces_it(project: Project) -> None:
    schema = """
        models:
          - name: orders
            columns:
              - name: status
                data_tests:
                  - accepted_values:
                      values: [placed]
                      config: {store_failures: true}
              - name: customer_id
                data_tests:
                  - not_null:
                      config: {store_failures_as: view, schema: audit}
    """
    project.write({**ORDERS, "models_sql/schema.yml": schema})
    assert project.wml("build").exit_code == 1
    table = '"main_dbt_test__audit"."accepted_values_orders_status__placed"'
    assert sorted(project.query(f"select value_field, n_records from {table}")) == [
        ("returned", 1),
        ("shipped", 1),
    ]
    kinds = dict(
        project.query(
            "select table_schema || '.' || table_name, table_type from information_schema.tables "
            "where table_schema not in ('main')"
        )
    )
    assert kinds == {
        "main_dbt_test__audit.accepted_values_orders_status__placed": "BASE TABLE",
        "audit.not_null_orders_customer_id": "VIEW",  # wml's own format: +schema verbatim
    }
    # The next run replaces the rows: fixed data leaves the table empty.
    project.write({"seeds/raw_orders.csv": "id,customer_id,status,amount\n1,10,placed,5\n"})
    assert project.wml("build").exit_code == 0
    assert project.scalar(f"select count(*) from {table}") == 0
    # --store-failures stores every test whose config does not say otherwise.
    project.write(
        {
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: order_id
                        data_tests: [unique, {not_null: {config: {store_failures: false}}}]
            """
        }
    )
    assert project.wml("test", "--store-failures").exit_code == 0
    stored = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "unique_orders_order_id" in stored and "not_null_orders_order_id" not in stored


def test_folder_config_for_tests_and_enabled_false(project: Project) -> None:
    project.write(
        {
            **ORDERS,
            "wml_project.yml": "name: test\ntests:\n  test:\n    +severity: warn\n    +tags: [quality]\n",
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: status
                        data_tests:
                          - accepted_values: {values: [placed]}
                          - accepted_values: {values: [x], config: {enabled: false}}
                          - accepted_values: {values: [y], severity: error}
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 1, result.output
    statuses = _statuses(project)
    assert statuses["accepted_values_orders_status__placed"] == "warn"  # from the project file
    assert statuses["accepted_values_orders_status__y"] == "fail"  # its own config wins
    assert "accepted_values_orders_status__x" not in statuses
    assert set(_names(project, "-s", "tag:quality")) == {
        "accepted_values_orders_status__placed", "accepted_values_orders_status__y",
    }  # fmt: skip


def test_selecting_a_test_by_name_and_unknown_tests(project: Project) -> None:
    project.write(
        {
            **ORDERS,
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: order_id
                        data_tests: [not_null, unique]
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    result = project.wml("test", "-s", "not_null_orders_order_id")
    assert result.exit_code == 0 and "not_null_orders_order_id" in result.output
    assert "unique_orders_order_id" not in result.output
    project.write(
        {
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: order_id
                        data_tests: [dbt_utils.not_constant, is_positive]
            """
        }
    )
    assert_clean_error(project.wml("test"), 2, "unknown generic test 'dbt_utils.not_constant'")


def test_a_project_get_where_subquery_shapes_the_tested_relation(project: Project) -> None:
    """dbt passes `model` through get_where_subquery; a project may override it."""
    project.write(
        {
            **ORDERS,
            "macros/where.sql": """
                {% macro get_where_subquery(relation) -%}
                (select * from {{ relation }} where status <> 'returned') as only_open
                {%- endmacro %}
                {% test small(model, column_name) %}
                select * from {{ model }} where {{ column_name }} < 2
                {% endtest %}
            """,
            "models_sql/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: amount
                        data_tests: [small]
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output  # the returned order (amount 1) is filtered out
    assert _statuses(project)["small_orders_amount"] == "pass"


def test_a_dbt_project_layout(project: Project) -> None:
    """dbt_project.yml: tests/ holds singular tests, tests/generic/ test blocks and
    tests/fixtures/ unit test fixtures; `data_tests:` configures tests by fqn."""
    project.remove("wml_project.yml")
    project.write(
        {
            "dbt_project.yml": """
                name: shop
                profile: test
                data_tests:
                  shop:
                    +store_failures: true
                    marts:
                      +severity: warn
            """,
            "seeds/raw_orders.csv": ORDERS["seeds/raw_orders.csv"],
            "models/marts/orders.sql": ORDERS["models_sql/orders.sql"],
            "models/marts/orders.yml": """
                models:
                  - name: orders
                    data_tests:
                      - at_most_rows: {n: 3}
                    columns:
                      - name: status
                        data_tests:
                          - accepted_values: {values: [placed, shipped, returned]}
                unit_tests:
                  - name: orders_keep_rows
                    model: orders
                    given:
                      - input: ref('raw_orders')
                        format: csv
                        fixture: two_orders
                    expect:
                      rows: [{order_id: 1}, {order_id: 2}]
            """,
            "tests/generic/at_most_rows.sql": """
                {% test at_most_rows(model, n) %}
                select count(*) as n_rows from {{ model }} having count(*) > {{ n }}
                {% endtest %}
            """,
            "tests/fixtures/two_orders.csv": "id,status\n1,placed\n2,placed\n",
            "tests/no_negative_amounts.sql": "select * from {{ ref('orders') }} where amount < 0\n",
            # dbt runs a test that reads no relation (wml's own format refuses one).
            "tests/constant.sql": "select 1 as x where 1 = 0\n",
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    statuses = _statuses(project)
    assert statuses["at_most_rows_orders_3"] == "warn"  # 4 rows; severity from the folder
    assert statuses["accepted_values_orders_status__placed__shipped__returned"] == "pass"
    assert statuses["no_negative_amounts"] == "pass"
    assert statuses["constant"] == "pass"
    assert statuses["orders_keep_rows"] == "pass"
    # store_failures from the project file: dbt's audit schema.
    assert project.query('select n_rows from "main_dbt_test__audit"."at_most_rows_orders_3"') == [(4,)]


def test_tests_on_seeds_and_snapshots(project: Project) -> None:
    project.write(
        {
            **ORDERS,
            "snapshots/orders_snap.sql": (
                "{% snapshot orders_snap %}{{ config(unique_key='order_id', strategy='check', "
                "check_cols='all') }}select * from {{ ref('orders') }}{% endsnapshot %}\n"
            ),
            "snapshots/snapshots.yml": """
                snapshots:
                  - name: orders_snap
                    columns:
                      - name: order_id
                        data_tests: [unique]
                      - name: dbt_valid_to
                        data_tests: [not_null]
            """,
            "seeds/seeds.yml": """
                seeds:
                  - name: raw_customers
                    data_tests:
                      - unique: {column_name: id}
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 1, result.output
    statuses = _statuses(project)
    assert statuses["unique_orders_snap_order_id"] == "pass"
    assert statuses["not_null_orders_snap_dbt_valid_to"] == "fail"  # current rows: NULL
    assert statuses["unique_raw_customers_id"] == "pass"
    assert "unique_orders_snap_order_id" in _names(project, "-s", "orders_snap")
