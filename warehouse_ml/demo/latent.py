"""The latent model of the demo generator: calendar, people, and their activity intensity.

Times are int64 seconds since the Unix epoch (UTC, naive) throughout the generator.
See `warehouse_ml.demo.generator` for the full description of the model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

DAY = 86_400
MONTH_DAYS = 30.44
LABEL_DAYS = 90
FADE_DAYS = 60  # activity fades over the last 60 days before a person churns
FADE_FLOOR = 0.25
MEMBER_BOOST = 1.3  # members order 30% more while their membership runs
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "ES")
COUNTRY_P = (0.52, 0.12, 0.1, 0.07, 0.07, 0.05, 0.04, 0.03)
SIGNUP_CHANNELS = ("organic", "paid_search", "social", "referral", "email")
SIGNUP_P = (0.34, 0.24, 0.2, 0.12, 0.1)
SIGNUP_VALUE_SHIFT = (0.0, -0.1, -0.25, 0.3, 0.15)  # referred customers are worth more


@dataclasses.dataclass(frozen=True)
class Calendar:
    """The data window [start, end_excl) and the label cutoff, as epoch seconds."""

    start: int
    end_excl: int
    cutoff: int
    # A population shift: from the cutoff on, activity runs at (1 - drift) of its rate.
    drift: float = 0.0

    @classmethod
    def build(cls, end: dt.date, months: int, drift: float = 0.0) -> Calendar:
        """Window of `months` calendar months ending with day `end` (inclusive).

        The label window is the last 90 days: [cutoff, end_excl) with
        cutoff = end + 1 day - 90 days. With `drift`, everyone's order, browsing and
        store-visit intensity in that window is scaled by (1 - drift): the population a
        model scores at the end differs from the one it was trained on (monitoring demo).
        """
        end_excl = end + dt.timedelta(days=1)
        start = _add_months(end_excl, -months)
        cutoff = end_excl - dt.timedelta(days=LABEL_DAYS)
        return cls(_epoch(start), _epoch(end_excl), _epoch(cutoff), float(drift))

    def as_datetime(self, seconds: int) -> dt.datetime:
        """Epoch seconds as a naive datetime."""
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(seconds))


def _epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_next = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (first_next - dt.timedelta(days=1)).day
    return dt.date(year, month + 1, min(day.day, last_day))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


@dataclasses.dataclass
class People:
    """Latent traits of one block of people (arrays of length n, index = person in block)."""

    value: np.ndarray  # z_v ~ N(0,1) (+ signup shift): drives order rate, basket, price tier
    engagement: np.ndarray  # z_e, correlated 0.5 with value: browsing, email, retention
    order_rate: np.ndarray  # orders per day while alive, before multipliers
    browse_rate: np.ndarray  # browse-only sessions per day
    view_depth: np.ndarray  # extra product views per session (Poisson mean)
    abandon_p: np.ndarray  # chance a browse session leaves an item in the cart
    lines_mean: np.ndarray  # extra order lines (Poisson mean)
    price_tier: np.ndarray  # exponent < 1 buys pricier items within a category
    category_cdf: np.ndarray  # (n, K) cumulative category preference
    refund_p: np.ndarray
    open_p: np.ndarray  # email open probability per campaign
    click_p: np.ndarray  # click probability given an open
    season_amp: np.ndarray  # extra intensity at the holiday peak (0 = not seasonal)
    acquired: np.ndarray  # first day of activity
    churn_at: np.ndarray  # float seconds, +inf when the person never churns
    has_account: np.ndarray
    email_optin: np.ndarray
    store_rate: np.ndarray  # in-store purchases per day (0 for online-only people)
    member_from: np.ndarray  # membership window (inf when never a member)
    member_until: np.ndarray
    n_devices: np.ndarray
    has_alt_email: np.ndarray
    country: np.ndarray
    signup: np.ndarray
    _clock: dict[bool, tuple[np.ndarray, np.ndarray, float]] = dataclasses.field(
        default_factory=dict, repr=False
    )

    def clock(self, cal: Calendar, member: bool) -> tuple[np.ndarray, np.ndarray, float]:
        """Each person's cumulative relative intensity at day boundaries, (n, days + 1).

        Relative intensity per day = holiday season x pre-churn fade (x membership boost
        when `member`). Also returns the rows laid end to end with an offset of `stride`
        per row (for one vectorized searchsorted). Cached: orders, browsing and store
        visits share it, and a process's rate only rescales it.
        """
        if member not in self._clock:
            mid = np.arange(cal.start, cal.end_excl, DAY, dtype=np.float64) + DAY / 2
            w = 1.0 + self.season_amp[:, None] * holiday(mid)[None, :]
            w *= np.clip((self.churn_at[:, None] - mid) / (FADE_DAYS * DAY), FADE_FLOOR, 1.0)
            if member:
                active = (self.member_from[:, None] <= mid) & (mid < self.member_until[:, None])
                w *= np.where(active, MEMBER_BOOST, 1.0)
            if cal.drift:  # only then: the default data stay byte-identical
                w *= np.where(mid >= cal.cutoff, 1.0 - cal.drift, 1.0)[None, :]
            cum = np.zeros((w.shape[0], w.shape[1] + 1))
            np.cumsum(w, axis=1, out=cum[:, 1:])
            stride = float(np.ceil(cum[:, -1].max(initial=0.0))) + 1.0
            flat = (cum[:, 1:] + (np.arange(w.shape[0]) * stride)[:, None]).ravel()
            self._clock[member] = (cum, flat, stride)
        return self._clock[member]


def draw_people(rng: np.random.Generator, n: int, cal: Calendar, n_categories: int) -> People:
    """Draw the latent traits of `n` people."""
    signup = rng.choice(len(SIGNUP_CHANNELS), size=n, p=SIGNUP_P)
    value = np.clip(rng.standard_normal(n), -3.0, 2.3) + np.asarray(SIGNUP_VALUE_SHIFT)[signup]
    engagement = 0.5 * value + np.sqrt(0.75) * rng.standard_normal(n)
    refund_p = sigmoid(-3.0 + 0.9 * rng.standard_normal(n))
    existing = rng.random(n) < 0.55
    span = cal.end_excl - cal.start
    acquired = np.where(existing, cal.start, cal.start + rng.random(n) * (span - 7 * DAY))
    # Monthly churn hazard: valuable, engaged people stay; frequent refunders leave.
    hazard = 0.065 * np.exp(-0.45 * value - 0.35 * engagement + 6.0 * (refund_p - 0.06))
    churn_at = acquired + rng.exponential(1.0, n) / hazard * MONTH_DAYS * DAY
    churn_at = np.where(churn_at >= cal.end_excl, np.inf, churn_at)
    has_account = rng.random(n) < 0.8
    member_from, member_until = _memberships(
        rng, value, engagement, has_account, acquired, churn_at, cal
    )
    store_shopper = rng.random(n) < sigmoid(-0.7 + 0.4 * value)
    prefs = rng.dirichlet(np.full(n_categories, 0.3), size=n)
    return People(
        value=value,
        engagement=engagement,
        order_rate=0.34 * np.exp(0.85 * value) / MONTH_DAYS,
        browse_rate=0.3 * np.exp(0.6 * engagement + 0.25 * rng.standard_normal(n)) / MONTH_DAYS,
        view_depth=0.7 * np.exp(0.3 * engagement),
        abandon_p=sigmoid(-1.6 + 0.5 * value + 0.3 * rng.standard_normal(n)),
        lines_mean=0.12 * np.exp(0.25 * value + 0.3 * rng.standard_normal(n)),
        price_tier=np.exp(-0.3 * value + 0.3 * rng.standard_normal(n)),
        category_cdf=np.cumsum(prefs, axis=1),
        refund_p=refund_p,
        open_p=sigmoid(-1.5 + 0.9 * engagement + 0.4 * rng.standard_normal(n)),
        click_p=sigmoid(-1.2 + 0.5 * engagement),
        season_amp=rng.gamma(0.8, 0.5, n),
        acquired=acquired.astype(np.float64),
        churn_at=churn_at,
        has_account=has_account,
        email_optin=rng.random(n) < 0.75,
        store_rate=np.where(store_shopper, 0.15 * np.exp(0.6 * value) / MONTH_DAYS, 0.0),
        member_from=member_from,
        member_until=member_until,
        n_devices=np.minimum(1 + rng.poisson(0.6, n), 4),
        has_alt_email=rng.random(n) < 0.08,
        country=rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P),
        signup=signup,
    )


def _memberships(
    rng: np.random.Generator,
    value: np.ndarray,
    engagement: np.ndarray,
    has_account: np.ndarray,
    acquired: np.ndarray,
    churn_at: np.ndarray,
    cal: Calendar,
) -> tuple[np.ndarray, np.ndarray]:
    """Paid 'Plus' membership: who joins, when, and when they cancel.

    Most churners cancel in the 45 days before they leave (a planted churn signal); a few
    loyal members cancel at random (noise).
    """
    n = len(value)
    joins = has_account & (rng.random(n) < sigmoid(-1.8 + 0.8 * value + 0.4 * engagement))
    start = acquired + rng.exponential(45 * DAY, n)
    stop = np.minimum(churn_at, cal.end_excl)
    joins &= start < stop - DAY
    churns = np.isfinite(churn_at)
    cancel = np.full(n, np.inf)
    before_churn = churns & (rng.random(n) < 0.7)
    cancel = np.where(
        before_churn, np.maximum(churn_at - rng.random(n) * 45 * DAY, start + DAY), cancel
    )
    random_cancel = ~churns & (rng.random(n) < 0.12)
    cancel = np.where(random_cancel, start + rng.random(n) * np.maximum(stop - start, DAY), cancel)
    cancel = np.where(cancel >= cal.end_excl, np.inf, cancel)
    return np.where(joins, start, np.inf), np.where(joins, cancel, np.inf)


def holiday(t: np.ndarray) -> np.ndarray:
    """Holiday-season shape in [0, 1]: peaks in early December, near 0 from February to October."""
    days = np.asarray(t).astype("int64").astype("datetime64[s]")
    doy = (days - days.astype("datetime64[Y]")).astype("timedelta64[D]").astype(np.float64)
    dist = np.minimum(np.abs(doy - 340.0), 365.0 - np.abs(doy - 340.0))
    return np.exp(-((dist / 20.0) ** 2))


def sample_times(
    rng: np.random.Generator,
    people: People,
    rate: np.ndarray,
    cal: Calendar,
    *,
    shape: float = 1.0,
    lead: float = 0.0,
    tail: float = 0.0,
    member: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Event times per person: a renewal process run on each person's own clock.

    Gaps are Gamma(shape) in *operational time* (expected events), mapped back to calendar
    time through the cumulative daily intensity `rate x day_weights` (linear within a day).
    shape=1 is a Poisson process; shape>1 makes purchases regular (replenishment), so counts
    vary less than Poisson. Returns (person, time) sorted by person then time; times lie in
    [acquired + lead, min(churn_at, end_excl) - tail) so whole sessions fit the window.
    """
    cum, flat, stride = people.clock(cal, member)
    days = cum.shape[1] - 1
    lo = _cumulative_at(cum, people.acquired + lead, cal)
    hi = _cumulative_at(cum, np.minimum(people.churn_at, cal.end_excl) - tail, cal)
    who, u = _renewal(rng, rate * np.maximum(hi - lo, 0.0), shape)
    tau = lo[who] + u / rate[who]  # back from expected events to the relative clock
    day = np.searchsorted(flat, tau + who * stride, side="right") - who * days
    day = np.minimum(day, days - 1)
    width = np.maximum(cum[who, day + 1] - cum[who, day], 1e-300)
    within = np.clip((tau - cum[who, day]) / width, 0.0, 1.0)
    return who, np.floor(cal.start + (day + within) * DAY)


def _cumulative_at(cum: np.ndarray, t: np.ndarray, cal: Calendar) -> np.ndarray:
    """Each row's cumulative intensity at time t[row] (linear within a day)."""
    pos = np.clip((t - cal.start) / DAY, 0.0, cum.shape[1] - 1.0)
    day = np.minimum(np.floor(pos).astype(np.int64), cum.shape[1] - 2)
    rows = np.arange(len(t))
    return cum[rows, day] + (pos - day) * (cum[rows, day + 1] - cum[rows, day])


def _renewal(
    rng: np.random.Generator, total: np.ndarray, shape: float
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival 'times' in [0, total) per row for unit-rate Gamma(shape) renewal processes.

    The first arrival is drawn from the equilibrium (forward recurrence) distribution,
    a length-biased gap Gamma(shape + 1) times a uniform, so the process is stationary.
    """
    n_max = np.ceil(total + 6.0 * np.sqrt(total / shape + 1.0) + 2.0).astype(np.int64)
    who = np.repeat(np.arange(len(total)), n_max)
    gaps = rng.gamma(shape, 1.0 / shape, len(who))
    first = np.cumsum(n_max) - n_max
    starts = first[n_max > 0]
    gaps[starts] = rng.gamma(shape + 1.0, 1.0 / shape, len(starts)) * rng.random(len(starts))
    csum = np.cumsum(gaps)
    tau = csum - np.repeat(csum[first] - gaps[first], n_max)
    keep = tau < total[who]
    return who[keep], tau[keep]
