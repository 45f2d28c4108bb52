"""``CREATE MODEL m FROM (rfm query) FUNCTION f MODEL_TYPE CLV SETTINGS (HORIZON 39, ...)``.

Our extension of Redshift ML's statement (Redshift accepts MODEL_TYPE XGBOOST, MLP,
LINEAR_LEARNER or KMEANS and rejects CLV, so every such statement is warned): it maps to
``model_type='clv'`` (ml/clv/spec.py). SETTINGS carry the family's keys:

=========================================  ============================================
SETTINGS                                   ClvSpec
=========================================  ============================================
HORIZON n (required)                       horizon, in the unit of recency and T
FREQUENCY_COLUMN, RECENCY_COLUMN,          frequency_column, recency_column, t_column,
  T_COLUMN, MONETARY_COLUMN col              monetary_column (default: lifetimes' names)
PENALIZER x                                penalizer (lifetimes' penalizer_coef)
TOLERANCE x                                tolerance of the SQL series
=========================================  ============================================

TARGET is optional (Redshift's grammar wants one; BG/NBD learns from the RFM columns by
maximum likelihood, so a TARGET is ignored with a warning), as are AUTO, MAX_RUNTIME and the
split settings (nothing is searched or held out); PROBLEM_TYPE, OBJECTIVE, PREPROCESSORS and
HYPERPARAMETERS are errors: they would change nothing.
"""

from __future__ import annotations

import typing as t

from sqlglot.tokens import Token, TokenType

from warehouse_ml.ml.clv.spec import ClvSpec

if t.TYPE_CHECKING:
    from warehouse_ml.ml.create_model import _Clauses, _Parser

NUMBERS = ("HORIZON", "PENALIZER", "TOLERANCE")
COLUMNS = {"FREQUENCY_COLUMN": "frequency_column", "RECENCY_COLUMN": "recency_column",
           "T_COLUMN": "t_column", "MONETARY_COLUMN": "monetary_column"}  # fmt: skip
SETTINGS = (*NUMBERS, *COLUMNS)
HINT = ("Write SETTINGS (HORIZON 39) with the horizon in the unit of recency and T; the query "
        "gives frequency, recency, T and monetary_value (or name them with FREQUENCY_COLUMN "
        "'...', RECENCY_COLUMN, T_COLUMN, MONETARY_COLUMN).")
_REFUSED = ("PROBLEM_TYPE", "OBJECTIVE", "PREPROCESSORS", "HYPERPARAMETERS")
_IGNORED = ("MAX_RUNTIME", "REFIT", "SPLIT_COLUMN", "EVAL_FRACTION", "CALIBRATION", "ENTITY_COLUMN")


def read_setting(p: _Parser, c: _Clauses, name: str, key: Token, value: Token) -> None:
    """One CLV setting into ``c.clv``, checked where it is written."""
    got = f", got '{p.raw(value)}'"
    if name in NUMBERS:
        try:
            number = float(value.text) if value.token_type == TokenType.NUMBER else None
        except ValueError:
            number = None
        least = 0.0 if name == "PENALIZER" else None
        if number is None or (number < 0 if least is not None else number <= 0):
            what = "at least 0" if least is not None else "more than 0"
            raise p.error(value, f"{name} must be a number {what}{got}", HINT)
        c.clv[name] = (key, number)
    elif value.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
        c.clv[name] = (key, value.text)  # quoted: kept as written
    elif value.text and value.text[0].isalpha():
        c.clv[name] = (key, value.text.lower())  # unquoted names fold, as Redshift's do
    else:
        raise p.error(value, f"{name} must be a column name{got}", HINT)


def to_spec(p: _Parser, c: _Clauses) -> tuple[ClvSpec, list[str]]:
    """The ClvSpec of a MODEL_TYPE CLV statement, with the warnings for the user."""
    for clause in _REFUSED:
        if clause in c.keywords:
            raise p.error(
                c.keywords[clause],
                f"CREATE MODEL {c.name}: MODEL_TYPE CLV (BG/NBD + Gamma-Gamma, fitted by maximum "
                f"likelihood) takes no {clause}",
                f"Remove {clause}. {HINT}",
            )
    if "HORIZON" not in c.clv:
        raise p.error(c.values["MODEL_TYPE"], f"CREATE MODEL {c.name}: MODEL_TYPE CLV needs "
                      "SETTINGS (HORIZON <periods>)", HINT)  # fmt: skip
    warnings = [
        "MODEL_TYPE CLV is a warehouse-ml extension (BG/NBD + Gamma-Gamma lifetime value): "
        "Redshift ML accepts MODEL_TYPE XGBOOST, MLP, LINEAR_LEARNER or KMEANS and rejects "
        "this statement, and its SETTINGS HORIZON, PENALIZER, TOLERANCE and *_COLUMN are ours too."
    ]
    if c.target is not None:
        warnings.append(f"TARGET {c.target} is ignored: MODEL_TYPE CLV learns from the RFM columns "
                        "by maximum likelihood, with no label.")  # fmt: skip
    ignored = [name for name, given in (
        ("AUTO", "AUTO" in c.keywords), ("MAX_RUNTIME", c.max_runtime is not None),
        ("REFIT", c.refit is not None), ("SPLIT_COLUMN", c.split_column is not None),
        ("EVAL_FRACTION", c.eval_fraction is not None), ("CALIBRATION", c.calibration is not None),
        ("ENTITY_COLUMN", c.entity_column is not None)) if given]  # fmt: skip
    if ignored:
        warnings.append(f"{', '.join(ignored)} ignored: MODEL_TYPE CLV is fitted on every customer, "
                        "with no search or held-out split.")  # fmt: skip
    if c.ignored:
        warnings.append(f"{', '.join(c.ignored)} only matter on AWS and are ignored when training "
                        "locally.")  # fmt: skip
    values = {name: value for name, (_, value) in c.clv.items()}
    spec = ClvSpec(name=c.name, query=c.query, horizon=float(values["HORIZON"]),
                   function_name=c.function.split(".")[-1], source="create_model")  # fmt: skip
    for name, attr in COLUMNS.items():
        if name in values:
            setattr(spec, attr, str(values[name]))
    if "PENALIZER" in values:
        spec.penalizer = float(values["PENALIZER"])
    if "TOLERANCE" in values:
        spec.tolerance = float(values["TOLERANCE"])
    return spec, warnings
