"""A CLV version as three DuckDB scalar macros: plain SQL stored in the database file.

- ``f_prob(frequency, recency, T)``: P(alive), BG/NBD's closed form (plain arithmetic)
- ``f_purchases(frequency, recency, T)``: expected purchases over the horizon, with the
  Gaussian hypergeometric series truncated to the number of terms ``formulas.terms``
  chose for the model's tolerance (a list of constants, one ``list_sum`` per row)
- ``f(frequency, recency, T, monetary_value)``: expected spend over the horizon, expected
  purchases times Gamma-Gamma's expected average value (plain arithmetic)

Every number is written in exponent form, so DuckDB reads it as DOUBLE (a plain ``0.3`` is
DECIMAL arithmetic, 3x slower). A row that breaks the RFM conventions raises an error
naming the function; a NULL argument gives NULL.
"""

from __future__ import annotations

import dataclasses

from warehouse_ml.adapters.relation import quote
from warehouse_ml.ml.clv import formulas


@dataclasses.dataclass(frozen=True)
class ScalarMacro:
    """A complete ``CREATE OR REPLACE MACRO`` statement (serving.py runs it as is)."""

    sql: str


def _n(value: float) -> str:
    return f"{value:.17e}"


@dataclasses.dataclass(frozen=True)
class Args:
    """The SQL the expressions read each RFM value from: the macros' own parameters, or
    (ml/clv/supervised_sql.py) an AUTO model's feature parameters cast to DOUBLE."""

    f: str = "frequency"
    r: str = "recency"
    t: str = "t"
    m: str = "monetary_value"


RFM = Args()


def _checks(fn: str, money: bool, a: Args = RFM) -> str:
    bad = (f"{a.f} < 0 or {a.r} < 0 or {a.r} > {a.t} or {a.t} < 0 "
           f"or ({a.f} = 0 and {a.r} <> 0)")  # fmt: skip
    what = "frequency >= 0, 0 <= recency <= T and recency 0 when frequency is 0"
    if money:
        # Scoring takes a $0 repeat buyer (Gamma-Gamma's weighted mean is defined there);
        # only fitting needs positive spend (fit.py).
        bad += f" or ({a.f} > 0 and {a.m} < 0)"
        what += ", and monetary_value >= 0 when frequency > 0"
    got = (f"'frequency=' || {a.f} || ', recency=' || {a.r} || ', T=' || {a.t}"
           + (f" || ', monetary_value=' || {a.m}" if money else ""))
    nulls = f"when {a.f} is null or {a.r} is null or {a.t} is null then null "
    return nulls + f"when {bad} then error('{fn}: needs {what} (lifetimes'' RFM conventions); got ' || {got})"


def _odds(prm: formulas.Params, a: Args = RFM) -> str:
    """The (alive odds)^-1 term: 0 for a customer with no repeat purchase."""
    return (f"(case when {a.f} > 0 then {_n(prm.a)} / ({_n(prm.b - 1.0)} + {a.f}) * "
            f"pow(({_n(prm.alpha)} + {a.t}) / ({_n(prm.alpha)} + {a.r}), {_n(prm.r)} + {a.f}) "
            "else 0e0 end)")  # fmt: skip


def p_alive_expr(prm: formulas.Params, a: Args = RFM) -> str:
    return f"1e0 / (1e0 + {_odds(prm, a)})"


def purchases_expr(prm: formulas.Params, horizon: float, n: int, a: Args = RFM) -> str:
    coef = formulas.coefficients(prm, n)
    signs = "[" + ", ".join(_n(s) for s, _ in coef) + "]"
    logs = "[" + ", ".join(_n(lg) for _, lg in coef) + "]"
    z = f"({_n(horizon)} / ({_n(prm.alpha)} + {a.t} + {_n(horizon)}))"
    c = f"({_n(prm.a + prm.b - 1.0)} + {a.f})"
    series = (f"list_sum(list_transform(range({n}), lambda k: {signs}[k + 1] * "
              f"exp({logs}[k + 1] + k * ln({z}) + lgamma({c}) - lgamma({c} + k))))")
    return (f"{c} / {_n(prm.a - 1.0)} * (1e0 - pow(1e0 - {z}, {_n(prm.a - 1.0)}) * {series}) "
            f"/ (1e0 + {_odds(prm, a)})")


def value_expr(prm: formulas.Params, a: Args = RFM) -> str:
    """Gamma-Gamma's expected average value: the population mean when frequency is 0."""
    mean = prm.v * prm.p / (prm.q - 1.0)
    w = f"({_n(prm.p)} * {a.f} / ({_n(prm.p)} * {a.f} + {_n(prm.q - 1.0)}))"
    return (f"(case when {a.f} > 0 then (1e0 - {w}) * {_n(mean)} + {w} * {a.m} "
            f"else {_n(mean)} end)")


def macros(function: str, prm: formulas.Params, horizon: float, n: int) -> list[tuple[str, ScalarMacro]]:
    """(name, statement) for the three macros, spend first (the model's own function)."""
    spend, alive, buys = function, f"{function}_prob", f"{function}_purchases"
    purchases = purchases_expr(prm, horizon, n)
    bodies = {
        spend: ("frequency, recency, t, monetary_value",
                f"case {_checks(spend, True)} else ({purchases}) * {value_expr(prm)} end"),
        alive: ("frequency, recency, t", f"case {_checks(alive, False)} else {p_alive_expr(prm)} end"),
        buys: ("frequency, recency, t", f"case {_checks(buys, False)} else {purchases} end"),
    }
    return [
        (name, ScalarMacro(f"create or replace macro {quote(name)}({args}) as ({body})"))
        for name, (args, body) in bodies.items()
    ]
