"""Exceptions that once surfaced as 'internal error (...)' now name their file, line and model."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

RENDER_CASES = {
    "division-by-zero": (
        "select 1 as a,\n  {{ 1/0 }} as b\n",
        ["models_sql/broken.sql:2", "model 'broken'", "ZeroDivisionError", "division by zero"],
    ),
    "recursive-macro": (
        "{% macro forever(x) %}{{ forever(x) }}{% endmacro %}\nselect {{ forever(1) }}\n",
        ["models_sql/broken.sql", "model 'broken'", "calls itself without end"],
    ),
    "package-macro-unknown-kwarg": (
        "select\n  {{ wml.event_counter('Order Completed', withn='90 days') }} as n\n"
        "from {{ ref('people') }}\n",
        [
            "models_sql/broken.sql:2",
            "model 'broken'",
            "no keyword argument 'withn'",
            "event_counter() takes: event, within",
            "Did you mean within=",
        ],
    ),
}


@pytest.mark.parametrize(("sql", "fragments"), RENDER_CASES.values(), ids=RENDER_CASES.keys())
def test_python_errors_while_rendering_name_the_model(built, sql, fragments):
    built.write({"models_sql/broken.sql": sql})
    result = built.wml("build")
    assert_clean_error(result, 2, *fragments)
    assert "internal error" not in result.output


def test_non_utf8_model_file_names_file_and_line(built):
    (built.root / "models_sql/broken.sql").write_bytes(b"select 1 as a,\n  '\xff\xfe' as b\n")
    result = built.wml("build")
    assert_clean_error(result, 2, "models_sql/broken.sql:2", "model 'broken'", "not UTF-8", "0xff")


def test_non_utf8_seed_fails_that_seed_only(built):
    (built.root / "seeds/latin.csv").write_bytes(b"id,city\n1,M\xfcnchen\n")
    result = built.wml("build")
    assert_clean_error(result, 1, "seeds/latin.csv", "seed 'latin'")
    assert "internal error" not in result.output


SEED_CASES = {
    "value-does-not-fit-type": (
        "id,day\n1,2026-01-01\n2,SAT\n",
        "seeds:\n  - name: bad\n    config:\n      column_types: {day: DATE}\n",
        ["seeds/bad.csv:3", 'converting column "day"', "2,SAT", "delimiter ','",
         "column_types: {day: VARCHAR}"],
    ),
    "unterminated-quote": (
        'id,name\n1,"ada\n2,bob\n',
        None,
        ["seeds/bad.csv:2", "unterminated quote", "delimiter ','", "quote '\"'", '("")'],
    ),
    "other-delimiter": (
        "id;name\n1;ada\n2;bob,smith\n",
        None,
        ["seeds/bad.csv:3", "Expected Number of Columns: 1 Found: 2", "delimiter ','",
         "delimiter: ';'"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("csv", "yml", "fragments"), SEED_CASES.values(), ids=SEED_CASES.keys())
def test_seed_errors_keep_duckdbs_diagnosis_and_suggest_the_fix(built, csv, yml, fragments):
    built.write({"seeds/bad.csv": csv, **({"seeds/schema.yml": yml} if yml else {})})
    assert_clean_error(built.wml("build"), 1, "seed 'bad'", *fragments)


def test_target_dir_that_cannot_be_written(built):
    """A 'read-only target/': as root chmod stops nothing, so a regular file stands there."""
    target = built.root / "target"
    for item in sorted(target.rglob("*"), reverse=True):
        item.rmdir() if item.is_dir() else item.unlink()
    target.rmdir()
    target.write_text("not a folder\n")
    assert_clean_error(built.wml("run"), 2, str(target), "A file stands where a folder is needed")


@pytest.mark.parametrize(
    ("sql", "fragments"),
    [
        ("select {{ 1/0 }}\n", ["Traceback", "ZeroDivisionError", "line 1"]),
        ("select * from {{ ref('nope') }}\n", ["Traceback", "CompilationError"]),
    ],
    ids=["explained-python-error", "wml-error"],
)
def test_debug_shows_the_traceback(built, sql, fragments):
    built.write({"models_sql/broken.sql": sql})
    result = built.wml("build", "--debug")
    assert result.exit_code == 2
    for fragment in fragments:
        assert fragment in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ")


def test_debug_shows_the_traceback_of_an_internal_error():
    """A bug of ours (a command raising KeyError) stays 'internal error', traceback on --debug."""
    import click
    from click.testing import CliRunner

    from warehouse_ml.cli.app import project_options

    @click.command()
    @project_options(selection=False)
    def buggy(opts: object) -> None:
        raise KeyError("bug")

    plain = CliRunner().invoke(buggy, [])
    assert_clean_error(plain, 2, "internal error (KeyError)", "Rerun with --debug")
    debug = CliRunner().invoke(buggy, ["--debug"])
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "KeyError" in debug.stderr


CUSTOMERS = "id,recency,plan,ltv\n" + "".join(
    f"{i},{i % 50},{['free', 'pro'][i % 2]},{10 + i % 50 * 2 + (i % 2) * 5}\n" for i in range(60)
)
LTV_MODEL = """
{{ config(materialized='ml_model', target='ltv', problem_type='regression',
          model_type='linear', exclude=['id']) }}
select * from {{ ref('customers') }}
"""


@pytest.fixture
def trained(built):
    built.write({"seeds/customers.csv": CUSTOMERS, "models_sql/ltv_model.sql": LTV_MODEL})
    result = built.wml("build")
    assert result.exit_code == 0, result.output
    return built


ML_CASES = {
    "predict-missing-input": (
        ["predict", "ltv_model", "--input", "nope", "--output", "scored"],
        ["--input nope", '"main"."nope"', "wml build"],
    ),
    "export-into-missing-folder": (
        ["export", "ltv_model", "--output", "/nonexistent-dir/m.onnx"],
        ["/nonexistent-dir/m.onnx", "No such file or directory", "create it first"],
    ),
    "export-onto-a-folder": (["export", "ltv_model", "--output", "."], ["is a directory"]),
}


@pytest.mark.parametrize(("args", "fragments"), ML_CASES.values(), ids=ML_CASES.keys())
def test_ml_commands_name_the_bad_argument(trained, args, fragments):
    result = trained.wml(*args)
    assert_clean_error(result, 2, *fragments)
    assert "internal error" not in result.output
    assert trained.scalar("select count(*) from main.customers") == 60
