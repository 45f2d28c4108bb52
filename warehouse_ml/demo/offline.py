"""In-store sales and identify calls of one block: where identities link, or fail to.

Store sales tie to a person only through the email typed at the till: often missing,
sometimes a placeholder ('null', 'test@test.com') that many people share, sometimes in
capitals. Identify calls link a device's anonymous_id to a user_id and an email.
"""

from __future__ import annotations

import numpy as np

from warehouse_ml.demo.activity import N_STORES, Devices, EmailSource
from warehouse_ml.demo.latent import DAY, Calendar, People, sample_times

ATTRIBUTABLE = (EmailSource.PRIMARY, EmailSource.ALT, EmailSource.UPPER)
WALK_INS_PER_PERSON = 0.3


def store_sales(rng: np.random.Generator, people: People, cal: Calendar) -> dict[str, np.ndarray]:
    """Till receipts: customers' own store visits plus anonymous walk-ins."""
    who, t = sample_times(rng, people, people.store_rate, cal, member=False)
    n = len(who)
    # Stores open 09:00-21:00; the day keeps the sampled date.
    ts = np.floor(t / DAY) * DAY + 9 * 3600 + np.floor(rng.random(n) * 12 * 3600)
    home = rng.integers(0, N_STORES, len(people.value))
    store = np.where(rng.random(n) < 0.85, home[who], rng.integers(0, N_STORES, n))
    revenue = np.round(
        np.exp(np.log(38.0) + 0.35 * people.value[who] + 0.45 * rng.standard_normal(n)), 2
    )
    src = rng.choice(
        [EmailSource.PRIMARY, EmailSource.ALT, EmailSource.UPPER, EmailSource.NONE,
         EmailSource.JUNK_NULL, EmailSource.JUNK_TEST],
        size=n, p=(0.62, 0.05, 0.05, 0.20, 0.03, 0.05),
    )  # fmt: skip
    src = np.where((src == EmailSource.ALT) & ~people.has_alt_email[who], EmailSource.PRIMARY, src)
    m = rng.poisson(WALK_INS_PER_PERSON * len(people.value))
    walk_ts = np.floor(cal.start + rng.random(m) * (cal.end_excl - cal.start - DAY))
    walk_ts = np.floor(walk_ts / DAY) * DAY + 9 * 3600 + np.floor(rng.random(m) * 12 * 3600)
    walk_src = rng.choice(
        [EmailSource.NONE, EmailSource.JUNK_TEST, EmailSource.JUNK_NULL, EmailSource.WALK_IN],
        size=m, p=(0.7, 0.12, 0.05, 0.13),
    )  # fmt: skip
    return {
        "person": np.concatenate([who, np.full(m, -1)]),
        "ts": np.concatenate([ts, walk_ts]),
        "store": np.concatenate([store, rng.integers(0, N_STORES, m)]),
        "revenue": np.concatenate(
            [revenue, np.round(np.exp(np.log(30.0) + 0.5 * rng.standard_normal(m)), 2)]
        ),
        "items": 1 + rng.poisson(1.3, n + m),
        "email": np.concatenate([src, walk_src]).astype(np.int64),
    }


def identifies(
    rng: np.random.Generator, people: People, dev: Devices, cal: Calendar
) -> dict[str, np.ndarray]:
    """Identify calls: logins per device, guest sign-ups, second emails and junk.

    - an account holder's first login on each device (user_id + anonymous_id, usually email);
    - guests (no account) identify once with anonymous_id + email (newsletter / checkout form);
    - people with a second email identify with it once;
    - 2% of people also send one identify with a placeholder email ('null', 'test@test.com').
    """
    n = len(people.value)
    rows = []
    life_end = np.minimum(people.churn_at, cal.end_excl)
    login = np.flatnonzero(dev.identify_at < life_end[dev.owner])
    src = np.where(rng.random(len(login)) < 0.88, EmailSource.PRIMARY, EmailSource.NONE)
    rows.append((dev.owner[login], login, dev.identify_at[login], True, src))
    # Guests sign up for the newsletter or check out soon after arriving; guests already
    # around at the start do so at some point in their first 90 days in the window.
    guests = np.flatnonzero(~people.has_account)
    existing = people.acquired[guests] <= cal.start
    delay = rng.random(len(guests)) * np.where(existing, 90 * DAY, 3600)
    ts = np.minimum(people.acquired[guests] + delay, life_end[guests] - 1)
    rows.append((guests, dev.offset[guests], ts, False, EmailSource.PRIMARY))
    alt = np.flatnonzero(people.has_alt_email)
    rows.append(
        (
            alt,
            dev.offset[alt],
            _during_life(rng, people, alt, cal),
            people.has_account[alt],
            EmailSource.ALT,
        )
    )
    junk = np.flatnonzero(rng.random(n) < 0.02)
    junk_src = np.where(rng.random(len(junk)) < 0.6, EmailSource.JUNK_TEST, EmailSource.JUNK_NULL)
    rows.append(
        (
            junk,
            dev.offset[junk],
            _during_life(rng, people, junk, cal),
            people.has_account[junk],
            junk_src,
        )
    )
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("person", "device", "ts", "with_user", "email")
    }
    for person, device, ts, with_user, email in rows:
        k = len(person)
        for name, value in zip(out, (person, device, ts, with_user, email), strict=True):
            out[name].append(np.broadcast_to(np.asarray(value), (k,)))
    res = {k: np.concatenate(v) for k, v in out.items()}
    res["ts"] = np.floor(res["ts"])
    res["email"] = res["email"].astype(np.int64)
    return res


def _during_life(
    rng: np.random.Generator, people: People, who: np.ndarray, cal: Calendar
) -> np.ndarray:
    """A uniform time in each person's active life."""
    lo = people.acquired[who]
    hi = np.minimum(people.churn_at[who], cal.end_excl)
    return lo + np.floor(rng.random(len(who)) * np.maximum(hi - lo - 1, 0))
