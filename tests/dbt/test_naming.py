"""generate_schema_name / generate_alias_name / generate_database_name, called as dbt does."""

from __future__ import annotations

import pytest

from warehouse_ml.jinja.naming import Naming
from warehouse_ml.project.nodes import Node, NodeKind

MODELS = {
    "models_sql/staging/stg.sql": "select 1 as id",
    "models_sql/marts/fct.sql": "{{ config(materialized='table') }}\nselect * from {{ ref('stg') }}",
    "seeds/codes.csv": "code\na\n",
}
FOLDERS = "models:\n  test:\n    marts:\n      +schema: marts\nseeds:\n  +schema: raw\n"


def tables(project) -> set[tuple[str, str]]:
    return set(project.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = 'warehouse'"
    ))  # fmt: skip


def test_dbt_default_prefixes_the_target_schema(project):
    project.write({"wml_project.yml": "name: test\nschema_naming: dbt\n" + FOLDERS, **MODELS})
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert tables(project) == {("main", "stg"), ("main_marts", "fct"), ("main_raw", "codes")}


def test_our_format_keeps_the_schema_as_written(project):
    project.write({"wml_project.yml": "name: test\n" + FOLDERS, **MODELS})
    assert project.wml("build").exit_code == 0
    assert tables(project) == {("main", "stg"), ("marts", "fct"), ("raw", "codes")}


def test_a_project_generate_schema_name_decides_and_refs_follow(project):
    project.write({
        "wml_project.yml": "name: test\nschema_naming: dbt\n" + FOLDERS,
        **MODELS,
        "models_sql/report.sql": "select * from {{ ref('fct') }} join {{ ref('codes') }} on true",
        "macros/naming.sql": """
            {% macro generate_schema_name(custom_schema_name, node) -%}
                {%- if node.resource_type == 'seed' -%} seeds_{{ target.name }}
                {%- elif custom_schema_name is none -%} {{ target.schema }}
                {%- else -%} {{ custom_schema_name | trim }}
                {%- endif -%}
            {%- endmacro %}
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert tables(project) == {
        ("main", "stg"), ("marts", "fct"), ("seeds_dev", "codes"), ("main", "report"),
    }  # fmt: skip
    assert project.scalar("select count(*) from main.report") == 1


def test_generate_alias_name_sees_the_node_and_its_config(project):
    project.write({
        **MODELS,
        "models_sql/marts/fct.sql": "{{ config(materialized='table', alias='facts') }}\nselect * from {{ ref('stg') }}",
        "macros/alias.sql": """
            {% macro generate_alias_name(custom_alias_name=none, node=none) -%}
                {%- if custom_alias_name -%} {{ node.config.materialized }}_{{ custom_alias_name }}
                {%- else -%} {{ node.fqn[1:] | join('__') }}
                {%- endif -%}
            {%- endmacro %}
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert tables(project) == {("main", "staging__stg"), ("main", "table_facts"), ("main", "codes")}


def test_generate_database_name_qualifies_refs(project):
    project.write({
        **MODELS,
        "macros/db.sql": """
            {% macro generate_database_name(custom_database_name=none, node=none) -%}
                {%- if node.name == "stg" -%} lake {%- else -%} warehouse {%- endif -%}
            {%- endmacro %}
        """,
    })  # fmt: skip
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    compiled = (project.root / "target/compiled/test/models_sql/marts/fct.sql")
    sql = compiled.read_text() if compiled.exists() else next(
        p.read_text() for p in (project.root / "target/compiled").rglob("fct.sql")
    )
    assert '"lake"."main"."stg"' in sql


def test_an_empty_name_from_the_macro_is_a_clear_error(project):
    project.write({
        **MODELS,
        "macros/naming.sql": "{% macro generate_schema_name(c, node) %} {% endmacro %}",
    })  # fmt: skip
    result = project.wml("compile")
    assert result.exit_code != 0
    assert "generate_schema_name returned an empty name" in result.output


@pytest.mark.parametrize("mode,expected", [("dbt", "analytics_x"), ("verbatim", "x")])
def test_each_macro_runs_once_per_node_however_often_it_is_referenced(mode, expected):
    calls = []

    def generate_schema_name(custom, node):
        calls.append(node["name"])
        return f"{custom}"

    node = Node("m", NodeKind.MODEL, None, config={"schema": "x"})
    plain = Naming(mode, "analytics", None, dict, "p")
    assert plain.resolve(node) == (None, expected, "m")
    custom = Naming(mode, "analytics", None, lambda: {"generate_schema_name": generate_schema_name}, "p")
    for _ in range(100):
        assert custom.resolve(node) == (None, "x", "m")
    assert calls == ["m"]
    node.config["schema"] = "y"  # a later config() changes it: resolved again
    assert custom.resolve(node) == (None, "y", "m")


def test_a_dbt_project_gets_dbts_conventions(tmp_path):
    """dbt_project.yml: schemas as dbt names them, seeds typed as dbt-duckdb, snapshots."""
    from conftest import PROFILE, Project

    p = Project(tmp_path / "shop")
    p.root.mkdir()
    p.write({
        "profiles.yml": PROFILE.replace("test:", "shop:", 1),
        "dbt_project.yml": "name: shop\nprofile: shop\nmodels:\n  shop:\n    marts:\n      +schema: marts\n      +materialized: table\n",
        "seeds/raw.csv": "id,at\n1,2024-01-31T10:00:00\n",
        "models/marts/fct.sql": "select * from {{ ref('raw') }}",
        "snapshots/raw_snap.sql": "{% snapshot raw_snap %}{{ config(unique_key='id', strategy='check', check_cols='all') }}"
                                  "select * from {{ ref('raw') }}{% endsnapshot %}",
    })  # fmt: skip
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    assert tables(p) == {("main", "raw"), ("main_marts", "fct"), ("main", "raw_snap")}
    assert p.query("select data_type from information_schema.columns where table_name = 'fct' order by ordinal_position") == [
        ("INTEGER",), ("TIMESTAMP",)
    ]  # fmt: skip
