"""Parse and compile speed on a generated project of N models.

Generates chained models (each refs up to three earlier ones), a macro used by every
model, and YAML with two tests per model, then times whole ``wml`` processes (median of
several runs, wall and CPU: user + sys of the process, which a shared host disturbs less)
for: ``wml --version`` (the interpreter + import floor), a no-op ``wml ls`` and ``wml
compile`` (render + transpile Redshift -> DuckDB + write files), each cold (no ``target/``:
Jinja and sqlglot work from scratch) and warm (an unchanged project, as a rerun in a
scheduled job: ``wml compile`` replays the last one), and ``wml compile`` after one model
was edited (every other node's render and transpiled SQL reused from ``target/``).
Targets (issue 15) for 1,000 models on a 2-core machine: ``wml compile`` cold <= 1.5 s,
warm <= 0.3 s.

Every ``wml`` process runs with Python's bytecode cache on, kept in a temporary folder
(``PYTHONPYCACHEPREFIX``), as an installed package has its ``.pyc`` files; with
``--baseline DIR`` the same commands also run another checkout's code (e.g. main's) in the
same run, alternating with this checkout's run by run, for a before/after on the same
host load.

With ``--dbt PATH`` (or $WML_DBT) the same files are compiled by dbt-core + dbt-duckdb in a
copy of the project that has a ``dbt_project.yml`` instead of ``wml_project.yml`` (the SQL
is only rendered, never run, so Redshift functions do not matter), cold (no ``target/``)
and warm (dbt's partial parsing), after wml's runs, and printed beside them.

On ext4 without a journal (this project's VM) a file deleted anywhere on the disk in the
last minutes makes creating each new file scan past it (kernel time, up to seconds a cold
compile): ``TMPDIR=/dev/shm/...`` keeps the benchmark's projects in memory, away from it.

    python benchmarks/parse_compile.py [--models 1000] [--runs 5] [--baseline DIR]
                                       [--dbt PATH] [--dbt-runs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
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


ENV: dict[str, str] = {}  # the children's environment (main() fills it)
# The children's working folder: `python -m` puts it first on sys.path, so it must not be a
# checkout (run from this repository, --baseline would time this code twice).
CWD: list[str] = []


def time_command(
    args: list[str], runs: int, clear: Path | None = None, before: t.Callable[[int], None] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + sys) of ``runs`` runs."""
    walls, cpus = time_runs(args, range(runs), clear, before, env)
    return statistics.median(walls), statistics.median(cpus)


def time_runs(
    args: list[str], runs: t.Iterable[int], clear: Path | None = None,
    before: t.Callable[[int], None] | None = None, env: dict[str, str] | None = None,
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + sys) of each run."""
    walls, cpus = [], []
    for run in runs:
        if clear is not None and clear.exists():
            # Moved aside, not deleted: on ext4 without a journal (this VM's disk) the
            # kernel skips inodes freed in the last minute or more, scanning past each of
            # them for every new file, so re-creating 3,000 files just after deleting 3,000
            # costs 1-2 s of kernel time that is the benchmark's doing, not the compile's.
            # The folders are deleted with the temporary folder at the end.
            trash = Path(CWD[0] if CWD else tempfile.gettempdir()) / "moved-aside"
            trash.mkdir(exist_ok=True)
            clear.rename(trash / f"{clear.parent.name}-{clear.name}-{time.time_ns()}")
        if before is not None:
            before(run)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            args, capture_output=True, text=True, env=env or ENV or None, cwd=CWD[0] if CWD else None
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return walls, cpus


def editing(path: Path) -> t.Callable[[int], None]:
    """Before each run, one more comment line in ``path``: that model changed."""

    def edit(run: int) -> None:
        with path.open("a", encoding="utf-8") as out:
            out.write(f"-- edit {run} {time.time_ns()}\n")

    return edit


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
    cold = time_command(args, runs, root / "target", env=dict(os.environ))
    warm = time_command(args, runs, env=dict(os.environ))
    return [(f"dbt compile {label}, cold", n, cold), (f"dbt compile {label}, warm", n, warm)]


def wml_rows(
    wml: list[str], variants: list[tuple[str, dict[str, str], Path]], n: int, runs: int
) -> list[tuple[str, int, tuple[float, float]]]:
    """Each command's median per variant (label, environment, project folder), the
    variants alternating run by run so that a slow spell of a shared host hits them alike."""
    tail = f"({n} models, {2 * (n - 1)} tests)"
    commands = [  # (subcommand, row's suffix, clear target/ before each run, edit a model before each)
        ("ls", "cold", True, False), ("ls", "warm", False, False), ("compile", "cold", True, False),
        ("compile", "warm", False, False), ("compile", "1 model edited", False, True),
    ]  # fmt: skip
    rows: list[tuple[str, int, tuple[float, float]]] = []
    for sub, suffix, clear, edit in commands:
        times: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _, _ in variants}
        for run in range(runs):
            for label, env, root in variants:
                walls, cpus = time_runs(
                    [*wml, sub, "--project-dir", str(root)], [run],
                    root / "target" if clear else None,  # no caches at all
                    editing(root / f"models_sql/m{n // 2:04d}.sql") if edit else None, env,
                )  # fmt: skip
                times[label][0].extend(walls)
                times[label][1].extend(cpus)
        for label, _, _ in variants:
            walls, cpus = times[label]
            rows.append((f"{label}{sub} {tail}, {suffix}", n, (statistics.median(walls), statistics.median(cpus))))
    return sorted(rows, key=lambda row: not row[0].startswith("wml "))  # this checkout's rows first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="another wml checkout to time beside this one (e.g. main)")
    parser.add_argument("--dbt", help="dbt executable (else $WML_DBT); without it, wml only")
    parser.add_argument("--dbt-runs", type=int, default=2, help="dbt takes ~40 s a compile")
    args = parser.parse_args()
    dbt = dbt_compare.find_dbt(args.dbt) if args.dbt or os.environ.get("WML_DBT") else None
    if args.dbt and dbt is None:
        raise SystemExit(f"--dbt {args.dbt}: no such executable")
    wml = [sys.executable, "-m", "warehouse_ml"]
    rows: list[tuple[str, t.Any, tuple[float, float]]] = []
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        CWD.append(tmp)
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        ENV.update(base_env, PYTHONPYCACHEPREFIX=f"{tmp}/pycache", WML_CACHE_DIR=f"{tmp}/cache")
        variants = [("wml ", dict(ENV))]
        if args.baseline:  # its code first on the path; its own caches and bytecode folder
            variants.append(("baseline wml ", {
                **base_env, "PYTHONPATH": str(Path(args.baseline).resolve()),
                "PYTHONPYCACHEPREFIX": f"{tmp}/pycache-base", "WML_CACHE_DIR": f"{tmp}/cache-base",
            }))  # fmt: skip
        for label, env in variants:  # untimed: each variant's .pyc files written first
            warm_up = Path(tmp) / f"warm-up-{label.split()[0]}"
            generate(warm_up, 10)
            time_command([*wml, "compile", "--project-dir", str(warm_up)], 1, env=env)
            time_command([*wml, "ls", "--project-dir", str(warm_up)], 1, env=env)
        floor = time_command([*wml, "--version"], args.runs)
        rows.append(("wml --version (startup floor)", "-", floor))
        for n in sorted({max(10, args.models // 10), args.models}):
            projects = []
            for label, env in variants:
                root = Path(tmp) / f"{label.split()[0]}{n}"
                generate(root, n)
                projects.append((label, env, root))
            found = wml_rows(wml, projects, n, args.runs)
            rows += found
            if n == args.models:
                for label, _, _ in projects:
                    mine = [row for row in found if row[0].startswith(label)]
                    figures[f"{label}cold"], figures[f"{label}warm"] = mine[2][2], mine[3][2]
                    figures[f"{label}edited"] = mine[4][2]
            if dbt and n == args.models:
                dbt_root = dbt_copy(Path(tmp) / f"wml{n}", Path(tmp) / f"dbt{n}")
                found_dbt = dbt_rows(dbt, dbt_root, n, args.dbt_runs)
                rows += found_dbt
                figures["dbt cold"], figures["dbt warm"] = found_dbt[0][2], found_dbt[1][2]
    print(f"{'command':<58} {'median s':>9} {'CPU s':>7} {'x floor':>8} {'ms/model':>9}")
    for label, n, (seconds, cpu) in rows:
        per = f"{1000 * (seconds - floor[0]) / n:9.2f}" if isinstance(n, int) else f"{'-':>9}"
        print(f"{label:<58} {seconds:9.3f} {cpu:7.3f} {seconds / floor[0]:8.2f} {per}")
    print(
        f"(median of {args.runs} runs each, dbt {args.dbt_runs}; CPU = user + sys of the process; "
        f"load average {os.getloadavg()[0]:.1f} at the end)"
    )
    for phase, target in (("cold", COLD_TARGET), ("warm", WARM_TARGET)):
        ours, cpu = figures[f"wml {phase}"]
        versus = ""
        if f"baseline wml {phase}" in figures:
            base = figures[f"baseline wml {phase}"]
            versus += f"; baseline {base[0]:.2f} s ({base[1]:.2f} s CPU)"
        if f"dbt {phase}" in figures:
            versus += f"; dbt {figures[f'dbt {phase}'][0]:.2f} s = {figures[f'dbt {phase}'][0] / ours:.0f}x"
        verdict = "PASS" if ours <= target else "FAIL"
        print(f"wml compile {phase}: {ours:.2f} s, {cpu:.2f} s CPU (target <= {target} s): {verdict}{versus}")
    edited = figures["wml edited"]
    print(f"wml compile, 1 model edited: {edited[0]:.2f} s, {edited[1]:.2f} s CPU (no target)")


if __name__ == "__main__":
    main()
