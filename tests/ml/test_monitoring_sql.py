"""PSI and KS computed by wml's SQL equal a reference written here from the definitions.

Reference (numpy): numeric bins are the distinct training deciles (numpy's linear quantile,
which is PERCENTILE_CONT), right-closed; shares of non-NULL values; an empty share counts
as 1e-4; PSI = sum (a - e) ln(a / e). KS is the largest |F_ref - F_cur| at the distinct
training percentiles 1..99, and lies within 1% below scipy's two-sample statistic.
The same SQL, compiled for Redshift by sqlglot (unsupported constructs raise), runs on a
real PostgreSQL server and gives the same PSI, KS, quantiles and AUC.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warehouse_ml.adapters import dialects  # noqa: E402
from warehouse_ml.ml.monitoring import profile, sql, store, tests_sql  # noqa: E402

EPS = 1e-4


def _data(seed: int, n: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Whole numbers: ties at the percentiles, as real counts and days have.
    return np.round(rng.normal(50 + shift, 10 * scale, n))


def _categories(seed: int, n: int, tilt: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weights = np.exp(-np.arange(25) / 6.0 + tilt * np.linspace(-1, 1, 25))
    return np.array([f"c{i:02d}" for i in range(25)], dtype=object)[
        rng.choice(25, size=n, p=weights / weights.sum())
    ]


def reference_psi_ks(train: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    train, cur = train[~np.isnan(train)], cur[~np.isnan(cur)]
    q = np.quantile(train, np.arange(1, 100) / 100)
    deciles = np.unique(q[9::10])

    def shares(x: np.ndarray) -> np.ndarray:
        s = np.bincount(np.searchsorted(deciles, x, side="left"), minlength=len(deciles) + 1) / len(x)
        return np.where(s == 0, EPS, s)

    e, a = shares(train), shares(cur)
    psi = float(np.sum((a - e) * np.log(a / e)))
    edges = np.unique(q)
    ks = float(np.max(np.abs([np.mean(train <= g) - np.mean(cur <= g) for g in edges])))
    return psi, ks


def reference_categorical_psi(train: np.ndarray, cur: np.ndarray) -> float:
    values, counts = np.unique(train, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))[: sql.TOP_CATEGORIES]
    top = {values[i] for i in order}

    def shares(x: np.ndarray) -> np.ndarray:
        keys = sorted(top) + ["<other>"]
        mapped = np.array([v if v in top else "<other>" for v in x], dtype=object)
        s = np.array([np.mean(mapped == k) for k in keys])
        return np.where(s == 0, EPS, s)

    e, a = shares(train), shares(cur)
    return float(np.sum((a - e) * np.log(a / e)))


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    yield c
    c.close()


def _train_profile(con: duckdb.DuckDBPyConnection, table: pa.Table, categorical: bool) -> list[dict]:
    con.register("train_rows", table)
    cols = [profile.Column("x", "x", "feature", categorical)]
    rows = profile.profile(lambda q: con.execute(q).fetchall(), "train_rows", cols, "duckdb")
    keyed = [{**r, "run_id": "r1", "run_at": dt.datetime(2026, 1, 1), "kind": "training",
              "model_name": "m", "model_version": 1} for r in rows]  # fmt: skip
    store.insert(lambda q, p: con.execute(q, p).fetchall(), keyed)
    return keyed


def _measure(con: duckdb.DuckDBPyConnection, cur: pa.Table, categorical: bool) -> tuple:
    con.register("cur_rows", cur)
    text = sql.drift_sql(sql.binned_sql(
        sql.training_ref_sql("m", ["x"], 1),
        sql.current_values_sql({"x": ("cur_rows", "x", categorical)}),
    ))  # fmt: skip
    feature, kind, ref_rows, cur_rows, psi, ks = con.execute(text).fetchall()[0]
    return kind, ref_rows, cur_rows, psi, ks


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (3.0, 1.0), (8.0, 1.5), (-20.0, 0.5)])
def test_numeric_psi_and_ks_match_the_reference(con, shift: float, scale: float) -> None:
    train = _data(1, 5000)
    cur = _data(2, 3000, shift, scale)
    cur[::37] = np.nan  # NULLs take no part
    _train_profile(con, pa.table({"x": train}), False)
    kind, ref_rows, cur_rows, psi, ks = _measure(
        con, pa.table({"x": pa.array(cur, mask=np.isnan(cur))}), False
    )
    want_psi, want_ks = reference_psi_ks(train, cur)
    assert (kind, ref_rows, cur_rows) == ("numeric", 5000, int((~np.isnan(cur)).sum()))
    assert psi == pytest.approx(want_psi, rel=1e-9, abs=1e-12)
    assert ks == pytest.approx(want_ks, rel=1e-9, abs=1e-12)
    exact = stats.ks_2samp(train, cur[~np.isnan(cur)]).statistic
    assert ks <= exact + 1e-12 and exact - ks <= 0.011  # the grid's bound
    if shift == 0.0:
        assert psi < 0.02  # the same population: no drift
    else:
        assert psi > 0.05


def test_categorical_psi_matches_the_reference_with_an_other_bin(con) -> None:
    train, cur = _categories(3, 4000), _categories(4, 2500, tilt=1.5)
    rows = _train_profile(con, pa.table({"x": train}), True)
    assert len(rows) == sql.TOP_CATEGORIES + 1  # 25 categories seen: the top 20 and "other"
    kind, _, _, psi, ks = _measure(con, pa.table({"x": cur}), True)
    assert kind == "categorical" and ks is None
    assert psi == pytest.approx(reference_categorical_psi(train, cur), rel=1e-9)


def test_numeric_bins_merge_tied_percentiles() -> None:
    # p1..p60 = 0, p61..p90 = 1, p91..p99 = 2: the deciles are {0, 1}, so PSI has 3 bins
    # and the fine bins above p90 (for KS) all lie in the last one.
    bins = profile.numeric_bins([0.0] * 60 + [1.0] * 30 + [2.0] * 9)
    assert [(b["upper_edge"], b["psi_bin"]) for b in bins] == [
        (0.0, 0), (1.0, 1), (2.0, 2), (sql.MAX_DOUBLE, 2),
    ]  # fmt: skip


def _pg_execute(pg):
    def execute(text: str, params: list | None) -> list:
        cur = pg.execute(text.replace("?", "%s") if params else text, params)
        return cur.fetchall() if cur.description else []

    return execute


def _redshift(text: str) -> str:
    """What a Redshift target runs: our SQL transpiled with unsupported_level=RAISE, with
    Redshift's VARCHAR(MAX) (which PostgreSQL lacks) read as PostgreSQL's VARCHAR."""
    return dialects.transpile(text, "duckdb", "redshift").replace("VARCHAR(MAX)", "VARCHAR")


def test_drift_sql_compiled_for_redshift_runs_on_postgres_with_the_same_psi(con, pg) -> None:
    train, cur = _data(5, 4000), _data(6, 2000, shift=4.0)
    rows = _train_profile(con, pa.table({"x": train}), False)
    execute = _pg_execute(pg)
    store.ensure(execute)
    for c in (con, pg):  # the deployed version the test reads
        c.execute("create table if not exists wml.models (name varchar(64), version int, deployed boolean)")
        c.execute("insert into wml.models values ('m', 1, true)")
    store.insert(execute, rows)
    pg.execute("create table cur_rows (x double precision)")
    with pg.cursor() as cursor:
        cursor.executemany("insert into cur_rows values (%s)", [(float(v),) for v in cur])
    con.register("cur_rows", pa.table({"x": cur}))
    test_sql = tests_sql.drift_test_sql("m", "cur_rows", "public.cur_rows", [("x", "x", False)], "training", 0.0, 0.0)
    local = con.execute(test_sql).fetchall()
    remote = pg.execute(_redshift(test_sql)).fetchall()
    want_psi, want_ks = reference_psi_ks(train, cur)
    assert len(local) == len(remote) == 1  # thresholds 0: the one column fails
    psi_at, ks_at = 6, 8
    assert local[0][psi_at] == pytest.approx(want_psi, rel=1e-9)
    assert remote[0][psi_at] == pytest.approx(want_psi, rel=1e-9)
    assert remote[0][ks_at] == pytest.approx(want_ks, rel=1e-9)
    # Quantiles as Redshift computes them (PERCENTILE_CONT ... WITHIN GROUP) match numpy's.
    separate = sql.quantiles_sql("cur_rows", "x", "redshift")
    assert "PERCENTILE_CONT(0.01) WITHIN GROUP (ORDER BY CAST(\"x\" AS DOUBLE PRECISION))" in separate
    got = pg.execute(separate).fetchall()[0]
    assert np.allclose(got[:99], np.quantile(cur, np.arange(1, 100) / 100), rtol=1e-12)
    assert got[99:] == (2000, 2000)


def test_performance_decay_auc_on_postgres_matches_sklearn(con, pg) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(9)
    y = rng.random(1500) < 0.3
    p = np.round(np.clip(0.3 + 0.25 * y + rng.normal(0, 0.2, 1500), 0, 1), 2)  # ties too
    pg.execute("create table scored (p double precision, y boolean)")
    with pg.cursor() as cursor:
        cursor.executemany("insert into scored values (%s, %s)", list(zip(p.tolist(), y.tolist(), strict=True)))
    con.register("scored", pa.table({"p": p, "y": y}))
    text = tests_sql.performance_decay_sql("m", "scored", "public.scored", "p", "y", "auc", 0.0, 1.96)
    stats_sql = text.split("select 'm' as model_name")[0].removeprefix("with ").rstrip().rstrip(",")
    probe = f"with {stats_sql.split(', wml_eval as')[0]} select value, ci_low, ci_high from wml_stats"
    for rows in (con.execute(probe).fetchall(), pg.execute(_redshift(probe)).fetchall()):
        value, low, high = rows[0]
        assert value == pytest.approx(roc_auc_score(y, p), rel=1e-12)
        assert low < value < high and high - low < 0.1


def test_score_columns_are_the_calls_themselves() -> None:
    from warehouse_ml.ml.monitoring.record import score_columns

    functions = {"predict_m": ("m", "prediction"), "predict_c_prob": ("c", "probability")}
    text = """
        with s as (select id, predict_m(x) as raw, cast(predict_m(x) as double) as typed,
                          case when x > 0 then predict_c_prob(x) end as some_rows,
                          greatest(predict_m(x), 0) as clamped, predict_m(x) - predict_c_prob(x) as mixed
                   from t)
        select * from s"""
    found = score_columns(text, "duckdb", functions)
    assert found == {"raw": ("m", "prediction"), "typed": ("m", "prediction"),
                     "some_rows": ("c", "probability")}  # fmt: skip
