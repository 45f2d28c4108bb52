"""The methods benchmarks/model_quality.py compares wml with, fit on the same rows.

- lifetimes' BG/NBD and Pareto/NBD, each with Gamma-Gamma, on the training customers'
  calibration RFM: expected spend = expected purchases x expected average value; P(bought
  again) = 1 - P(0 purchases in the horizon | history).
- FLAML's AutoML (optional: ``pip install 'flaml[automl]'``) with the same time budget as
  wml's AUTO, on the same feature columns.
- scikit-learn's HistGradientBoosting with its defaults.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd


def _rfm(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value"))


def probabilistic(train: pd.DataFrame, test: pd.DataFrame, horizon: float) -> dict[str, dict]:
    """{'lifetimes BG/NBD + GG': {'spend', 'repeat', 'seconds'}, 'lifetimes Pareto/NBD + GG': ...}"""
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    f, r, T, m = _rfm(train)
    tf, tr, tT, tm = _rfm(test)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        repeat = (f > 0) & (m > 0)
        gg = GammaGammaFitter().fit(f[repeat], m[repeat])
        value = gg.conditional_expected_average_profit(tf, tm)
        gg_seconds = time.perf_counter() - started
        for name, fitter in (("BG/NBD", BetaGeoFitter()), ("Pareto/NBD", ParetoNBDFitter())):
            started = time.perf_counter()
            fitter.fit(f, r, T)
            purchases = fitter.conditional_expected_number_of_purchases_up_to_time(horizon, tf, tr, tT)
            if name == "BG/NBD":  # alive, and no Poisson purchase in the horizon otherwise
                prm = fitter.params_
                alive = fitter.conditional_probability_alive(tf, tr, tT)
                none = (prm["alpha"] + tT) / (prm["alpha"] + tT + horizon)
                p_repeat = alive * (1 - none ** (prm["r"] + tf))
            else:
                p_repeat = 1 - fitter.conditional_probability_of_n_purchases_up_to_time(0, horizon, tf, tr, tT)
            out[f"lifetimes {name} + GG"] = {
                "spend": np.asarray(purchases * value, dtype=float),
                "repeat": np.asarray(p_repeat, dtype=float),
                "seconds": time.perf_counter() - started + gg_seconds,
            }
    return out


def flaml_fit(x: pd.DataFrame, y: np.ndarray, x_test: pd.DataFrame, task: str, budget: float) -> tuple[np.ndarray, float] | None:
    """FLAML's predictions (probability of 1 for classification) and its seconds, or None."""
    try:
        from flaml import AutoML
    except ImportError:
        return None
    automl = AutoML()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automl.fit(x, y, task=task, time_budget=budget, metric="rmse" if task == "regression" else "roc_auc",
                   n_jobs=1, seed=0, verbose=0)
    seconds = time.perf_counter() - started
    pred = automl.predict(x_test) if task == "regression" else automl.predict_proba(x_test)[:, 1]
    return np.asarray(pred, dtype=float), seconds


def sklearn_fit(x: pd.DataFrame, y: np.ndarray, x_test: pd.DataFrame, task: str) -> tuple[np.ndarray, float]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cats = [c for c in x.columns if x[c].dtype == object]
    if cats:  # HistGradientBoosting takes categories as pandas categoricals
        x, x_test = x.copy(), x_test.copy()
        for c in cats:
            kinds = pd.CategoricalDtype(sorted(set(x[c].dropna()) | set(x_test[c].dropna())))
            x[c], x_test[c] = x[c].astype(kinds), x_test[c].astype(kinds)
    model = (HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier)(
        random_state=0, categorical_features="from_dtype")
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(1):  # one thread, as wml trains (and FLAML runs with n_jobs=1)
        model.fit(x, y)
    seconds = time.perf_counter() - started
    pred = model.predict(x_test) if task == "regression" else model.predict_proba(x_test)[:, 1]
    return np.asarray(pred, dtype=float), seconds
