"""A CLV version as SQL UDFs for PostgreSQL and Redshift: arithmetic only.

Neither has DuckDB's list lambdas, and Redshift has no ``lgamma``; a Redshift SQL UDF is one
SELECT of one expression with no FROM. So the series ``sum_k c_k z^k / (C)_k`` is written in
Horner form, each term the previous one times ``(p+j-1)(q+j-1)/j * z / (C+j-1)``:
``1 + t1 * (1 + t2 * (1 + ...))``, as many levels as the DuckDB form has terms, so both
truncate at the same place. Arguments are positional (``$1`` frequency, ``$2`` recency,
``$3`` T, ``$4`` monetary_value). A SQL UDF cannot raise, so a row that breaks the RFM
conventions gives NULL here (DuckDB's macros raise an error naming the function).
"""

from __future__ import annotations

import dataclasses

from warehouse_ml.errors import ConfigError
from warehouse_ml.ml.clv import formulas

_TYPES = {"postgres": "double precision", "redshift": "float"}


def _n(value: float) -> str:
    return repr(float(value))


@dataclasses.dataclass(frozen=True)
class Args:
    """Where each RFM value is read: the standalone functions' ``$1``..``$4``, or an AUTO
    model's positions among its features (ml/clv/supervised_sql.py)."""

    f: str = "$1"
    r: str = "$2"
    t: str = "$3"
    m: str = "$4"


RFM = Args()


def _valid(money: bool, a: Args = RFM) -> str:
    ok = f"{a.f} >= 0 and {a.r} >= 0 and {a.r} <= {a.t} and {a.t} >= 0 and ({a.f} > 0 or {a.r} = 0)"
    return ok + (f" and ({a.f} = 0 or {a.m} >= 0)" if money else "")


def _odds(prm: formulas.Params, a: Args = RFM) -> str:
    return (f"(case when {a.f} > 0 then {_n(prm.a)} / ({_n(prm.b - 1.0)} + {a.f}) * "
            f"power(({_n(prm.alpha)} + {a.t}) / ({_n(prm.alpha)} + {a.r}), {_n(prm.r)} + {a.f}) else 0 end)")


def purchases(prm: formulas.Params, horizon: float, n: int, a: Args = RFM) -> str:
    p, q = prm.a + prm.b - 1.0 - prm.r, prm.a - 1.0
    z = f"({_n(horizon)} / ({_n(prm.alpha)} + {a.t} + {_n(horizon)}))"
    c = f"({_n(prm.a + prm.b - 1.0)} + {a.f})"
    series = "1"
    for j in range(n - 1, 0, -1):
        coef = (p + j - 1) * (q + j - 1) / j
        series = f"1 + {_n(coef)} * {z} / ({c} + {_n(j - 1)}) * ({series})"
    return (f"{c} / {_n(prm.a - 1.0)} * (1 - power(1 - {z}, {_n(prm.a - 1.0)}) * ({series})) "
            f"/ (1 + {_odds(prm, a)})")


def value(prm: formulas.Params, a: Args = RFM) -> str:
    """Gamma-Gamma's expected average value (the population mean when frequency is 0)."""
    mean = prm.v * prm.p / (prm.q - 1.0)
    w = f"({_n(prm.p)} * {a.f} / ({_n(prm.p)} * {a.f} + {_n(prm.q - 1.0)}))"
    return f"(case when {a.f} > 0 then (1 - {w}) * {_n(mean)} + {w} * {a.m} else {_n(mean)} end)"


def statements(function: str, prm: formulas.Params, horizon: float, n: int, dialect: str) -> list[str]:
    """CREATE OR REPLACE FUNCTION for spend, P(alive) and purchases, in ``dialect``."""
    if dialect not in _TYPES:
        raise ConfigError(
            f"a CLV model compiles for duckdb, postgres and redshift, not {dialect}.",
            hint="Use --dialect duckdb, postgres or redshift.",
        )
    bodies = [
        (function, 4, f"case when {_valid(True)} then ({purchases(prm, horizon, n)}) * {value(prm)} end"),
        (f"{function}_prob", 3, f"case when {_valid(False)} then 1 / (1 + {_odds(prm)}) end"),
        (f"{function}_purchases", 3, f"case when {_valid(False)} then {purchases(prm, horizon, n)} end"),
    ]
    kind = _TYPES[dialect]
    return [
        f"create or replace function {name}({', '.join([kind] * arity)}) returns {kind} "
        f"immutable as $$ select {body} $$ language sql"
        for name, arity, body in bodies
    ]
