"""dbt unit tests (``unit_tests:``): mock inputs, expected rows, overrides, and when they run."""

from __future__ import annotations

import json

from conftest import Project, assert_clean_error

BASE = {
    "seeds/raw_stores.csv": "id,name,tax_rate,opened_at\n1,Vice City,0.2,2016-09-01 10:00:00\n",
    "seeds/raw_items.csv": "order_id,is_food\n1,true\n1,false\n2,true\n",
    "models_sql/sources.yml": """
        sources:
          - name: ecom
            schema: main
            tables: [{name: raw_stores}]
    """,
    "models_sql/stg_locations.sql": """
        select id as location_id, name as location_name, tax_rate,
               cast(date_trunc('day', opened_at) as date) as opened_date
        from {{ source('ecom', 'raw_stores') }}
    """,
    "models_sql/stg_items.sql": "select * from {{ ref('raw_items') }}\n",
    "models_sql/orders.sql": """
        {{ config(materialized='table') }}
        select order_id,
               sum(case when is_food then 1 else 0 end) as count_food_items,
               count(*) - sum(case when is_food then 1 else 0 end) as count_drink_items,
               bool_or(not is_food) as is_drink_order
        from {{ ref('stg_items') }} group by order_id
    """,
    "models_sql/downstream.sql": "select * from {{ ref('orders') }}\n",
}

UNIT = """
unit_tests:
  - name: test_opened_at_truncates_to_date
    model: stg_locations
    given:
      - input: source('ecom', 'raw_stores')
        rows:
          - {id: 1, name: "Vice City", tax_rate: 0.2, opened_at: "2016-09-01T00:00:00"}
          - {id: 2, name: "San Andreas", opened_at: "2079-10-27T23:59:59.9999"}
    expect:
      rows:
        - {location_id: 1, location_name: "Vice City", tax_rate: 0.2, opened_date: "2016-09-01"}
        - {location_id: 2, location_name: "San Andreas", tax_rate: null, opened_date: "2079-10-27"}
  - name: test_items_count_to_bools
    model: orders
    config: {tags: [logic]}
    given:
      - input: ref('stg_items')
        rows:
          - {order_id: 1, is_food: true}
          - {order_id: 1, is_food: false}
          - {order_id: 2, is_food: true}
    expect:
      rows:
        - {order_id: 2, is_drink_order: false, count_drink_items: 0}
        - {order_id: 1, is_drink_order: true, count_drink_items: 1}
"""


def _name(unique_id: str) -> str:
    """The node name in dbt's unique id (model.<package>.<name>, test.<package>.<name>.<hash>,
    unit_test.<package>.<model>.<name>)."""
    parts = unique_id.split(".")
    return parts[-1] if parts[0] == "unit_test" else parts[2]


def _results(project: Project) -> dict[str, dict]:
    results = json.loads((project.root / "target/run_results.json").read_text())
    return {_name(r["unique_id"]): r for r in results["results"]}


def test_unit_tests_pass_with_mock_rows_cast_to_the_inputs_types(project: Project) -> None:
    """The jaffle-shop shapes: a source input, a ref input, partial columns on both sides,
    timestamps given as ISO text, expected rows in another order."""
    project.write({**BASE, "models_sql/unit.yml": UNIT})
    assert project.wml("seed").exit_code == 0  # the source's table, for its column types
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    results = _results(project)
    assert results["test_opened_at_truncates_to_date"]["status"] == "pass"
    assert results["test_items_count_to_bools"]["status"] == "pass"
    # `wml test` runs them too; `wml run` does not.
    assert project.wml("test", "-s", "test_type:unit").exit_code == 0
    assert set(_results(project)) == {
        "test_opened_at_truncates_to_date",
        "test_items_count_to_bools",
    }
    assert project.wml("run").exit_code == 0
    assert not any("test_" in uid for uid in _results(project))
    # A unit test's SQL needs its inputs' types: compile writes none (and no file per YAML).
    assert project.wml("compile").exit_code == 0
    assert not list((project.root / "target/compiled").rglob("*.yml"))


def test_a_failing_unit_test_shows_the_diff_and_stops_the_model_in_build(project: Project) -> None:
    wrong = UNIT.replace("{order_id: 2, is_drink_order: false, count_drink_items: 0}",
                         "{order_id: 2, is_drink_order: true, count_drink_items: 0}")  # fmt: skip
    project.write({**BASE, "models_sql/unit.yml": wrong})
    assert project.wml("seed").exit_code == 0
    result = project.wml("build")
    assert result.exit_code == 1
    assert "actual differs from expected" in result.output
    assert "| +++ | 2 " in result.output and "| --- | 2 " in result.output, result.output
    results = _results(project)
    assert results["test_items_count_to_bools"]["status"] == "fail"
    # dbt: a model whose unit test fails is not built, and nor is anything downstream.
    assert results["orders"]["status"] == "skipped"
    assert results["downstream"]["status"] == "skipped"
    assert results["stg_locations"]["status"] == "success"
    tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "orders" not in tables and "stg_locations" in tables


def test_csv_sql_and_fixture_formats(project: Project) -> None:
    project.write(
        {
            **BASE,
            "tests/sql/fixtures/items_fixture.csv": "order_id,is_food\n3,false\n3,false\n",
            "models_sql/unit.yml": """
                unit_tests:
                  - name: csv_rows
                    model: orders
                    given:
                      - input: ref('stg_items')
                        format: csv
                        rows: |
                          order_id,is_food
                          1,true
                          1,true
                    expect:
                      format: csv
                      rows: |
                        order_id,count_food_items
                        1,2
                  - name: fixture_file
                    model: orders
                    given:
                      - input: ref('stg_items')
                        format: csv
                        fixture: items_fixture
                    expect:
                      format: sql
                      rows: select 3 as order_id, 0 as count_food_items, 2 as count_drink_items, true as is_drink_order
                  - name: sql_input
                    model: orders
                    given:
                      - input: ref('stg_items')
                        format: sql
                        rows: select 5 as order_id, true as is_food
                    expect:
                      rows: [{order_id: 5, count_food_items: 1}]
            """,
        }
    )
    result = project.wml("build", "-s", "+orders")
    assert result.exit_code == 0, result.output
    results = _results(project)
    assert [results[k]["status"] for k in ("csv_rows", "fixture_file", "sql_input")] == ["pass"] * 3


def test_overrides_of_is_incremental_vars_and_env_vars(project: Project) -> None:
    project.write(
        {
            "seeds/events.csv": "id,kind\n1,a\n2,b\n3,a\n",
            "wml_project.yml": "name: test\nvars: {kind: a}\n",
            "models_sql/events_inc.sql": """
                {{ config(materialized='incremental', unique_key='id') }}
                select id, kind, '{{ env_var('WML_UT_LABEL', 'none') }}' as label
                from {{ ref('events') }} where kind = '{{ var('kind') }}'
                {% if is_incremental() %} and id > (select max(id) from {{ this }}) {% endif %}
            """,
            "models_sql/unit.yml": """
                unit_tests:
                  - name: incremental_rows_only
                    model: events_inc
                    overrides:
                      macros: {is_incremental: true}
                      vars: {kind: b}
                      env_vars: {WML_UT_LABEL: mocked}
                    given:
                      - input: ref('events')
                        rows: [{id: 1, kind: b}, {id: 5, kind: b}, {id: 6, kind: a}]
                      - input: this
                        rows: [{id: 4}]
                    expect:
                      rows: [{id: 5, kind: b, label: mocked}]
            """,
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert _results(project)["incremental_rows_only"]["status"] == "pass"
    # The real build used the real vars: kind a, no override.
    assert project.query("select id, label from main.events_inc order by id") == [
        (1, "none"),
        (3, "none"),
    ]


def test_selection_and_errors(project: Project) -> None:
    project.write({**BASE, "models_sql/unit.yml": UNIT})
    assert project.wml("seed").exit_code == 0
    assert project.wml("build").exit_code == 0
    listed = project.wml("ls", "-s", "orders").output.split()
    assert (
        "test_items_count_to_bools" in listed and "test_opened_at_truncates_to_date" not in listed
    )
    assert project.wml("ls", "-s", "stg_items").output.split() == ["stg_items"]
    assert project.wml("ls", "-s", "tag:logic").output.split() == ["test_items_count_to_bools"]
    unit = project.wml("ls", "--resource-type", "unit_test").output.split()
    assert sorted(unit) == ["test_items_count_to_bools", "test_opened_at_truncates_to_date"]
    assert not set(unit) & set(project.wml("ls", "--resource-type", "test").output.split())
    project.write(
        {
            "models_sql/unit.yml": """
                unit_tests:
                  - name: forgets_an_input
                    model: stg_items
                    given: []
                    expect: {rows: []}
                  - name: seed_input_is_optional
                    model: stg_items
                    given: []
                    expect: {rows: [{order_id: 2}, {order_id: 1}, {order_id: 1}]}
            """,
        }
    )
    result = project.wml("test")
    assert result.exit_code == 1
    assert _results(project)["seed_input_is_optional"]["status"] == "pass"  # reads the seed
    assert _results(project)["forgets_an_input"]["status"] == "fail"  # the seed has rows
    project.write(
        {
            "models_sql/unit.yml": "unit_tests:\n  - {name: x, model: nope, given: [], expect: {rows: []}}\n"
        }
    )
    assert_clean_error(project.wml("test"), 2, "unit test 'x' tests model 'nope'")
    project.write(
        {
            "models_sql/unit.yml": """
                unit_tests:
                  - name: needs_input
                    model: stg_locations
                    given: []
                    expect: {rows: []}
            """,
        }
    )
    result = project.wml("test")
    assert (
        result.exit_code == 1 and "gives no rows for source('ecom', 'raw_stores')" in result.output
    )
