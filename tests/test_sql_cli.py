"""``wml sql``: Jinja rendered as in models, statements from stdin, and the wml> prompt."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner, Result
from conftest import assert_clean_error

from warehouse_ml.cli.main import main
from warehouse_ml.cli.sql import is_complete

FILES = {
    "seeds/people.csv": "id,name,score\n1,ada,10\n2,bob,20\n3,cy,30\n",
    "models_sql/top.sql": "select * from {{ ref('people') }} where score > {{ var('min', 0) }}",
    "models_sql/inline_me.sql": "{{ config(materialized='ephemeral') }} select id * 100 as id from {{ ref('people') }}",
    "models_sql/sources.yml": """
        sources:
          - name: app
            schema: main
            tables:
              - name: people
    """,
    "macros/double.sql": "{% macro double(x) %}({{ x }} * 2){% endmacro %}",
}


@pytest.fixture
def built(project):
    project.write(FILES)
    assert project.wml("build").exit_code == 0
    return project


def sql(project, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        main, ["sql", "--project-dir", str(project.root), *args], input=input,
        catch_exceptions=False,
    )  # fmt: skip


def test_ref_var_and_project_macros_render_before_the_statement_runs(built):
    result = sql(
        built,
        "select count(*) as n, max({{ double('score') }}) as top "
        "from {{ ref('top') }} where score >= {{ var('floor') }}",
        "--vars", "{floor: 20}", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == "n,top\n2,60\n"


def test_source_and_package_macros_render(built):
    query = (
        "select count(*) as n, count(distinct {{ wml.ab_variant('id', 'exp1') }}) >= 1 as ok "
        "from {{ source('app', 'people') }}"
    )
    result = sql(built, query, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output == "n,ok\n3,true\n"


def test_a_ref_to_an_ephemeral_model_is_inlined_in_each_statement_naming_it(built):
    result = sql(
        built, "select 1 as one; select max(id) as top from {{ ref('inline_me') }}",
        "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == "top\n300\n"


def test_ref_to_nothing_is_the_renderers_clear_error(built):
    assert_clean_error(
        sql(built, "select 1;\nselect * from {{ ref('peple') }}"),
        2, "<sql>:2:", "ref('peple') names no model or seed", "Did you mean 'people'",
    )  # fmt: skip


def test_jinja_errors_name_the_file_and_line(built):
    (built.root / "q.sql").write_text("select 1;\n\nselect {{ 1 + }};\n", encoding="utf-8")
    assert_clean_error(sql(built, "-f", str(built.root / "q.sql")), 2, "q.sql:3:", "Jinja syntax")
    assert_clean_error(sql(built, "select {{ nope }}"), 2, "<sql>:1:", "undefined name")


def test_a_statement_without_jinja_parses_nothing(built):
    built.write({"models_sql/broken.sql": "select * from {{ ref('missing') }}"})
    assert sql(built, "select 1 as x", "--format", "csv").output == "x\n1\n"
    # With Jinja the project is parsed (ref() needs it), so the broken model is reported.
    assert_clean_error(sql(built, "select {{ 1 }} as x"), 2, "broken.sql", "ref('missing')")


def test_a_rendered_read_opens_the_database_read_only(built):
    import duckdb

    holder = duckdb.connect(str(built.root / "warehouse.duckdb"), read_only=True)
    try:  # another reader holds the file: only a read-only open succeeds beside it
        result = sql(built, "select count(*) as n from {{ ref('people') }}", "--format", "csv")
    finally:
        holder.close()
    assert result.output == "n\n3\n"


def test_statements_come_from_stdin_with_dash_or_when_piped(built):
    assert sql(built, "-f", "-", "--format", "csv", input="select 5 as five;").output == "five\n5\n"
    piped = sql(built, "--format", "csv", input="select 1 as a;\nselect {{ double(21) }} as b\n")
    assert piped.exit_code == 0, piped.output
    assert piped.output == "b\n42\n"
    assert_clean_error(sql(built, input="select {{ oops"), 2, "<stdin>:1:", "Jinja syntax")
    assert_clean_error(sql(built, input="  \n"), 2, "no SQL on stdin")


def test_a_real_pipe_into_wml_sql(built):
    done = subprocess.run(
        [sys.executable, "-m", "warehouse_ml", "sql", "--project-dir", str(built.root),
         "--format", "csv"],
        input="select count(*) as n from {{ ref('top') }};\n", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "n\n3\n"


def test_the_prompt_runs_each_statement_and_survives_errors(built):
    script = (
        "select 1 as a;\n"
        "select\n  {{ double(2) }} as b\n;\n"  # several lines, Jinja
        "select nope;\n"  # a database error: one paragraph, the prompt goes on
        "select 'x;' as c; -- a ';' in a string or comment does not end a statement\n"
        ".quit\n"
        "select 99 as never;\n"
    )
    result = sql(built, "--interactive", "--format", "csv", input=script)
    assert result.exit_code == 0, result.output
    assert "a\n1\n" in result.output and "b\n4\n" in result.output and 'c\n"x;"\n' in result.output
    assert "never" not in result.output and "...> " in result.output
    assert result.output.count("Error: <sql>:1:") == 1 and "Traceback" not in result.output
    assert "nope" in result.output
    at_eof = sql(built, "-i", input="select 2 as z;\n")  # end of input leaves too
    assert at_eof.exit_code == 0 and "(1 rows)" in at_eof.output


def test_interactive_with_a_query_is_a_usage_error(built):
    assert_clean_error(sql(built, "-i", "select 1"), 2, "drop QUERY and -f")


@pytest.mark.parametrize(
    ("text", "complete"),
    [("select 1;", True), ("select 1", False), ("select ';", False), ("select 1; -- x;", True),
     ("select 1 -- ;", False), ("select 1;\n", True)],
)  # fmt: skip
def test_a_statement_ends_with_a_semicolon_token(text, complete):
    assert is_complete(text) is complete


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_terminal_with_no_query_gets_the_prompt(built):
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse_ml", "sql", "--project-dir", str(built.root)],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    os.close(follower)
    output = _read_until(leader, b"wml> ")
    os.write(leader, b"select 6 * 7 as answer;\n")
    output += _read_until(leader, b"wml> ")
    os.write(leader, b".exit\n")
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    assert b"answer" in output and b"42" in output


def _read_until(fd: int, marker: bytes, timeout: float = 60.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen += os.read(fd, 4096)
    assert marker in seen, seen
    return seen
