"""A past win-back campaign with a real, planted treatment effect (and an untouched holdout).

On `start` (150 days before the data ends: 2026-02-01 by default) the campaign targets
lapsed customers: account holders whose last online order came more than `lapsed_days`
before it. Each is assigned by the package's `ab_variant(user_id, experiment, variants,
holdout)` hash, the same function the demo's SQL uses, so SQL and generator agree on every
arm. Treated members of the email arm place one extra order within the campaign window
with probability `lift['email']`, the discount arm with `lift['discount']`; the holdout and
everyone outside the audience are left alone. The extra orders come from their own random
stream (`SeedSequence([seed, 2, block])`), so the rest of the data is the same with or
without the campaign. Expected lift in conversion: lift x (1 - the holdout's conversion).
The window closes before the held-out snapshot (var cutoff, 90 days before the end), so the
models' evaluation labels hold no campaign orders (a training snapshot's labels do).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
import pyarrow as pa

from warehouse_ml.demo.activity import Orders
from warehouse_ml.demo.latent import DAY, Calendar, People


@dataclasses.dataclass(frozen=True)
class Campaign:
    """The campaign's parameters (mirrored by `vars: winback` in wml_project.yml)."""

    days_before_end: int = 150  # assignment day, counted back from the day after the data
    days: int = 30  # conversion window [start, start + days)
    lapsed_days: int = 45
    holdout: float = 0.3
    variants: tuple[str, ...] = ("email", "discount")
    lift: tuple[float, ...] = (0.10, 0.20)  # per variant: chance of one extra order

    def start(self, cal: Calendar) -> int:
        """The assignment time (midnight), epoch seconds."""
        return cal.end_excl - self.days_before_end * DAY

    def experiment(self, cal: Calendar) -> str:
        """The experiment name the arms hash with, e.g. 'winback_2026_02'."""
        return f"winback_{cal.as_datetime(self.start(cal)):%Y_%m}"


WINBACK = Campaign()


def ab_variant(ident: str, experiment: str, variants: tuple[str, ...], holdout: float) -> str:
    """`wml.ab_variant` in Python (see warehouse_ml/macros/README.md)."""
    h = hashlib.md5(f"{experiment}:{ident}".encode()).hexdigest()
    if int(h[0:7], 16) < math.floor(holdout * 2**28):
        return "holdout"
    b = int(h[7:14], 16)
    n = len(variants)
    return next(v for i, v in enumerate(variants) if b < (i + 1) * 2**28 // n or i == n - 1)


def audience(people: People, done: Orders, cal: Calendar, c: Campaign = WINBACK) -> np.ndarray:
    """Block-local people in the campaign's audience (lapsed account holders), sorted."""
    start = c.start(cal)
    before = done.ts < start
    last = np.full(len(people.value), -np.inf)
    np.maximum.at(last, done.person[before], done.ts[before])
    lapsed = np.isfinite(last) & (last < start - c.lapsed_days * DAY)
    return np.flatnonzero(lapsed & people.has_account)


@dataclasses.dataclass
class Assignment:
    """Who the campaign reached, in which arm, and the extra orders it caused."""

    arm: list[str | None]  # per block-local person: None outside the audience
    who: np.ndarray  # person of each extra order (sorted)
    start: np.ndarray  # its session start, epoch seconds


def treated_orders(
    rng: np.random.Generator,
    people: People,
    done: Orders,
    user_id: pa.Array,
    cal: Calendar,
    c: Campaign = WINBACK,
) -> Assignment:
    """The audience's arms and the extra orders the campaign causes."""
    members = audience(people, done, cal, c)
    name = c.experiment(cal)
    ids = user_id.to_pylist()
    arms = [ab_variant(ids[int(p)], name, c.variants, c.holdout) for p in members]
    chance = dict(zip(c.variants, c.lift, strict=True))
    p = np.array([chance.get(a, 0.0) for a in arms])
    converts = rng.random(len(members)) < p  # holdout members have p = 0: untouched
    who = members[converts]
    # Responses come within the window, sooner rather than later; whole sessions fit.
    delay = np.minimum(rng.exponential(6 * DAY, len(who)), (c.days - 1) * DAY)
    arm: list[str | None] = [None] * len(people.value)
    for p, a in zip(members, arms, strict=True):
        arm[int(p)] = a
    return Assignment(arm, who, np.floor(c.start(cal) + 8 * 3600 + delay))
