"""Fit BG/NBD and Gamma-Gamma on an RFM table, after checking it the way the models need.

The likelihoods are maximised by the ``lifetimes`` package (0.11.3: BetaGeoFitter and
GammaGammaFitter; it imports with numpy 2, pandas 3 and scipy 1.17 when given numpy arrays,
not its own pandas loaders). Bad rows are refused before any fit, naming the model, the
column, how many rows and one example, so nothing is written for a table the model would
misread (lifetimes itself would silently cast a fractional frequency to int, or fail with
"did not converge").
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
import warnings

import numpy as np
import pyarrow as pa

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.clv import formulas
from warehouse_ml.ml.clv.spec import ClvSpec


@dataclasses.dataclass
class Rfm:
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray


@dataclasses.dataclass
class Fitted:
    spec: ClvSpec
    params: formulas.Params
    terms: int  # of the SQL series (formulas.terms)
    metrics: dict[str, t.Any]
    rows: int
    seconds: float


def read(table: pa.Table, spec: ClvSpec) -> Rfm:
    """The four columns as float arrays, every value checked."""
    names = {c.lower(): c for c in table.column_names}
    missing = [c for c in spec.columns() if c.lower() not in names]
    if missing:
        _fail(spec, f"the training query has no column {', '.join(repr(c) for c in missing)} "
                    f"(it has {', '.join(table.column_names)}).")
    cols = {}
    for c in spec.columns():
        col = table.column(names[c.lower()])
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
                or pa.types.is_decimal(col.type)):
            _fail(spec, f"column '{c}' is {col.type}; it must be numeric.")
        cols[c] = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    rfm = Rfm(*(cols[c] for c in spec.columns()))
    _check(rfm, spec)
    return rfm


def _check(rfm: Rfm, spec: ClvSpec) -> None:
    f, r, T, m = rfm.frequency, rfm.recency, rfm.T, rfm.monetary
    fc, rc, tc, mc = spec.columns()
    repeat = np.nan_to_num(f) > 0
    rules = [
        (~np.isfinite(f) | ~np.isfinite(r) | ~np.isfinite(T), f"{fc}, {rc} or {tc} is NULL or not finite"),
        (f < 0, f"{fc} is negative (it counts repeat purchases)"),
        (f != np.floor(f), f"{fc} is not a whole number (it counts repeat purchases)"),
        (r < 0, f"{rc} is negative"),
        (r > T, f"{rc} is larger than {tc} (the last purchase cannot come after the cutoff)"),
        ((f == 0) & (r != 0), f"{rc} is not 0 for a customer whose {fc} is 0"),
        (T < 0, f"{tc} is negative"),
        (repeat & ~(m > 0), f"{mc} is 0, negative or NULL for a customer with {fc} > 0 "
                            "(Gamma-Gamma models positive spend)"),
    ]
    for bad, what in rules:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(spec, f"{int(bad.sum()):,} row(s) where {what}, e.g. {fc}={f[i]:g}, {rc}={r[i]:g}, "
                        f"{tc}={T[i]:g}, {mc}={m[i]:g}.")
    if len(f) < spec.min_rows:
        _fail(spec, f"the query returned {len(f)} customers; fitting needs at least {spec.min_rows} "
                    "(min_rows).")
    if repeat.sum() < 2:
        _fail(spec, f"only {int(repeat.sum())} customer(s) have {fc} > 0; Gamma-Gamma needs repeat "
                    "buyers to learn spend from.")


def fit(table: pa.Table, spec: ClvSpec, progress: t.Callable[[str], None] | None = None) -> Fitted:
    """Fit both models by maximum likelihood; refuse a fit the SQL cannot serve."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes 0.11 sets a pandas option pandas 3 deprecates
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError

    say = progress or (lambda _doing: None)
    started = time.monotonic()
    rfm = read(table, spec)
    repeat = rfm.frequency > 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifetimes' own numpy deprecation chatter
            say(f"fitting BG/NBD on {len(rfm.frequency):,} customers")
            bg = BetaGeoFitter(penalizer_coef=spec.penalizer).fit(rfm.frequency, rfm.recency, rfm.T)
            say(f"fitting Gamma-Gamma on {int(repeat.sum()):,} repeat customers")
            gg = GammaGammaFitter(penalizer_coef=spec.penalizer).fit(
                rfm.frequency[repeat], rfm.monetary[repeat])
    except ConvergenceError as exc:
        _fail(spec, f"the maximum-likelihood fit did not converge ({str(exc).strip().splitlines()[0]}).",
              "Set penalizer=0.001 (or larger), or check that the RFM columns follow lifetimes' "
              "conventions (frequency counts repeat purchases, recency and T in one time unit).")
    prm = formulas.Params(**{k: float(v) for k, v in {**bg.params_.to_dict(), **gg.params_.to_dict()}.items()})
    if prm.q <= 1 or abs(prm.a - 1.0) < 1e-9 or prm.a + prm.b <= 1:
        _fail(spec, f"the fitted parameters ({_shown(prm)}) have no finite expected spend or "
                    "purchases (Gamma-Gamma needs q > 1, BG/NBD a != 1 and a + b > 1).",
              f"penalizer={spec.penalizer:g} pulls every parameter towards 0: try a smaller one."
              if spec.penalizer > 0.01 else "Set penalizer=0.001 (or larger), or fit on more customers.")
    n = formulas.terms(prm, spec.horizon, spec.tolerance)
    if n is None:
        _fail(spec, f"horizon {spec.horizon:g} is so long against alpha={prm.alpha:.4g} that the SQL "
                    f"series needs over {formulas.MAX_TERMS} terms for tolerance {spec.tolerance:g}.",
              "Use a shorter horizon or a larger tolerance.")
    purchases = formulas.expected_purchases(prm, rfm.frequency, rfm.recency, rfm.T, spec.horizon, n)
    alive = formulas.p_alive(prm, rfm.frequency, rfm.recency, rfm.T)
    value = formulas.expected_value(prm, rfm.frequency, rfm.monetary)
    metrics = {
        "log_likelihood": -float(bg._negative_log_likelihood_) * len(rfm.frequency),
        "gamma_gamma_log_likelihood": -float(gg._negative_log_likelihood_) * int(repeat.sum()),
        "customers": len(rfm.frequency), "repeat_customers": int(repeat.sum()),
        "horizon": spec.horizon, "params": prm.as_dict(), "series_terms": n,
        "mean_expected_purchases": float(purchases.mean()), "mean_p_alive": float(alive.mean()),
        "mean_expected_spend": float((purchases * value).mean()),
    }  # fmt: skip
    return Fitted(spec, prm, n, metrics, len(rfm.frequency), time.monotonic() - started)


def _shown(prm: formulas.Params) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in prm.as_dict().items())


def _fail(spec: ClvSpec, message: str, hint: str | None = None) -> t.NoReturn:
    raise TrainingError(
        f"CLV model '{spec.name}': {message} Nothing was written; the deployed version (if any) "
        "keeps serving.", path=spec.path, node=spec.name,
        hint=hint or "Fix the training query so every row follows lifetimes' RFM conventions "
                     "(see the README's 'Lifetime value' section).",
    )
