"""Built-in macros (warehouse_ml/macros) through the real CLI, in both SQL dialects.

Each project is built once per dialect (module fixtures); the tests read its tables.
Identity: hand-built Segment cases plus demo data against the generator's ground truth.
Traits, RFM and A/B: compared with the same computations in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import typing as t
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from conftest import PROFILE, Project, assert_clean_error

DIALECTS = ["duckdb", "redshift"]
AS_OF = dt.datetime(2026, 7, 1)
ID_TYPES = ("user_id", "email", "anonymous_id")
Row = dict[str, t.Any]


def _new_project(root: Path, dialect: str, files: dict[str, str], yml: str = "") -> Project:
    root.mkdir(parents=True)
    project = Project(root)
    project.write(
        {"profiles.yml": PROFILE, "wml_project.yml": f"name: t\nsql_dialect: {dialect}\n{yml}"}
    )
    return project.write(files)


def _build(project: Project) -> Project:
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


def _seed_types(name: str, columns: t.Iterable[str]) -> str:
    types = ", ".join(f"{c}: VARCHAR" for c in columns)
    return f"  - name: {name}\n    config:\n      column_types: {{{types}, timestamp: TIMESTAMP}}\n"


def _event_csv(events: list[str], columns: t.Sequence[str]) -> str:
    """Events written as 'value|value|...' over `columns`, one hour apart."""
    lines = [",".join(["message_id", "timestamp", *columns])]
    for i, event in enumerate(events):
        stamp = dt.datetime(2026, 1, 1) + dt.timedelta(hours=i)
        lines.append(",".join([f"m{i}", f"{stamp:%Y-%m-%d %H:%M:%S}", *event.split("|")]))
    return "\n".join(lines) + "\n"


def _graph_model(seed: str, args: str) -> str:
    graph = f"wml.identity_graph(relations=[ref('{seed}')]{args})"
    return f"{{{{ config(materialized='table') }}}}\n{{{{ {graph} }}}}\n"


# -- identity: hand-built cases ---------------------------------------------------------------

JUNK = ("anonymous", "00000000", "-1", " 0 ", "ANONYMOUS", "NULL", "test@test.com")
# name -> (graph (GRAPHS), events as 'user_id|email|anonymous_id', expected profiles as
# 'type:value ...' with '!' marking a dropped identifier). Cases share a graph (one build):
# their identifiers get a per-case prefix, junk values excepted.
IDENTITY_CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "two_devices_then_login": (
        "default",
        ["||d1", "||d2", "u1||d1", "u1||d2"],
        ["user_id:u1 anonymous_id:d1 anonymous_id:d2"],
    ),
    "family_device_two_users": (
        "default",
        ["u1||fam", "u2||fam", "||fam"],
        ["user_id:u1 anonymous_id:fam!", "user_id:u2"],
    ),
    "junk_ids_never_merge": (
        "default",
        [f"u{i}|test@test.com|{JUNK[i % 4]}" for i in range(50)] + ["u0||ANONYMOUS", "u1|NULL|"],
        [f"user_id:u{i}" for i in range(50)],
    ),
    "unblocked_shared_kiosk_joins_first_user_only": (
        "default",
        [f"u{i}||kiosk" for i in range(5)],
        ["user_id:u0 anonymous_id:kiosk!"] + [f"user_id:u{i}" for i in range(1, 5)],
    ),
    "email_case_folding": (
        "default",
        ["u1|Ann@X.com|", "| ann@x.COM |d9"],
        ["user_id:u1 email:ann@x.com anonymous_id:d9"],
    ),
    "limit_drops_latest_device": (
        "default",
        [f"u1||d{i}" for i in range(7)],
        [
            "user_id:u1 " + " ".join(f"anonymous_id:d{i}" for i in range(5)),
            "anonymous_id:d5!",
            "anonymous_id:d6!",
        ],
    ),
    "configured_email_limit": (
        "email_limit_1",
        ["u1|a@x.com|", "u1|b@x.com|"],
        ["user_id:u1 email:a@x.com", "email:b@x.com!"],
    ),
    "device_joins_guest_email_to_account": (
        "default",
        ["|g@x.com|d1", "u1||d1"],
        ["user_id:u1 email:g@x.com anonymous_id:d1"],
    ),
    "chain_that_would_join_two_users_is_not_used": (
        "default",
        ["|g@x.com|d1", "|g@x.com|d2", "u1||d1", "u2||d2"],
        ["email:g@x.com anonymous_id:d1! anonymous_id:d2!", "user_id:u1", "user_id:u2"],
    ),
    "person_with_two_emails_and_devices": (
        "default",
        ["u1|a@x.com|", "u1|b@y.com|", "|a@x.com|d1", "|b@y.com|d2", "||d1"],
        ["user_id:u1 email:a@x.com email:b@y.com anonymous_id:d1 anonymous_id:d2"],
    ),
}
GRAPHS = {"default": "", "email_limit_1": ", limits={'email': 1}"}
# e0 - d0 - e1 - d1 - ... - e12 (identifiers email, device): one profile, found only if the
# component search iterates to its fixed point.
CHAIN = [f"e{i + k}@x.com|d{i}" for i in range(12) for k in (0, 1)]
CHAIN_ARGS = ", identifiers=['email', 'device'], limits={'email': 50, 'device': 50}"


def _prefix(case: str) -> str:
    return f"k{list(IDENTITY_CASES).index(case)}."


def _tag(event: str, prefix: str) -> str:
    """The case prefix on each value, after leading blanks (still to be trimmed)."""
    cells = event.split("|")
    return "|".join(
        v if v in JUNK or not v else v[: len(v) - len(v.lstrip())] + prefix + v.lstrip()
        for v in cells
    )


@pytest.fixture(scope="module", params=DIALECTS)
def identity(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    files: dict[str, str] = {}
    schema = "seeds:\n" + _seed_types("chain", ("email", "device"))
    for graph, args in GRAPHS.items():
        events = [
            _tag(e, _prefix(c))
            for c, (g, es, _) in IDENTITY_CASES.items()
            if g == graph
            for e in es
        ]
        files[f"seeds/ev_{graph}.csv"] = _event_csv(events, ID_TYPES)
        schema += _seed_types(f"ev_{graph}", ID_TYPES)
        files[f"models_sql/graph_{graph}.sql"] = _graph_model(
            f"ev_{graph}", ", blocked=['test@test.com']" + args
        )
    files |= {
        "seeds/schema.yml": schema,
        "seeds/chain.csv": _event_csv(CHAIN, ("email", "device")),
        "models_sql/graph_chain.sql": _graph_model("chain", CHAIN_ARGS),
        # The pairs interface (columns split over two calls) must agree with relations.
        "models_sql/graph_pairs.sql": """
            {{ wml.identity_graph(pairs=[
                wml.identifier_pairs(ref('ev_default'), ['user_id', 'anonymous_id'], source='ev'),
                wml.identifier_pairs(ref('ev_default'), {'email': 'email'}, source='ev')],
              blocked=['test@test.com']) }}
        """,
        "models_sql/resolved.sql": "{{ wml.resolve_events(ref('ev_default'), ref('graph_default')) }}\n",
        "models_sql/event_counts.sql": """
            select profile_id, {{ wml.event_counter() }} as events from {{ ref('resolved') }} group by profile_id
        """,
    }
    root = tmp_path_factory.mktemp(f"identity_{request.param}") / "p"
    return _build(_new_project(root, request.param, files))


def _profiles(project: Project, model: str, prefix: str = "") -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    sql = f"select identifier_type, identifier_value, profile_id, drop_reason from main.{model}"
    for kind, value, profile, reason in project.query(sql):
        if value.startswith(prefix):
            groups.setdefault(profile, []).append(f"{kind}:{value}" + ("!" if reason else ""))
    return sorted(sorted(g) for g in groups.values())


@pytest.mark.parametrize("case", list(IDENTITY_CASES))
def test_identity_cases(identity: Project, case: str) -> None:
    graph, _, profiles = IDENTITY_CASES[case]
    p = _prefix(case)
    expected = sorted(
        sorted(i.replace(":", ":" + p, 1) for i in profile.split()) for profile in profiles
    )
    assert _profiles(identity, f"graph_{graph}", p) == expected


def test_profile_id_is_md5_of_highest_priority_identifier(identity: Project) -> None:
    p = _prefix("two_devices_then_login")
    ids = identity.query(
        f"select distinct profile_id from main.graph_default where identifier_value like '{p}%'"
    )
    assert ids == [(hashlib.md5(f"user_id:{p}u1".encode()).hexdigest(),)]


def test_components_iterate_to_a_fixed_point(identity: Project) -> None:
    assert len(_profiles(identity, "graph_chain")) == 1
    assert identity.scalar("select count(*) from main.graph_chain") == 25


def test_pairs_interface_matches_relations(identity: Project) -> None:
    assert _profiles(identity, "graph_pairs") == _profiles(identity, "graph_default")


def test_events_count_once_per_person(identity: Project) -> None:
    case = "person_with_two_emails_and_devices"
    profile = hashlib.md5(f"user_id:{_prefix(case)}u1".encode()).hexdigest()
    events = identity.query(f"select events from main.event_counts where profile_id = '{profile}'")
    assert events == [(len(IDENTITY_CASES[case][1]),)]


def test_unconverged_components_fail_loudly(tmp_path: Path) -> None:
    project = _new_project(tmp_path / "p", "duckdb", {
        "seeds/chain.csv": _event_csv(CHAIN, ("email", "device")),
        "seeds/schema.yml": "seeds:\n" + _seed_types("chain", ("email", "device")),
        "models_sql/graph.sql": _graph_model("chain", CHAIN_ARGS + ", max_rounds=1"),
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 1
    assert "did not converge in 1 rounds; raise max_rounds" in result.output


# -- identity on demo data against the generator's truth ----------------------------------------


@pytest.fixture(scope="module")
def demo_data() -> t.Any:
    from warehouse_ml.demo.generator import generate

    return generate(2000, seed=11)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_data: t.Any) -> dict[str, Project]:
    """The demo tables as seeds, resolved in each dialect."""
    from warehouse_ml.demo.generator import write_csv

    files = {
        "seeds/schema.yml": "seeds:\n" + _seed_types("identifies", ID_TYPES)
        + _seed_types("tracks", ID_TYPES) + _seed_types("store_sales", ["email"]),
        "models_sql/graph.sql": """
            {{ config(materialized='table') }}
            {{ wml.identity_graph(relations=[ref('identifies'), ref('tracks'),
                 {'relation': ref('store_sales'), 'identifiers': ['email']}], blocked=['test@test.com']) }}
        """,
        "models_sql/resolved.sql": "{{ config(materialized='table') }}\n{{ wml.resolve_events(ref('tracks'), ref('graph')) }}",
        "models_sql/event_counts.sql": """
            select profile_id, {{ wml.event_counter() }} as events
            from {{ ref('resolved') }} where profile_id is not null group by profile_id
        """,
    }  # fmt: skip
    projects = {}
    for dialect in DIALECTS:
        root = tmp_path_factory.mktemp(f"demo_{dialect}") / "p"
        project = _new_project(root, dialect, files)
        write_csv(demo_data, root / "seeds")
        (root / "seeds" / "products.csv").unlink()
        projects[dialect] = _build(project)
    return projects


def _demo_scores(project: Project, data: t.Any) -> dict[str, float]:
    """Purity: share of events whose profile's main person is theirs; completeness: share
    of a person's events in their main profile."""
    con = duckdb.connect(str(project.root / "warehouse.duckdb"), read_only=True)
    try:
        truth = pa.table(
            {"message_id": data.tracks["message_id"], "person": data.truth.tracks_person}
        )
        con.register("truth", truth)
        cur = con.execute("""
            with e as (select r.profile_id, t.person from main.resolved r join truth t using (message_id)),
            pp as (select profile_id, person, count(*) as n from e where profile_id is not null group by all),
            prof as (select profile_id, sum(n) as tot, max(n) as best from pp group by all),
            pers as (select person, sum(n) as tot, max(n) as best from pp group by all)
            select (select sum(best) / sum(tot) from prof) as purity,
                   (select sum(best) / sum(tot) from pers) as completeness,
                   (select count(*) from prof) as profiles, (select count(*) from pers) as people,
                   (select count(*) from e where profile_id is null) / (select count(*) from e) as unresolved
        """)
        return dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    finally:
        con.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_demo_identity_matches_ground_truth(
    demo: dict[str, Project], demo_data: t.Any, dialect: str
) -> None:
    scores = _demo_scores(demo[dialect], demo_data)
    # Measured at 2,000 people: purity ~0.998, completeness ~0.997; ~2-3% more profiles than
    # people (second devices that never log in nor order); ~0.5% of events carry only a
    # junk anonymous_id and stay unresolved.
    assert scores["purity"] > 0.99 and scores["completeness"] > 0.99, scores
    assert scores["people"] <= scores["profiles"] <= 1.06 * scores["people"], scores
    assert scores["unresolved"] < 0.02, scores


@pytest.mark.parametrize("dialect", DIALECTS)
def test_demo_profiles_respect_limits_and_blocks(demo: dict[str, Project], dialect: str) -> None:
    counts = ", ".join(
        f"count(case when identifier_type = '{k}' then 1 end) as {k}" for k in ID_TYPES
    )
    worst = demo[dialect].query(
        f"select max(user_id), max(email), max(anonymous_id) from "
        f"(select {counts} from main.graph group by profile_id) as x"
    )
    assert worst[0][0] == 1 and worst[0][1] <= 5 and worst[0][2] <= 5
    junk = "('anonymous', '0', '-1', '00000000', 'null', 'test@test.com')"
    assert (
        demo[dialect].scalar(
            f"select count(*) from main.graph where lower(identifier_value) in {junk}"
        )
        == 0
    )
    # Every resolved event counts once: per-profile counts add up to the resolved events.
    assert demo[dialect].scalar("select sum(events) from main.event_counts") == demo[
        dialect
    ].scalar("select count(*) from main.resolved where profile_id is not null")


def test_demo_identity_is_the_same_in_both_dialects(demo: dict[str, Project]) -> None:
    sql = "select identifier_type, identifier_value, profile_id, drop_reason from main.graph order by 1, 2"
    duck, red = (demo[d].query(sql) for d in DIALECTS)
    assert duck == red and len(duck) > 5000


# -- traits, RFM and experiments: one project per dialect, checked against Python ---------------


def _trait_events() -> list[Row]:
    rng = random.Random(5)
    rows = []
    for p in range(12):
        # 2026-01-01 .. 2026-08-03, distinct seconds: some events fall after as_of.
        for s in rng.sample(range(215 * 86400), rng.randint(0, 40)):
            rows.append({
                "profile_id": f"p{p:02d}", "timestamp": dt.datetime(2026, 1, 1) + dt.timedelta(seconds=s),
                "event": rng.choice(["View", "Order", "Click"]),
                "category": rng.choice(["shoes", "hats", "Bags", "socks", None]),
                "price": None if rng.random() < 0.15 else round(rng.uniform(1, 200), 2),
            })  # fmt: skip
    # Ties: a second value at each profile's first and last second, broken by value.
    for p in sorted({r["profile_id"] for r in rows}):
        mine = sorted((r for r in rows if r["profile_id"] == p), key=lambda r: r["timestamp"])
        for r in (mine[0], mine[-1]):
            rows.append({**r, "category": "zzz" if r["category"] == "aaa" else "aaa",
                         "price": 7.5 if r["price"] is None else r["price"] + 1})  # fmt: skip
    return rows


def _csv(rows: list[Row], columns: t.Sequence[str]) -> str:
    def cell(v: t.Any) -> str:
        return (
            "" if v is None else f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, dt.datetime) else str(v)
        )

    return (
        "\n".join([",".join(columns), *(",".join(cell(r[c]) for c in columns) for r in rows)])
        + "\n"
    )


def py(kind: str, prop: str | None = None, event: str | tuple[str, ...] | None = None,
       days: int | None = None, where: t.Callable[[Row], bool] = lambda r: True,
       as_of: dt.datetime = AS_OF, sep: str = ",") -> t.Callable[[list[Row]], t.Any]:  # fmt: skip
    """A trait over one profile's rows, computed in Python."""
    start = as_of - dt.timedelta(days=days) if days else dt.datetime.min
    names = (event,) if isinstance(event, str) else event

    def run(rows: list[Row]) -> t.Any:
        hits = [
            r
            for r in rows
            if start <= r["timestamp"] < as_of
            and (names is None or r["event"] in names)
            and where(r)
        ]
        if prop is None:
            return len(hits)
        values = [r[prop] for r in hits if r[prop] is not None]
        if kind == "count":
            return len(values)
        if kind == "nunique":
            return len(set(values))
        if not values:
            return None
        if kind in ("first", "last"):
            stamped = sorted((r["timestamp"], str(r[prop])) for r in hits if r[prop] is not None)
            return stamped[0 if kind == "first" else -1][1]
        ops: dict[str, t.Callable[[list[t.Any]], t.Any]] = {
            "sum": sum, "min": min, "max": max, "avg": lambda v: sum(v) / len(v),
            "unique": lambda v: sep.join(sorted(set(v))),
        }  # fmt: skip
        return ops[kind](values)

    return run


TRAITS: dict[str, tuple[str, t.Callable[[list[Row]], t.Any]]] = {
    "orders": ("wml.event_counter('Order')", py("count", event="Order")),
    "orders_30d": ("wml.event_counter('Order', within='30 days')", py("count", event="Order", days=30)),
    "events_7d": ("wml.event_counter(within=7)", py("count", days=7)),
    "views_clicks_90d": ("wml.event_counter(['View', 'Click'], within='90 days')", py("count", event=("View", "Click"), days=90)),
    "orders_q2": ("wml.event_counter('Order', where=[wml.after('2026-04-01'), wml.before('2026-06-01')])",
                  py("count", event="Order", where=lambda r: dt.datetime(2026, 4, 1) <= r["timestamp"] < dt.datetime(2026, 6, 1))),
    "orders_as_of_june": ("wml.event_counter('Order', as_of='2026-06-01')", py("count", event="Order", as_of=dt.datetime(2026, 6, 1))),
    "revenue": ("wml.aggregation('sum', 'price', event='Order')", py("sum", "price", event="Order")),
    "avg_shoes": ("wml.aggregation('avg', 'price', where=wml.equals('category', 'shoes'))",
                  py("avg", "price", where=lambda r: r["category"] == "shoes")),
    "min_price_60d": ("wml.aggregation('min', 'price', within='60 days')", py("min", "price", days=60)),
    "max_hats_bags": ("wml.aggregation('max', 'price', where=wml.one_of('category', ['hats', 'Bags']))",
                      py("max", "price", where=lambda r: r["category"] in ("hats", "Bags"))),
    "n_priced": ("wml.aggregation('count', 'price')", py("count", "price")),
    "first_category": ("wml.first_value('category')", py("first", "category")),
    "last_order_price": ("wml.last_value('price', event='Order', cast='double precision')",
                         lambda rows: float(py("last", "price", event="Order")(rows) or "nan")),
    "categories": ("wml.unique_list('category')", py("unique", "category")),
    "s_categories_90d": ("wml.unique_list('category', within=90, where=wml.contains('category', 'S', case_sensitive=false), separator='|')",
                         py("unique", "category", days=90, where=lambda r: "s" in (r["category"] or "").lower(), sep="|")),
    "n_categories_30d": ("wml.unique_list_count('category', within='30 days')", py("nunique", "category", days=30)),
}  # fmt: skip


def _rfm_rows() -> list[Row]:
    rng = random.Random(9)
    rows = [{"id": f"c{i:03d}", "days": rng.randint(0, 400), "orders": rng.randint(1, 30),
             "spend": round(rng.uniform(5, 900), 2)} for i in range(53)]  # fmt: skip
    rows[3]["days"] = rows[7]["days"] = None  # never bought: worst recency
    return rows


def _ntile(rows: list[Row], key: t.Callable[[Row], t.Any]) -> dict[str, int]:
    """NTILE(5): the first n % 5 buckets get one row more."""
    ordered, out, start = sorted(rows, key=key), {}, 0
    for bucket in range(5):
        size = len(ordered) // 5 + (bucket < len(ordered) % 5)
        out |= {r["id"]: bucket + 1 for r in ordered[start : start + size]}
        start += size
    return out


def _segment(r: int, f: int, m: int) -> str:
    """The documented grid (warehouse_ml/macros/rfm.sql) on r and fm = ceil((f + m) / 2)."""
    fm = (f + m + 1) // 2
    if r >= 3 and fm >= 4:
        return "champions" if r == 5 else "loyal_customers"
    if r >= 4:
        return "potential_loyalists" if fm >= 2 else ("new_customers" if r == 5 else "promising")
    if r == 3:
        return "need_attention" if fm == 3 else "about_to_sleep"
    return "cant_lose_them" if fm == 5 else ("at_risk" if fm >= 3 else "hibernating")


AB_IDS = 20_000


def _ab_python(key: str, experiment: str, variants: list[str], holdout: float) -> str:
    h = hashlib.md5(f"{experiment}:{key}".encode()).hexdigest()
    if int(h[0:7], 16) < math.floor(holdout * 2**28):
        return "holdout"
    b = int(h[7:14], 16)
    return next(v for i, v in enumerate(variants) if b < (i + 1) * 2**28 // len(variants))


@pytest.fixture(scope="module", params=DIALECTS)
def analytics(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    traits = ",\n    ".join(f"{{{{ {call} }}}} as {name}" for name, (call, _) in TRAITS.items())
    files = {
        "seeds/events.csv": _csv(_trait_events(), ["profile_id", "timestamp", "event", "category", "price"]),
        "seeds/customers.csv": _csv(_rfm_rows(), ["id", "days", "orders", "spend"]),
        "seeds/ids.csv": "n,email\n" + "".join(f"{i},User{i}@Example.com\n" for i in range(AB_IDS)),
        "seeds/schema.yml": "seeds:\n  - name: events\n    config:\n      column_types: {timestamp: TIMESTAMP, price: DOUBLE}\n",
        "models_sql/traits.sql": f"select profile_id,\n    {traits}\nfrom {{{{ ref('events') }}}}\ngroup by profile_id\n",
        "models_sql/top_category.sql": "{{ wml.most_frequent(ref('events'), 'category', name='top_category') }}\n",
        "models_sql/rfm.sql": "{{ wml.rfm_scores(ref('customers'), 'days', 'orders', 'spend', 'id') }}\n",
        "models_sql/ab.sql": """
            select n, email,
              {{ wml.ab_variant('n', 'exp1', ['A', 'B', 'C'], holdout=0.1) }} as by_number,
              {{ wml.in_holdout('n', 'exp1', 0.1) }} as held_out,
              {{ wml.ab_variant('email', 'exp2', ['control', 'treatment'], holdout=0) }} as by_email
            from {{ ref('ids') }}
        """,
    }  # fmt: skip
    root = tmp_path_factory.mktemp(f"analytics_{request.param}") / "p"
    return _build(_new_project(root, request.param, files, yml="vars:\n  as_of: '2026-07-01'\n"))


@pytest.mark.parametrize("trait", list(TRAITS))
def test_trait_matches_python(analytics: Project, trait: str) -> None:
    rows = _trait_events()
    got = dict(analytics.query(f"select profile_id, {trait} from main.traits"))
    for profile in sorted({r["profile_id"] for r in rows}):
        want = TRAITS[trait][1]([r for r in rows if r["profile_id"] == profile])
        if isinstance(want, float) and math.isnan(want):
            want = None
        assert got[profile] == (pytest.approx(want) if isinstance(want, float) else want), profile


def test_most_frequent_needs_two_and_breaks_ties_alphabetically(analytics: Project) -> None:
    want = {}
    for row in _trait_events():
        if row["timestamp"] < AS_OF and row["category"]:
            counts = want.setdefault(row["profile_id"], {})
            counts[row["category"]] = counts.get(row["category"], 0) + 1
    best = {p: min((-n, v) for v, n in c.items()) for p, c in want.items()}
    expected = {p: (v, -n) for p, (n, v) in best.items() if -n >= 2}
    got = analytics.query(
        "select profile_id, top_category, top_category_count from main.top_category"
    )
    assert {p: (v, n) for p, v, n in got} == expected


def test_rfm_quintiles_and_segments(analytics: Project) -> None:
    rows = _rfm_rows()
    sql = "select id, r_score, f_score, m_score, rfm_score, rfm_segment from main.rfm"
    got = {row[0]: row[1:] for row in analytics.query(sql)}
    r = _ntile(rows, lambda x: (x["days"] is not None, -(x["days"] or 0), x["id"]))
    f = _ntile(rows, lambda x: (x["orders"], x["id"]))
    m = _ntile(rows, lambda x: (x["spend"], x["id"]))
    for k in (row["id"] for row in rows):
        assert got[k] == (r[k], f[k], m[k], f"{r[k]}{f[k]}{m[k]}", _segment(r[k], f[k], m[k])), k
    assert got["c003"][0] == 1  # never bought: lowest recency score
    assert len({v[4] for v in got.values()}) >= 8  # most cells of the grid are exercised


@pytest.mark.parametrize(("rfm", "segment"), [
    ("555", "champions"), ("543", "champions"), ("455", "loyal_customers"), ("511", "new_customers"),
    ("411", "promising"), ("423", "potential_loyalists"), ("333", "need_attention"),
    ("312", "about_to_sleep"), ("155", "cant_lose_them"), ("243", "at_risk"), ("112", "hibernating"),
])  # fmt: skip
def test_rfm_segment_grid(rfm: str, segment: str) -> None:
    assert _segment(*map(int, rfm)) == segment  # the replica the SQL is checked against


def test_ab_assignment_equals_python_hashlib(analytics: Project) -> None:
    rows = analytics.query("select n, email, by_number, held_out, by_email from main.ab")
    assert len(rows) == AB_IDS
    for n, email, by_number, held_out, by_email in rows:
        assert by_number == _ab_python(str(n), "exp1", ["A", "B", "C"], 0.1), n
        assert held_out == (by_number == "holdout"), n
        assert by_email == _ab_python(email, "exp2", ["control", "treatment"], 0.0), email


def test_ab_shares_within_tolerance(analytics: Project) -> None:
    counts = dict(analytics.query("select by_number, count(*) from main.ab group by 1"))
    assert abs(counts["holdout"] / AB_IDS - 0.1) < 4 * math.sqrt(0.1 * 0.9 / AB_IDS), counts
    rest = AB_IDS - counts["holdout"]
    for v in ("A", "B", "C"):
        assert abs(counts[v] / rest - 1 / 3) < 4 * math.sqrt(2 / 9 / rest), counts
    # Two experiments assign independently: agreement near chance.
    same = analytics.scalar(
        "select avg(case when (by_number = 'A') = (by_email = 'control') then 1.0 else 0 end) from main.ab"
    )
    assert 0.45 < same < 0.55


# -- compiled SQL and errors ----------------------------------------------------------------------

DUCKDB_ONLY = ("string_agg", "strftime", "arg_min", "arg_max", "regexp_matches", "list_", "from_base", "::")


def _check_compiled_redshift(project: Project) -> None:
    result = project.wml("compile", "--dialect", "redshift")
    assert result.exit_code == 0, result.output
    files = sorted((project.root / "target/compiled/models_sql").glob("*.sql"))
    own_redshift = "sql_dialect: redshift" in (project.root / "wml_project.yml").read_text()
    assert files
    for path in files:
        sql = path.read_text()
        sqlglot.parse_one(sql, read="redshift")
        if own_redshift:  # the macros' own Redshift output: no DuckDB-only syntax
            assert not [w for w in DUCKDB_ONLY if w in sql.lower()], path.name


def test_compiled_redshift_sql_parses_traits_rfm_ab(analytics: Project) -> None:
    _check_compiled_redshift(analytics)


def test_first_last_without_arg_min_agree(analytics: Project) -> None:
    """Engines without arg_min get the sortable-text form; on DuckDB it gives the same rows."""
    result = analytics.wml("compile", "--dialect", "postgres", "-s", "traits")
    assert result.exit_code == 0, result.output
    sql = (analytics.root / "target/compiled/models_sql/traits.sql").read_text()
    assert "arg_m" not in sql.lower()
    on_duckdb = sqlglot.transpile(sql, read="postgres", write="duckdb")[0]
    cols = "first_category, last_order_price"
    built = analytics.query(f"select profile_id, {cols} from main.traits order by 1")
    assert analytics.query(f"select profile_id, {cols} from ({on_duckdb}) order by 1") == built
    assert any(row[1] is not None for row in built) and any(row[2] is not None for row in built)


def test_compiled_redshift_sql_parses_identity(identity: Project) -> None:
    _check_compiled_redshift(identity)


@pytest.mark.parametrize(("call", "message"), [
    ("wml.identity_graph()", "give exactly one of relations"),
    ("wml.identity_graph(relations=[ref('t')], limits={'phone': 2})", "limits names 'phone'"),
    ("wml.identity_graph(relations=[ref('t')], identifiers=['email', 'email'])", "distinct identifier types"),
    ("wml.identity_graph(relations=[{'relation': ref('t'), 'identifiers': ['phone']}])", "type 'phone'"),
    ("wml.event_counter('x', within='90 parsecs')", "within=90 parsecs is not understood"),
    ("wml.aggregation('median', 'x')", "is not one of sum, avg, min, max, count"),
    ("wml.ab_variant('x', 'e', holdout=1.5)", "must be a share in [0, 1)"),
    ("wml.rfm_scores(ref('t'), 'a', 'b', 'c', 'd', recency='weeks')", "must be 'days'"),
])  # fmt: skip
def test_bad_arguments_fail_with_clear_message(project: Project, call: str, message: str) -> None:
    project.write(
        {
            "seeds/t.csv": "x\n1\n",
            "models_sql/m.sql": f"select {{{{ {call} }}}} from {{{{ ref('t') }}}}\n",
        }
    )
    assert_clean_error(project.wml("compile"), 2, "models_sql/m.sql", message)
