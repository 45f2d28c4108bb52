"""The plain-DuckDB promise: the file wml builds opens in the DuckDB CLI, macros included.

`pip install duckdb` resolves 2.0.x, whose default file format the newest CLI on PyPI
(duckdb-cli 1.5.6, in the dev extras) cannot read; wml creates files with the profile's
``storage_compatibility_version`` (default v1.4.0).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROFILE, assert_clean_error

MODELS = {
    "models_sql/orders.sql": "{{ config(materialized='table') }}\nselect range as n from range(4)\n"
}


def duckdb_cli() -> str:
    beside = Path(sys.executable).with_name("duckdb")  # the venv's duckdb-cli
    found = str(beside) if beside.exists() else shutil.which("duckdb")
    if not found:
        pytest.skip("no duckdb CLI: pip install -e '.[dev]' installs duckdb-cli")
    return found


def cli(db: Path, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [duckdb_cli(), "-csv", "-noheader", str(db), "-c", sql],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def storage_tag(project) -> str:
    return str(project.scalar("select tags['storage_version'] from duckdb_databases() "
                              "where database_name = 'warehouse'"))  # fmt: skip


def test_the_duckdb_cli_reads_the_built_file_and_calls_its_macro(project):
    project.write(MODELS)
    assert project.wml("build").exit_code == 0
    made = project.wml("sql", "create macro double_it(x) as x * 2")
    assert made.exit_code == 0, made.output
    assert storage_tag(project).startswith("v1.4.0")
    out = cli(project.root / "warehouse.duckdb", "select sum(double_it(n)) from main.orders")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"


def test_the_profile_chooses_the_storage_version(project):
    """'latest' is what plain duckdb 2.x writes: then the 1.5 CLI refuses the file."""
    project.write(
        {
            "profiles.yml": PROFILE.replace(
                "threads: 4", "threads: 4\n      storage_compatibility_version: latest"
            ),
            **MODELS,
        }
    )
    assert project.wml("build").exit_code == 0
    assert not storage_tag(project).startswith("v1.4.0")
    out = cli(project.root / "warehouse.duckdb", "select count(*) from main.orders")
    assert out.returncode != 0


def test_an_existing_file_keeps_its_version(project):
    import duckdb

    con = duckdb.connect(str(project.root / "warehouse.duckdb"),
                         config={"storage_compatibility_version": "v1.0.0"})  # fmt: skip
    con.close()
    project.write(MODELS)
    assert project.wml("build").exit_code == 0
    assert storage_tag(project).startswith("v1.0.0")
    assert project.scalar("select count(*) from main.orders") == 4


def test_an_unknown_storage_version_is_a_profile_error(project):
    project.write(
        {
            "profiles.yml": PROFILE.replace(
                "threads: 4", "threads: 4\n      storage_compatibility_version: v0.0.1"
            ),
            **MODELS,
        }
    )
    assert_clean_error(project.wml("build"), 2, "profiles.yml", "storage_compatibility_version")
