"""Learnable product structure planted in the demo's purchases and views.

Category loyalty comes from each person's category preference (`latent`). Two more
patterns are planted here, so recommenders have something beyond popularity to learn:

- complements: every product has one partner in another category ("people who buy X also
  buy Y"); a person's next order often starts with the partner of an item of their
  previous order;
- popularity drift: two products per category are rising; from the window's midpoint the
  share of picks that go to them grows from nothing to `RISING_SHARE` at its end, so the
  recent best sellers (decayed popularity) differ from the all-time ones.

Draws come from a stream spawned from the caller's generator (`Generator.spawn` does not
advance it), so every other value of the demo stays what it was.
"""

from __future__ import annotations

import dataclasses

import numpy as np

COMPLEMENT_P = 0.45  # next order starts with a partner of a previous order's item
RISING_PER_CATEGORY = 2
RISING_SHARE = 0.2  # share of a category's picks going to its rising products at the end


@dataclasses.dataclass(frozen=True)
class Affinity:
    """The planted structure of one catalog (fixed for a seed)."""

    partner: np.ndarray  # product index -> its complement, in another category
    rising: np.ndarray  # (categories, RISING_PER_CATEGORY) product indices


def draw_affinity(
    rng: np.random.Generator, category: np.ndarray, start: np.ndarray, count: np.ndarray
) -> Affinity:
    """Partners in a different category and the rising products of each category."""
    k = len(start)
    shift = 1 + rng.integers(0, k - 1, len(category))  # never 0: another category
    other = (category + shift) % k
    partner = start[other] + rng.integers(0, count[other])
    rising = np.stack(
        [start[c] + rng.choice(count[c], RISING_PER_CATEGORY, replace=False) for c in range(k)]
    )
    return Affinity(partner=partner.astype(np.int64), rising=rising.astype(np.int64))


def drift(
    rng: np.random.Generator,
    aff: Affinity,
    category: np.ndarray,
    product: np.ndarray,
    ts: np.ndarray,
    window: tuple[int, int],
) -> np.ndarray:
    """`product` with later picks moved to their category's rising products."""
    start, end = window
    mid = (start + end) // 2
    late = np.clip((ts - mid) / max(end - mid, 1), 0.0, 1.0)
    swap = rng.random(len(product)) < RISING_SHARE * late
    out = product.copy()
    cat = category[out[swap]]
    out[swap] = aff.rising[cat, rng.integers(0, RISING_PER_CATEGORY, len(cat))]
    return out


def complements(
    rng: np.random.Generator,
    aff: Affinity,
    product: np.ndarray,
    who: np.ndarray,
    done: np.ndarray,
    lines: np.ndarray,
) -> np.ndarray:
    """`product` (lines grouped by order) with the first line of a person's order set, with
    probability `COMPLEMENT_P`, to the partner of a random line of their previous order.

    Orders are walked in each person's time order, rank by rank, so a partner is taken
    from the previous order as it finally is (itself possibly a planted partner)."""
    out = product.copy()
    first = np.cumsum(lines) - lines
    order = np.lexsort((done, who))  # by person, then time
    same = np.zeros(len(order), dtype=bool)
    same[1:] = who[order[1:]] == who[order[:-1]]
    prev = np.full(len(who), -1, dtype=np.int64)
    prev[order[1:][same[1:]]] = order[:-1][same[1:]]
    rank = np.zeros(len(who), dtype=np.int64)  # 0 for a person's first order
    run_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(order))))
    rank[order] = np.arange(len(order)) - run_start
    pick = rng.random(len(who)) < COMPLEMENT_P
    u = rng.random(len(who))  # which line of the previous order
    for r in range(1, int(rank.max(initial=0)) + 1):
        now = np.flatnonzero((rank == r) & pick)
        if len(now) == 0:
            continue
        p = prev[now]
        from_line = first[p] + np.minimum(np.floor(u[now] * lines[p]), lines[p] - 1).astype(
            np.int64
        )
        out[first[now]] = aff.partner[out[from_line]]
    return out
