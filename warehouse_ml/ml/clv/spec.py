"""A lifetime-value model's spec, from ``config(model_type='clv', horizon=39, ...)``.

The training query has one row per customer in lifetimes' RFM conventions (the time unit is
the user's, the same for recency, T and horizon):

- ``frequency``: repeat purchases (purchase periods after the first), 0 or more
- ``recency``: the customer's age at the last purchase (first to last), 0 when frequency is 0
- ``T``: the customer's age at the end of the calibration period (first purchase to cutoff)
- ``monetary_value``: the mean value of the repeat purchases (ignored when frequency is 0)

>>> spec = ClvSpec(name="ltv", query="select 1", horizon=39)
>>> spec.function, spec.functions()
('predict_ltv', ['predict_ltv', 'predict_ltv_prob', 'predict_ltv_purchases'])
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

from warehouse_ml.errors import ConfigError

MODEL_TYPES = ("clv", "bg_nbd")
# Keys of this family: warehouse_ml/project/config.py's CLV_KEYS (accepted on any node, so
# refuse_elsewhere() stops a supervised model from silently ignoring one).
KEYS = ("horizon", "frequency_column", "recency_column", "t_column", "monetary_column",
        "penalizer", "tolerance")  # fmt: skip
# Supervised keys that mean nothing for a probabilistic model fitted by maximum likelihood.
_REFUSED = (
    "target", "problem_type", "objective", "loss", "tweedie_power", "hyperparameters",
    "preprocessors", "class_weight", "k", "user_column", "item_column", "algorithm",
    # AUTO's CLV candidate (ml/clv/candidate.py); this model's own keys have no clv_ prefix.
    "clv_horizon", "clv_columns", "clv_predicts", "clv_penalizer",
)  # fmt: skip
# Keys a folder may set for its supervised models: they do not apply here, and say so.
_IGNORED = ("max_runtime", "split", "split_column", "eval_fraction", "exclude", "refit",
            "label_horizon")  # fmt: skip
HINT = (
    "A CLV model needs horizon=<periods> (in the unit of recency and T) and a query with one "
    "row per customer: frequency, recency, T and monetary_value (rename them with "
    "frequency_column, recency_column, t_column, monetary_column); optionally penalizer "
    "(lifetimes' penalizer_coef, default 0) and tolerance (of the SQL series, default 1e-9)."
)


@dataclasses.dataclass
class ClvSpec:
    """Everything needed to fit one BG/NBD + Gamma-Gamma version."""

    name: str
    query: str
    horizon: float
    function_name: str | None = None
    frequency_column: str = "frequency"
    recency_column: str = "recency"
    t_column: str = "T"
    monetary_column: str = "monetary_value"
    penalizer: float = 0.0
    tolerance: float = 1e-9  # absolute, in expected purchases, of the truncated 2F1 series
    min_rows: int = 50
    tags: list[str] = dataclasses.field(default_factory=list)
    source: str = "config"
    path: str | None = None  # the model's file, for errors

    @property
    def function(self) -> str:
        return self.function_name or f"predict_{self.name}"

    def functions(self) -> list[str]:
        """Expected spend, P(alive) and expected purchases over the horizon."""
        return [self.function, f"{self.function}_prob", f"{self.function}_purchases"]

    def columns(self) -> list[str]:
        return [self.frequency_column, self.recency_column, self.t_column, self.monetary_column]


def is_clv(config: dict[str, t.Any]) -> bool:
    return str(config.get("model_type") or "").lower() in MODEL_TYPES


def refuse_elsewhere(name: str, config: dict[str, t.Any], path: t.Any = None) -> None:
    """A CLV key on a model of another type would do nothing: say so instead."""
    used = [k for k in KEYS if config.get(k) is not None]
    if used:
        raise ConfigError(
            f"model '{name}': config {', '.join(used)} belong(s) to model_type='clv' "
            f"(BG/NBD + Gamma-Gamma); this model is model_type='{config.get('model_type') or 'auto'}'.",
            path=path, node=name,
            hint="Remove them, or set model_type='clv' to fit a lifetime-value model.",
        )


def from_config(name: str, query: str, config: dict[str, t.Any], *, path: t.Any = None,
                tags: list[str] | None = None,
                warn: t.Callable[[str], None] | None = None) -> ClvSpec:
    """Read and check ``config(model_type='clv', ...)``; errors name the file and model."""

    def fail(message: str, hint: str = HINT) -> t.NoReturn:
        raise ConfigError(f"CLV model '{name}': {message}", path=path, node=name, hint=hint)

    for key in _REFUSED:
        if config.get(key) is not None:
            fail(f"config key '{key}' does not apply to a BG/NBD + Gamma-Gamma model.",
                 f"Remove {key}=... from the config. {HINT}")
    for key in _IGNORED:
        if config.get(key) is not None and warn is not None:
            warn(f"CLV model '{name}' ({path}): config '{key}' is ignored: the model is fitted "
                 "by maximum likelihood on every customer, with no search or held-out split.")
    if config.get("horizon") is None:
        fail("missing horizon.")
    spec = ClvSpec(name=name, query=query, horizon=_positive(config["horizon"], "horizon", fail),
                   tags=list(tags or []), path=str(path) if path is not None else None)
    if config.get("function"):
        spec.function_name = str(config["function"])
    for key in ("frequency_column", "recency_column", "t_column", "monetary_column"):
        if config.get(key) is not None:
            if not isinstance(config[key], str) or not config[key]:
                fail(f"{key} must name a column of the query, got {config[key]!r}.")
            setattr(spec, key, config[key])
    if config.get("penalizer") is not None:
        spec.penalizer = _number(config["penalizer"], "penalizer", fail, lo=0.0)
    if config.get("tolerance") is not None:
        spec.tolerance = _positive(config["tolerance"], "tolerance", fail)
    if config.get("min_rows") is not None:
        spec.min_rows = int(_number(config["min_rows"], "min_rows", fail, lo=1))
    return spec


def _number(value: t.Any, key: str, fail: t.Callable[..., t.NoReturn], lo: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < lo:
        fail(f"{key} must be a number of at least {lo:g}, got {value!r}.")
    return float(value)


def _positive(value: t.Any, key: str, fail: t.Callable[..., t.NoReturn]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        fail(f"{key} must be a number more than 0, got {value!r}.")
    return float(value)
