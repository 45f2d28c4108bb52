"""Arrow tables of one block: identifier text, column types, and the ground-truth side table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.demo import ids
from warehouse_ml.demo.activity import (
    JUNK_DEVICE_PER_MILLE,
    Channel,
    Devices,
    EmailSource,
    Event,
    Orders,
)
from warehouse_ml.demo.catalog import Catalog
from warehouse_ml.demo.latent import COUNTRIES, MONTH_DAYS, SIGNUP_CHANNELS, Calendar, People
from warehouse_ml.demo.offline import ATTRIBUTABLE

TS = pa.timestamp("us")
EVENT_NAMES = [e.label for e in Event]
CHANNEL_NAMES = [c.name.lower() for c in Channel]
# Tags keep message, order and sale ids apart in one 48-bit id space (2 bits tag,
# 22 bits block, 24 bits row within the block).
_TAG_TRACK, _TAG_IDENTIFY, _TAG_ORDER, _TAG_SALE = 0, 1, 2, 3
_SALT_USER, _SALT_EMAIL, _SALT_NAME, _SALT_ANON, _SALT_ID, _SALT_WALK_IN = 11, 23, 37, 41, 53, 67
MAX_PERSONS = 1 << 24  # emails and user ids are bijections of the person key in 24 bits

SCHEMAS = {
    "identifies": pa.schema(
        [("message_id", pa.string()), ("timestamp", TS), ("user_id", pa.string()),
         ("anonymous_id", pa.string()), ("email", pa.string()), ("country", pa.string()),
         ("signup_channel", pa.string())]
    ),
    "tracks": pa.schema(
        [("message_id", pa.string()), ("timestamp", TS), ("event", pa.string()),
         ("user_id", pa.string()), ("anonymous_id", pa.string()), ("email", pa.string()),
         ("order_id", pa.string()), ("product_id", pa.string()), ("category", pa.string()),
         ("price", pa.float64()), ("quantity", pa.int32()), ("revenue", pa.float64()),
         ("campaign_id", pa.string()), ("channel", pa.string())]
    ),
    "store_sales": pa.schema(
        [("sale_id", pa.string()), ("timestamp", TS), ("email", pa.string()),
         ("store_id", pa.string()), ("revenue", pa.float64()), ("items", pa.int32())]
    ),
}  # fmt: skip


@dataclasses.dataclass
class PersonText:
    """Identifier text of a block's people and device records."""

    user_id: pa.Array  # one per person
    emails: pa.Array  # primary emails, then alt emails (index n + person)
    upper: pa.Array  # primary emails in capitals (till typos)
    anonymous_id: pa.Array  # one per device record


def person_text(first_person: int, n: int, dev: Devices) -> PersonText:
    """User ids, emails and anonymous ids, all bijections of global person / device keys."""
    key = np.arange(first_person, first_person + n, dtype=np.uint64)
    # A letter first: all-digit ids would be sniffed as BIGINT by CSV readers.
    user_id = ids.join("u", ids.dec_text(10_000_000 + mix_int(key, 24, _SALT_USER)))
    h = mix_int(key, 32, _SALT_NAME)
    first = ids.pick(ids.FIRST_NAMES, h % len(ids.FIRST_NAMES))
    last = ids.pick(ids.LAST_NAMES, (h // 64) % len(ids.LAST_NAMES))
    num = ids.dec_text(mix_int(key, 24, _SALT_EMAIL))
    domain = ids.pick(ids.EMAIL_DOMAINS, (h >> 16) % len(ids.EMAIL_DOMAINS))
    alt_domain = ids.pick(ids.ALT_EMAIL_DOMAINS, (h >> 24) % len(ids.ALT_EMAIL_DOMAINS))
    primary = ids.join(first, ".", last, num, "@", domain)
    alt = ids.join(pc.utf8_slice_codeunits(first, 0, 1), last, ".", num, "@", alt_domain)
    dh = ids.mix(dev.key, 64, _SALT_ANON)
    junk = (dh % np.uint64(1000)) < np.uint64(JUNK_DEVICE_PER_MILLE)
    junk_text = ids.pick(
        ids.JUNK_ANONYMOUS_IDS, (dh // np.uint64(1000)) % np.uint64(len(ids.JUNK_ANONYMOUS_IDS))
    )
    anon = pc.if_else(pa.array(junk), junk_text, ids.hex_text(dh, 16))
    emails = pa.concat_arrays([primary, alt])
    return PersonText(user_id, emails, pc.utf8_upper(primary), anon)


def mix_int(key: np.ndarray, bits: int, salt: int) -> np.ndarray:
    """`ids.mix` as int64 (for arithmetic and decimal text)."""
    return ids.mix(key, bits, salt).astype(np.int64)


def block_ids(tag: int, block: int, n: int, prefix: str = "") -> pa.Array:
    """Unique 12-hex-digit ids for rows 0..n-1 of one block."""
    if n >= 1 << 24:
        raise ValueError(f"a demo block produced {n} rows; at most 2**24 fit the id space")
    raw = (
        (np.uint64(tag) << np.uint64(46))
        | (np.uint64(block) << np.uint64(24))
        | np.arange(n, dtype=np.uint64)
    )
    text = ids.hex_text(ids.mix(raw, 48, _SALT_ID), 12)
    return ids.join(prefix, text) if prefix else text


def _micros(seconds: np.ndarray) -> np.ndarray:
    return np.floor(seconds).astype(np.int64) * 1_000_000


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(_micros(seconds), TS)


def tracks_table(
    ev: dict[str, np.ndarray],
    text: PersonText,
    cat: Catalog,
    block: int,
    n_people: int,
    campaigns: pa.Array,
) -> tuple[pa.Table, np.ndarray]:
    """The tracks table (sorted by time within the block) and each row's person."""
    order = np.lexsort((ev["person"], ev["event"], ev["ts"]))
    ev = {k: v[order] for k, v in ev.items()}
    n = len(order)
    prod = ev["product"]
    n_orders = int(ev["order"].max(initial=-1)) + 1
    order_ids = block_ids(_TAG_ORDER, block, n_orders, "ord_")
    product_ids = cat.table["product_id"].combine_chunks()
    categories = cat.table["category"].combine_chunks()
    cols = {
        "message_id": block_ids(_TAG_TRACK, block, n),
        "timestamp": _ts(ev["ts"]),
        "event": ids.pick(EVENT_NAMES, ev["event"]),
        "user_id": ids.take_masked(text.user_id, ev["person"], ev["with_user"]),
        "anonymous_id": ids.take_masked(text.anonymous_id, ev["device"], ev["device"] >= 0),
        "email": _email_source(text, ev["person"], ev["email"], n_people, None),
        "order_id": ids.take_masked(order_ids, ev["order"], ev["order"] >= 0),
        "product_id": ids.take_masked(product_ids, prod, prod >= 0),
        "category": ids.take_masked(categories, prod, prod >= 0),
        "price": pa.array(ev["price"], pa.float64(), from_pandas=True),
        "quantity": pa.array(ev["qty"].astype(np.int32), mask=ev["qty"] == 0),
        "revenue": pa.array(ev["revenue"], pa.float64(), from_pandas=True),
        "campaign_id": ids.take_masked(campaigns, ev["campaign"], ev["campaign"] >= 0),
        "channel": ids.pick(CHANNEL_NAMES, ev["channel"]),
    }
    return pa.table(cols, schema=SCHEMAS["tracks"]), ev["person"]


def identifies_table(
    rows: dict[str, np.ndarray], text: PersonText, people: People, block: int
) -> tuple[pa.Table, np.ndarray]:
    """The identifies table (sorted by time within the block) and each row's person."""
    order = np.lexsort((rows["person"], rows["ts"]))
    rows = {k: v[order] for k, v in rows.items()}
    person, src = rows["person"], rows["email"]
    n = len(person)
    cols = {
        "message_id": block_ids(_TAG_IDENTIFY, block, n),
        "timestamp": _ts(rows["ts"]),
        "user_id": ids.take_masked(text.user_id, person, rows["with_user"]),
        "anonymous_id": text.anonymous_id.take(pa.array(rows["device"].astype(np.int64))),
        "email": _email_source(text, person, src, len(people.value), None),
        "country": ids.pick(COUNTRIES, people.country[person]),
        "signup_channel": ids.pick(SIGNUP_CHANNELS, people.signup[person]),
    }
    return pa.table(cols, schema=SCHEMAS["identifies"]), person


def _email_source(
    text: PersonText, person: np.ndarray, src: np.ndarray, n_people: int, walk_in: pa.Array | None
) -> pa.Array:
    """Email text for each EmailSource code (see `offline.EmailSource`)."""
    junk = pa.array(list(ids.JUNK_EMAILS), pa.string())
    walk = walk_in if walk_in is not None else pa.array([], pa.string())
    pool = pa.concat_arrays([text.emails, text.upper, junk, walk])
    p = np.maximum(person, 0)
    base_upper, base_junk = 2 * n_people, 3 * n_people
    walk_index = base_junk + len(junk) + np.cumsum(src == EmailSource.WALK_IN) - 1
    index = np.select(
        [src == EmailSource.PRIMARY, src == EmailSource.ALT, src == EmailSource.UPPER,
         src == EmailSource.JUNK_NULL, src == EmailSource.JUNK_TEST, src == EmailSource.WALK_IN],
        [p, n_people + p, base_upper + p, base_junk, base_junk + 1, walk_index],
        default=0,
    )  # fmt: skip
    return ids.take_masked(pool, index, src != EmailSource.NONE)


def store_sales_table(
    sales: dict[str, np.ndarray], text: PersonText, block: int, n_people: int
) -> tuple[pa.Table, np.ndarray]:
    """The store_sales table (sorted by time within the block) and each row's person (-1)."""
    order = np.lexsort((sales["person"], sales["ts"]))
    sales = {k: v[order] for k, v in sales.items()}
    n = len(order)
    n_walk = int((sales["email"] == EmailSource.WALK_IN).sum())
    raw = (np.uint64(block) << np.uint64(24)) | np.arange(n_walk, dtype=np.uint64)
    walk_in = ids.join("walkin.", ids.hex_text(ids.mix(raw, 48, _SALT_WALK_IN), 12), "@example.net")
    cols = {
        "sale_id": block_ids(_TAG_SALE, block, n, "sale_"),
        "timestamp": _ts(sales["ts"]),
        "email": _email_source(text, sales["person"], sales["email"], n_people, walk_in),
        "store_id": ids.join("S", ids.dec_text(sales["store"] + 1, 2)),
        "revenue": pa.array(sales["revenue"], pa.float64()),
        "items": pa.array(sales["items"].astype(np.int32)),
    }
    return pa.table(cols, schema=SCHEMAS["store_sales"]), sales["person"]


def people_table(
    people: People,
    text: PersonText,
    dev: Devices,
    done: Orders,
    sales: dict[str, np.ndarray],
    first_person: int,
    cal: Calendar,
) -> pa.Table:
    """Ground truth per person: identity, latent traits, and realized labels at the cutoff."""
    n = len(people.value)
    before = done.ts < cal.cutoff

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(done.person[mask], weights=w, minlength=n)

    orders_before = count(before).astype(np.int64)
    orders_90d = count(~before).astype(np.int64)
    revenue_90d = np.round(count(~before, done.revenue), 2)
    own = (
        (sales["person"] >= 0)
        & np.isin(sales["email"], list(ATTRIBUTABLE))
        & (sales["ts"] >= cal.cutoff)
    )
    store_90d = np.round(
        np.bincount(sales["person"][own], weights=sales["revenue"][own], minlength=n), 2
    )
    churn = np.isfinite(people.churn_at)
    cols = {
        "person_key": pa.array(np.arange(first_person, first_person + n, dtype=np.int64)),
        "user_id": ids.take_masked(text.user_id, np.arange(n), people.has_account),
        "email": text.emails.slice(0, n),
        "alt_email": ids.take_masked(text.emails, n + np.arange(n), people.has_alt_email),
        "n_devices": pa.array(dev.count.astype(np.int32)),
        "acquired_at": _ts(people.acquired),
        "churn_at": pa.array(_micros(np.where(churn, people.churn_at, 0.0)), TS, mask=~churn),
        "is_member": pa.array(np.isfinite(people.member_from)),
        "value": pa.array(people.value),
        "engagement": pa.array(people.engagement),
        "order_rate_month": pa.array(people.order_rate * MONTH_DAYS),
        "refund_rate": pa.array(people.refund_p),
        "orders_before_cutoff": pa.array(orders_before),
        "revenue_before_cutoff": pa.array(np.round(count(before, done.revenue), 2)),
        "orders_90d": pa.array(orders_90d),
        "revenue_90d": pa.array(revenue_90d),
        "store_revenue_90d": pa.array(store_90d),
        "ltv_90d": pa.array(np.round(revenue_90d + store_90d, 2)),
        "churned_90d": pa.array(orders_90d == 0, mask=orders_before == 0),
    }  # fmt: skip
    return pa.table(cols)
