"""RFM tables drawn from the BG/NBD and Gamma-Gamma processes, for tests and examples.

Each customer buys at time 0, then as a Poisson process of rate lambda ~ Gamma(r, alpha)
and, after each repeat purchase, drops out with probability p ~ Beta(a, b) (Fader, Hardie
& Lee 2005). Each purchase is worth z ~ Gamma(p_gg, nu) with nu ~ Gamma(q, v) per customer
(Fader, Hardie & Lee 2005b). The table follows lifetimes' conventions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def rfm(n: int, *, T: float = 52.0, r: float = 0.5, alpha: float = 6.0, a: float = 0.8,
        b: float = 2.5, p: float = 6.0, q: float = 4.0, v: float = 15.0, seed: int = 0) -> pa.Table:
    """One row per customer: frequency, recency, T and monetary_value at the cutoff."""
    return rfm_with_future(n, 0.0, T=T, r=r, alpha=alpha, a=a, b=b, p=p, q=q, v=v, seed=seed).drop_columns(
        ["future_purchases", "future_spend"])


def rfm_with_future(n: int, horizon: float, *, T: float = 52.0, r: float = 0.5, alpha: float = 6.0,
                    a: float = 0.8, b: float = 2.5, p: float = 6.0, q: float = 4.0, v: float = 15.0,
                    seed: int = 0) -> pa.Table:
    """``rfm`` plus what each customer buys in the ``horizon`` periods after the cutoff
    (``future_purchases``, ``future_spend``): the answer an AUTO model of future spend learns."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / v, n)
    ages = rng.uniform(T / 4, T, n)  # customers arrive over the calibration period
    freq, rec, money = np.zeros(n), np.zeros(n), np.zeros(n)
    later, later_spend = np.zeros(n), np.zeros(n)
    for i in range(n):
        t, times, future = 0.0, [], 0
        while True:
            t += rng.exponential(1.0 / lam[i]) if lam[i] > 0 else np.inf
            if t > ages[i] + horizon:
                break
            if t > ages[i]:
                future += 1
            else:
                times.append(t)
            if rng.random() < drop[i]:
                break
        if times:
            freq[i], rec[i] = len(times), times[-1]
            money[i] = rng.gamma(p, 1.0 / nu[i], len(times)).mean()
        if future:
            later[i], later_spend[i] = future, rng.gamma(p, 1.0 / nu[i], future).sum()
    return pa.table({
        "customer_id": pa.array(np.arange(1, n + 1)),
        "frequency": pa.array(freq.astype(np.int64)),
        "recency": pa.array(np.round(rec, 4)),
        "T": pa.array(np.round(ages, 4)),
        "monetary_value": pa.array(np.round(money, 2)),
        "future_purchases": pa.array(later.astype(np.int64)),
        "future_spend": pa.array(np.round(later_spend, 2)),
    })  # fmt: skip
