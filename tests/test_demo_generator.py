"""The demo generator: determinism, schemas, referential sanity, identity traps, signal."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import math
import pathlib
import re
import time
import typing as t

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from warehouse_ml.demo import DemoData, generate, iter_chunks, shop_catalog, write_csv, write_demo
from warehouse_ml.demo.tables import SCHEMAS
from warehouse_ml.errors import ConfigError

PROFILES = 2000
JUNK_ANON = ("anonymous", "0", "-1", "00000000")
JUNK_EMAIL = ("null", "test@test.com")


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(PROFILES, seed=7)


@pytest.fixture
def one_thread() -> t.Iterator[None]:
    # OpenMP threads of HistGradientBoosting crawl on a busy shared 2-core host.
    with threadpool_limits(limits=1):
        yield


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def _sql(data: DemoData, query: str) -> list[tuple]:
    con = duckdb.connect()
    for name in ("tracks", "identifies", "store_sales", "products"):
        con.register(name, data.table(name))
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


# --- determinism -------------------------------------------------------------------------


def test_seed_files_are_small_fast_and_counted(tmp_path: pathlib.Path) -> None:
    started = time.perf_counter()
    counts = write_demo(tmp_path, PROFILES, seed=7, fmt="csv")
    elapsed = time.perf_counter() - started
    sizes = {f.name: f.stat().st_size for f in tmp_path.iterdir()}
    assert set(sizes) == {"identifies.csv", "tracks.csv", "store_sales.csv", "products.csv"}
    assert 2_000_000 < sum(sizes.values()) < 8_000_000, sizes
    for name, rows in counts.items():
        lines = (tmp_path / f"{name}.csv").read_bytes().count(b"\n")
        assert lines == rows + 1  # header
    assert counts["tracks"] > 20 * PROFILES
    # About 0.5 s on an idle 2-core machine; generous for a busy shared host.
    assert elapsed < 10, f"2,000 profiles took {elapsed:.1f} s"


def test_same_seed_gives_identical_bytes_different_seed_differs(tmp_path: pathlib.Path) -> None:
    write_demo(tmp_path / "a", PROFILES, seed=7)
    write_demo(tmp_path / "b", PROFILES, seed=7)
    write_demo(tmp_path / "c", PROFILES, seed=8)
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    for name in ("identifies.csv", "tracks.csv", "store_sales.csv", "products.csv"):
        assert a[name] != c[name], name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_output_does_not_depend_on_chunk_size(tmp_path: pathlib.Path, fmt: str) -> None:
    write_demo(tmp_path / "small", 5000, seed=3, fmt=fmt, chunk_profiles=4096)
    write_demo(tmp_path / "large", 5000, seed=3, fmt=fmt, chunk_profiles=1_000_000)
    assert _digests(tmp_path / "small") == _digests(tmp_path / "large")
    chunks = list(iter_chunks(5000, seed=3, chunk_profiles=4096))
    assert len(chunks) == 2
    assert sum(c.truth.people.num_rows for c in chunks) == 5000


# --- schemas and types ---------------------------------------------------------------------


def test_arrow_schemas(data: DemoData) -> None:
    for name in ("identifies", "tracks", "store_sales"):
        assert data.table(name).schema == SCHEMAS[name], name
    assert data.products.schema == pa.schema(
        [("product_id", pa.string()), ("name", pa.string()), ("category", pa.string()),
         ("price", pa.float64())]
    )  # fmt: skip
    assert data.tracks["timestamp"].type == pa.timestamp("us")
    assert data.truth.people.num_rows == PROFILES
    assert len(data.truth.tracks_person) == data.tracks.num_rows
    events = set(pc.unique(data.tracks["event"]).to_pylist())
    assert events == {
        "Product Viewed", "Product Added", "Order Completed", "Order Refunded", "Email Opened",
        "Email Link Clicked", "Subscription Started", "Subscription Cancelled",
    }  # fmt: skip


def test_csv_text_and_types_as_duckdb_reads_them(tmp_path: pathlib.Path, data: DemoData) -> None:
    write_csv(data, tmp_path)
    first_row = (tmp_path / "tracks.csv").read_text().splitlines()[1].split(",")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first_row[1])
    con = duckdb.connect()
    try:
        types = dict(
            con.sql(
                f"SELECT column_name, column_type FROM (DESCRIBE '{tmp_path}/tracks.csv')"
            ).fetchall()
        )
        sales = dict(
            con.sql(
                f"SELECT column_name, column_type FROM (DESCRIBE '{tmp_path}/store_sales.csv')"
            ).fetchall()
        )
    finally:
        con.close()
    assert types["timestamp"] == "TIMESTAMP"
    assert types["user_id"] == types["anonymous_id"] == types["order_id"] == "VARCHAR"
    assert types["revenue"] == types["price"] == "DOUBLE"
    assert sales["timestamp"] == "TIMESTAMP" and sales["revenue"] == "DOUBLE"


def test_email_events_carry_email_and_no_anonymous_id(data: DemoData) -> None:
    rows = _sql(
        data,
        """SELECT count(*), count(email), count(anonymous_id), count(campaign_id)
           FROM tracks WHERE event IN ('Email Opened', 'Email Link Clicked')""",
    )
    total, with_email, with_anon, with_campaign = rows[0]
    assert total > 0 and with_email == total == with_campaign and with_anon == 0


# --- referential sanity --------------------------------------------------------------------


def test_order_revenue_is_the_sum_of_its_lines(data: DemoData) -> None:
    rows = _sql(
        data,
        """WITH lines AS (
             SELECT order_id, sum(price * quantity) AS total, sum(quantity) AS items
             FROM tracks WHERE event = 'Product Added' AND order_id IS NOT NULL GROUP BY 1)
           SELECT count(*), count(lines.order_id),
                  count(*) FILTER (WHERE abs(o.revenue - lines.total) > 0.005),
                  count(*) FILTER (WHERE o.quantity <> lines.items)
           FROM tracks o LEFT JOIN lines USING (order_id)
           WHERE o.event = 'Order Completed'""",
    )
    orders, matched, bad_revenue, bad_items = rows[0]
    assert orders > 1000
    assert matched == orders and bad_revenue == 0 and bad_items == 0


def test_refunds_refer_to_earlier_orders(data: DemoData) -> None:
    rows = _sql(
        data,
        """SELECT count(*), count(o.order_id),
                  count(*) FILTER (WHERE o.timestamp < r.timestamp AND r.revenue <= o.revenue)
           FROM tracks r LEFT JOIN tracks o
             ON o.order_id = r.order_id AND o.event = 'Order Completed'
           WHERE r.event = 'Order Refunded'""",
    )
    refunds, matched, earlier = rows[0]
    assert refunds > 50 and matched == refunds == earlier


def test_timestamps_within_window_and_ids_unique(data: DemoData) -> None:
    start, end = data.start, data.end_exclusive
    assert (start, end, data.cutoff) == (
        dt.datetime(2025, 4, 1), dt.datetime(2026, 7, 1), dt.datetime(2026, 4, 2)
    )  # fmt: skip
    for name in ("tracks", "identifies", "store_sales"):
        ts = data.table(name)["timestamp"]
        assert pc.min(ts).as_py() >= start and pc.max(ts).as_py() < end, name
    ids = pa.concat_arrays(
        [data.tracks["message_id"].combine_chunks(), data.identifies["message_id"].combine_chunks()]
    )
    assert pc.count_distinct(ids).as_py() == len(ids)
    orders = data.tracks.filter(pc.equal(data.tracks["event"], "Order Completed"))["order_id"]
    assert pc.count_distinct(orders).as_py() == len(orders)
    assert pc.count_distinct(data.store_sales["sale_id"]).as_py() == data.store_sales.num_rows


def test_custom_window() -> None:
    small = generate(50, seed=1, end=dt.date(2025, 12, 31), months=6)
    assert small.start == dt.datetime(2025, 7, 1)
    assert small.cutoff == dt.datetime(2026, 1, 1) - dt.timedelta(days=90)
    assert pc.max(small.tracks["timestamp"]).as_py() < dt.datetime(2026, 1, 1)


# --- identity-resolution traps -----------------------------------------------------------


def test_blocked_junk_values_are_present_and_shared(data: DemoData) -> None:
    person = {
        "tracks": data.truth.tracks_person,
        "identifies": data.truth.identifies_person,
        "store_sales": data.truth.store_sales_person,
    }
    for name in ("tracks", "identifies"):
        anon = np.asarray(data.table(name)["anonymous_id"].to_pylist(), dtype=object)
        for value in JUNK_ANON:
            people = np.unique(person[name][anon == value])
            assert len(people) >= 2, (name, value)
    for name in ("identifies", "store_sales"):
        email = np.asarray(data.table(name)["email"].to_pylist(), dtype=object)
        for value in JUNK_EMAIL:
            people = np.unique(person[name][(email == value) & (person[name] >= 0)])
            assert len(people) >= 3, (name, value)
    upper = _sql(data, "SELECT count(*) FROM store_sales WHERE email = upper(email)")[0][0]
    assert upper > 10  # till emails typed in capitals: normalise before matching


def test_multi_email_multi_device_and_shared_family_devices(data: DemoData) -> None:
    rows = _sql(
        data,
        f"""SELECT
             (SELECT count(*) FROM (SELECT user_id FROM identifies
               WHERE user_id IS NOT NULL AND email NOT IN {JUNK_EMAIL}
               GROUP BY 1 HAVING count(DISTINCT email) > 1)),
             (SELECT count(*) FROM (SELECT user_id FROM tracks
               WHERE user_id IS NOT NULL AND anonymous_id NOT IN {JUNK_ANON}
               GROUP BY 1 HAVING count(DISTINCT anonymous_id) > 1)),
             (SELECT count(*) FROM (SELECT anonymous_id FROM identifies
               WHERE user_id IS NOT NULL AND anonymous_id NOT IN {JUNK_ANON}
               GROUP BY 1 HAVING count(DISTINCT user_id) > 1)),
             (SELECT count(*) FROM tracks WHERE user_id IS NULL AND anonymous_id IS NOT NULL)""",
    )
    two_emails, several_devices, family_devices, anonymous_events = rows[0]
    assert two_emails > 50
    assert several_devices > 300
    assert family_devices > 5
    assert anonymous_events > 1000  # browsing before login


# --- ground truth and learnability --------------------------------------------------------


def _features_and_labels(data: DemoData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per person: RFM-style features before the cutoff, LTV and churn labels after it."""
    n = data.truth.people.num_rows
    cutoff = np.datetime64(data.cutoff, "us")
    tracks = data.tracks
    who = data.truth.tracks_person
    ts = tracks["timestamp"].to_numpy()
    event = np.asarray(tracks["event"].to_pylist(), dtype=object)
    revenue = np.nan_to_num(tracks["revenue"].to_numpy(zero_copy_only=False))
    in_cart = np.asarray(tracks["order_id"].is_null())
    before = ts < cutoff
    age = (cutoff - ts) / np.timedelta64(1, "D")

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(who[mask], weights=w, minlength=n)

    def latest(mask: np.ndarray, default: float) -> np.ndarray:
        out = np.full(n, default)
        np.minimum.at(out, who[mask], age[mask])
        return out

    order = event == "Order Completed"
    feats = [
        count(before & order),
        count(before & order, revenue),
        count(before & order & (age <= 90), revenue),
        count(before & order & (age <= 180), revenue),
        count(before & order & (age <= 30)),
        count(before & (event == "Product Viewed")),
        count(before & (event == "Product Viewed") & (age <= 30)),
        count(before & (event == "Product Added") & in_cart),
        count(before & (event == "Email Opened")),
        count(before & (event == "Email Opened") & (age <= 60)),
        count(before & (event == "Email Link Clicked")),
        count(before & (event == "Order Refunded")),
        count(before & (event == "Subscription Started")),
        count(before & (event == "Subscription Cancelled")),
        latest(before & order, 999.0),
        latest(before, 999.0),
    ]
    tenure = np.zeros(n)
    np.maximum.at(tenure, who[before], age[before])
    feats += [tenure, feats[1] / np.maximum(tenure, 30.0)]
    # Store receipts count for a person when they carry one of their emails (any case).
    sales, seller = data.store_sales, data.truth.store_sales_person
    email = np.asarray(sales["email"].to_pylist(), dtype=object)
    own = (seller >= 0) & ~np.isin(email, [None, *JUNK_EMAIL])
    sale_before = sales["timestamp"].to_numpy() < cutoff
    amount = sales["revenue"].to_numpy()
    feats.append(np.bincount(seller[own & sale_before], amount[own & sale_before], minlength=n))
    store_after = np.bincount(seller[own & ~sale_before], amount[own & ~sale_before], minlength=n)
    online_after = count(~before & order, revenue)
    active = tenure > 0
    return np.column_stack(feats), online_after + store_after, online_after, active


def test_labels_from_tables_match_ground_truth(data: DemoData) -> None:
    _, ltv, online, _ = _features_and_labels(data)
    people = data.truth.people
    assert np.allclose(ltv, people["ltv_90d"].to_numpy(), atol=0.01)
    assert np.allclose(online, people["revenue_90d"].to_numpy(), atol=0.01)
    churned = people["churned_90d"]
    customers = np.asarray(churned.is_valid())
    assert np.array_equal(
        churned.to_numpy(zero_copy_only=False)[customers].astype(bool), online[customers] == 0
    )


@pytest.mark.usefixtures("one_thread")
def test_ltv_and_churn_are_learnable_from_history(data: DemoData) -> None:
    features, ltv, online, active = _features_and_labels(data)
    people = np.flatnonzero(active)
    np.random.default_rng(0).shuffle(people)
    split = int(0.7 * len(people))
    train, test = people[:split], people[split:]
    model = HistGradientBoostingRegressor(random_state=0).fit(features[train], ltv[train])
    rmse = np.sqrt(np.mean((model.predict(features[test]) - ltv[test]) ** 2))
    baseline = np.sqrt(np.mean((ltv[train].mean() - ltv[test]) ** 2))
    assert rmse < 0.8 * baseline, f"RMSE {rmse:.1f} vs mean baseline {baseline:.1f}"

    customers = people[features[people, 0] > 0]  # an order before the cutoff
    churned = (online == 0).astype(int)
    split = int(0.7 * len(customers))
    train, test = customers[:split], customers[split:]
    assert 0.2 < churned[customers].mean() < 0.8
    clf = HistGradientBoostingClassifier(random_state=0).fit(features[train], churned[train])
    auc = roc_auc_score(churned[test], clf.predict_proba(features[test])[:, 1])
    assert auc >= 0.75, f"churn AUC {auc:.3f}"


@pytest.mark.usefixtures("one_thread")
def test_history_without_signal_would_fail_the_learnability_bar(data: DemoData) -> None:
    # The bar above is meaningful: shuffling features across people destroys the signal.
    features, ltv, _, active = _features_and_labels(data)
    people = np.flatnonzero(active)
    np.random.default_rng(0).shuffle(people)
    split = int(0.7 * len(people))
    train, test = people[:split], people[split:]
    shuffled = features[np.random.default_rng(1).permutation(len(features))]
    model = HistGradientBoostingRegressor(random_state=0).fit(shuffled[train], ltv[train])
    rmse = np.sqrt(np.mean((model.predict(shuffled[test]) - ltv[test]) ** 2))
    baseline = np.sqrt(np.mean((ltv[train].mean() - ltv[test]) ** 2))
    assert rmse > 0.9 * baseline


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"profiles": 0}, "profiles"),
        ({"profiles": 10, "months": 3}, "months"),
        ({"profiles": 10, "fmt": "json"}, "format"),
        ({"profiles": 10, "chunk_profiles": 0}, "chunk_profiles"),
    ],
)
def test_bad_arguments_raise_config_errors(
    tmp_path: pathlib.Path, kwargs: dict, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        write_demo(tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())


# --- the planted win-back campaign -------------------------------------------------------


def _rows(d: DemoData) -> collections.Counter:
    cols = ("timestamp", "event", "revenue", "product_id", "quantity")
    values = zip(d.truth.tracks_person.tolist(), *(d.tracks[c].to_pylist() for c in cols), strict=True)
    return collections.Counter(values)


def test_campaign_adds_orders_to_treated_members_only(data: DemoData, monkeypatch) -> None:
    """Without its effect the data are the same rows; the effect is extra orders of treated
    audience members inside the window, never of the holdout or anyone else."""
    from warehouse_ml.demo import campaign

    planted_with = campaign.WINBACK
    monkeypatch.setattr(campaign, "WINBACK", dataclasses.replace(planted_with, lift=(0.0, 0.0)))
    base = generate(PROFILES, seed=7)
    planted, unplanted = _rows(data), _rows(base)
    assert not unplanted - planted  # nothing removed or changed
    extra = planted - unplanted
    arms = dict(zip(data.people["person_key"].to_pylist(), data.people["winback_arm"].to_pylist(), strict=True))
    start = dt.datetime(2026, 2, 1)
    orders = [(person, ts) for (person, ts, event, *_), n in extra.items() for _ in range(n) if event == "Order Completed"]
    assert {arms[row[0]] for row in extra} <= {"email", "discount"}
    assert all(start <= ts < start + dt.timedelta(days=30) for _, ts in orders)
    members = collections.Counter(a for a in arms.values() if a)
    won = collections.Counter(arms[p] for p, _ in orders)
    assert members["holdout"] >= 100 and won["holdout"] == 0
    for arm, lift in zip(planted_with.variants, planted_with.lift, strict=True):
        n, k = members[arm], won[arm]
        assert abs(k - n * lift) <= 3.5 * math.sqrt(n * lift * (1 - lift)), (arm, n, k)  # binomial


def test_campaign_arms_are_the_packages_ab_variant() -> None:
    from warehouse_ml.demo.campaign import ab_variant

    h = hashlib.md5(b"x:u1").hexdigest()
    expected = "holdout" if int(h[:7], 16) < math.floor(0.3 * 2**28) else (
        "a" if int(h[7:14], 16) < 2**27 else "b")  # fmt: skip
    assert ab_variant("u1", "x", ("a", "b"), 0.3) == expected
    assert {ab_variant(f"u{i}", "x", ("a", "b"), 0.0) for i in range(50)} == {"a", "b"}


def test_project_vars_describe_the_generated_campaign() -> None:
    """wml_project.yml's `winback` var is the campaign the generator plants (SQL side)."""
    import yaml

    from warehouse_ml.demo.campaign import WINBACK
    from warehouse_ml.demo.latent import Calendar

    w = yaml.safe_load((pathlib.Path(__file__).parents[1] / "wml_project.yml").read_text())["vars"]["winback"]
    cal = Calendar.build(dt.date(2026, 6, 30), 15)
    assert w["experiment"] == WINBACK.experiment(cal)
    assert w["start"] == f"{cal.as_datetime(WINBACK.start(cal)):%Y-%m-%d}"
    assert (w["days"], w["lapsed_days"], w["holdout"]) == (WINBACK.days, WINBACK.lapsed_days, WINBACK.holdout)
    assert tuple(w["variants"]) == WINBACK.variants


# --- planted product structure (recommenders' signal) -------------------------------------


def _planted(data: DemoData) -> duckdb.DuckDBPyConnection:
    """Orders as lists of products per person, the catalog's partners and rising products,
    and a shuffled partner map of the same shape as the control."""
    cat = shop_catalog(7)
    ids = cat.table.column("product_id").to_pylist()
    shuffled = np.random.default_rng(0).permutation(cat.affinity.partner)
    con = duckdb.connect()
    con.register("tracks", data.table("tracks"))
    con.register("person", pa.table({"person": data.truth.tracks_person}))
    for name, partner in (("partners", cat.affinity.partner), ("control", shuffled)):
        con.register(name, pa.table({"x": ids, "y": [ids[i] for i in partner]}))
    con.register("rising", pa.table({"product_id": [ids[i] for i in cat.affinity.rising.ravel()]}))
    con.sql("""
        create table orders as
        select person, order_id, min(timestamp) as ts, list(distinct product_id) as items
        from tracks positional join person
        where event = 'Product Added' and order_id is not null group by all""")
    return con


def _next_order_has_partner(con: duckdb.DuckDBPyConnection, pairs: str) -> float:
    return con.sql(f"""
        with seq as (
            select items, lag(items) over (partition by person order by ts) as prev from orders
        )
        select avg(case when exists (
            select 1 from unnest(prev) as p(x) join {pairs} m on m.x = p.x
            where list_contains(items, m.y)) then 1.0 else 0.0 end)
        from seq where prev is not null""").fetchall()[0][0]


def test_next_orders_carry_the_planted_complements(data: DemoData) -> None:
    con = _planted(data)
    planted = _next_order_has_partner(con, "partners")
    control = _next_order_has_partner(con, "control")
    # COMPLEMENT_P of next orders start with a partner; a random map of the same shape hits ~1%
    assert planted > 0.35 and control < 0.03, (planted, control)


def test_rising_products_gain_share_over_the_window(data: DemoData) -> None:
    con = _planted(data)
    rows = dict(con.sql("""
        with bounds as (select min(timestamp) as lo, max(timestamp) as hi from tracks)
        select case when timestamp < lo + (hi - lo) / 2 then 'first half'
                    when timestamp >= hi - interval 60 days then 'last 60 days' end as part,
               avg(case when product_id in (select product_id from rising) then 1.0 else 0 end)
        from tracks, bounds where event = 'Product Added' group by part""").fetchall())
    # 16 of 240 products: about 7% flat before the rise, then up to 20% more of the picks
    first, last = rows["first half"], rows["last 60 days"]
    assert first < 0.09 and last > 0.15, rows
