"""Shared fixtures: small projects written to a temp folder, driven through the real CLI."""

from __future__ import annotations

import textwrap
import typing as t
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from warehouse_ml.cli.main import main

PROFILE = """\
test:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      threads: 4
    other:
      type: duckdb
      path: other.duckdb
"""


class Project:
    """A project folder plus helpers to run wml in it and query its database."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, files: dict[str, str]) -> Project:
        for rel, text in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return self

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def wml(self, *args: str, env: dict[str, str] | None = None) -> Result:
        command, *rest = args
        result = CliRunner().invoke(
            main, [command, "--project-dir", str(self.root), *rest], env=env, catch_exceptions=False
        )
        return result

    def query(self, sql: str, db: str = "warehouse.duckdb") -> list[tuple]:
        con = duckdb.connect(str(self.root / db), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def query_with_functions(self, sql: str) -> list[tuple]:
        """Query through warehouse_ml.connect(), so deployed model functions exist."""
        import warehouse_ml

        con = warehouse_ml.connect(str(self.root))
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str) -> t.Any:
        return self.query(sql)[0][0]


ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("wml_project.yml", "profiles.yml", "models_sql", "macros", "seeds", "tests/sql")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copy the demo project (not its build outputs) to a clean folder and build it once."""
    import shutil

    target = tmp_path_factory.mktemp("demo")
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        elif src.exists():
            shutil.copy(src, target / name)
    result = CliRunner().invoke(main, ["build", "--project-dir", str(target)],
                                env={"WML_DUCKDB_PATH": str(target / "warehouse.duckdb")})
    assert result.exit_code == 0, result.output
    return target


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path / "proj")
    p.root.mkdir()
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n"})
    return p


GOOD = {
    "seeds/people.csv": "id,name\n1,ada\n2,bob\n",
    "models_sql/base.sql": "{{ config(materialized='table') }}\nselect * from {{ ref('people') }}\n",
}


@pytest.fixture
def built(project):
    """A project whose first build succeeded; each test breaks it and checks nothing is lost."""
    project.write(GOOD)
    assert project.wml("build").exit_code == 0
    yield project
    assert project.scalar("select count(*) from main.base") == 2, "an earlier table was lost"


def assert_clean_error(result: Result, code: int, *fragments: str) -> None:
    """Exit code as expected, every fragment in the message, and no Python traceback."""
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == code, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def pg():
    """An autocommit connection to a throwaway PostgreSQL server on loopback (the Redshift
    stand-in); CI must have it (.ci/run installs Debian's postgresql)."""
    import os

    from pg_server import pg_bin, postgres_server

    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL must be installed in CI (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed")
    import psycopg

    with postgres_server() as dsn, psycopg.connect(dsn, autocommit=True) as con:
        yield con
