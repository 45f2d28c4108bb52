"""Every example in the README runs as written, against the demo built from a clean copy.

The README's code blocks are read from the file itself, so an edited example is tested
as edited: `wml ...` and `duckdb warehouse.duckdb ...` lines, the Python snippet, and the
SQL model files (each names its path in a first-line comment) built into a copy of the demo.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from warehouse_ml.cli.main import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
# Shown as prose, proven elsewhere: the install lines (CI runs them), and the build itself.
SKIP = ("pip install", "wml build")


def commands(text: str) -> list[list[str]]:
    """Shell commands of a bash block, a quoted argument spanning lines kept whole."""
    out: list[list[str]] = []
    pending = ""
    for line in text.splitlines():
        text_so_far = f"{pending}\n{line}" if pending else line
        try:
            words = shlex.split(text_so_far, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            pending = text_so_far
            continue
        pending = ""
        if words and not text_so_far.startswith(SKIP):
            out.append(words)
    return out


SHELL = [c for lang, body in BLOCKS if lang == "bash" for c in commands(body)]
SQL_FILES = [
    body for lang, body in BLOCKS if lang == "sql" and body.startswith("-- models_sql/")
]
PYTHON = [body for lang, body in BLOCKS if lang == "python"]


def env(root: Path) -> dict[str, str]:
    return {"WML_DUCKDB_PATH": str(root / "warehouse.duckdb")}


def test_the_readme_has_the_examples_this_file_runs():
    assert len(SHELL) >= 6 and len(SQL_FILES) >= 2 and PYTHON


@pytest.mark.parametrize("words", SHELL, ids=[" ".join(w)[:60] for w in SHELL])
def test_shell_example_runs(demo, words):
    if words[0] == "duckdb":  # the plain DuckDB CLI's form: a process that never imports wml
        database, sql = words[1], words[2]
        script = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).sql(sys.argv[2]).fetchall())"
        done = subprocess.run([sys.executable, "-c", script, str(demo / database), sql],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() not in ("", "[]")
        return
    assert words[0] == "wml", words
    result = CliRunner().invoke(main, [words[1], "--project-dir", str(demo), *words[2:]], env=env(demo))
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def test_sql_model_examples_build_and_serve(demo, tmp_path):
    copy = tmp_path / "demo"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("target"))
    names = []
    for body in SQL_FILES:
        rel = body.splitlines()[0].removeprefix("-- ").strip()
        (copy / rel).write_text(body, encoding="utf-8")
        names.append(Path(rel).stem)
    built = CliRunner().invoke(main, ["build", "--project-dir", str(copy), "-s", *names], env=env(copy))
    assert built.exit_code == 0, built.output
    for body in SQL_FILES:
        function = re.search(r"function='(\w+)'|FUNCTION (\w+)", body)
        name = function.group(1) or function.group(2)
        out = CliRunner().invoke(
            main,
            ["sql", "--project-dir", str(copy), "--format", "csv",
             f"select count({name}(recency_days, frequency, monetary)) from profile_traits"],
            env=env(copy),
        )  # fmt: skip
        assert out.exit_code == 0, out.output
        assert int(out.output.split()[-1]) > 1000


def test_python_example_runs(demo):
    for body in PYTHON:
        done = subprocess.run([sys.executable, "-c", body], cwd=demo, capture_output=True,
                              text=True, env={**env(demo), "PATH": ""})  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "p_churn" in done.stdout or done.stdout.strip()


CONSOLE = [
    "\n".join(
        line for line in body.splitlines() if line.strip() != "wml sql"  # the bare prompt
    )  # needs a terminal
    for lang, body in BLOCKS
    if lang == "console"
]


@pytest.mark.parametrize("script", CONSOLE, ids=[c.splitlines()[0][:60] for c in CONSOLE])
def test_console_example_runs_in_a_shell(demo, tmp_path, script):
    """Pipes, redirections and `cd`, as one bash script with the installed `wml`."""
    (demo / "report.sql").write_text("select count(*) as n from customer_scores;\n")
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    new_project = script.startswith("wml init")
    work = tmp_path if new_project else demo
    # A new project builds into its own database, never the shared demo's.
    database = {} if new_project else env(demo)
    done = subprocess.run(["bash", "-ec", script], cwd=work, capture_output=True, text=True,
                          env={**database, "PATH": path, "HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
