"""dbt-duckdb's external materialization and sources on files; analyses, docs, exposures."""

from __future__ import annotations

import pytest


def test_external_parquet_default_location_and_a_view_over_it(project):
    project.write({
        "models_sql/ext.sql": "{{ config(materialized='external') }}\nselect 1 as id, 'a' as name",
        "models_sql/downstream.sql": "select count(*) as n from {{ ref('ext') }}",
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert (project.root / "ext.parquet").is_file()
    assert project.query("select table_type from information_schema.tables where table_name = 'ext'") == [("VIEW",)]
    assert project.scalar(f"select count(*) from read_parquet('{project.root / 'ext.parquet'}')") == 1
    assert project.scalar("select n from downstream") == 1


def test_external_csv_with_delimiter_partitioning_and_an_empty_result(project):
    project.write({
        "models_sql/parts.sql": """
            {{ config(materialized='external', location='out/parts', options={'partition_by': 'k'}) }}
            select 1 as id, 'x' as k union all select 2, 'y'
        """,
        "models_sql/semi.sql": "{{ config(materialized='external', location='out/semi.csv', delimiter='|') }}\nselect 1 as id, 'a,b' as v",
        "models_sql/nothing.sql": "{{ config(materialized='external', location='out/nothing.parquet') }}\nselect 1 as id where false",
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project.root / "out/parts").iterdir()) == ["k=x", "k=y"]
    assert project.query("select id, k from parts order by id") == [(1, "x"), (2, "y")]
    assert (project.root / "out/semi.csv").read_text().splitlines() == ["id|v", "1|a,b"]
    assert project.scalar("select count(*) from nothing") == 0
    assert project.query("select column_name from information_schema.columns where table_name = 'nothing'") == [("id",)]


def test_an_unknown_external_format_is_a_clear_error(project):
    project.write({"models_sql/x.sql": "{{ config(materialized='external', format='xlsx') }}\nselect 1 as id"})
    result = project.wml("run")
    assert result.exit_code != 0
    assert "Invalid format: xlsx" in result.output


@pytest.mark.parametrize("template", [
    "data/{name}.csv", "data/{identifier}.csv", "data/{schema}_{name}.csv",
    "read_csv('data/{name}.csv', header = true)",
])  # fmt: skip
def test_source_external_location_placeholders(project, template, monkeypatch):
    project.write({
        "data/orders.csv": "id\n1\n2\n",
        "data/raw_orders.csv": "id\n1\n2\n",
        "models_sql/sources.yml": f"""
            sources:
              - name: raw
                meta:
                  external_location: "{template.replace('"', '')}"
                tables:
                  - name: orders
        """,
        "models_sql/n.sql": "select count(*) as n from {{ source('raw', 'orders') }}",
    })  # fmt: skip
    monkeypatch.chdir(project.root)  # a function call's path is DuckDB's: run where dbt runs
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.scalar("select n from n") == 2


def test_a_placeholder_without_a_value_names_the_source(project):
    project.write({
        "models_sql/sources.yml": """
            sources:
              - name: raw
                tables:
                  - name: orders
                    meta: {external_location: "data/{nope}.csv"}
        """,
        "models_sql/n.sql": "select * from {{ source('raw', 'orders') }}",
    })  # fmt: skip
    result = project.wml("compile")
    assert result.exit_code == 2
    assert "raw.orders" in result.output and "nope" in result.output


DOCS = {
    "models_sql/docs.md": """
        {% docs orders_doc %}
        One row per **order**.
        {% enddocs %}
        {% docs id_doc %}The order's key.{% enddocs %}
    """,
    "models_sql/orders.sql": "{{ config(materialized='table', persist_docs={'relation': true, 'columns': true}) }}\nselect 1 as id, 2 as total",
    "models_sql/orders.yml": """
        version: 2
        models:
          - name: orders
            description: "{{ doc('orders_doc') }}"
            columns:
              - name: id
                description: "{{ doc('id_doc') }} It's unique."
              - name: gone
                description: not in the table
        exposures:
          - name: dashboard
            type: dashboard
            owner: {name: Ada}
            description: "Uses {{ doc('orders_doc') }}"
            depends_on: ["ref('orders')"]
        semantic_models:
          - name: orders_sm
            model: ref('orders')
        metrics:
          - name: revenue
            type: simple
    """,
}


def test_docs_blocks_render_into_descriptions_and_persist_docs_comments(project):
    project.write(DOCS)
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.query("select comment from duckdb_tables() where table_name = 'orders'") == [
        ("One row per **order**.",)
    ]
    assert project.query(
        "select column_name, comment from duckdb_columns() where table_name = 'orders' order by column_index"
    ) == [("id", "The order's key. It's unique."), ("total", None)]
    assert "`semantic_models:` is accepted and ignored" in result.output
    assert "`metrics:` is accepted and ignored" in result.output
    from warehouse_ml.project.loader import load_project

    loaded = load_project(project.root)
    assert loaded.exposures["dashboard"]["description"] == "Uses One row per **order**."
    assert loaded.nodes["model.orders"].description == "One row per **order**."


def test_a_missing_docs_block_names_the_file(project):
    project.write({**DOCS, "models_sql/docs.md": "{% docs other %}x{% enddocs %}"})
    result = project.wml("compile")
    assert result.exit_code == 2
    assert "doc('orders_doc') names no docs block" in result.output
    assert "orders.yml" in result.output


def test_analyses_are_compiled_and_never_run(project):
    project.write({
        "models_sql/base.sql": "select 1 as id",
        "analyses/explore.sql": "select count(*) as n from {{ ref('base') }} where {{ var('cond', 'true') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert "explore" not in result.output
    assert project.wml("ls", "--resource-type", "analysis").output.split() == ["explore"]
    assert project.wml("compile").exit_code == 0
    compiled = next((project.root / "target/compiled").rglob("explore.sql")).read_text()
    assert '"main"."base"' in compiled and "true" in compiled
    tables = project.query("select table_name from information_schema.tables")
    assert ("explore",) not in tables
