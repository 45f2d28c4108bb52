"""Does AUTO's search earn its budget? The old AUTO (the five fixed starting configs on one
validation slice) beside the search (ml/search.py) with rolling-origin validation grouped
by customer (ml/folds.py), on the real CDNOW purchase log, and LightGBM's Tweedie boosting
as the stronger library it would have to beat to be added.

Data: the CDNOW log shipped inside the `lifetimes` package (read where it is installed,
never committed; `pip install lifetimes lightgbm` for this script only). Rows per customer
per cutoff: features an analyst writes in SQL from the purchases before the cutoff
(recency, frequency, monetary, tenure, inter-purchase gap, recent-window counts), the target
the spend in the 13 weeks after it. Cutoffs every 6.5 weeks from week 26 to week 52; the
last cutoff is the evaluation (a temporal split), so every method trains on the past only.

Prints one table: holdout RMSE, MAE and Spearman of predicted vs actual spend, the mean
Tweedie deviance (power 1.5, what a Tweedie search minimises), configs run,
why the search stopped, and training seconds; medians of ``--runs`` runs, all in this run.

    python benchmarks/auto_search.py --customers 6000 --budget 60 --runs 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
import typing as t

import duckdb
import numpy as np
import pyarrow as pa

from warehouse_ml.ml import search
from warehouse_ml.ml.spec import SplitSpec, TrainingSpec
from warehouse_ml.ml.trainer import train

HORIZON_DAYS = 91
CUTOFF_WEEKS = (26.0, 32.5, 39.0, 45.5, 52.0)

FEATURES_SQL = """
with cutoffs as (
    select date '1997-01-01' + cast(round(w * 7) as integer) as cutoff
    from unnest(?::double[]) as t(w)
), sample as (
    select customer_id from (select distinct customer_id from purchases)
    order by hash(customer_id) limit ?
), history as (
    select c.cutoff, p.customer_id, p.day, p.amount
    from purchases p join sample using (customer_id) join cutoffs c on p.day < c.cutoff
), per_day as (  -- CDNOW logs several lines per order day: one purchase per day
    select cutoff, customer_id, day, sum(amount) as amount from history group by all
)
select
    customer_id,
    cutoff,
    count(*) - 1 as frequency,                                   -- repeat purchase days
    datediff('day', max(day), cutoff) as recency_days,
    datediff('day', min(day), cutoff) as tenure_days,
    avg(amount) as monetary,
    sum(amount) as total_spend,
    coalesce(datediff('day', min(day), max(day)) / nullif(count(*) - 1, 0), 0) as mean_gap_days,
    count(*) filter (where day >= cutoff - interval 91 day) as orders_13w,
    coalesce(sum(amount) filter (where day >= cutoff - interval 91 day), 0) as spend_13w,
    coalesce((select sum(p.amount) from purchases p where p.customer_id = per_day.customer_id
              and p.day >= per_day.cutoff and p.day < per_day.cutoff + interval 91 day), 0)
        as spend_next_13w
from per_day
group by customer_id, cutoff
order by cutoff, customer_id
"""


def load(customers: int) -> pa.Table:
    import lifetimes

    path = os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_master.txt")
    raw = np.loadtxt(path, skiprows=1)  # id, yyyymmdd, CDs, dollars (space-aligned)
    days = raw[:, 1].astype(np.int64)
    dates = np.array([f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}" for d in days], "datetime64[D]")
    purchases = pa.table({"customer_id": raw[:, 0].astype(np.int64), "day": dates, "amount": raw[:, 3]})
    con = duckdb.connect()
    con.register("purchases", purchases)
    return con.execute(FEATURES_SQL, [list(CUTOFF_WEEKS), customers]).to_arrow_table()


@dataclasses.dataclass
class Result:
    rmse: float
    mae: float
    spearman: float
    deviance: float  # mean Tweedie deviance at power 1.5: what the Tweedie searches minimise
    configs: int
    stopped_by: str
    seconds: float


def _holdout(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    cut = table["cutoff"].to_numpy()
    return np.flatnonzero(cut < cut.max()), np.flatnonzero(cut == cut.max())


def _scores(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float, float]:
    from scipy.stats import spearmanr
    from sklearn.metrics import mean_tweedie_deviance

    rmse = float(np.sqrt(np.mean((y - pred) ** 2)))
    deviance = float(mean_tweedie_deviance(y, np.maximum(pred, 1e-9), power=1.5))
    return rmse, float(np.mean(np.abs(y - pred))), float(spearmanr(y, pred).statistic), deviance


def run_wml(table: pa.Table, budget: float, searched: bool, objective: str | None = None) -> Result:
    """wml's trainer; the old AUTO is the starting list only (MAX_CONFIGS 0), one temporal
    validation slice, the default Tweedie power."""
    spec = TrainingSpec(
        name="spend", function="predict_spend", query="", target="spend_next_13w",
        loss="tweedie", objective=objective, max_runtime=budget, split=SplitSpec("temporal", 0.15, "cutoff"),
        exclude=[] if searched else ["customer_id"], refit=False,
        entity_column="customer_id" if searched else None,
        tweedie_power=None if searched else 1.5,
    )  # fmt: skip
    limit = search.MAX_CONFIGS
    search.MAX_CONFIGS = limit if searched else 0
    try:
        began = time.perf_counter()
        model = train(table, spec)
        seconds = time.perf_counter() - began
    finally:
        search.MAX_CONFIGS = limit
    _, test = _holdout(table)
    assert model.rows_eval == len(test)
    sub = table.take(pa.array(test))
    from warehouse_ml.ml.features import table_matrix

    pred = model.pipeline.predict(table_matrix(sub, model.features))
    record = model.metrics["search"]
    return Result(*_scores(sub["spend_next_13w"].to_numpy(), pred), record["run"],
                  record["stopped_by"], seconds)  # fmt: skip


def run_lightgbm(table: pa.Table) -> Result:
    """LightGBM, Tweedie loss (power 1.5), its defaults but 300 rounds, one thread."""
    import lightgbm as lgb

    train_rows, test = _holdout(table)
    names = [n for n in table.column_names if n not in ("customer_id", "cutoff", "spend_next_13w")]
    X = np.column_stack([table[n].to_numpy().astype(np.float64) for n in names])
    y = table["spend_next_13w"].to_numpy()
    began = time.perf_counter()
    model = lgb.LGBMRegressor(objective="tweedie", n_estimators=300, learning_rate=0.05,
                              num_threads=1, verbose=-1, random_state=0)  # fmt: skip
    model.fit(X[train_rows], y[train_rows])
    seconds = time.perf_counter() - began
    return Result(*_scores(y[test], model.predict(X[test])), 1, "-", seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table = load(args.customers)
    train_rows, test = _holdout(table)
    print(f"CDNOW: {args.customers} customers, {table.num_rows} rows ({len(train_rows)} train, "
          f"{len(test)} evaluated at the last cutoff); budget {args.budget:.0f}s; "
          f"medians of {args.runs} runs")  # fmt: skip
    methods: dict[str, t.Callable[[], Result]] = {
        "old AUTO (5 fixed configs, 1 slice)": lambda: run_wml(table, args.budget, False),
        "AUTO search (rolling origin, by customer)": lambda: run_wml(table, args.budget, True),
        "old AUTO, objective rmse": lambda: run_wml(table, args.budget, False, "rmse"),
        "AUTO search, objective rmse": lambda: run_wml(table, args.budget, True, "rmse"),
        "LightGBM tweedie (300 rounds)": lambda: run_lightgbm(table),
    }
    print(f"{'method':<44} {'RMSE':>8} {'MAE':>8} {'Spearman':>9} {'deviance':>9} {'configs':>8} "
          f"{'stopped by':>11} {'seconds':>8}")  # fmt: skip
    for name, fn in methods.items():
        results = [fn() for _ in range(args.runs)]
        med = {f: statistics.median(getattr(r, f) for r in results)
               for f in ("rmse", "mae", "spearman", "deviance", "configs", "seconds")}  # fmt: skip
        print(f"{name:<44} {med['rmse']:>8.3f} {med['mae']:>8.3f} {med['spearman']:>9.3f} "
              f"{med['deviance']:>9.3f} "
              f"{med['configs']:>8.0f} {results[0].stopped_by:>11} {med['seconds']:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
