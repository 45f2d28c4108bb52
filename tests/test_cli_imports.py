"""`wml --help` and `wml compile` never import the ML, Arrow or web stacks.

Those imports cost about a second of a cold start (scikit-learn, onnx, onnxruntime,
pyarrow, starlette, matplotlib); commands that only render SQL must not pay it. Each
command runs in a fresh interpreter that lists the top-level modules loaded at exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROFILE

HEAVY = {
    "sklearn", "onnx", "onnxruntime", "skl2onnx", "pyarrow", "starlette", "uvicorn",
    "matplotlib", "numpy", "pandas", "scipy", "duckdb",
}  # fmt: skip

RUN = """\
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted({m.split('.')[0] for m in sys.modules}))))
from warehouse_ml.cli.main import main
main(sys.argv[1:])
"""


def _loaded(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imports") / "p"
    (root / "models_sql").mkdir(parents=True)
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text("name: t\nsql_dialect: redshift\n")
    (root / "models_sql" / "a.sql").write_text("select nvl(1, 2) as x, getdate() as ts\n")
    (root / "models_sql" / "b.sql").write_text("select x from {{ ref('a') }}\n")
    # An ML model in the project: compiling it must still not train or import anything.
    (root / "models_sql" / "m.sql").write_text(
        "{{ config(materialized='ml_model', target='x', model_type='linear') }}\n"
        "select x, x as y from {{ ref('a') }}\n"
    )
    return root


def test_help_imports_nothing_heavy() -> None:
    assert _loaded("--help") & HEAVY == set()


def test_compile_imports_nothing_heavy(project: Path) -> None:
    loaded = _loaded("compile", "--project-dir", str(project))
    assert (project / "target" / "compiled").is_dir()  # it did compile
    assert "sqlglot" in loaded  # Redshift SQL was transpiled: the check is not vacuous
    assert loaded & HEAVY == set()
