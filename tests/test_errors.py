"""Bad input gets one clear paragraph naming file, line and model; nothing built is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import PROFILE, assert_clean_error

CASES = [
    (  # Jinja syntax error
        {"models_sql/broken.sql": "select 1\n{% if %}\n"},
        2,
        ["models_sql/broken.sql:2", "broken", "Jinja syntax error"],
    ),
    (  # undefined variable
        {"models_sql/broken.sql": "select 1 as a,\n  {{ no_such_thing }} as b\n"},
        2,
        ["models_sql/broken.sql:2", "broken", "no_such_thing"],
    ),
    (  # undefined macro
        {"models_sql/broken.sql": "select\n\n {{ not_a_macro('x') }}\n"},
        2,
        ["models_sql/broken.sql:3", "broken", "not_a_macro"],
    ),
    (  # ref to a missing model, with a suggestion
        {"models_sql/broken.sql": "select * from {{ ref('bsae') }}\n"},
        2,
        ["models_sql/broken.sql:1", "broken", "ref('bsae')", "Did you mean 'base'"],
    ),
    (  # var with no value
        {"models_sql/broken.sql": "select {{ var('cutoff') }}\n"},
        2,
        ["models_sql/broken.sql:1", "var('cutoff')"],
    ),
    (  # a cycle prints the cycle
        {
            "models_sql/a.sql": "select * from {{ ref('b') }}\n",
            "models_sql/b.sql": "select * from {{ ref('a') }}\n",
        },
        2,
        ["cycle", "a -> b -> a"],
    ),
    (  # invalid YAML
        {"models_sql/schema.yml": "models:\n  - name: base\n    columns:\n   - name: id\n"},
        2,
        ["models_sql/schema.yml", "invalid YAML"],
    ),
    (  # unknown config key, with a suggestion
        {"models_sql/broken.sql": "{{ config(materialised='table') }}\nselect 1\n"},
        2,
        ["models_sql/broken.sql", "broken", "unknown config key 'materialised'", "materialized"],
    ),
    (  # unknown materialization
        {"models_sql/broken.sql": "{{ config(materialized='tabel') }}\nselect 1\n"},
        2,
        ["broken", "unknown materialized 'tabel'", "table"],
    ),
    (  # duplicate names in two folders
        {"models_sql/a/dup.sql": "select 1\n", "models_sql/b/dup.sql": "select 2\n"},
        2,
        ["models_sql/a/dup.sql", "models_sql/b/dup.sql", "dup"],
    ),
    (  # SQL error from DuckDB: exit 1, names file and model
        {"models_sql/broken.sql": "select nme from {{ ref('people') }}\n"},
        1,
        ["models_sql/broken.sql", "model 'broken'", "nme"],
    ),
    (  # a seed with a bad row names the line
        {"seeds/bad.csv": "id,amount\n1,2.5\n2,3.5,extra\n"},
        1,
        ["seeds/bad.csv", "seed 'bad'"],
    ),
    (  # a seed value that does not fit its declared type
        {
            "seeds/bad.csv": "id,day\n1,2026-01-01\n2,SAT\n",
            "seeds/schema.yml": "seeds:\n  - name: bad\n    config:\n      column_types: {day: DATE}\n",
        },
        1,
        ["seeds/bad.csv", "SAT"],
    ),
    (  # unknown generic test
        {
            "models_sql/schema.yml": "models:\n  - name: base\n    columns:\n      - name: id\n        tests: [uniq]\n"
        },
        2,
        ["models_sql/schema.yml", "unknown generic test 'uniq'"],
    ),
    (  # properties for a model that does not exist
        {"models_sql/schema.yml": "models:\n  - name: nope\n"},
        2,
        ["models_sql/schema.yml", "'nope' has no matching file"],
    ),
]


@pytest.mark.parametrize(
    ("files", "code", "fragments"),
    CASES,
    ids=[
        "jinja-syntax",
        "undefined-var",
        "undefined-macro",
        "missing-ref",
        "missing-var",
        "cycle",
        "invalid-yaml",
        "unknown-config-key",
        "unknown-materialization",
        "duplicate-names",
        "sql-error",
        "seed-bad-row",
        "seed-bad-type",
        "unknown-test",
        "orphan-properties",
    ],
)
def test_bad_input_has_clear_error_and_keeps_tables(built, files, code, fragments):
    built.write(files)
    assert_clean_error(built.wml("build"), code, *fragments)


def test_debug_shows_traceback(built):
    built.write({"models_sql/broken.sql": "select * from {{ ref('nope') }}\n"})
    result = built.wml("build", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_missing_profiles_file(project):
    project.remove("profiles.yml")
    result = project.wml("build", "--profiles-dir", str(project.root / "nowhere"))
    assert_clean_error(result, 2, "no profiles.yml found", "nowhere")


def test_missing_target(project):
    assert_clean_error(
        project.wml("build", "--target", "prod"), 2, "target 'prod' not found", "profiles.yml"
    )


def test_env_var_without_value_or_default(project):
    project.write(
        {
            "profiles.yml": PROFILE.replace(
                "path: warehouse.duckdb", "path: \"{{ env_var('WML_NO_SUCH_VAR') }}\""
            )
        }
    )
    result = project.wml("build", env={"WML_NO_SUCH_VAR": None})
    assert_clean_error(result, 2, "profiles.yml:6", "WML_NO_SUCH_VAR")


def test_env_var_in_model_without_default(project):
    project.write({"models_sql/m.sql": "select '{{ env_var('WML_NO_SUCH_VAR') }}'\n"})
    result = project.wml("build", env={"WML_NO_SUCH_VAR": None})
    assert_clean_error(result, 2, "models_sql/m.sql:1", "WML_NO_SUCH_VAR")


def test_unknown_selector_is_an_error(built):
    assert_clean_error(built.wml("run", "-s", "bsae"), 2, "bsae", "base")


def test_locked_database_names_the_file(built):
    """A second process on a locked DuckDB file gets a clear message, not a stack trace."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(built.root / "warehouse.duckdb")!r})
            print('locked', flush=True)
            sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = built.wml("run")
        assert_clean_error(result, 2, "warehouse.duckdb", "locked by another process", "PID")
    finally:
        holder.communicate("\n", timeout=30)
