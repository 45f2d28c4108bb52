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


def _checks(fn: str, money: bool) -> str:
    bad = ("frequency < 0 or recency < 0 or recency > t or t < 0 "
           "or (frequency = 0 and recency <> 0)")  # fmt: skip
    what = "frequency >= 0, 0 <= recency <= T and recency 0 when frequency is 0"
    if money:
        # Scoring takes a $0 repeat buyer (Gamma-Gamma's weighted mean is defined there);
        # only fitting needs positive spend (fit.py).
        bad += " or (frequency > 0 and monetary_value < 0)"
        what += ", and monetary_value >= 0 when frequency > 0"
    got = ("'frequency=' || frequency || ', recency=' || recency || ', T=' || t"
           + (" || ', monetary_value=' || monetary_value" if money else ""))
    nulls = "when frequency is null or recency is null or t is null then null "
    return nulls + f"when {bad} then error('{fn}: needs {what} (lifetimes'' RFM conventions); got ' || {got})"


def _odds(prm: formulas.Params) -> str:
    """The (alive odds)^-1 term: 0 for a customer with no repeat purchase."""
    return (f"(case when frequency > 0 then {_n(prm.a)} / ({_n(prm.b - 1.0)} + frequency) * "
            f"pow(({_n(prm.alpha)} + t) / ({_n(prm.alpha)} + recency), {_n(prm.r)} + frequency) "
            "else 0e0 end)")  # fmt: skip


def p_alive_expr(prm: formulas.Params) -> str:
    return f"1e0 / (1e0 + {_odds(prm)})"


def purchases_expr(prm: formulas.Params, horizon: float, n: int) -> str:
    coef = formulas.coefficients(prm, n)
    signs = "[" + ", ".join(_n(s) for s, _ in coef) + "]"
    logs = "[" + ", ".join(_n(lg) for _, lg in coef) + "]"
    z = f"({_n(horizon)} / ({_n(prm.alpha)} + t + {_n(horizon)}))"
    c = f"({_n(prm.a + prm.b - 1.0)} + frequency)"
    series = (f"list_sum(list_transform(range({n}), lambda k: {signs}[k + 1] * "
              f"exp({logs}[k + 1] + k * ln({z}) + lgamma({c}) - lgamma({c} + k))))")
    return (f"{c} / {_n(prm.a - 1.0)} * (1e0 - pow(1e0 - {z}, {_n(prm.a - 1.0)}) * {series}) "
            f"/ (1e0 + {_odds(prm)})")


def value_expr(prm: formulas.Params) -> str:
    """Gamma-Gamma's expected average value: the population mean when frequency is 0."""
    mean = prm.v * prm.p / (prm.q - 1.0)
    w = f"({_n(prm.p)} * frequency / ({_n(prm.p)} * frequency + {_n(prm.q - 1.0)}))"
    return (f"(case when frequency > 0 then (1e0 - {w}) * {_n(mean)} + {w} * monetary_value "
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
