"""An AUTO model whose winner is the CLV candidate, served as SQL: no ONNX graph.

``predict_<model>(features...)`` keeps the signature of any AUTO model (every feature
column, in order) and computes the fitted BG/NBD expected purchases over the horizon, times
Gamma-Gamma's expected average value for a spend target (ml/clv/sql.py's expressions, over
the four RFM parameters; the other features are accepted and unused). DuckDB gets a macro
that raises on a row breaking lifetimes' conventions, PostgreSQL / Redshift a SQL UDF that
returns NULL there (ml/clv/portable.py). The registry row keeps the fit in
``settings['clv_fit']`` (ml/clv/candidate.py ``ClvRegressor.settings``).
"""

from __future__ import annotations

import typing as t

import numpy as np
import pyarrow as pa
from sqlglot import exp

from warehouse_ml.adapters.relation import quote
from warehouse_ml.errors import ConfigError, TrainingError
from warehouse_ml.ml import registry
from warehouse_ml.ml.clv import formulas, portable, sql

KEY = "clv_fit"  # the registry settings key holding the fit
PARITY_RTOL = 1e-5  # the fit reads float32-rounded features (as every candidate), SQL DOUBLEs
_RETURNS = {"postgres": "double precision", "redshift": "float"}


def fit_of(v: registry.ModelVersion) -> dict[str, t.Any]:
    return dict((v.settings or {})[KEY])


def _params(fit: dict[str, t.Any]) -> formulas.Params:
    return formulas.Params(**{"p": float("nan"), "q": float("nan"), "v": float("nan"), **fit["params"]})


def _body(fit: dict[str, t.Any], function: str, a: sql.Args) -> str:
    prm, money = _params(fit), fit["predicts"] == "spend"
    value = sql.purchases_expr(prm, float(fit["horizon"]), int(fit["series_terms"]), a)
    if money:
        value = f"({value}) * {sql.value_expr(prm, a)}"
    return f"case {sql._checks(function, money, a)} else {value} end"


_ROLES = {"frequency": "f", "recency": "r", "T": "t", "monetary_value": "m"}  # Args' fields


def macro(function: str, features: list[str], fit: dict[str, t.Any]) -> sql.ScalarMacro:
    """``create or replace macro f("feature", ...)``: the CLV expression over the RFM ones."""
    refs = {_ROLES[role]: f"cast({quote(col)} as double)" for role, col in fit["columns"].items()}
    args = sql.Args(**refs)
    params = ", ".join(quote(n) for n in features)
    return sql.ScalarMacro(
        f"create or replace macro {quote(function)}({params}) as ({_body(fit, function, args)})"
    )


def macros(v: registry.ModelVersion) -> list[tuple[str, sql.ScalarMacro]]:
    """What ml/serving.py installs: the model's one function (a regression has no _prob)."""
    return [(v.function, macro(v.function, [n for n, _ in v.features], fit_of(v)))]


def statements(v: registry.ModelVersion, dialect: str) -> list[str]:
    """``wml compile-model``: the DuckDB macro, or a PostgreSQL / Redshift SQL UDF."""
    fit, names = fit_of(v), [n for n, _ in v.features]
    if dialect == "duckdb":
        return [macros(v)[0][1].sql]
    if dialect not in _RETURNS:
        raise ConfigError(
            f"model '{v.name}' is served by its CLV candidate's SQL, which compiles for duckdb, "
            f"postgres and redshift, not {dialect}.",
            hint="Use --dialect duckdb, postgres or redshift.",
        )
    kind = _RETURNS[dialect]
    at = {n.lower(): i for i, n in enumerate(names, start=1)}
    refs = {_ROLES[role]: f"cast(${at[col.lower()]} as {kind})" for role, col in fit["columns"].items()}
    a = portable.Args(**refs)
    prm, money = _params(fit), fit["predicts"] == "spend"
    value = portable.purchases(prm, float(fit["horizon"]), int(fit["series_terms"]), a)
    if money:
        value = f"({value}) * {portable.value(prm, a)}"
    types = ", ".join(exp.DataType.build(ty, dialect="duckdb").sql(dialect) for _, ty in v.features)
    return [
        f"create or replace function {v.function}({types}) returns {kind} immutable as $$ "
        f"select case when {portable._valid(money, a)} then {value} end $$ language sql"
    ]


def parity(estimator: t.Any, sample: pa.Table, features: list[str], model: str) -> dict[str, t.Any]:
    """The macro run by DuckDB on ``sample`` against the fitted estimator's closed form on
    the same (DOUBLE) values: refuses a fit the SQL does not reproduce."""
    import duckdb

    fit = estimator.settings()
    stmt = macro("wml_clv_parity", features, fit)
    cols = fit["columns"]
    con = duckdb.connect()
    try:
        con.execute(stmt.sql)
        con.register("wml_sample", sample)
        args = ", ".join(quote(n) for n in features)
        rows = con.execute(f"select wml_clv_parity({args}) from wml_sample").fetchall()
        got = np.asarray([r[0] for r in rows], dtype=float)
    finally:
        con.close()

    def column(role: str) -> np.ndarray:
        if role not in cols:
            return np.ones(sample.num_rows)
        return np.asarray(sample.column(cols[role]).cast(pa.float64()).to_numpy(zero_copy_only=False))

    want = estimator.predict_rfm(column("frequency"), column("recency"), column("T"),
                                 column("monetary_value"))
    diff = np.abs(got - want)
    worst = float(np.max(diff / np.maximum(np.abs(want), 1e-12))) if len(want) else 0.0
    if not np.allclose(got, want, rtol=PARITY_RTOL, atol=1e-9):
        raise TrainingError(
            f"model '{model}': the CLV candidate's SQL differs from its fitted closed form by up "
            f"to {worst:.3g} (relative) on {len(want)} rows. Nothing was written.",
            hint="Report this as a bug; meanwhile remove the clv_ keys to train without it.",
        )
    return {"rows": int(len(want)), "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
            "max_rel_diff": worst, "checked": "DuckDB macro vs the fitted BG/NBD + Gamma-Gamma "
            "closed form (numpy)", "onnx": "none: the CLV candidate serves as SQL only"}  # fmt: skip
