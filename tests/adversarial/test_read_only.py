"""Commands that only read open the DuckDB file read-only: beside a reader, on an unwritable file."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from conftest import assert_clean_error

from warehouse_ml.run.sql_command import is_read_only

CUSTOMERS = "id,recency,plan,ltv\n" + "".join(
    f"{i},{i % 50},{['free', 'pro'][i % 2]},{10 + i % 50 * 2 + (i % 2) * 5}\n" for i in range(60)
)
FILES = {
    "seeds/customers.csv": CUSTOMERS,
    # deploy='udf': reading through the model's function registers a Python UDF, which
    # DuckDB allows on a read-only connection (it lives in the connection, not the file).
    "models_sql/ltv_model.sql": """
        {{ config(materialized='ml_model', target='ltv', problem_type='regression',
                  model_type='linear', exclude=['id'], deploy='udf') }}
        select * from {{ ref('customers') }}
    """,
}
SCORE = "select count(predict_ltv_model(recency, plan)) as n from customers"


@pytest.fixture
def built(project):
    project.write(FILES)
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


@contextlib.contextmanager
def read_only_reader(db: Path) -> t.Iterator[None]:
    """Another process holding the file open with DuckDB's read_only=True."""
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); print('ok', flush=True); sys.stdin.readline()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        yield
    finally:
        holder.communicate("\n", timeout=30)


@contextlib.contextmanager
def unwritable(db: Path) -> t.Iterator[None]:
    """A file this process cannot write: chmod for a user; for root (whom chmod does not
    stop) the immutable attribute, which stops root too."""
    if os.geteuid() != 0:
        db.chmod(0o444)
        try:
            yield
        finally:
            db.chmod(0o644)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(db)]).returncode:
        pytest.skip("running as root and chattr +i is unavailable: cannot make a file unwritable")
    try:
        with pytest.raises(PermissionError):
            db.open("ab").close()  # really unwritable
        yield
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


READ_COMMANDS = {
    "sql-select": (["sql", "select count(*) as n from customers"], "60"),
    "sql-model-function": (["sql", SCORE], "60"),
    "sql-show-describe": (["sql", "describe customers; show tables"], "customers"),
    "ls": (["ls"], "ltv_model"),
    "models": (["models"], "ltv_model"),
    "show": (["show", "ltv_model"], "ltv_model"),
    "compile": (["compile"], "Compiled"),
}


@pytest.mark.parametrize("where", ["beside-a-reader", "unwritable-file"])
@pytest.mark.parametrize(("args", "expected"), READ_COMMANDS.values(), ids=READ_COMMANDS.keys())
def test_read_only_commands_work_where_a_writer_cannot(built, where, args, expected):
    db = built.root / "warehouse.duckdb"
    guard = read_only_reader(db) if where == "beside-a-reader" else unwritable(db)
    with guard:
        result = built.wml(*args)
        assert result.exit_code == 0, result.output
        assert expected in result.output


def test_a_writing_command_beside_a_reader_is_refused_clearly(built):
    with read_only_reader(built.root / "warehouse.duckdb"):
        assert_clean_error(built.wml("run"), 2, "locked by another process")
        assert_clean_error(
            built.wml("sql", "create table t2 as select 1"), 2, "locked by another process"
        )
        export = built.wml("export", "ltv_model", "--output", str(built.root / "m.onnx"))
        assert export.exit_code == 0, export.output
    assert (built.root / "m.onnx").stat().st_size > 0
    assert built.scalar("select count(*) from main.customers") == 60


@pytest.mark.parametrize(
    "args", [["models"], ["show", "m"], ["sql", "select 1"]], ids=["models", "show", "sql"]
)
def test_read_only_command_before_the_first_build_says_so(project, args):
    assert_clean_error(project.wml(*args), 2, "warehouse.duckdb does not exist yet", "wml build")
    assert not (project.root / "warehouse.duckdb").exists()


STATEMENTS = {
    "select": ("select 1", True),
    "with-and-show": ("with a as (select 1) select * from a; show tables", True),
    "describe-summarize": ("describe t; summarize t", True),
    "explain": ("explain select 1", True),
    "explain-analyze-write": ("explain analyze create table x as select 1", False),
    "pragma-read": ("pragma table_info('t')", True),
    "pragma-set": ("pragma threads=2", False),
    "create": ("create table x as select 1", False),
    "read-then-drop": ("select 1; drop table t", False),
    "insert": ("insert into t values (1)", False),
    "copy": ("copy t to 'x.csv'", False),
    "attach": ("attach 'x.db'", False),
    "show-model": ("SHOW MODEL m", True),
    "drop-model": ("DROP MODEL m", False),
    "create-model": (
        "CREATE MODEL m FROM (select 1 as a, 2 as y) TARGET y FUNCTION f "
        "IAM_ROLE default SETTINGS (S3_BUCKET 'b')",
        False,
    ),
}


@pytest.mark.parametrize(("sql", "reads"), STATEMENTS.values(), ids=STATEMENTS.keys())
def test_wml_sql_decides_read_only_from_the_statements(sql, reads):
    assert is_read_only(sql, "duckdb") is reads
