"""Package macro calls: project-wide defaults (vars.wml) and macro-level errors."""

from __future__ import annotations

import pytest
from conftest import Project, assert_clean_error

from warehouse_ml.jinja import macro_docs

EVENTS = "profile_id,ts,event,category\np1,2026-01-01 10:00:00,Order Completed,shoes\np1,2026-02-01 10:00:00,Order Completed,bags\np2,2026-02-03 10:00:00,Product Viewed,bags\n"
COUNTS = """\
select profile_id,
  {{ wml.event_counter('Order Completed', within=90, as_of='2026-03-01') }} as orders,
  {{ wml.last_value('category', as_of='2026-03-01') }} as last_category
from {{ ref('ev') }} group by profile_id
"""


def _project(project: Project, yml: str = "", model: str = COUNTS) -> Project:
    return project.write({
        "wml_project.yml": f"name: test\n{yml}",
        "seeds/ev.csv": EVENTS,
        "models_sql/m.sql": model,
    })  # fmt: skip


def _compiled(project: Project) -> str:
    result = project.wml("compile", "-s", "m")
    assert result.exit_code == 0, result.output
    return (project.root / "target/compiled/models_sql/m.sql").read_text()


def test_project_default_fills_every_call(project: Project) -> None:
    _project(project, "vars:\n  wml:\n    timestamp: ts\n")
    assert '"timestamp"' not in _compiled(project)
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from m order by 1") == [("p1", 2, "bags"), ("p2", 0, "bags")]


def test_explicit_argument_wins_over_the_default(project: Project) -> None:
    model = "select {{ wml.event_counter(within=9, timestamp='other') }} as n from {{ ref('ev') }}\n"
    _project(project, "vars:\n  wml:\n    timestamp: ts\n", model)
    sql = _compiled(project)
    assert '"other"' in sql and '"ts"' not in sql


def test_per_macro_default_wins_over_the_shared_one(project: Project) -> None:
    model = ("select {{ wml.event_counter(within=9) }} as a, {{ wml.unique_list_count('x', within=9) }} as b,"
             " {{ wml.before('2026-01-01', 'ts') }} as c from {{ ref('ev') }}\n")  # fmt: skip
    yml = "vars:\n  wml:\n    timestamp: ts\n    event_counter: {timestamp: event_at}\n    before: {column: nope}\n"
    sql = _compiled(_project(project, yml, model))
    counter, distinct, before = sql.split(" as ")[:3]
    assert '"event_at"' in counter and '"ts"' in distinct
    assert '"ts" <' in before and "nope" not in before  # a positional argument is explicit


def test_cli_vars_set_defaults_too(project: Project) -> None:
    _project(project)
    result = project.wml("build", "--vars", "{wml: {timestamp: ts}}")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("yml", "message"), [
    ("timestmp: ts", "vars.wml.timestmp is not an argument of any package macro. Did you mean timestamp?"),
    ("event_counter: {timestmp: ts}", "vars.wml.event_counter.timestmp is not an argument of wml.event_counter()"),
    ("[ts]", "vars.wml must be a mapping"),
])  # fmt: skip
def test_unknown_default_is_a_config_error(project: Project, yml: str, message: str) -> None:
    body = f"vars:\n  wml: {yml}\n" if yml.startswith("[") else f"vars:\n  wml:\n    {yml}\n"
    _project(project, body)
    assert_clean_error(project.wml("compile"), 2, "wml_project.yml", message)


def test_missing_default_column_names_macro_argument_and_columns(project: Project) -> None:
    model = "select profile_id,\n  {{ wml.event_counter('Order Completed',\n      within=90) }} as n\nfrom {{ ref('ev') }} group by 1\n"
    _project(project, model=model)
    result = project.wml("build")
    assert_clean_error(
        result, 1, "models_sql/m.sql:2 model 'm': wml.event_counter needs timestamp=...",
        "'timestamp' (its default) is not one: ev has profile_id, ts, event, category",
        "Did you mean timestamp='ts'?", "vars: {wml: {timestamp: ...}}",
    )
    assert "Binder Error" not in result.output


def test_misspelled_column_argument_suggests_the_close_one(project: Project) -> None:
    model = "select {{ wml.unique_list_count('categry', within=9, timestamp='ts') }} as n from {{ ref('ev') }}\n"
    _project(project, model=model)
    assert_clean_error(project.wml("build"), 1, "models_sql/m.sql:1",
                       "wml.unique_list_count needs property=... to name a column, and 'categry' (given)",
                       "Did you mean property='category'?")  # fmt: skip


def test_identity_graph_names_the_identifier_and_relation(project: Project) -> None:
    model = "{{ config(materialized='table') }}\n{{ wml.identity_graph(\n  relations=[ref('ev')],\n  identifiers=['profile_id', 'emial'], timestamp='ts') }}\n"
    _project(project, model=model)
    assert_clean_error(project.wml("build"), 1, "models_sql/m.sql:2",
                       "wml.identity_graph needs identifiers[1]=... to name a column, and 'emial' (given)",
                       "ev has profile_id, ts, event, category")  # fmt: skip


def test_missing_column_in_project_macro_names_the_macro_file(project: Project) -> None:
    project.write({"macros/traits.sql": "{% macro orders() %}\n{{ wml.event_counter('Order Completed', within=9) }}\n{% endmacro %}\n"})
    _project(project, model="select {{ orders() }} as n from {{ ref('ev') }}\n")
    assert_clean_error(project.wml("build"), 1, "macros/traits.sql:2", "wml.event_counter needs timestamp=")


def test_other_database_errors_are_untouched(project: Project) -> None:
    _project(project, "vars:\n  wml:\n    timestamp: ts\n",
             COUNTS.replace("group by profile_id", "where nope = 1 group by profile_id"))
    assert_clean_error(project.wml("build"), 1, 'Referenced column "nope" not found')


@pytest.mark.parametrize("name", sorted(macro_docs.package_macros()))
def test_misspelled_keyword_names_file_line_and_argument(project: Project, name: str) -> None:
    argument = macro_docs.package_macros()[name].arguments[-1].name
    _project(project, model=f"select\n  {{{{ wml.{name}({argument}x=1) }}}} as n from {{{{ ref('ev') }}}}\n")
    if name.startswith("test_"):  # a generic test checks its own arguments (ml/monitoring)
        assert_clean_error(project.wml("compile"), 2, "models_sql/m.sql:2",
                           f"unknown argument '{argument}x'. Did you mean '{argument}'?")
        return
    assert_clean_error(project.wml("compile"), 2, "models_sql/m.sql:2",
                       f"macro '{name}' takes no keyword argument '{argument}x'",
                       f"Did you mean {argument}=...?", f"`wml macros {name}`")  # fmt: skip


def test_missing_column_in_an_ephemeral_parent_names_its_file(project: Project) -> None:
    project.write({"models_sql/counts.sql": "{{ config(materialized='ephemeral') }}\nselect profile_id,\n  {{ wml.event_counter(within=9) }} as n\nfrom {{ ref('ev') }} group by 1\n"})
    _project(project, model="select * from {{ ref('counts') }}\n")
    assert_clean_error(project.wml("build"), 1, "models_sql/counts.sql:3", "wml.event_counter needs timestamp=")


REQUIRED = {n: d for n, d in macro_docs.package_macros().items() if d.arguments and d.arguments[0].required}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_missing_required_argument_names_macro_and_argument(project: Project, name: str) -> None:
    first = REQUIRED[name].arguments[0].name
    _project(project, model=f"select\n  {{{{ wml.{name}() }}}} as n from {{{{ ref('ev') }}}}\n")
    assert_clean_error(project.wml("compile"), 2, "models_sql/m.sql:2",
                       f"wml.{name}() needs {first}=...", f"`wml macros {name}`")  # fmt: skip


def test_missing_project_default_column_says_where_it_came_from(project: Project) -> None:
    _project(project, "vars:\n  wml:\n    timestamp: event_at\n")  # ev's time column is ts
    assert_clean_error(project.wml("build"), 1, "models_sql/m.sql:2",
                       "'event_at' (the project default, vars.wml in wml_project.yml) is not one",
                       "Did you mean timestamp='ts'?")  # fmt: skip
