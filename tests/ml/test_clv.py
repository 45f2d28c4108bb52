"""BG/NBD + Gamma-Gamma (model_type='clv'): fit, SQL macros against lifetimes, bad input."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pyarrow.csv as pacsv
import pytest
from conftest import PROFILE, Project, assert_clean_error
from scipy.special import hyp2f1

from warehouse_ml.ml.clv import fit, formulas, sql, synthetic
from warehouse_ml.ml.clv.spec import ClvSpec

TRUE = dict(r=0.5, alpha=6.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)
MODEL = """\
{{ config(materialized='ml_model', model_type='clv', horizon=26 EXTRA) }}
select frequency, recency, "T", monetary_value from {{ ref('rfm') }}
"""


def make(root, rows: int = 800, extra: str = "") -> Project:
    p = Project(root)
    p.root.mkdir(parents=True, exist_ok=True)
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n",
             "models_sql/ltv.sql": MODEL.replace("EXTRA", extra)})  # fmt: skip
    (p.root / "seeds").mkdir(exist_ok=True)
    pacsv.write_csv(synthetic.rfm(rows, seed=2, **TRUE), p.root / "seeds" / "rfm.csv")
    return p


@pytest.fixture(scope="module")
def clv(tmp_path_factory):
    p = make(tmp_path_factory.mktemp("clv") / "proj")
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    return p


def lifetimes_fit(p: Project):
    """lifetimes fitted on the same rows, the reference the macros must reproduce."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    f, r, T, m = (np.array(c, dtype=float) for c in zip(*p.query(
        'select frequency, recency, "T", monetary_value from rfm order by customer_id'), strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoFitter().fit(f, r, T)
        gg = GammaGammaFitter().fit(f[f > 0], m[f > 0])
    return bg, gg, (f, r, T, m)


def test_fit_recovers_the_generating_parameters():
    fitted = fit.fit(synthetic.rfm(3000, seed=1, **TRUE), ClvSpec(name="x", query="", horizon=26))
    got = fitted.params.as_dict()
    for key, want in TRUE.items():
        assert abs(got[key] - want) / want < 0.25, (key, got[key], want)


def test_macros_match_lifetimes_on_every_customer(clv):
    bg, gg, (f, r, T, m) = lifetimes_fit(clv)
    rows = clv.query(
        'select predict_ltv_purchases(frequency, recency, "T"), predict_ltv_prob(frequency, recency, "T"), '
        'predict_ltv(frequency, recency, "T", monetary_value) from rfm order by customer_id')
    purchases, alive, spend = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    want = bg.conditional_expected_number_of_purchases_up_to_time(26, f, r, T)
    # The fits agree to the optimiser's precision; the formulas to the series' tolerance.
    np.testing.assert_allclose(purchases, want, rtol=1e-4)
    np.testing.assert_allclose(alive, bg.conditional_probability_alive(f, r, T), rtol=1e-4)
    np.testing.assert_allclose(spend, want * gg.conditional_expected_average_profit(f, m), rtol=1e-4)
    assert ((alive > 0) & (alive <= 1)).all() and (alive < 1).any()
    assert clv.query("select predict_ltv_prob(null, 0, 3), predict_ltv(0, 0, 5, null)")[0][0] is None
    assert clv.query("select predict_ltv(0, 0, 5, null)")[0][0] > 0  # a one-time buyer: population mean
    # A $0 repeat buyer scores (Gamma-Gamma's weighted mean), though fitting refuses one.
    zero, some = clv.query("select predict_ltv(2, 3, 10, 0), predict_ltv(2, 3, 10, 20)")[0]
    assert 0 < zero < some
    with pytest.raises(duckdb.InvalidInputException, match="predict_ltv_prob: needs"):
        clv.query("select predict_ltv_prob(1, 12, 10)")


def test_series_in_sql_is_within_its_tolerance_of_scipy():
    """Same parameters, a grid over the worst corners (T=0, x=0, a long horizon): the SQL
    series against scipy's 2F1 in lifetimes' untransformed formula."""
    prm = formulas.Params(r=0.243, alpha=4.41, a=0.793, b=2.43, p=6.25, q=3.74, v=15.4)
    con = duckdb.connect()
    for horizon in (1.0, 39.0, 300.0):
        n = formulas.terms(prm, horizon, 1e-9)
        for _, macro in sql.macros("f", prm, horizon, n):
            con.execute(macro.sql)
        x, tx, T = (a.ravel() for a in np.meshgrid([0, 1, 3, 20, 80], [0.0, 5.0], [0.0, 5.0, 39.0, 400.0]))
        keep = (tx <= T) & ((x > 0) | (tx == 0))
        x, tx, T = x[keep], tx[keep], T[keep]
        got = np.array([con.execute("select f_purchases(?, ?, ?)", [float(a), float(b), float(c)]).fetchone()[0]
                        for a, b, c in zip(x, tx, T, strict=True)])  # fmt: skip
        z = horizon / (prm.alpha + T + horizon)
        hyp = hyp2f1(prm.r + x, prm.b + x, prm.a + prm.b + x - 1, z)
        bracket = 1 - ((prm.alpha + T) / (prm.alpha + T + horizon)) ** (prm.r + x) * hyp
        odds = np.where(x > 0, prm.a / (prm.b + np.maximum(x, 1) - 1) * ((prm.alpha + T) / (prm.alpha + tx)) ** (prm.r + x), 0)
        want = (prm.a + prm.b + x - 1) / (prm.a - 1) * bracket / (1 + odds)
        np.testing.assert_allclose(got, want, atol=2e-9, rtol=1e-9)


def test_show_and_compile_model(clv):
    out = clv.wml("show", "ltv").output
    assert "BG/NBD alpha" in out and "predict_ltv_prob(frequency, recency, T) = P(alive)" in out
    ddl = clv.wml("compile-model", "ltv").output
    assert "create or replace macro" in ddl and "lgamma" in ddl
    redshift = clv.wml("compile-model", "ltv", "--dialect", "redshift").output
    assert redshift.count("create or replace function") == 3 and "lgamma" not in redshift
    assert_clean_error(clv.wml("compile-model", "ltv", "--dialect", "snowflake"), 2, "not snowflake")


def test_postgres_functions_match_the_duckdb_macros(clv, pg):
    """The arithmetic-only UDFs (Horner form of the same truncated series) on a real
    PostgreSQL server give DuckDB's answers on every customer; a bad row gives NULL."""
    for statement in clv.wml("compile-model", "ltv", "--dialect", "postgres").output.split(";"):
        if statement.strip():
            pg.execute(statement)
    rows = clv.query('select frequency, recency, "T", monetary_value, predict_ltv_purchases(frequency, recency, "T"), '
                     'predict_ltv_prob(frequency, recency, "T"), predict_ltv(frequency, recency, "T", monetary_value) '
                     "from rfm order by customer_id")  # fmt: skip
    pg.execute("create temporary table rfm (i int, f float8, r float8, t float8, m float8)")
    with pg.cursor() as cur:
        cur.executemany("insert into rfm values (%s, %s, %s, %s, %s)", [(i, *row[:4]) for i, row in enumerate(rows)])
    got = pg.execute("select predict_ltv_purchases(f, r, t), predict_ltv_prob(f, r, t), "
                     "predict_ltv(f, r, t, m) from rfm order by i").fetchall()  # fmt: skip
    np.testing.assert_allclose(np.array(got, dtype=float), np.array([r[4:] for r in rows], dtype=float), rtol=1e-10)
    assert pg.execute("select predict_ltv_prob(-1, 0, 3), predict_ltv_purchases(1, 5, 3)").fetchone() == (None, None)


@pytest.mark.parametrize("column, bad, fragment", [
    ("frequency", "-1", "frequency is negative"),
    ("recency", '"T" + 1', "recency is larger than T"),
    ("monetary_value", "0", "monetary_value is 0, negative or NULL"),
])  # fmt: skip
def test_bad_rows_are_refused_and_nothing_is_written(tmp_path, column, bad, fragment):
    p = make(tmp_path / "proj", rows=200)
    assert p.wml("build").exit_code == 0
    before = p.query("select count(*), max(version) from wml.models")
    # One repeat customer's row broken, in a model of its own, as a user's upstream bug would.
    cols = {c: c for c in ("frequency", "recency", '"T"', "monetary_value")}
    first = "(select min(customer_id) from {{ ref('rfm') }} where frequency > 0)"
    cols[column] = f"case when customer_id = {first} then {bad} else {column} end"
    select = ", ".join(f"{expr} as {name}" for name, expr in cols.items())
    p.write({"models_sql/ltv.sql": MODEL.replace("EXTRA", "").replace("{{ ref('rfm') }}", "{{ ref('bad') }}"),
             "models_sql/bad.sql": "{{ config(materialized='table') }}\n"
             f"select customer_id, {select} from {{{{ ref('rfm') }}}}\n"})  # fmt: skip
    result = p.wml("build")
    assert_clean_error(result, 1, "CLV model 'ltv'", fragment, "Nothing was written")
    assert p.query("select count(*), max(version) from wml.models") == before
    comment = p.query("select comment from duckdb_functions() where function_name = 'predict_ltv_purchases'")
    assert comment == [("wml:ltv:1",)]


def test_config_errors_name_the_key(tmp_path):
    p = make(tmp_path / "proj", rows=60)
    p.write({"models_sql/ltv.sql": MODEL.replace("horizon=26 EXTRA", "target='spend'")})
    assert_clean_error(p.wml("build"), 1, "CLV model 'ltv'", "'target'", "ltv.sql")
    p.write({"models_sql/ltv.sql": MODEL.replace("horizon=26 EXTRA", "horizen=26")})
    assert_clean_error(p.wml("build"), 2, "horizen")
    p.write({"models_sql/ltv.sql": MODEL.replace("horizon=26 EXTRA", "horizon=-3")})
    assert_clean_error(p.wml("build"), 1, "horizon must be a number more than 0")
    p.write({"models_sql/ltv.sql": MODEL.replace("model_type='clv', horizon=26 EXTRA",
                                                 "target='frequency', horizon=26")})
    assert_clean_error(p.wml("build"), 1, "horizon belong(s) to model_type='clv'")
    assert p.query("select count(*) from information_schema.tables where table_schema = 'wml' "
                   "and table_name = 'models'") in ([(0,)], [(1,)])


def test_rollback_and_drop_move_the_macros(tmp_path):
    p = make(tmp_path / "proj", rows=200)
    assert p.wml("build").exit_code == 0
    call = 'select predict_ltv_purchases(3, 10, 20)'
    first = p.scalar(call)
    p.write({"models_sql/ltv.sql": MODEL.replace("EXTRA", ", penalizer=0.001")})
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    assert p.scalar(call) != first  # version 2 (penalized) serves
    assert p.wml("deploy", "ltv", "--version", "1").exit_code == 0
    assert p.scalar(call) == first
    comments = p.query("select function_name, comment from duckdb_functions() where comment like 'wml:%' order by 1")
    assert comments == [("predict_ltv", "wml:ltv:1"), ("predict_ltv_prob", "wml:ltv:1"),
                        ("predict_ltv_purchases", "wml:ltv:1")]  # fmt: skip
    assert p.wml("sql", "DROP MODEL ltv").exit_code == 0
    assert p.query("select count(*) from duckdb_functions() where function_name like 'predict_ltv%'") == [(0,)]
