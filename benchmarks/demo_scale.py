"""The demo project at real scale: cold build times and held-out model metrics with intervals.

For each size (profiles) and seed, the demo data are generated into a temporary copy of
the project (never into seeds/), then:

- timing (first seed of each size): `--builds` cold `wml build`s (new process, no database,
  no target/ caches); the median wall time and the slowest nodes' median times;
- metrics: one more build with `refit: false`, so the deployed models are the fits that
  never saw the held-out snapshot (the latest, var('cutoff')); the held-out rows are scored
  in SQL by the deployed functions and AUC (churn) / RMSE (LTV, against the training-mean
  baseline) get percentile-bootstrap 95% intervals over profiles;
- the win-back campaign's measured lift (campaign_results).

    python benchmarks/demo_scale.py                       # 2,000 and 15,000 profiles, seeds 7-9
    python benchmarks/demo_scale.py --profiles 15000 --seeds 7 --builds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("wml_project.yml", "profiles.yml", "models_sql", "macros", "tests/sql", "seeds/schema.yml")


def copy_project(target: Path, profiles: int, seed: int) -> Path:
    """The demo project with freshly generated data (seeds/ of the repository untouched)."""
    from warehouse_ml.demo import write_demo

    for name in PROJECT_FILES:
        src, dst = ROOT / name, target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    write_demo(target / "seeds", profiles, seed)
    return target


def cold_build(project: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of one `wml build` in a new process from nothing, and per-node seconds."""
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (project / stale).unlink(missing_ok=True)
    shutil.rmtree(project / "target", ignore_errors=True)
    env = {**os.environ, "WML_DUCKDB_PATH": str(project / "warehouse.duckdb")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "warehouse_ml", "build", "--project-dir", str(project)],
                          env=env, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"build failed in {project}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    return wall, {r["unique_id"]: float(r["execution_time"]) for r in results}


def without_refit(project: Path) -> None:
    """Deploy the fits evaluated on the held-out snapshot (not the refit on every row)."""
    yml = project / "wml_project.yml"
    text = yml.read_text()
    assert "    +max_runtime: 300\n" in text, "wml_project.yml changed: update without_refit"
    yml.write_text(text.replace("    +max_runtime: 300\n", "    +max_runtime: 300\n    +refit: false\n"))


def model_inputs() -> str:
    """The demo's model_inputs() column list (macros/demo_features.sql)."""
    text = (ROOT / "macros" / "demo_features.sql").read_text()
    body = re.search(r"macro model_inputs\(\) -%}(.*?){%- endmacro", text, re.S)
    assert body, "model_inputs() not found"
    return " ".join(body.group(1).split())


def bootstrap(stat, arrays: tuple[np.ndarray, ...], n: int, seed: int) -> tuple[float, float, float]:
    """Statistic on all rows and its percentile-bootstrap 95% interval (rows resampled)."""
    rng = np.random.default_rng(seed)
    rows = len(arrays[0])
    draws = [stat(*(a[idx] for a in arrays)) for idx in (rng.integers(0, rows, rows) for _ in range(n))]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(stat(*arrays)), float(lo), float(hi)


def held_out_metrics(project: Path, n_boot: int, seed: int) -> dict[str, object]:
    import warehouse_ml

    con = warehouse_ml.connect(str(project))
    try:
        cutoff = con.execute("select max(snapshot_date) from training_ltv").fetchone()[0]
        cols = model_inputs()
        ltv = np.array(con.execute(
            f"select ltv_90d, predict_ltv({cols}) from training_ltv where snapshot_date = ?",
            [cutoff]).fetchall(), dtype=float)  # fmt: skip
        train_mean = con.execute(
            "select avg(ltv_90d) from training_ltv where snapshot_date < ?", [cutoff]
        ).fetchone()[0]
        churn = np.array(con.execute(
            f"select cast(churned as integer), predict_churn_prob({cols}) from training_ltv "
            "where snapshot_date = ? and frequency > 0", [cutoff]).fetchall(), dtype=float)  # fmt: skip
        registry = dict(con.execute("select name, metrics from wml.models where deployed").fetchall())
        lift = con.execute(
            "select variant, members, control_members, absolute_lift, ci_low, ci_high, p_value "
            "from campaign_results order by variant"
        ).fetchall()
    finally:
        con.close()

    def rmse(y: np.ndarray, p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y - p) ** 2)))

    def rmse_vs_baseline(y: np.ndarray, p: np.ndarray) -> float:
        return 1 - rmse(y, p) / rmse(y, np.full_like(y, train_mean))

    y, p = ltv[:, 0], ltv[:, 1]
    return {
        "ltv_rows": len(y),
        "rmse": bootstrap(rmse, (y, p), n_boot, seed),
        "rmse_gain": bootstrap(rmse_vs_baseline, (y, p), n_boot, seed),
        "churn_rows": len(churn),
        "auc": bootstrap(roc_auc_score, (churn[:, 0], churn[:, 1]), n_boot, seed),
        "registry_auc": json.loads(registry["churn_model"]).get("auc"),
        "registry_rmse": json.loads(registry["ltv_model"]).get("rmse"),
        "models": {k: json.loads(v).get("model_type") or json.loads(v).get("algorithm") for k, v in registry.items()},
        "lift": lift,
    }


def fmt(ci: tuple[float, float, float], digits: int = 3) -> str:
    v, lo, hi = ci
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="+", default=[2000, 15000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    ap.add_argument("--builds", type=int, default=3, help="cold builds timed per size (first seed)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--top-nodes", type=int, default=8)
    args = ap.parse_args()
    metrics_rows, lift_rows = [], []
    with tempfile.TemporaryDirectory(prefix="wml_demo_scale_") as tmp:
        for profiles in args.profiles:
            for k, seed in enumerate(args.seeds):
                project = copy_project(Path(tmp) / f"p{profiles}_s{seed}", profiles, seed)
                if k == 0 and args.builds > 0:
                    report_timing(profiles, seed, [cold_build(project) for _ in range(args.builds)], args.top_nodes)
                without_refit(project)
                cold_build(project)
                m = held_out_metrics(project, args.bootstrap, seed)
                metrics_rows.append((profiles, seed, m))
                lift_rows += [(profiles, seed, *row) for row in m["lift"]]
                shutil.rmtree(project)
    print("\nHeld-out snapshot (var cutoff), deployed fits without refit; bootstrap 95% CIs over profiles")
    print("| profiles | seed | LTV rows | LTV RMSE | RMSE below mean baseline | churn rows | churn AUC | registry AUC / RMSE |")
    print("|---|---|---|---|---|---|---|---|")
    for profiles, seed, m in metrics_rows:
        print(f"| {profiles:,} | {seed} | {m['ltv_rows']:,} | {fmt(m['rmse'], 1)} | {fmt(m['rmse_gain'])} | "
              f"{m['churn_rows']:,} | {fmt(m['auc'])} | {m['registry_auc']:.3f} / {m['registry_rmse']:.1f} |")  # fmt: skip
    print("\nWin-back campaign (campaign_results): lift vs holdout, 95% CI, two-sided p")
    print("| profiles | seed | arm | members | holdout | lift | 95% CI | p |")
    print("|---|---|---|---|---|---|---|---|")
    for profiles, seed, variant, n1, n0, lift, lo, hi, p in lift_rows:
        print(f"| {profiles:,} | {seed} | {variant} | {n1} | {n0} | {lift:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {p:.2g} |")


def report_timing(profiles: int, seed: int, builds: list[tuple[float, dict[str, float]]], top: int) -> None:
    walls = [w for w, _ in builds]
    nodes = {n: statistics.median(b[n] for _, b in builds) for n in builds[0][1]}
    print(f"\n{profiles:,} profiles (seed {seed}): cold `wml build` wall seconds "
          f"{', '.join(f'{w:.1f}' for w in walls)}; median {statistics.median(walls):.1f} s")  # fmt: skip
    print("| node | median s |\n|---|---|")
    for name, secs in sorted(nodes.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {name} | {secs:.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
