"""Parse and compile speed on a generated project of N models.

Generates chained models (each refs up to three earlier ones), a macro used by every
model, and YAML with two tests per model, then times whole ``wml`` processes (median of
several runs) for: ``wml --version`` (the interpreter + import floor), a no-op ``wml ls``
and ``wml compile`` (render + transpile Redshift -> DuckDB + write files), each cold (no
``target/``: Jinja and sqlglot work from scratch) and warm (unchanged files hit the
Jinja bytecode cache and the transpile cache, as a rerun in a scheduled job does).
Target (issue 2): under 3 s for 1,000 models on a 2-core machine.

    python benchmarks/parse_compile.py [--models 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROFILE = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: bench.duckdb
"""


def generate(root: Path, n: int) -> None:
    (root / "models_sql").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text(
        "name: bench\nsql_dialect: redshift\nmodels:\n  +materialized: view\n"
    )
    (root / "macros/money.sql").write_text(
        "{% macro money(col) %}round(nvl({{ col }}, 0)::decimal(18, 2), 2){% endmacro %}\n"
    )
    (root / "models_sql/m0000.sql").write_text("select 1 as id, 10.5 as amount, getdate() as ts\n")
    yml = ["models:"]
    for i in range(1, n):
        parents = sorted({max(0, i - 1), max(0, i // 2), max(0, i - 7)})
        refs = " union all ".join(
            f"select id, amount, ts from {{{{ ref('m{p:04d}') }}}}" for p in parents
        )
        sql = (
            f"{{{{ config(tags=['t{i % 10}']) }}}}\n"
            f"with src as ({refs})\n"
            f"select id, {{{{ money('amount') }}}} as amount, dateadd(day, {i % 30}, ts) as ts\n"
            f"from src where datediff(day, ts, getdate()) >= 0\n"
        )
        (root / f"models_sql/m{i:04d}.sql").write_text(sql)
        yml += [
            f"  - name: m{i:04d}",
            "    columns:",
            "      - name: id",
            "        tests: [not_null]",
            "      - name: amount",
            "        tests: [not_null]",
        ]
    (root / "models_sql/schema.yml").write_text("\n".join(yml) + "\n")


def time_command(args: list[str], runs: int, clear: Path | None = None) -> float:
    times = []
    for _ in range(runs):
        if clear is not None:
            shutil.rmtree(clear, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wml = [sys.executable, "-m", "warehouse_ml"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        floor = time_command([*wml, "--version"], args.runs)
        rows.append(("wml --version (startup floor)", "-", floor))
        for n in sorted({max(10, args.models // 10), args.models}):
            root = Path(tmp) / f"p{n}"
            generate(root, n)
            project = ["--project-dir", str(root)]
            label = f"({n} models, {2 * (n - 1)} tests)"
            cold = root / "target"  # removed before each cold run: no caches at all
            rows.append(
                (f"wml ls {label}, cold", n, time_command([*wml, "ls", *project], args.runs, cold))
            )
            rows.append(
                (f"wml ls {label}, warm", n, time_command([*wml, "ls", *project], args.runs))
            )
            rows.append(
                (
                    f"wml compile {label}, cold",
                    n,
                    time_command([*wml, "compile", *project], args.runs, cold),
                )
            )
            rows.append(
                (
                    f"wml compile {label}, warm",
                    n,
                    time_command([*wml, "compile", *project], args.runs),
                )
            )
    print(f"{'command':<50} {'median s':>9} {'x floor':>8} {'ms/model':>9}")
    for label, n, seconds in rows:
        per = f"{1000 * (seconds - floor) / n:9.2f}" if isinstance(n, int) else f"{'-':>9}"
        print(f"{label:<50} {seconds:9.3f} {seconds / floor:8.2f} {per}")
    print(f"(median of {args.runs} runs each; target: compile of 1,000 models under 3 s)")


if __name__ == "__main__":
    main()
