"""What monitoring costs the demo build: cold `wml build` with and without it.

The baseline is an earlier commit without monitoring (``--baseline``), exported with
`git archive` into a temporary folder and run from there (PYTHONPATH), on its own copy of
the demo project; the current tree builds its own demo (training profiles, scoring runs,
the four drift tests). Builds alternate, each in a new process from nothing (no database,
no target/), and the table prints the medians of wall and CPU seconds (the process's user
+ system time: the fair figure on a shared host) with their ratio.

    python benchmarks/monitoring_overhead.py --baseline aab5f32             # 3 builds each
    python benchmarks/monitoring_overhead.py --baseline aab5f32 --builds 5
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("wml_project.yml", "profiles.yml", "models_sql", "macros", "seeds", "tests/sql")


def export(commit: str, into: Path) -> Path:
    """The source tree of ``commit`` (package and demo project files)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def project_from(tree: Path, into: Path) -> Path:
    for name in PROJECT_FILES:
        src, dst = tree / name, into / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return into


# An editable install's import finder would answer `import warehouse_ml` before sys.path:
# drop it, so the process imports the tree it is given.
_BOOT = (
    "import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
    "repr(f).lower()]; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'wml'; "
    "runpy.run_module('warehouse_ml', run_name='__main__')"
)


def _command(tree: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", _BOOT, str(tree), *args]


def cold_build(tree: Path, project: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one `wml build` in a new process, from nothing."""
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (project / stale).unlink(missing_ok=True)
    shutil.rmtree(project / "target", ignore_errors=True)
    env = {**os.environ, "WML_DUCKDB_PATH": str(project / "warehouse.duckdb")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(_command(tree, "build", "--project-dir", str(project)),
                          env=env, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"build failed in {project}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def which(tree: Path) -> str:
    """The package file the tree's processes import (checked, not assumed)."""
    code = _BOOT.replace("runpy.run_module('warehouse_ml', run_name='__main__')",
                         "import warehouse_ml; print(warehouse_ml.__file__)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True, text=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a commit without monitoring")
    parser.add_argument("--builds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wml-monitoring-bench-") as tmp:
        base_tree = export(args.baseline, Path(tmp) / "baseline")
        sides = {
            f"baseline ({args.baseline})": (base_tree, project_from(base_tree, Path(tmp) / "base_demo")),
            "with monitoring": (ROOT, project_from(ROOT, Path(tmp) / "demo")),
        }
        for label, (tree, _) in sides.items():
            print(f"{label}: {which(tree)}")
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in sides}
        for _ in range(args.builds):
            for label, (tree, project) in sides.items():
                times[label].append(cold_build(tree, project))
        print(f"\ncold demo build, median of {args.builds} (2,000 profiles)")
        print(f"| {'side':<22} | wall s | CPU s |")
        print(f"|{'-' * 24}|--------|-------|")
        medians = {}
        for label, runs in times.items():
            wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
            medians[label] = (wall, cpu)
            print(f"| {label:<22} | {wall:6.1f} | {cpu:5.1f} |")
        (bw, bc), (mw, mc) = medians.values()
        print(f"| {'ratio (with / base)':<22} | {mw / bw:6.2f} | {mc / bc:5.2f} |")


if __name__ == "__main__":
    main()
