"""BG/NBD and Gamma-Gamma closed forms, written the way the SQL macros compute them.

Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 10, gives the
expected number of purchases in the next ``t`` periods of a customer with ``x`` repeat
purchases, the last at ``tx``, observed for ``T``:

    E[Y(t)] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z)]
              / (1 + [x>0] * a/(b+x-1) * ((alpha+T)/(alpha+tx))^(r+x)),   z = t/(alpha+T+t)

Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket
into ``1 - (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)``: the first two parameters no
longer depend on the customer, so the series' coefficients ``(p)_k (q)_k / k!`` are
constants fixed at training, and only ``1/(C)_k = exp(lgamma(C) - lgamma(C+k))`` and
``z^k`` vary per row. The terms shrink as ``x`` grows and as ``z`` falls (``T`` grows),
so the number of terms that keeps the truncation under the tolerance for ``x = 0, T = 0``
(the largest ``z``, ``horizon / (alpha + horizon)``) holds for every customer.

>>> prm = Params(r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, v=15.4)
>>> round(float(p_alive(prm, 2, 30.43, 38.86)), 4)
0.7263
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

MAX_TERMS = 5000  # beyond this, the horizon is too long for the data's alpha (see terms())


@dataclasses.dataclass(frozen=True)
class Params:
    """BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v), lifetimes' names."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def z_max(prm: Params, horizon: float) -> float:
    return horizon / (prm.alpha + horizon)


def coefficients(prm: Params, n: int) -> list[tuple[float, float]]:
    """(sign, log|c_k|) of ``c_k = (p)_k (q)_k / k!`` for k < n, p = a+b-1-r, q = a-1.

    Kept as logarithms: ``(q)_k`` grows like ``k!``, so ``c_k`` alone overflows a double
    past a few hundred terms while ``c_k / (C)_k`` stays small."""
    p, q = prm.a + prm.b - 1.0 - prm.r, prm.a - 1.0
    out, sign, log = [], 1.0, 0.0
    for k in range(n):
        out.append((sign, log if sign else 0.0))
        step = (p + k) * (q + k) / (k + 1)
        if step == 0:
            sign = 0.0  # a non-positive integer parameter ends the series
        elif sign:
            sign, log = sign * math.copysign(1.0, step), log + math.log(abs(step))
    return out


def terms(prm: Params, horizon: float, tolerance: float) -> int | None:
    """How many series terms keep the error in expected purchases under ``tolerance`` for
    every customer (x = 0 at the largest z bounds the rest); None past MAX_TERMS."""
    p, q, c0, z = prm.a + prm.b - 1.0 - prm.r, prm.a - 1.0, prm.a + prm.b - 1.0, z_max(prm, horizon)
    # What a unit of error in the series costs in purchases (the x = 0 customer's factor).
    scale = c0 / abs(prm.a - 1.0) * (1.0 - z) ** (prm.a - 1.0) if prm.a != 1.0 else math.inf
    term = 1.0
    for k in range(MAX_TERMS):
        nxt = term * z * (p + k) * (q + k) / ((c0 + k) * (k + 1))
        # For j >= k+1 every ratio is at most this (each factor falls towards 1 past |p|, |q|).
        j = k + 1
        bound = z * max(1.0, abs(p + j) / (c0 + j)) * max(1.0, abs(q + j) / (j + 1))
        if j > max(abs(p), abs(q)) + 1 and bound < 1 and abs(nxt) / (1 - bound) * scale < tolerance:
            return k + 1
        term = nxt
    return None


def series(prm: Params, x: np.ndarray, z: np.ndarray, n: int) -> np.ndarray:
    """2F1(a+b-1-r, a-1; a+b+x-1; z) truncated to ``n`` terms, as the SQL computes it."""
    from scipy.special import gammaln

    c = prm.a + prm.b - 1.0 + x
    k = np.arange(n, dtype=float)[:, None]
    coef = np.asarray(coefficients(prm, n))
    sign, log = coef[:, :1], coef[:, 1:]
    return (sign * np.exp(log + k * np.log(z) + gammaln(c) - gammaln(c + k))).sum(axis=0)


def p_alive(prm: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, tx, T): 1 for a customer with no repeat purchase (BG/NBD's convention)."""
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    return 1.0 / (1.0 + _odds(prm, x, tx, T))


def _odds(prm: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    ratio = (prm.alpha + T) / (prm.alpha + tx)
    safe_b = np.where(x > 0, prm.b + x - 1.0, 1.0)
    return np.where(x > 0, prm.a / safe_b * ratio ** (prm.r + x), 0.0)


def expected_purchases(prm: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                       horizon: float, n: int) -> np.ndarray:
    """E[purchases in the next ``horizon`` | x, tx, T], the series truncated to ``n`` terms."""
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    z = horizon / (prm.alpha + T + horizon)
    c = prm.a + prm.b - 1.0 + x
    bracket = 1.0 - (1.0 - z) ** (prm.a - 1.0) * series(prm, x, z, n)
    return c / (prm.a - 1.0) * bracket / (1.0 + _odds(prm, x, tx, T))


def expected_value(prm: Params, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma's E[average purchase value | x, m]: the population mean at x = 0."""
    x = np.asarray(x, dtype=float)
    m = np.nan_to_num(np.asarray(m, dtype=float))
    w = prm.p * x / (prm.p * x + prm.q - 1.0)
    return (1.0 - w) * (prm.v * prm.p / (prm.q - 1.0)) + w * m
