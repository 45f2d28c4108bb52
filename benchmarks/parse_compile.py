"""Parse and compile speed on a generated project of N models.

Generates chained models (each refs up to three earlier ones), a macro used by every
model, and YAML with two tests per model, then times whole ``wml`` processes (median of
several runs) for: ``wml --version`` (the interpreter + import floor), a no-op ``wml ls``
and ``wml compile`` (render + transpile Redshift -> DuckDB + write files), each cold (no
``target/``: Jinja and sqlglot work from scratch) and warm (unchanged files hit the
Jinja bytecode cache and the transpile cache, as a rerun in a scheduled job does).
Targets (issue 15) for 1,000 models on a 2-core machine: ``wml compile`` cold <= 1.5 s,
warm <= 0.3 s.

With ``--dbt PATH`` (or $WML_DBT) the same files are compiled by dbt-core + dbt-duckdb in a
copy of the project that has a ``dbt_project.yml`` instead of ``wml_project.yml`` (the SQL
is only rendered, never run, so Redshift functions do not matter), cold (no ``target/``)
and warm (dbt's partial parsing), interleaved with wml's runs and printed beside them.

    python benchmarks/parse_compile.py [--models 1000] [--runs 5] [--dbt PATH] [--dbt-runs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dbt_compare  # noqa: E402  (sibling script: find_dbt)

COLD_TARGET, WARM_TARGET = 1.5, 0.3
DBT_PROJECT = """\
name: bench
profile: bench
model-paths: [models_sql]
macro-paths: [macros]
models:
  bench:
    +materialized: view
"""

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


def dbt_copy(root: Path, into: Path) -> Path:
    """The generated project as a dbt project (dbt-duckdb reads the same profiles.yml)."""
    shutil.copytree(root, into, ignore=shutil.ignore_patterns("target", "*.duckdb*"))
    (into / "wml_project.yml").unlink()
    (into / "dbt_project.yml").write_text(DBT_PROJECT)
    return into


def dbt_rows(dbt: str, root: Path, n: int, runs: int) -> list[tuple[str, int, float]]:
    """dbt compile of the same files, cold (no target/) and warm (partial parsing)."""
    args = [dbt, "compile", "--project-dir", str(root), "--profiles-dir", str(root)]
    label = f"({n} models)"
    cold = time_command(args, runs, root / "target")
    warm = time_command(args, runs)
    return [(f"dbt compile {label}, cold", n, cold), (f"dbt compile {label}, warm", n, warm)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dbt", help="dbt executable (else $WML_DBT); without it, wml only")
    parser.add_argument("--dbt-runs", type=int, default=2, help="dbt takes ~40 s a compile")
    args = parser.parse_args()
    dbt = dbt_compare.find_dbt(args.dbt) if args.dbt or os.environ.get("WML_DBT") else None
    if args.dbt and dbt is None:
        raise SystemExit(f"--dbt {args.dbt}: no such executable")
    wml = [sys.executable, "-m", "warehouse_ml"]
    rows = []
    figures: dict[str, float] = {}
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
            figures[f"cold {n}"], figures[f"warm {n}"] = rows[-2][2], rows[-1][2]
            if dbt and n == args.models:
                dbt_root = dbt_copy(root, Path(tmp) / f"dbt{n}")
                found = dbt_rows(dbt, dbt_root, n, args.dbt_runs)
                rows += found
                figures["dbt cold"], figures["dbt warm"] = found[0][2], found[1][2]
    print(f"{'command':<50} {'median s':>9} {'x floor':>8} {'ms/model':>9}")
    for label, n, seconds in rows:
        per = f"{1000 * (seconds - floor) / n:9.2f}" if isinstance(n, int) else f"{'-':>9}"
        print(f"{label:<50} {seconds:9.3f} {seconds / floor:8.2f} {per}")
    print(f"(median of {args.runs} runs each, dbt {args.dbt_runs}; load average {os.getloadavg()[0]:.1f})")
    cold, warm = figures[f"cold {args.models}"], figures[f"warm {args.models}"]
    for phase, ours, target in (("cold", cold, COLD_TARGET), ("warm", warm, WARM_TARGET)):
        versus = ""
        if f"dbt {phase}" in figures:
            versus = f"; dbt {figures[f'dbt {phase}']:.2f} s = {figures[f'dbt {phase}'] / ours:.0f}x"
        verdict = "PASS" if ours <= target else "FAIL"
        print(f"wml compile {phase}: {ours:.2f} s (target <= {target} s): {verdict}{versus}")


if __name__ == "__main__":
    main()
