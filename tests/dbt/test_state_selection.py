"""dbt's state selection against an earlier run's target/ (--state DIR): state:modified and
its sub-selectors, state:new, result:<status>, source_status: and --defer / --favor-state,
as slim CI jobs use them (`wml build -s state:modified+ --defer --state prod-target/`)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_clean_error

PROFILES = """\
test:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      schema: dev
    prod:
      type: duckdb
      path: warehouse.duckdb
      schema: prod
"""

FILES = {
    "profiles.yml": PROFILES,
    "seeds/raw.csv": "id,amount\n1,10\n2,20\n3,30\n",
    "macros/money.sql": (
        "{% macro cents(col) %}{{ col }} * 100{% endmacro %}\n"
        "{% macro twice(col) %}{{ cents(col) }} * 2{% endmacro %}\n"
    ),
    "models_sql/stg.sql": "select id, amount from {{ ref('raw') }}\n",
    "models_sql/priced.sql": "select id, {{ twice('amount') }} as cents from {{ ref('stg') }}\n",
    "models_sql/mart.sql": "{{ config(materialized='table') }}\nselect count(*) as n from {{ ref('priced') }}\n",
    "models_sql/other.sql": "select 1 as x\n",
    "models_sql/schema.yml": """
        models:
          - name: priced
            columns:
              - name: id
                tests: [not_null]
    """,
}


@pytest.fixture
def prev(project):
    """A built project and a copy of its target/ as the state to compare with."""
    project.write(FILES)
    assert project.wml("build").exit_code == 0
    shutil.copytree(project.root / "target", project.root / "prev")
    return project


def _ls(project, *selection, state="prev", kind="model"):
    args = ["ls", "-s", *selection, "--resource-type", kind]
    if state:
        args += ["--state", str(project.root / state)]
    result = project.wml(*args)
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_nothing_changed_selects_nothing_and_succeeds(prev):
    assert _ls(prev, "state:modified") == []
    result = prev.wml("build", "-s", "state:modified+", "--state", str(prev.root / "prev"))
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert sorted(_ls(prev, "state:unmodified")) == ["mart", "other", "priced", "stg"]


def test_a_changed_body_is_modified_and_operators_extend_it(prev):
    prev.write({"models_sql/stg.sql": "select id, amount + 0 as amount from {{ ref('raw') }}\n"})
    assert _ls(prev, "state:modified") == ["stg"]
    assert _ls(prev, "state:modified.body") == ["stg"]
    assert _ls(prev, "state:modified.configs") == []
    assert _ls(prev, "state:modified+") == ["stg", "priced", "mart"]
    assert _ls(prev, "+state:modified", kind="seed") == ["raw"]
    assert _ls(prev, "state:modified+1") == ["stg", "priced"]
    # the test of a modified model comes along (dbt's indirect selection)
    assert _ls(prev, "state:modified+", kind="test") == ["not_null_priced_id"]


def test_a_macro_change_modifies_the_models_that_call_it_even_indirectly(prev):
    prev.write({"macros/money.sql": FILES["macros/money.sql"].replace("* 100", "* 1000")})
    assert _ls(prev, "state:modified") == ["priced"]  # via twice() -> cents()
    assert _ls(prev, "state:modified.macros") == ["priced"]
    assert _ls(prev, "state:modified.body") == []


def test_config_and_relation_changes(prev):
    prev.write({"wml_project.yml": "name: test\nmodels:\n  mart:\n    +tags: [nightly]\n",
                "models_sql/other.sql": "{{ config(alias='other_v2') }}\nselect 1 as x\n"})  # fmt: skip
    assert _ls(prev, "state:modified.configs") == ["mart", "other"]
    assert _ls(prev, "state:modified.relation") == ["other"]
    assert _ls(prev, "state:modified.body") == ["other"]  # its file changed; mart's did not
    assert sorted(_ls(prev, "state:modified")) == ["mart", "other"]


def test_new_models_and_changed_seeds(prev):
    prev.write({"models_sql/fresh.sql": "select 2 as y\n", "seeds/raw.csv": "id,amount\n1,10\n"})
    assert _ls(prev, "state:new") == ["fresh"]
    assert _ls(prev, "state:modified", kind="seed") == ["raw"]
    assert _ls(prev, "state:new", kind="seed") == []
    assert _ls(prev, "state:modified+") == ["fresh", "stg", "priced", "mart"]
    # the slim build: only the changed seed and what depends on it, plus the new model
    result = prev.wml("build", "-s", "state:modified+", "--state", str(prev.root / "prev"))
    assert result.exit_code == 0, result.output
    assert "other" not in result.output and prev.scalar("select n from dev.mart") == 1


def test_persisted_descriptions_count_only_when_persisted(prev):
    described = FILES["models_sql/schema.yml"].replace(
        "- name: priced", "- name: priced\n            description: now described")
    prev.write({"models_sql/schema.yml": described})
    assert _ls(prev, "state:modified.persisted_descriptions") == []
    assert _ls(prev, "state:modified") == []
    # with persist_docs the description is part of the relation: a change is a modification
    prev.write({"wml_project.yml": "name: test\nmodels:\n  +persist_docs: {relation: true}\n"})
    assert prev.wml("parse").exit_code == 0
    shutil.copytree(prev.root / "target", prev.root / "documented")
    prev.write({"models_sql/schema.yml": described.replace("now described", "described again")})
    assert _ls(prev, "state:modified.persisted_descriptions", state="documented") == ["priced"]
    assert _ls(prev, "state:modified", state="documented") == ["priced"]


def test_result_selectors_rerun_what_failed_and_its_children(project):
    project.write({**FILES, "models_sql/priced.sql": "{{ config(materialized='table') }}\nselect id, cast('x' as int) as cents from {{ ref('stg') }}\n"})
    assert project.wml("build").exit_code == 1
    shutil.copytree(project.root / "target", project.root / "prev")
    assert _ls(project, "result:error") == ["priced"]
    assert _ls(project, "result:skipped") == ["mart"]
    assert _ls(project, "result:success") == ["other", "stg"]
    assert _ls(project, "result:pass", kind="test") == []
    # fix it and rerun only what failed and what it feeds
    project.write({"models_sql/priced.sql": FILES["models_sql/priced.sql"]})
    result = project.wml("build", "-s", "result:error+", "--state", str(project.root / "prev"))
    assert result.exit_code == 0, result.output
    assert "priced" in result.output and "mart" in result.output and " stg " not in result.output
    assert project.scalar("select n from dev.mart") == 3


def test_state_from_the_environment(prev):
    prev.write({"models_sql/other.sql": "select 2 as x\n"})
    for var in ("DBT_STATE", "WML_STATE"):
        result = prev.wml("ls", "-s", "state:modified", "--resource-type", "model",
                          env={var: str(prev.root / "prev")})  # fmt: skip
        assert result.exit_code == 0 and result.output.split() == ["other"], result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-s", "state:modified"], ["no --state folder", "DBT_STATE"]),
        (["-s", "result:error", "--state", "missing_dir"], ["missing_dir does not exist"]),
        (["-s", "state:changed", "--state", "prev"], ["'state:' takes one of", "modified"]),
        (["-s", "result:failed", "--state", "prev"], ["'result:' takes one of", "fail"]),
        (["-s", "source_status:fresher", "--state", "prev"], ["no sources.json", "wml source freshness"]),
        (["--exclude", "state:new"], ["no --state folder"]),
    ],
    ids=["no-state", "missing-dir", "bad-state-value", "bad-result-value", "no-sources", "exclude"],
)
def test_state_errors_are_clean(prev, args, fragments):
    args = [a if a != "prev" else str(prev.root / "prev") for a in args]
    assert_clean_error(prev.wml("ls", *args), 2, *fragments)


def test_a_state_without_run_results_or_with_an_old_manifest(prev):
    (prev.root / "prev/run_results.json").unlink()
    assert_clean_error(prev.wml("ls", "-s", "result:error", "--state", str(prev.root / "prev")),
                       2, "no run_results.json")  # fmt: skip
    (prev.root / "prev/manifest.json").write_text(json.dumps({"metadata": {}, "nodes": {}}))
    assert_clean_error(prev.wml("ls", "-s", "state:new", "--state", str(prev.root / "prev")),
                       2, "not a dbt-shaped manifest")  # fmt: skip


def test_source_status_needs_current_freshness_results(prev):
    (prev.root / "prev/sources.json").write_text(json.dumps({"metadata": {}, "results": []}))
    assert_clean_error(prev.wml("ls", "-s", "source_status:fresher+", "--state", str(prev.root / "prev")),
                       2, "target/sources.json", "wml source freshness")  # fmt: skip


# -- --defer -----------------------------------------------------------------------------------


@pytest.fixture
def prod(project):
    """Production built in schema prod; its target/ kept as prod_state; dev is empty."""
    project.write(FILES)
    assert project.wml("build", "--target", "prod").exit_code == 0
    shutil.copytree(project.root / "target", project.root / "prod_state")
    return project


def test_defer_builds_the_change_on_top_of_production(prod):
    prod.write({"models_sql/mart.sql": FILES["models_sql/mart.sql"].replace("count(*)", "count(*) + 100")})
    state = str(prod.root / "prod_state")
    # without --defer the upstream models are missing in dev
    assert prod.wml("build", "-s", "state:modified", "--state", state).exit_code == 1
    result = prod.wml("build", "-s", "state:modified", "--defer", "--state", state)
    assert result.exit_code == 0, result.output
    assert prod.scalar("select n from dev.mart") == 103
    tables = prod.query("select table_schema, table_name from information_schema.tables "
                        "where table_schema = 'dev' order by 2")  # fmt: skip
    assert tables == [("dev", "mart")]  # only the modified model was built in dev
    compiled = prod.wml("compile", "-s", "mart", "--defer", "--state", state)
    assert compiled.exit_code == 0, compiled.output
    assert '"prod"."priced"' in (prod.root / "target/compiled/models_sql/mart.sql").read_text()


def test_defer_prefers_the_target_unless_favor_state(prod):
    state = str(prod.root / "prod_state")
    assert prod.wml("seed").exit_code == 0  # dev gets its own copy of raw ...
    prod.write({"seeds/raw.csv": "id,amount\n1,10\n"})
    assert prod.wml("seed").exit_code == 0  # ... with one row
    assert prod.wml("run", "-s", "stg", "--defer", "--state", state).exit_code == 0
    assert prod.scalar("select count(*) from dev.stg") == 1  # dev's raw exists: it is used
    assert prod.wml("run", "-s", "stg", "--defer", "--favor-state", "--state", state).exit_code == 0
    assert prod.scalar("select count(*) from dev.stg") == 3  # production's raw


def test_defer_needs_a_state(prod):
    assert_clean_error(prod.wml("run", "-s", "mart", "--defer"), 2, "--defer needs", "--state")
    other = prod.root / "prod_state"
    result = prod.wml("run", "-s", "mart", "--defer", "--defer-state", str(other))
    assert result.exit_code == 0, result.output
    assert prod.scalar("select n from dev.mart") == 3


def test_ephemeral_parents_are_inlined_not_deferred(prod):
    prod.write({"models_sql/stg.sql": "{{ config(materialized='ephemeral') }}\n" + FILES["models_sql/stg.sql"]})
    state = str(prod.root / "prod_state")
    result = prod.wml("run", "-s", "priced", "--defer", "--state", state)
    assert result.exit_code == 0, result.output
    sql = prod.query("select sql from duckdb_views() where view_name = 'priced' and schema_name = 'dev'")[0][0]
    sql = sql.replace('"', "")
    assert "prod.raw" in sql and "prod.stg" not in sql


SOURCED = {
    "models_sql/sources.yml": """
        sources:
          - name: raw
            schema: main
            loaded_at_field: loaded_at
            freshness:
              warn_after: {count: 1, period: day}
            tables:
              - name: events
              - name: users
        """,
    "models_sql/from_events.sql": (
        "{{ config(materialized='table') }}\nselect count(*) as n from {{ source('raw', 'events') }}\n"
    ),
    "models_sql/from_users.sql": "select count(*) as n from {{ source('raw', 'users') }}\n",
    "models_sql/both.sql": "select * from {{ ref('from_events') }}, {{ ref('from_users') }}\n",
}


def test_source_status_fresher_selects_sources_loaded_since_the_state(project):
    import duckdb
    from click.testing import CliRunner

    from warehouse_ml.cli.main import main

    project.write(SOURCED)

    def freshness():
        args = ["source", "freshness", "--project-dir", str(project.root)]
        return CliRunner().invoke(main, args, catch_exceptions=False).exit_code

    def load(sql):
        con = duckdb.connect(str(project.root / "warehouse.duckdb"))
        try:
            con.execute(sql)
        finally:
            con.close()

    load("create table main.events as select 1 as id, timestamp '2026-01-01 10:00' as loaded_at;"
         "create table main.users as select 1 as id, timestamp '2026-01-01 10:00' as loaded_at")  # fmt: skip
    assert project.wml("run").exit_code == 0
    assert freshness() == 0  # old data: a warning
    shutil.copytree(project.root / "target", project.root / "prev")
    load("insert into main.events values (2, timestamp '2026-01-02 10:00')")
    assert freshness() == 0
    state = ["--state", str(project.root / "prev")]
    fresher = project.wml("ls", "-s", "source_status:fresher", *state, "--resource-type", "source")
    assert fresher.exit_code == 0, fresher.output
    assert fresher.output.split() == ["source:raw.events"]
    downstream = project.wml("ls", "-s", "source_status:fresher+", *state, "--resource-type", "model")
    assert downstream.output.split() == ["from_events", "both"]
    # the slim job: rebuild only what reads fresher data
    result = project.wml("build", "-s", "source_status:fresher+", *state)
    assert result.exit_code == 0, result.output
    assert project.scalar("select n from main.from_events") == 2
    assert "from_events" in result.output and "from_users" not in result.output
