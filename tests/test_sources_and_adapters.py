"""Sources (tables and external files) and the Redshift adapter's SQL generation."""

from __future__ import annotations

from warehouse_ml.adapters import make_adapter
from warehouse_ml.adapters.redshift import RedshiftAdapter
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import ConfigError
from warehouse_ml.project.profiles import Target


def test_sources_tables_external_files_and_source_tests(project, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("id,kind\n1,a\n2,b\n2,b\n")
    project.write({
        "models_sql/sources.yml": f"""
            sources:
              - name: raw
                tables:
                  - name: events
                    meta: {{external_location: "{events.as_posix()}"}}
                    columns:
                      - name: id
                        tests: [unique]
              - name: app
                schema: main
                tables:
                  - name: users
                    identifier: people
        """,
        "seeds/people.csv": "user_id,name\n1,ada\n",
        "models_sql/counts.sql": """
            {{ config(materialized='table') }}
            select e.kind, count(*) as n, max(u.name) as who
            from {{ source('raw', 'events') }} as e
            left join {{ source('app', 'users') }} as u on u.user_id = e.id
            group by e.kind
        """,
    })
    assert project.wml("seed").exit_code == 0
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.counts order by kind") == [("a", 1, "ada"), ("b", 2, None)]
    tested = project.wml("test")
    assert tested.exit_code == 1 and "unique_raw_events_id" in tested.output


def test_undeclared_source_is_a_clear_error(project):
    from conftest import assert_clean_error

    project.write({"models_sql/m.sql": "select * from {{ source('raw', 'nope') }}\n"})
    assert_clean_error(project.wml("compile"), 2, "models_sql/m.sql:1", "source('raw', 'nope') is not declared")


def redshift_target() -> Target:
    return Target("prod", "redshift", "analytics", 4,
                  {"host": "example", "user": "u", "password": "s3cret"}, profile_path=None)  # type: ignore[arg-type]


def test_redshift_adapter_generates_redshift_ddl():
    adapter = make_adapter(redshift_target())
    assert isinstance(adapter, RedshiftAdapter)
    rel = Relation("analytics", "ltv")
    assert adapter.create_table_as_sql(rel, "select 1") == 'create table "analytics"."ltv" as\nselect 1\n'
    view = adapter.create_view_sql(rel, "select 1")
    assert view.endswith("with no schema binding")
    assert adapter.rename_sql(rel.with_suffix("__wml_tmp"), "ltv", "table") == (
        'alter table "analytics"."ltv__wml_tmp" rename to "ltv"')
    import sqlglot

    for sql in (view, adapter.rename_sql(rel, "x", "table"), adapter.drop_sql(rel, "view")):
        sqlglot.parse_one(sql, read="redshift")


def test_secrets_are_redacted():
    safe = redshift_target().redacted()
    assert "password" not in safe and "s3cret" not in str(safe)  # an allow-list, not masking


def test_unknown_target_type():
    import pytest

    target = Target("x", "oracle", "main", 1, {}, profile_path=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target type 'oracle' is not supported"):
        make_adapter(target)


def test_secret_from_env_var_never_reaches_artifacts_or_logs(project):
    from conftest import PROFILE

    project.write({
        "profiles.yml": PROFILE.replace("threads: 4", "threads: 4\n      password: \"{{ env_var('WML_TEST_SECRET') }}\""),
        "models_sql/m.sql": "select 1 as x\n",
    })
    result = project.wml("build", "--log-format", "json", env={"WML_TEST_SECRET": "hunter2-secret"})
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output
    for artifact in ("manifest.json", "run_results.json"):
        text = (project.root / "target" / artifact).read_text()
        assert "hunter2-secret" not in text and '"password"' not in text
