"""The file destination: CSV, Parquet and JSON lines by DuckDB's COPY, written whole and
atomically, rewritten only when something changed."""

from __future__ import annotations

import duckdb
import pytest

from sync.helpers import PEOPLE, set_people, write_project


def file_yaml(path: str, extra: str = "") -> str:
    return f"""
    syncs:
      - name: scores_file
        source: scores
        key: id
        fields: [score]
        destination: {{type: file, path: {path}{extra}}}
    """


@pytest.mark.parametrize("path, reader", [
    ("exports/s.parquet", "read_parquet"), ("exports/s.csv", "read_csv"),
    ("exports/s.jsonl", "read_json"),
])  # fmt: skip
def test_formats(project, path, reader):
    write_project(project, file_yaml(path))
    assert project.wml("build").exit_code == 0
    result = project.wml("sync")
    assert result.exit_code == 0, result.output
    got = duckdb.sql(f"select id, score from {reader}('{project.root / path}') order by id").fetchall()
    assert got == [(1, 0.5), (2, 0.7), (3, 0.1), (4, 0.9), (5, 0.3)]
    assert sorted(p.name for p in (project.root / "exports").iterdir()) == [path.split("/")[1]]


def test_rewritten_only_on_change_and_removed_rows_leave(project):
    write_project(project, file_yaml("out/s.parquet"))
    assert project.wml("build").exit_code == 0
    assert project.wml("sync").exit_code == 0
    target = project.root / "out/s.parquet"
    stamp = target.stat().st_mtime_ns
    assert project.wml("sync").exit_code == 0
    assert target.stat().st_mtime_ns == stamp  # nothing changed: not rewritten
    set_people(project, PEOPLE.replace("5,ed,0.3,e@x.io\n", ""))
    assert project.wml("sync").exit_code == 0
    assert duckdb.sql(f"select count(*) from '{target}'").fetchall()[0][0] == 4
    target.unlink()  # a missing file is written again
    assert project.wml("sync").exit_code == 0 and target.exists()


def test_a_failed_copy_leaves_the_old_file_and_the_state(project):
    write_project(project, file_yaml("out/s.csv"))
    assert project.wml("build").exit_code == 0
    assert project.wml("sync").exit_code == 0
    before = (project.root / "out/s.csv").read_bytes()
    # the next COPY fails: its temporary file's place is a folder
    set_people(project, PEOPLE.replace("0.7", "0.8"))
    import os

    (project.root / f"out/.s.csv.wml-{os.getpid()}.tmp").mkdir()
    result = project.wml("sync")
    assert result.exit_code == 1
    assert (project.root / "out/s.csv").read_bytes() == before
    assert project.query("select row_hash from wml.sync_state order by key_json")  # unchanged
    assert project.query("select status from wml.sync_runs order by started_at") == [
        ("success",), ("error",)]  # fmt: skip
    (project.root / f"out/.s.csv.wml-{os.getpid()}.tmp").rmdir()
    assert project.wml("sync").exit_code == 0
    assert b"0.8" in (project.root / "out/s.csv").read_bytes()


def test_unknown_format(project):
    write_project(project, file_yaml("out/s.txt"))
    assert project.wml("build").exit_code == 0
    result = project.wml("sync")
    assert result.exit_code == 2 and "cannot tell the file format" in result.output
