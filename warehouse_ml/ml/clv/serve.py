"""What ml/serving.py asks of a CLV version: is it one, its function names, its macros.

Kept apart from register.py (which calls serving) so serving can import it."""

from __future__ import annotations

from warehouse_ml.ml import registry
from warehouse_ml.ml.clv import formulas, sql

PROBLEM = "clv"  # the registry's problem_type


def is_clv(v: registry.ModelVersion | None) -> bool:
    return v is not None and v.problem_type == PROBLEM


def served_by_clv(v: registry.ModelVersion | None) -> bool:
    """An AUTO regression whose winner is the CLV candidate: SQL only, no ONNX."""
    return v is not None and v.problem_type == "regression" and "clv_fit" in (v.settings or {})


def predicts(v: registry.ModelVersion) -> str:
    """What an AUTO model won by its CLV candidate serves: 'spend' or 'purchases'."""
    return str(((v.settings or {}).get("clv_fit") or {}).get("predicts", "spend"))


def function_names(v: registry.ModelVersion) -> list[str]:
    """Expected spend, P(alive), expected purchases."""
    return [v.function, f"{v.function}_prob", f"{v.function}_purchases"]


def statements(v: registry.ModelVersion, dialect: str) -> list[str]:
    """``wml compile-model``: DuckDB's macros, or PostgreSQL / Redshift SQL UDFs."""
    if served_by_clv(v):
        from warehouse_ml.ml.clv import supervised_sql

        return supervised_sql.statements(v, dialect)
    if dialect == "duckdb":
        return [m.sql for _, m in macros(v)]
    from warehouse_ml.ml.clv import portable

    s = v.settings or {}
    prm = formulas.Params(**s["params"])
    return portable.statements(v.function, prm, float(s["horizon"]), int(s["series_terms"]), dialect)


def macros(v: registry.ModelVersion) -> list[tuple[str, sql.ScalarMacro]]:
    """The version's macros, rebuilt from the parameters in its registry row."""
    s = v.settings or {}
    prm = formulas.Params(**s["params"])
    return sql.macros(v.function, prm, float(s["horizon"]), int(s["series_terms"]))
