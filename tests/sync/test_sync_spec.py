"""`syncs:` YAML is checked when the project loads: every key known, file-named errors."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error

from sync.helpers import write_project


def sync_yaml(body: str) -> str:
    return "syncs:\n  - name: s1\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())


@pytest.mark.parametrize("body, fragments", [
    ("source: scores\nkey: id\ndestination: {type: file, path: a.csv}\nbatch: 3",
     ["unknown key 'batch'"]),
    ("source: scores\nkey: id\ndestination: {type: http, url: 'http://x', retries: 3}",
     ["unknown key 'retries' in its http destination", "max_retries"]),
    ("source: scores\nkey: id\ndestination: {type: ftp, path: a}", ["destination type 'ftp'"]),
    ("source: nope\nkey: id\ndestination: {type: file, path: a.csv}",
     ["source 'nope' is not a model, seed"]),
    ("source: scores\ndestination: {type: file, path: a.csv}", ["`key:` is required"]),
    ("source: scores\nkey: id\ndestination: {type: http, url: 'http://x', batch_size: 0}",
     ["batch_size: 0", "number >= 1"]),
    ("source: scores\nkey: id\ndestination: {type: http, url: 'ftp://x'}", ["http:// or https://"]),
    ("source: scores\nkey: id\ndestination: {type: postgres, table: t}", ["needs `dsn:`"]),
    ("source: scores\nkey: id\nfields: [id]\ndestination: {type: file, path: a.csv}",
     ["field 'id' is also the key"]),
    ("source: scores\nkey: id\nenabled: maybe\ndestination: {type: file, path: a.csv}",
     ["`enabled:` is true, false"]),
])  # fmt: skip
def test_bad_yaml_names_the_file_and_the_key(project, body, fragments):
    write_project(project, sync_yaml(body))
    result = project.wml("ls")
    assert_clean_error(result, 2, "models_sql/syncs.yml", "sync 's1'", *fragments)


def test_two_syncs_with_one_name(project):
    write_project(project, sync_yaml("source: scores\nkey: id\ndestination: {type: file, path: a.csv}"))
    project.write({"models_sql/more.yml": sync_yaml("source: scores\nkey: id\n"
                                                    "destination: {type: file, path: b.csv}")})
    assert_clean_error(project.wml("ls"), 2, "two syncs are named 's1'")


def test_a_missing_column_is_named_at_run_time(project):
    write_project(project, sync_yaml("source: scores\nkey: id\nfields: [scor]\n"
                                     "destination: {type: file, path: a.csv}"))  # fmt: skip
    assert project.wml("build").exit_code == 0
    assert_clean_error(project.wml("sync"), 2, "column 'scor' is not a column of its source",
                       "id, name, score, email")


def test_templates_are_not_rendered_into_the_manifest(project):
    write_project(project, sync_yaml(
        "source: scores\nkey: id\ndestination: {type: http, url: \"{{ env_var('U') }}\"}"))
    result = project.wml("build", env={"U": "http://127.0.0.1:9/secret-path-xyz"})
    assert result.exit_code == 0, result.output
    text = (project.root / "target/manifest.json").read_text()
    assert "secret-path-xyz" not in text and "sync.test.s1" not in json.loads(text)["nodes"]


def test_rendered_values_are_checked_too(project):
    write_project(project, sync_yaml(
        "source: scores\nkey: id\ndestination: {type: http, url: 'http://x', "
        "batch_size: \"{{ env_var('B') }}\"}"))
    assert project.wml("build").exit_code == 0
    assert_clean_error(project.wml("sync", env={"B": "-3"}), 2, "batch_size: -3")


def test_disabled_by_a_template(project):
    write_project(project, sync_yaml(
        "source: scores\nkey: id\nenabled: \"{{ env_var('U', '') != '' }}\"\n"
        "destination: {type: http, url: \"{{ env_var('U', '') }}\"}"))
    assert project.wml("build").exit_code == 0
    result = project.wml("sync")
    assert result.exit_code == 0, result.output
    assert "SKIP" in result.output and "disabled" in result.output
