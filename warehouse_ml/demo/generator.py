"""Deterministic Segment e-commerce demo data with learnable, documented signal.

Tables (written one file each; Segment's `properties` flattened into columns):

- ``identifies``: message_id, timestamp, user_id, anonymous_id, email, country, signup_channel
- ``tracks``: message_id, timestamp, event, user_id, anonymous_id, email, order_id,
  product_id, category, price, quantity, revenue, campaign_id, channel
- ``store_sales``: sale_id, timestamp, email, store_id, revenue, items
- ``products``: product_id, name, category, price

Events: Product Viewed, Product Added, Order Completed, Order Refunded, Email Opened,
Email Link Clicked, Subscription Started, Subscription Cancelled (no Session Started: it
would add a third of the rows and no signal). An order is one Order Completed row
(revenue = order total, quantity = items); its line items are the Product Added rows that
carry its order_id (Segment puts them in a `products` array, which we cannot flatten into
one row), so ``revenue = sum(price * quantity)`` over them. Product Added rows without an
order_id are abandoned carts. Order Refunded is a full refund of an earlier order.
Email events come from the email tool: email (and user_id for account holders), never an
anonymous_id. Refunds and subscriptions come from the backend (channel 'server').

Latent model, per person (`latent.draw_people`; e = independent N(0,1) noise):

- value z_v = clip(N(0,1), -3, 2.3) + signup-channel shift (referral +0.3, email +0.15,
  paid_search -0.1, social -0.25); engagement z_e = 0.5 z_v + N(0, 0.75).
- Orders: 0.34 exp(0.85 z_v) per month (log-normal: a few people spend most), as a renewal
  process with Gamma(4) gaps (regular replenishment, so counts are less noisy than
  Poisson). Lines 1 + Poisson(0.12 exp(0.25 z_v + 0.3 e)), quantity 1 + Poisson(0.15),
  price tier exp(-0.3 z_v + 0.3 e) (pricier items within a category), category
  preference Dirichlet(0.3) over 8 categories. Purchase sessions have a few views.
- Browsing: 0.3 exp(0.6 z_e + 0.25 e) sessions per month, 1 + Poisson(0.7 exp(0.3 z_e))
  views each; an abandoned cart with p = sigmoid(-1.6 + 0.5 z_v + 0.3 e).
- Email: a newsletter every 14 days to the 75% who opted in; open p =
  sigmoid(-1.5 + 0.9 z_e + 0.4 e) per campaign, click p = sigmoid(-1.2 + 0.5 z_e).
- Refunds: each order with p = sigmoid(-3 + 0.9 e) (a person trait, mean about 6%).
- Store: shoppers with p = sigmoid(-0.7 + 0.4 z_v), 0.15 exp(0.6 z_v) visits per month,
  receipts log-normal around 38 exp(0.35 z_v).
- Membership ('Plus', 9.99): account holders with p = sigmoid(-1.8 + 0.8 z_v + 0.4 z_e)
  join about 45 days after arriving; orders run 30% higher while it lasts.
- Intensity over time, shared by orders, browsing and store visits: a holiday bump
  (Gaussian, sd 20 days, peak early December) with a person amplitude Gamma(0.8, 0.5),
  and a fade to 25% over the 60 days before churn. Each process runs on the person's
  own clock (cumulative intensity), so these shape it without thinning.
- Churn: exponential lifetime with monthly hazard
  0.065 exp(-0.45 z_v - 0.35 z_e + 6 (refund_p - 0.06)); after churn, no orders,
  browsing or store visits, and email opens drop to a quarter. 70% of churning members
  cancel in their last 45 days; 12% of loyal members cancel at random (noise).
- 55% of people exist when the window opens; the rest arrive uniformly over the window.
- A win-back campaign (`campaign`): 150 days before the data end, lapsed account holders
  (no order in 45 days) are assigned by `ab_variant(user_id)`, 30% held out; treated
  members place one extra order within 30 days with p 0.10 (email) or 0.20 (discount).
  Truth column ``winback_arm`` names each member's arm.

- Products (`affinity`): every product has a complement in another category, and 45% of
  a person's orders after their first start with the complement of an item of their
  previous order; two products per category are rising: from the window's midpoint a
  growing share of picks (20% at the end) goes to them, so recent and all-time best
  sellers differ. Category loyalty comes from the preference above.

Planted signal (what a model should find, before the cutoff): recency and frequency of
orders, monetary value (order totals and basket size), browsing and abandoned carts
(track z_v), email opens and clicks (z_e), refunds (raise churn), a recent Subscription
Cancelled and a falling activity trend (imminent churn). Noise to see through: holiday
spending inflates seasonal shoppers' history (the label window has no holiday), new
customers have little history, order amounts vary, churn inside the label window.
Measured (seed 7, HistGradientBoosting defaults, 70/30 split of people active before the
cutoff, simple features as in tests/test_demo_generator.py): 2,000 profiles: LTV RMSE 29%
below the mean baseline (20-38% across seeds 7-18), churn AUC 0.91 (0.86-0.92);
20,000 and 100,000 profiles: 39% and 0.915.

Identity: 80% have an account (user_id); each person has 1-4 devices (anonymous_ids);
devices log in (identify) some days after first use, so earlier events are anonymous;
8% have a second email (identify, 30% of their orders, some store receipts); 3% of person
pairs share a family device (two user_ids on one anonymous_id); 2.5% of devices send a
junk anonymous_id ('anonymous', '0', '-1', '00000000') shared across people; 2% of people
send an identify with email 'null' or 'test@test.com'. Store receipts carry the email
typed at the till: own (72%, some in capitals), missing (20%) or junk (8%); walk-ins
(0.3 per person) have no email, junk, or a one-off address.

Ground truth (`DemoData.truth`, never written to files): the label window is the last 90
days, [cutoff, end + 1 day) with cutoff = end + 1 day - 90 days. Per person:
``ltv_90d`` = Order Completed revenue in the window + store revenue in the window on
receipts carrying one of their emails (any case); ``churned_90d`` = no Order Completed in
the window, defined for people with an order before the cutoff (NULL otherwise); plus the
latent traits and each table row's person (``tracks_person`` ...).

Determinism: people are generated in blocks of 4,096, each from its own
``SeedSequence([seed, 1, block])``, so the same seed gives byte-identical files whatever
the chunk size; ids are bijections of counters and so are unique by construction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import typing as t

import numpy as np
import pyarrow as pa

from warehouse_ml.demo import activity, campaign, offline, tables, writers
from warehouse_ml.demo.catalog import CATEGORIES, Catalog, build_catalog
from warehouse_ml.demo.latent import Calendar, draw_people
from warehouse_ml.errors import ConfigError

BLOCK_PROFILES = 4096
DEFAULT_END = dt.date(2026, 6, 30)
TABLE_NAMES = ("identifies", "tracks", "store_sales", "products")


@dataclasses.dataclass
class Truth:
    """What the generator knows and the files do not: who is who, and the labels."""

    people: pa.Table  # one row per person (see `tables.people_table`)
    tracks_person: np.ndarray  # person_key of each tracks row
    identifies_person: np.ndarray
    store_sales_person: np.ndarray  # -1 for walk-ins


@dataclasses.dataclass
class DemoData:
    """The generated tables (Arrow), the calendar, and the hidden ground truth."""

    identifies: pa.Table
    tracks: pa.Table
    store_sales: pa.Table
    products: pa.Table
    truth: Truth
    start: dt.datetime
    end_exclusive: dt.datetime
    cutoff: dt.datetime

    @property
    def people(self) -> pa.Table:
        """Ground truth per person (not written to files): `truth.people`."""
        return self.truth.people

    def table(self, name: str) -> pa.Table:
        """One of TABLE_NAMES by name."""
        return t.cast(pa.Table, getattr(self, name))

    @classmethod
    def concat(cls, parts: list[DemoData]) -> DemoData:
        """Chunks of one generation as one DemoData."""
        first = parts[0]

        def cat(name: str) -> pa.Table:
            return pa.concat_tables([p.table(name) for p in parts])

        def arr(name: str) -> np.ndarray:
            return np.concatenate([getattr(p.truth, name) for p in parts])

        truth = Truth(
            pa.concat_tables([p.truth.people for p in parts]),
            arr("tracks_person"),
            arr("identifies_person"),
            arr("store_sales_person"),
        )
        return cls(
            cat("identifies"), cat("tracks"), cat("store_sales"), first.products, truth,
            first.start, first.end_exclusive, first.cutoff,
        )  # fmt: skip


def generate(
    profiles: int, seed: int = 7, *, end: dt.date = DEFAULT_END, months: int = 15,
    drift: float = 0.0,
) -> DemoData:
    """Generate demo data for `profiles` people in memory.

    Args:
        profiles: number of people (1 to 16,777,216).
        seed: the same seed gives byte-identical output.
        end: last day of the data (inclusive).
        months: length of the data window in calendar months (at least 6).
        drift: in [0, 1): activity in the last 90 days runs at (1 - drift) of its rate.

    Returns:
        DemoData with identifies, tracks, store_sales, products and the hidden truth.
    """
    return DemoData.concat(list(iter_chunks(profiles, seed, end=end, months=months, drift=drift)))


def shop_catalog(seed: int = 7) -> Catalog:
    """The catalog of a seed, with its planted complements and rising products."""
    return build_catalog(np.random.default_rng(np.random.SeedSequence([seed, 0])))


def iter_chunks(
    profiles: int,
    seed: int = 7,
    *,
    end: dt.date = DEFAULT_END,
    months: int = 15,
    chunk_profiles: int = 65_536,
    drift: float = 0.0,
) -> t.Iterator[DemoData]:
    """Generate in chunks of about `chunk_profiles` people (rounded up to whole blocks).

    Memory is bounded by one chunk; the output does not depend on the chunk size.
    """
    _check(profiles, months, chunk_profiles)
    if not 0.0 <= drift < 1.0:
        raise ConfigError(
            f"demo drift must be at least 0 and below 1, got {drift}: it is the share of "
            "activity the population loses in the last 90 days (0.5 halves it)."
        )
    cal = Calendar.build(end, months, drift)
    catalog = shop_catalog(seed)
    campaigns = _campaign_ids(cal)
    per_chunk = -(-chunk_profiles // BLOCK_PROFILES)
    n_blocks = -(-profiles // BLOCK_PROFILES)
    for first_block in range(0, n_blocks, per_chunk):
        blocks = range(first_block, min(first_block + per_chunk, n_blocks))
        parts = [_block(seed, b, profiles, cal, catalog, campaigns) for b in blocks]
        yield DemoData.concat(parts)


def _check(profiles: int, months: int, chunk_profiles: int) -> None:
    if not 1 <= profiles <= tables.MAX_PERSONS:
        raise ConfigError(
            f"demo profiles must be between 1 and {tables.MAX_PERSONS:,}, got {profiles}: "
            "user ids and emails are 24-bit bijections of the person number."
        )
    if months < 6:
        raise ConfigError(
            f"demo months must be at least 6, got {months}: the last 90 days are the label "
            "window and the months before them are the history a model learns from."
        )
    if chunk_profiles < 1:
        raise ConfigError(f"chunk_profiles must be positive, got {chunk_profiles}.")


def _campaign_ids(cal: Calendar) -> pa.Array:
    sends = activity.campaign_times(cal)
    return pa.array([f"nl_{cal.as_datetime(s):%Y%m%d}" for s in sends], pa.string())


def _block(
    seed: int, block: int, profiles: int, cal: Calendar, catalog: Catalog, campaigns: pa.Array
) -> DemoData:
    """One block of people, from its own random stream (fixed call order)."""
    first = block * BLOCK_PROFILES
    n = min(BLOCK_PROFILES, profiles - first)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, block]))
    people = draw_people(rng, n, cal, len(CATEGORIES))
    dev = activity.draw_devices(rng, people, first, cal)
    text = tables.person_text(first, n, dev)
    done, order_events = activity.orders(rng, people, dev, catalog, cal)
    # The win-back campaign's extra orders, from their own stream (see `campaign`).
    crng = np.random.default_rng(np.random.SeedSequence([seed, 2, block]))
    winback = campaign.treated_orders(crng, people, done, text.user_id, cal, campaign.WINBACK)
    won, won_events = activity.order_sessions(
        crng, people, dev, catalog, winback.who, winback.start, cal, first_order=len(done.person)
    )
    events = activity.concat(
        [
            order_events,
            won_events,
            activity.browsing(rng, people, dev, catalog, cal),
            activity.emails(rng, people, cal),
            activity.refunds(rng, people, done, cal),
            activity.memberships(people),
        ]
    )
    sales = offline.store_sales(rng, people, cal)
    idents = offline.identifies(rng, people, dev, cal)
    every_order = activity.Orders(*(np.concatenate([getattr(done, k), getattr(won, k)])
                                    for k in ("person", "ts", "revenue")))
    tracks, tracks_person = tables.tracks_table(events, text, catalog, block, n, campaigns)
    identifies, identifies_person = tables.identifies_table(idents, text, people, block)
    store, store_person = tables.store_sales_table(sales, text, block, n)
    truth = Truth(
        tables.people_table(people, text, dev, every_order, sales, first, cal).append_column(
            "winback_arm", pa.array(winback.arm, pa.string())
        ),
        tracks_person + first,
        identifies_person + first,
        np.where(store_person >= 0, store_person + first, -1),
    )
    return DemoData(
        identifies, tracks, store, catalog.table, truth,
        cal.as_datetime(cal.start), cal.as_datetime(cal.end_excl), cal.as_datetime(cal.cutoff),
    )  # fmt: skip


def _chunks(data: DemoData | t.Iterable[DemoData]) -> t.Iterator[DemoData]:
    return iter([data]) if isinstance(data, DemoData) else iter(data)


def write_csv(data: DemoData | t.Iterable[DemoData], out_dir: str | pathlib.Path) -> dict[str, int]:
    """Write `<table>.csv` files (timestamps as 'YYYY-MM-DD HH:MM:SS'); stream chunks.

    Returns the row count per table.
    """
    return writers.write(_chunks(data), pathlib.Path(out_dir), "csv")


def write_parquet(
    data: DemoData | t.Iterable[DemoData], out_dir: str | pathlib.Path
) -> dict[str, int]:
    """Write `<table>.parquet` files (zstd; TIMESTAMP columns); stream chunks.

    Returns the row count per table.
    """
    return writers.write(_chunks(data), pathlib.Path(out_dir), "parquet")


def write_demo(
    out_dir: str | pathlib.Path,
    profiles: int,
    seed: int = 7,
    fmt: str = "csv",
    *,
    end: dt.date = DEFAULT_END,
    months: int = 15,
    chunk_profiles: int = 65_536,
    drift: float = 0.0,
) -> dict[str, int]:
    """Generate and write the demo tables chunk by chunk (for a CLI command).

    Args:
        out_dir: directory for identifies/tracks/store_sales/products files (created).
        profiles: number of people.
        seed: random seed; the same seed gives byte-identical files.
        fmt: 'csv' or 'parquet'.
        drift: in [0, 1): a shifted population at the end (see ``Calendar.build``).

    Returns:
        Row count per table.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"demo format must be 'csv' or 'parquet', got {fmt!r}.")
    chunks = iter_chunks(
        profiles, seed, end=end, months=months, chunk_profiles=chunk_profiles, drift=drift
    )
    return write_csv(chunks, out_dir) if fmt == "csv" else write_parquet(chunks, out_dir)
