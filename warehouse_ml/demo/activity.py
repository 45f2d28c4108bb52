"""Behaviour of one block of people as columnar numpy events (no text yet).

Each function turns latent traits (`latent.People`) into event arrays. Persons and devices
are block-local indices here; `tables` turns them into identifier text.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from warehouse_ml.demo import affinity
from warehouse_ml.demo.catalog import Catalog
from warehouse_ml.demo.latent import DAY, FADE_DAYS, FADE_FLOOR, Calendar, People, sample_times


class Event(enum.IntEnum):
    """Track event names, in the Segment e-commerce / email specs' spelling."""

    PRODUCT_VIEWED = 0
    PRODUCT_ADDED = 1
    ORDER_COMPLETED = 2
    ORDER_REFUNDED = 3
    EMAIL_OPENED = 4
    EMAIL_LINK_CLICKED = 5
    SUBSCRIPTION_STARTED = 6
    SUBSCRIPTION_CANCELLED = 7

    @property
    def label(self) -> str:
        """The event name as Segment sources send it."""
        return self.name.replace("_", " ").title()


class Channel(enum.IntEnum):
    """Where an event came from (a device platform, the email tool, or the backend)."""

    WEB = 0
    IOS = 1
    ANDROID = 2
    EMAIL = 3
    SERVER = 4


class EmailSource(enum.IntEnum):
    """Which text an email column holds (turned into strings in `tables`)."""

    NONE = 0
    PRIMARY = 1
    ALT = 2  # the person's second email
    UPPER = 3  # the primary email typed in capitals (store tills)
    JUNK_NULL = 4  # the string 'null'
    JUNK_TEST = 5  # 'test@test.com', shared by many people
    WALK_IN = 6  # a one-off email of someone who is not in the online data


PLAN_PRICE = 9.99
ORDER_REGULARITY = 4.0  # Gamma shape of gaps between orders (1 would be Poisson)
N_STORES = 25
JUNK_DEVICE_PER_MILLE = 25  # share of devices whose SDK sends a junk anonymous_id
FAMILY_SHARE = 0.03  # share of adjacent person pairs that share a family device

TRACK_COLUMNS = [
    "person",
    "device",
    "ts",
    "event",
    "product",
    "qty",
    "price",
    "revenue",
    "order",
    "campaign",
    "channel",
    "email",
    "with_user",
]


def _part(n: int, **cols: np.ndarray | float | int) -> dict[str, np.ndarray]:
    """A block of events; columns not given get their 'absent' value."""
    defaults = {
        "device": -1, "product": -1, "qty": 0, "price": np.nan, "revenue": np.nan,
        "order": -1, "campaign": -1, "channel": -1, "email": EmailSource.NONE,
        "with_user": False,
    }  # fmt: skip
    out = {}
    for name in TRACK_COLUMNS:
        value = cols.get(name, defaults.get(name))
        out[name] = np.broadcast_to(np.asarray(value), (n,)) if np.ndim(value) == 0 else value
    return out


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate event parts column by column."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@dataclasses.dataclass
class Devices:
    """Device records of a block: a person's own devices, plus borrowed family devices."""

    owner: np.ndarray  # person using the record
    key: np.ndarray  # global device key (the same for both users of a family device)
    platform: np.ndarray  # Channel.WEB / IOS / ANDROID
    login_at: np.ndarray  # events carry the user_id from then on (inf: never)
    identify_at: np.ndarray  # the identify call (a re-login for devices in use at start)
    offset: np.ndarray  # first record of each person
    count: np.ndarray  # records per person


def draw_devices(
    rng: np.random.Generator, people: People, first_person: int, cal: Calendar
) -> Devices:
    """Each person's devices; in a few households the second person also uses the first's.

    People already active when the window opens are logged in on their first device from
    the start; their identify call comes with a later re-login (within 60 days).
    """
    n = len(people.value)
    shared = np.zeros(n, dtype=bool)
    pair_first = np.arange(0, n - 1, 2)
    shared[pair_first + 1] = rng.random(len(pair_first)) < FAMILY_SHARE
    count = people.n_devices + shared
    offset = np.cumsum(count) - count
    owner = np.repeat(np.arange(n), count)
    slot = np.arange(len(owner)) - offset[owner]
    borrowed = shared[owner] & (slot == count[owner] - 1)
    key_person = np.where(borrowed, owner - 1, owner) + first_person
    key = key_person.astype(np.uint64) * np.uint64(8) + np.where(borrowed, 0, slot).astype(
        np.uint64
    )
    platform = np.where(
        slot == 0,
        rng.choice(3, size=len(owner), p=(0.7, 0.18, 0.12)),
        rng.choice(3, size=len(owner), p=(0.4, 0.35, 0.25)),
    )
    life = np.minimum(people.churn_at, people.acquired + 400 * DAY) - people.acquired
    first_use = people.acquired[owner] + np.where(
        slot == 0, 0.0, rng.random(len(owner)) * 0.6 * life[owner]
    )
    login = first_use + rng.exponential(7 * DAY, len(owner))
    login = np.where(people.has_account[owner], np.floor(login), np.inf)
    in_use = (slot == 0) & (people.acquired[owner] <= cal.start) & people.has_account[owner]
    identify = np.where(in_use, np.floor(cal.start + rng.random(len(owner)) * 60 * DAY), login)
    login = np.where(in_use, -np.inf, login)
    return Devices(owner, key, platform, login, identify, offset, count)


def pick_device(rng: np.random.Generator, dev: Devices, who: np.ndarray) -> np.ndarray:
    """A device record per session: the first device 55% of the time, else another one."""
    n = dev.count[who]
    other = 1 + np.floor(rng.random(len(who)) * (n - 1)).astype(np.int64)
    slot = np.where((rng.random(len(who)) < 0.55) | (n == 1), 0, other)
    return dev.offset[who] + slot


def _web(dev: Devices, device: np.ndarray, ts: np.ndarray, has_account: np.ndarray) -> np.ndarray:
    """Browser/app events carry the user_id once the person has logged in on that device."""
    return has_account & (ts >= dev.login_at[device])


@dataclasses.dataclass
class Orders:
    """Completed orders of a block, sorted by time (index = block-local order number)."""

    person: np.ndarray
    ts: np.ndarray
    revenue: np.ndarray


def orders(
    rng: np.random.Generator, people: People, dev: Devices, cat: Catalog, cal: Calendar
) -> tuple[Orders, dict[str, np.ndarray]]:
    """Purchase sessions: views of each line item, adds to cart, then Order Completed.

    Product Added events of a purchase carry the order_id their cart became, so an order's
    revenue equals the sum of quantity * price over its Product Added rows.
    """
    who, start = sample_times(
        rng, people, people.order_rate, cal, shape=ORDER_REGULARITY, lead=900, tail=3600
    )
    return order_sessions(rng, people, dev, cat, who, start, cal)


def order_sessions(
    rng: np.random.Generator,
    people: People,
    dev: Devices,
    cat: Catalog,
    who: np.ndarray,
    start: np.ndarray,
    cal: Calendar,
    first_order: int = 0,
) -> tuple[Orders, dict[str, np.ndarray]]:
    """The events of purchase sessions of people `who` starting at `start` (see `orders`);
    their orders are numbered from `first_order` (after a block's other orders). Products
    carry the planted complements and popularity drift (`affinity`)."""
    done = start + 1860 + np.floor(rng.random(len(who)) * 840)
    by_time = np.lexsort((who, done))
    who, start, done = who[by_time], start[by_time], done[by_time]
    n = len(who)
    device = pick_device(rng, dev, who)
    lines = 1 + rng.poisson(people.lines_mean[who])
    line_order = np.repeat(np.arange(n), lines)
    line_who = who[line_order]
    product = cat.choose(rng, people.category_cdf[line_who], people.price_tier[line_who])
    qty = 1 + rng.poisson(0.15, len(line_order))
    add_ts = start[line_order] + np.floor(rng.random(len(line_order)) * 1800)
    arng = rng.spawn(1)[0]  # planted structure: its own stream, the rest unchanged
    product = affinity.drift(
        arng, cat.affinity, cat.category, product, add_ts, (cal.start, cal.end_excl)
    )
    product = affinity.complements(arng, cat.affinity, product, who, done, lines)
    price = cat.price[product]
    revenue = np.round(np.bincount(line_order, weights=qty * price, minlength=n), 2)
    views = rng.poisson(0.5, len(line_order))  # often added from a listing
    view_line = np.repeat(np.arange(len(line_order)), views)
    view_ts = add_ts[view_line] - 10 - np.floor(rng.random(len(view_line)) * 600)
    extra = rng.poisson(0.25 * people.view_depth[who])
    extra_order = np.repeat(np.arange(n), extra)
    extra_who = who[extra_order]
    extra_product = cat.choose(rng, people.category_cdf[extra_who], people.price_tier[extra_who])
    extra_ts = start[extra_order] - 600 + np.floor(rng.random(len(extra_order)) * 2400)
    acct = people.has_account
    alt = people.has_alt_email[who] & (rng.random(n) < 0.3)
    parts = [
        _part(
            len(view_line), person=line_who[view_line], device=device[line_order][view_line],
            ts=view_ts, event=Event.PRODUCT_VIEWED, product=product[view_line],
            price=price[view_line],
        ),
        _part(
            len(extra_order), person=extra_who, device=device[extra_order], ts=extra_ts,
            event=Event.PRODUCT_VIEWED, product=extra_product, price=cat.price[extra_product],
        ),
        _part(
            len(line_order), person=line_who, device=device[line_order], ts=add_ts,
            event=Event.PRODUCT_ADDED, product=product, qty=qty, price=price,
            order=first_order + line_order,
        ),
        _part(
            n, person=who, device=device, ts=done, event=Event.ORDER_COMPLETED,
            qty=np.bincount(line_order, weights=qty, minlength=n).astype(np.int64),
            revenue=revenue, order=first_order + np.arange(n),
            email=np.where(alt, EmailSource.ALT, EmailSource.PRIMARY),
        ),
    ]  # fmt: skip
    for p in parts:
        p["channel"] = dev.platform[p["device"]]
        p["with_user"] = _web(dev, p["device"], p["ts"], acct[p["person"]])
    return Orders(who, done, revenue), concat(parts)


def browsing(
    rng: np.random.Generator, people: People, dev: Devices, cat: Catalog, cal: Calendar
) -> dict[str, np.ndarray]:
    """Browse-only sessions: product views, sometimes an item left in the cart."""
    who, start = sample_times(rng, people, people.browse_rate, cal, tail=1500, member=False)
    device = pick_device(rng, dev, who)
    views = 1 + rng.poisson(people.view_depth[who])
    session = np.repeat(np.arange(len(who)), views)
    view_who = who[session]
    product = cat.choose(rng, people.category_cdf[view_who], people.price_tier[view_who])
    view_ts = start[session] + np.floor(rng.random(len(session)) * 1200)
    product = affinity.drift(
        rng.spawn(1)[0], cat.affinity, cat.category, product, view_ts, (cal.start, cal.end_excl)
    )
    first = np.cumsum(views) - views
    cart = np.flatnonzero(rng.random(len(who)) < people.abandon_p[who])
    add_ts = view_ts[first[cart]] + 10 + np.floor(rng.random(len(cart)) * 290)
    parts = [
        _part(
            len(session), person=view_who, device=device[session], ts=view_ts,
            event=Event.PRODUCT_VIEWED, product=product, price=cat.price[product],
        ),
        _part(
            len(cart), person=who[cart], device=device[cart], ts=add_ts,
            event=Event.PRODUCT_ADDED, product=product[first[cart]], qty=1,
            price=cat.price[product[first[cart]]],
        ),
    ]  # fmt: skip
    for p in parts:
        p["channel"] = dev.platform[p["device"]]
        p["with_user"] = _web(dev, p["device"], p["ts"], people.has_account[p["person"]])
    return concat(parts)


def campaign_times(cal: Calendar) -> np.ndarray:
    """Newsletter send times: every 14 days at 10:00, from the window's third day."""
    first = cal.start + 2 * DAY + 10 * 3600
    return np.arange(first, cal.end_excl - DAY, 14 * DAY, dtype=np.float64)


def emails(rng: np.random.Generator, people: People, cal: Calendar) -> dict[str, np.ndarray]:
    """Opens and clicks of newsletter campaigns, sent by the email tool (no anonymous_id).

    Engagement fades before churn like everything else; churned people still open a
    quarter as often (they read, they do not buy), which keeps the signal imperfect.
    """
    sends = campaign_times(cal)
    got = people.email_optin[:, None] & (people.acquired[:, None] <= sends[None, :])
    fade = np.clip((people.churn_at[:, None] - sends[None, :]) / (FADE_DAYS * DAY), FADE_FLOOR, 1.0)
    fade = np.where(people.churn_at[:, None] <= sends[None, :], 0.25, fade)
    opened = got & (rng.random(got.shape) < people.open_p[:, None] * fade)
    who, camp = np.nonzero(opened)
    open_ts = np.minimum(
        sends[camp] + np.floor(rng.exponential(8 * 3600, len(who))), cal.end_excl - 601
    )
    click = rng.random(len(who)) < people.click_p[who]
    click_ts = open_ts[click] + 5 + np.floor(rng.random(int(click.sum())) * 595)
    common = {"channel": Channel.EMAIL, "email": EmailSource.PRIMARY}
    return concat(
        [
            _part(len(who), person=who, ts=open_ts, event=Event.EMAIL_OPENED, campaign=camp,
                  with_user=people.has_account[who], **common),
            _part(int(click.sum()), person=who[click], ts=click_ts, event=Event.EMAIL_LINK_CLICKED,
                  campaign=camp[click], with_user=people.has_account[who[click]], **common),
        ]
    )  # fmt: skip


def refunds(
    rng: np.random.Generator, people: People, done: Orders, cal: Calendar
) -> dict[str, np.ndarray]:
    """Full refunds, 2-30 days after the order, sent by the backend."""
    hit = np.flatnonzero(rng.random(len(done.person)) < people.refund_p[done.person])
    ts = done.ts[hit] + 2 * DAY + np.floor(rng.random(len(hit)) * 28 * DAY)
    hit, ts = hit[ts < cal.end_excl], ts[ts < cal.end_excl]
    who = done.person[hit]
    return _part(
        len(hit), person=who, ts=ts, event=Event.ORDER_REFUNDED, revenue=done.revenue[hit],
        order=hit, channel=Channel.SERVER, email=EmailSource.PRIMARY,
        with_user=people.has_account[who],
    )  # fmt: skip


def memberships(people: People) -> dict[str, np.ndarray]:
    """Subscription Started / Cancelled of the paid membership (members have accounts)."""
    started = np.flatnonzero(np.isfinite(people.member_from))
    ended = np.flatnonzero(np.isfinite(people.member_until))
    common = {"channel": Channel.SERVER, "email": EmailSource.PRIMARY, "with_user": True}
    return concat(
        [
            _part(len(started), person=started, ts=np.floor(people.member_from[started]),
                  event=Event.SUBSCRIPTION_STARTED, price=PLAN_PRICE, **common),
            _part(len(ended), person=ended, ts=np.floor(people.member_until[ended]),
                  event=Event.SUBSCRIPTION_CANCELLED, price=PLAN_PRICE, **common),
        ]
    )  # fmt: skip
