"""BG/NBD + Gamma-Gamma as one of AUTO's candidates, for a target of future spend or purchases.

``config(target='spend_next_39w', clv_horizon=39, clv_columns={...})`` on an AUTO model adds
one candidate to the search: BG/NBD (and, for spend, Gamma-Gamma) fitted by lifetimes on each
validation fold's training rows, scored by its expected spend (or purchases) over the horizon
on the same validation rows, with the same objective, as every other candidate. It predicts
from four feature columns only, in lifetimes' RFM conventions (ml/clv/spec.py): the user
names them in ``clv_columns`` (keys ``frequency``, ``recency``, ``T``, ``monetary_value``),
or they carry the ``wml.rfm_summary`` trait's names. Each column must be a feature (not the
target, not excluded), so a winning CLV is served through ``predict_<model>(features...)``
with the same signature as any AUTO model (ml/clv/supervised_sql.py).

``clv_predicts`` is ``'spend'`` (expected purchases times Gamma-Gamma's expected average
value) or ``'purchases'`` (expected purchases, no monetary column needed); the default is
``'purchases'`` for ``loss='poisson'`` (a count) and ``'spend'`` otherwise.
"""

from __future__ import annotations

import math
import typing as t
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from warehouse_ml.errors import ConfigError, TrainingError
from warehouse_ml.ml.clv import fit as clv_fit
from warehouse_ml.ml.clv import formulas
from warehouse_ml.ml.clv.spec import ClvSpec
from warehouse_ml.ml.estimators import Candidate
from warehouse_ml.ml.spec import ModelType, ProblemType

ROLES = ("frequency", "recency", "T", "monetary_value")
PREDICTS = ("spend", "purchases")
KEYS = ("clv_horizon", "clv_columns", "clv_predicts", "clv_penalizer")
TOLERANCE = 1e-9  # of the SQL series, in expected purchases (as model_type='clv')
COST = 2.0  # relative fit time: two small maximum-likelihood fits, about twice the linear model
HINT = (
    "Set clv_horizon=<periods of the target> (in the unit of recency and T) and name the RFM "
    "feature columns with clv_columns={'frequency': ..., 'recency': ..., 'T': ..., "
    "'monetary_value': ...} (default: the wml.rfm_summary trait's names); optionally "
    "clv_predicts='spend' or 'purchases' and clv_penalizer (lifetimes' penalizer_coef)."
)


def from_config(name: str, config: dict[str, t.Any], *, loss: str | None, path: t.Any = None
                ) -> dict[str, t.Any] | None:
    """The candidate's settings from a model's config, or None when it asks for none."""
    given = [k for k in KEYS if config.get(k) is not None]
    if not given:
        return None

    def fail(message: str, hint: str = HINT) -> t.NoReturn:
        raise ConfigError(f"AUTO's CLV candidate: {message}", path=path, node=name, hint=hint)

    if config.get("clv_horizon") is None:
        fail(f"{', '.join(given)} set(s) up AUTO's CLV candidate, which needs clv_horizon.")
    model_type = str(config.get("model_type") or "auto").lower()
    if model_type != ModelType.AUTO.value:
        fail(f"{', '.join(given)} add(s) a candidate to AUTO's search, but model_type is "
             f"'{model_type}', which trains one model and would ignore it.",
             "Remove model_type (AUTO searches, with the CLV candidate), or the clv_ keys.")
    problem = str(config.get("problem_type") or "regression").lower()
    if problem != ProblemType.REGRESSION.value:
        fail(f"the CLV candidate predicts spend or purchases (regression), not {problem}.",
             "Remove problem_type, or the clv_ keys.")
    horizon = config["clv_horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float)) or not math.isfinite(horizon) \
            or horizon <= 0:
        fail(f"clv_horizon must be a number more than 0, got {horizon!r}.")
    predicts = config.get("clv_predicts") or ("purchases" if loss == "poisson" else "spend")
    if predicts not in PREDICTS:
        fail(f"clv_predicts must be 'spend' or 'purchases', got {predicts!r}.")
    penalizer = config.get("clv_penalizer", 0.0)
    if isinstance(penalizer, bool) or not isinstance(penalizer, (int, float)) or not math.isfinite(penalizer) \
            or penalizer < 0:
        fail(f"clv_penalizer must be a number of at least 0, got {penalizer!r}.")
    raw = config.get("clv_columns") or {}
    if not isinstance(raw, dict):
        fail(f"clv_columns must be a mapping of role to column, got {raw!r}.")
    unknown = sorted(set(raw) - set(ROLES))
    if unknown:
        fail(f"clv_columns has unknown key(s) {', '.join(repr(k) for k in unknown)}; the keys "
             f"are {', '.join(ROLES)}.")
    for role, column in raw.items():
        if not isinstance(column, str) or not column.strip():
            fail(f"clv_columns['{role}'] must name a column of the query, got {column!r}.")
    if predicts == "purchases" and "monetary_value" in raw:
        fail("clv_columns['monetary_value'] is not used when clv_predicts='purchases' "
             "(expected purchases need no spend).", "Remove it, or set clv_predicts='spend'.")
    roles = ROLES if predicts == "spend" else ROLES[:3]
    columns = {role: str(raw.get(role, role)).strip() for role in roles}
    return {"horizon": float(horizon), "columns": columns, "predicts": predicts,
            "penalizer": float(penalizer)}  # fmt: skip


def start(spec: t.Any, feature_names: list[str], X: np.ndarray, problem: ProblemType) -> list[Candidate]:
    """The candidate for AUTO's starting list ([] when the model asks for none), after the
    checks that would make every fold fail: columns that are features, rows that follow
    lifetimes' conventions."""
    option = spec.clv
    if not option:
        return []
    if problem is not ProblemType.REGRESSION:
        raise TrainingError(
            f"model '{spec.name}': the CLV candidate (clv_horizon) predicts spend or purchases, "
            f"but the target '{spec.target}' was read as {problem.value}.",
            hint="Use a numeric target of future spend or purchases, or remove the clv_ keys.",
        )
    lower = {n.lower(): i for i, n in enumerate(feature_names)}
    index = {}
    for role, column in option["columns"].items():
        if column.lower() not in lower:
            why = ("it is the target" if column.lower() == str(spec.target).lower()
                   else "it is excluded" if column.lower() in {e.lower() for e in spec.exclude}
                   else "the training query has no such column")  # fmt: skip
            raise TrainingError(
                f"model '{spec.name}': the CLV candidate's {role} column '{column}' is not a "
                f"feature ({why}); the features are {', '.join(feature_names)}.",
                hint=f"Name the feature columns with clv_columns={{'{role}': '<column>', ...}} "
                     "(the RFM columns must be features, so the deployed function takes them). "
                     "Nothing was written.",
            )
        index[role] = feature_names[lower[column.lower()]]
    params = {
        "horizon": option["horizon"], "predicts": option["predicts"],
        "penalizer": option["penalizer"], "frequency": index["frequency"],
        "recency": index["recency"], "T": index["T"],
        "monetary_value": index.get("monetary_value"), "name": spec.name,
    }  # fmt: skip
    # The same row rules as model_type='clv', before any fold, on every row: the evaluation
    # rows are scored and the deployed fit is refit on them too (their values are not learnt).
    ClvRegressor(**params, features=feature_names).check(X)
    return [Candidate(ModelType.CLV, params, COST)]


def pipeline(params: dict[str, t.Any], feature_names: list[str]) -> Pipeline:
    """What estimators.build_pipeline returns for the candidate: no preprocessing (the
    columns are read as they are, every NULL refused by the row checks)."""
    return Pipeline([("model", ClvRegressor(**params, features=list(feature_names)))])


class ClvRegressor(RegressorMixin, BaseEstimator):
    """BG/NBD (+ Gamma-Gamma) as a scikit-learn regressor over the feature matrix.

    ``fit`` ignores ``y`` (both models are fitted by maximum likelihood on the RFM columns);
    ``predict`` is the closed form ml/clv/sql.py serves, with the same series truncation."""

    def __init__(self, horizon: float = 1.0, predicts: str = "spend", penalizer: float = 0.0,
                 frequency: str = "frequency", recency: str = "recency", T: str = "T",
                 monetary_value: str | None = "monetary_value", features: list[str] | None = None,
                 name: str = "model") -> None:  # fmt: skip
        self.horizon, self.predicts, self.penalizer = horizon, predicts, penalizer
        self.frequency, self.recency, self.T, self.monetary_value = frequency, recency, T, monetary_value
        self.features, self.name = features, name

    # -- the columns and their rules ----------------------------------------------------
    def _spec(self) -> ClvSpec:
        return ClvSpec(name=self.name, query="", horizon=self.horizon, frequency_column=self.frequency,
                       recency_column=self.recency, t_column=self.T,
                       monetary_column=self.monetary_value or "(no monetary column)",
                       penalizer=self.penalizer, tolerance=TOLERANCE, min_rows=10)  # fmt: skip

    def _rfm(self, X: np.ndarray) -> clv_fit.Rfm:
        at = {n: i for i, n in enumerate(self.features or [])}
        col = [np.asarray(X[:, at[c]], dtype=float) for c in (self.frequency, self.recency, self.T)]
        money = (np.asarray(X[:, at[self.monetary_value]], dtype=float) if self.monetary_value
                 else np.ones(len(X)))  # purchases only: Gamma-Gamma is not fitted
        return clv_fit.Rfm(*col, money)

    def check(self, X: np.ndarray) -> None:
        """model_type='clv''s row rules (ml/clv/fit.py), errors naming the model, except that
        a $0 repeat buyer is allowed: the other candidates train on every row, so this one
        keeps it for BG/NBD and leaves it out of Gamma-Gamma's fit (which models positive
        spend); a negative or NULL spend is still refused."""
        rfm = self._rfm(X)
        bad = (rfm.frequency > 0) & ~(rfm.monetary >= 0)
        if self.monetary_value and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TrainingError(
                f"model '{self.name}': {int(bad.sum()):,} row(s) where the CLV candidate's "
                f"{self.monetary_value} is negative or NULL for a customer with {self.frequency} > 0, "
                f"e.g. {self.frequency}={rfm.frequency[i]:g}, {self.monetary_value}={rfm.monetary[i]:g}. "
                "Nothing was written.",
                hint="Fix the training query (coalesce, or filter the rows), or remove the clv_ keys.",
            )
        clv_fit._check(clv_fit.Rfm(rfm.frequency, rfm.recency, rfm.T, np.ones(len(rfm.T))), self._spec())
        if self.monetary_value and ((rfm.frequency > 0) & (rfm.monetary > 0)).sum() < 2:
            raise TrainingError(
                f"model '{self.name}': fewer than 2 rows have {self.frequency} > 0 and "
                f"{self.monetary_value} > 0; Gamma-Gamma needs repeat buyers' spend to learn from.",
                hint="Train on more customers, or set clv_predicts='purchases'.",
            )

    # -- scikit-learn -------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: t.Any = None) -> ClvRegressor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifetimes' pandas / numpy deprecation chatter
            from lifetimes import BetaGeoFitter, GammaGammaFitter
            from lifetimes.utils import ConvergenceError

            self.check(X)
            rfm = self._rfm(X)
            gg_rows = (rfm.frequency > 0) & (rfm.monetary > 0)  # Gamma-Gamma's rows (see check)
            try:
                bg = BetaGeoFitter(penalizer_coef=self.penalizer).fit(rfm.frequency, rfm.recency, rfm.T)
                found = {k: float(v) for k, v in bg.params_.to_dict().items()}
                if self.predicts == "spend":
                    gg = GammaGammaFitter(penalizer_coef=self.penalizer).fit(
                        rfm.frequency[gg_rows], rfm.monetary[gg_rows])
                    found |= {k: float(v) for k, v in gg.params_.to_dict().items()}
            except ConvergenceError as exc:
                raise TrainingError(
                    f"model '{self.name}': the CLV candidate's maximum-likelihood fit did not "
                    f"converge ({str(exc).strip().splitlines()[0]}). Nothing was written.",
                    hint="Set clv_penalizer=0.001 (or larger), or remove the clv_ keys.",
                ) from None
        prm = _full(found)
        spend = self.predicts == "spend"
        if (spend and prm.q <= 1) or abs(prm.a - 1.0) < 1e-9 or prm.a + prm.b <= 1:
            raise TrainingError(
                f"model '{self.name}': the CLV candidate's fitted parameters "
                f"({', '.join(f'{k}={v:.4g}' for k, v in found.items())}) give no finite "
                "expected purchases or spend (BG/NBD needs a != 1 and a + b > 1, Gamma-Gamma "
                "q > 1). Nothing was written.",
                hint="Set clv_penalizer=0.001, or remove the clv_ keys.",
            )
        n = formulas.terms(prm, self.horizon, TOLERANCE)
        if n is None:
            raise TrainingError(
                f"model '{self.name}': clv_horizon {self.horizon:g} is so long against "
                f"alpha={prm.alpha:.4g} that the SQL series needs over {formulas.MAX_TERMS} terms.",
                hint="Use a shorter clv_horizon (in the unit of recency and T).",
            )
        self.params_, self.terms_ = found, n
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        rfm = self._rfm(X)
        return self.predict_rfm(rfm.frequency, rfm.recency, rfm.T, rfm.monetary)

    def predict_rfm(self, f: np.ndarray, r: np.ndarray, T: np.ndarray, m: np.ndarray) -> np.ndarray:
        prm = _full(self.params_)
        out = formulas.expected_purchases(prm, f, r, T, self.horizon, self.terms_)
        if self.predicts == "spend":
            out = out * formulas.expected_value(prm, f, m)
        return np.asarray(out, dtype=float)

    def settings(self) -> dict[str, t.Any]:
        """What the registry keeps to serve the fit (ml/clv/supervised_sql.py)."""
        columns = {"frequency": self.frequency, "recency": self.recency, "T": self.T}
        if self.monetary_value:
            columns["monetary_value"] = self.monetary_value
        return {"params": dict(self.params_), "series_terms": int(self.terms_),
                "horizon": float(self.horizon), "predicts": self.predicts,
                "columns": columns, "penalizer": float(self.penalizer), "tolerance": TOLERANCE}  # fmt: skip


def _full(found: dict[str, float]) -> formulas.Params:
    """Params with Gamma-Gamma's unused for a purchases-only fit (never read then)."""
    return formulas.Params(**{"p": math.nan, "q": math.nan, "v": math.nan, **found})


def is_candidate(model_type: t.Any) -> bool:
    return model_type in (ModelType.CLV, ModelType.CLV.value)
