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
