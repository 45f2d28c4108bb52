"""Interactions with learnable structure, for tests and benchmarks/recommend.py.

Users belong to taste groups; each group has its own items. An interaction picks an item
of the user's group with probability ``affinity`` (Zipf-like within the group), else
any item by global popularity. Times are spread over ``days``; a third of the events are
purchases. A recommender that learns "people who view X also buy Y" beats popularity.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def interactions(
    n_users: int, n_items: int, n_rows: int, *, groups: int = 50, affinity: float = 0.8,
    days: int = 180, seed: int = 0,
) -> pa.Table:
    """(user_id, item_id, event, ts) rows; ids are BIGINT, ts a TIMESTAMP."""
    rng = np.random.default_rng(seed)
    groups = max(1, min(groups, n_items))
    user_group = rng.integers(0, groups, n_users)
    item_group = np.arange(n_items) % groups
    members = [np.flatnonzero(item_group == g) for g in range(groups)]
    # Users differ in activity (log-normal), so some have many interactions.
    activity = rng.lognormal(0.0, 1.0, n_users)
    user = rng.choice(n_users, n_rows, p=activity / activity.sum())
    own = rng.random(n_rows) < affinity
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    item = rng.choice(n_items, n_rows, p=pop / pop.sum())
    g = user_group[user[own]]
    sizes = np.array([len(m) for m in members])
    pos = np.floor(rng.random(own.sum()) ** 2.0 * sizes[g]).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    flat = np.concatenate(members)
    item[own] = flat[starts[g] + np.minimum(pos, sizes[g] - 1)]
    seconds = rng.integers(0, days * 86400, n_rows)
    event = np.where(rng.random(n_rows) < 1 / 3, "Order Completed", "Product Viewed")
    base = np.datetime64("2026-01-01T00:00:00", "s")
    return pa.table({
        "user_id": pa.array(user.astype(np.int64)),
        "item_id": pa.array(item.astype(np.int64)),
        "event": pa.array(event),
        "ts": pa.array(base + seconds.astype("timedelta64[s]")),
    })  # fmt: skip
