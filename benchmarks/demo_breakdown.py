"""Where a cold demo `wml build`'s seconds go: startup, imports, SQL, and each ML node's phases.

One cold build of the demo (fresh data in a temporary copy, no database, no target/) runs in
this process with timers wrapped around the build's own phase functions (wall seconds and the
calling thread's CPU seconds); the node timeline (run_results) gives the idle core-seconds.
Process start and imports are measured in new interpreters beforehand.

    python benchmarks/demo_breakdown.py                   # 2,000 profiles, seed 7
    python benchmarks/demo_breakdown.py --profiles 15000 --threads 1

A finding this table gave (December 2026): the build's CPU is about its wall time on two
cores, and `--threads 1` is no slower, since the ML nodes train in Python threads that
hold the GIL for most of a small fit.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_scale import copy_project  # noqa: E402

# (module, attribute, phase): the build's own functions each phase is spent in.
PHASES = (
    ("warehouse_ml.ml.trainer", "_load", "ml: data to matrix"),
    ("warehouse_ml.ml.trainer", "_search", "ml: AUTO search"),
    ("warehouse_ml.ml.trainer", "_fit", "ml: fit (winner, calibration folds)"),
    ("warehouse_ml.ml.trainer", "_evaluate", "ml: held-out metrics"),
    ("warehouse_ml.ml.trainer", "_refit", "ml: final refit"),
    ("warehouse_ml.ml.trainer", "_record", "ml: evaluation record / card data"),
    ("warehouse_ml.ml.trainer", "_importance", "ml: permutation importance"),
    ("warehouse_ml.ml.trainer", "_export", "ml: ONNX export + parity"),
    ("warehouse_ml.ml.trainer", "train", "ml: train() total (supervised + clusters)"),
    ("warehouse_ml.ml.materialize", "train_and_register", "ml: read + train + register"),
)

_totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
_lock = threading.Lock()
_active = threading.local()


def _timed(fn, phase: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # Nested calls of one phase (a fit inside the search) count once, in the outer.
        depth = getattr(_active, phase, 0)
        setattr(_active, phase, depth + 1)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            setattr(_active, phase, depth)
            if depth == 0:
                with _lock:
                    row = _totals[phase]
                    row[0] += time.perf_counter() - wall
                    row[1] += time.thread_time() - cpu
                    row[2] += 1

    return wrapper


def instrument() -> None:
    import importlib

    for module, attr, phase in PHASES:
        mod = importlib.import_module(module)
        setattr(mod, attr, _timed(getattr(mod, attr), phase))


def startup_seconds(runs: int = 3) -> dict[str, float]:
    """Median seconds of a bare interpreter, `import` of the CLI, and `wml --version`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cases = {
        "python start": [sys.executable, "-c", "pass"],
        "import warehouse_ml.cli.main": [sys.executable, "-c", "import warehouse_ml.cli.main"],
        "import the ML stack (sklearn, onnx, onnxruntime)": [sys.executable, "-c",
            "import sklearn.ensemble, sklearn.linear_model, onnx, onnxruntime, skl2onnx"],
    }  # fmt: skip
    out = {}
    for name, cmd in cases.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        out[name] = sorted(times)[len(times) // 2]
    return out


def idle_core_seconds(results: list[dict], cores: int) -> tuple[float, float, float]:
    """(span, busy node-seconds, idle core-seconds) of the node timeline."""
    spans = []
    for r in results:
        timing = {t["name"]: t for t in r.get("timing", [])}
        step = timing.get("execute") or timing.get("compile")
        if step and step.get("started_at") and step.get("completed_at"):
            from datetime import datetime

            spans.append((datetime.fromisoformat(step["started_at"].rstrip("Z")).timestamp(),
                          datetime.fromisoformat(step["completed_at"].rstrip("Z")).timestamp()))  # fmt: skip
    if not spans:
        return 0.0, 0.0, 0.0
    begin, end = min(s for s, _ in spans), max(e for _, e in spans)
    busy = sum(e - s for s, e in spans)
    return end - begin, busy, max(0.0, cores * (end - begin) - busy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    startup = startup_seconds()
    with tempfile.TemporaryDirectory(prefix="wml_breakdown_") as tmp:
        project = copy_project(Path(tmp) / "demo", args.profiles, args.seed)
        os.environ["WML_DUCKDB_PATH"] = str(project / "warehouse.duckdb")
        instrument()
        from warehouse_ml.cli.main import main as wml

        argv = ["build", "--project-dir", str(project)]
        if args.threads:
            argv += ["--threads", str(args.threads)]
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            try:
                wml(argv, standalone_mode=False)
            except SystemExit as done:
                if done.code:
                    raise
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results = json.loads((project / "target" / "run_results.json").read_text())["results"]
        shutil.rmtree(project)
    by_kind: dict[str, float] = collections.defaultdict(float)
    for r in results:
        by_kind[r["unique_id"].split(".")[0]] += float(r["execution_time"])
    cores = os.cpu_count() or 1
    span, busy, idle = idle_core_seconds(results, cores)
    print(f"\n{args.profiles:,} profiles (seed {args.seed}), threads {args.threads or 'profile'}, "
          f"{cores} cores, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| where | wall s | CPU s | calls |\n|---|---|---|---|")
    for name, secs in startup.items():
        print(f"| {name} (new process, median of 3) | {secs:.2f} | | |")
    print(f"| build in process (after imports) | {wall:.2f} | {cpu:.2f} | |")
    for kind, secs in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"| nodes: {kind} (sum of node times) | {secs:.2f} | | |")
    for _, _, phase in PHASES:
        w, c, n = _totals.get(phase, (0.0, 0.0, 0))
        print(f"| {phase} | {w:.2f} | {c:.2f} | {n} |")
    print(f"| node timeline: span / busy node-seconds / idle core-seconds | {span:.2f} / "
          f"{busy:.2f} / {idle:.2f} | | |")  # fmt: skip
    print(f"| process CPU / wall (cores really used) | {cpu / wall:.2f} | | |")


if __name__ == "__main__":
    main()
