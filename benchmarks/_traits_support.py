"""Setup for benchmarks/traits_scale.py: demo data, the generated wml project, the SQL.

The project built here is the demo's own identity pipeline on generated data:

- ``models_sql/sources.yml`` declares the parquet files as sources (``meta:
  external_location``); ``raw/{identifies,tracks,store_sales}.sql`` load them into tables
  first, so identity resolution and traits are timed on DuckDB tables, not on parquet
  decoding (the demo project reads seed tables the same way);
- ``staging/stg_events.sql``, ``identity/identity_map.sql`` and
  ``identity/resolved_events.sql`` are copied byte for byte from the repository's demo
  models, so the benchmark times exactly what the demo runs;
- ``traits/profile_traits_scale.sql`` computes TRAITS (18 traits over 30/90/365-day
  windows) with the package's trait macros in one grouped scan of ``resolved_events``
  (the demo's view: identity resolution happens inside this scan);
- ``identity/resolved_events_exact.sql`` is ``wml.resolve_events`` with its default
  (``normalized=false``: a second, normalized lookup per type on a miss) and
  ``traits/profile_traits_exact.sql`` the traits over it, to compare with the demo's view;
- ``identity/resolved_events_stored.sql`` copies the view into a table (what the demo
  paid before resolved_events became a view) and ``traits/profile_traits_stored.sql`` is
  the same traits over that table: the traits alone, with resolution already paid.

:data:`BASELINE_SQL` is the same aggregates written by hand in DuckDB SQL, over the
stored table too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AS_OF = "2026-07-01"  # the day after the generator's default last day (2026-06-30)
DEMO_MODELS = (
    "staging/stg_events.sql",
    "identity/identity_map.sql",
    "identity/resolved_events.sql",
)
RAW_TABLES = ("identifies", "tracks", "store_sales")
TRAITS_MODEL = "profile_traits_scale"
STORED_EVENTS = "resolved_events_stored"
STORED_TRAITS_MODEL = "profile_traits_stored"
# resolve_events' default (exact for any input: a second, normalized lookup per type), next to
# the demo's normalized=true view, so one run shows what one join per type saves.
EXACT_EVENTS = "resolved_events_exact"
EXACT_TRAITS_MODEL = "profile_traits_exact"
BASELINE_TABLE = "profile_traits_baseline"

PROJECT_YML = f"""\
name: traits_scale
profile: traits_scale
sql_dialect: redshift
vars:
  as_of: '{AS_OF}'
models:
  +materialized: table
  staging:
    +materialized: view
"""

PROFILES_YML = """\
traits_scale:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
      threads: 1
"""

# Written in the demo's dialect (Redshift) with the package's macros, as a user would.
TRAITS_SQL = """\
-- Computed traits per profile as of var('as_of'), every trait in one scan of the events.
{% set ts = 'event_at' %}
select
    profile_id,
    {{ wml.event_counter(timestamp=ts) }} as events_total,
    {{ wml.event_counter('Order Completed', timestamp=ts) }} as orders_total,
    {{ wml.event_counter('Order Completed', within='90 days', timestamp=ts) }} as orders_90d,
    {{ wml.event_counter('Product Viewed', within='30 days', timestamp=ts) }} as views_30d,
    {{ wml.event_counter('Product Added', within='30 days', timestamp=ts) }} as adds_30d,
    {{ wml.event_counter(['Email Opened', 'Email Link Clicked'], within='90 days', timestamp=ts) }} as email_engagements_90d,
    {{ wml.aggregation('sum', 'revenue', event=['Order Completed', 'Store Purchase'], within='365 days', timestamp=ts) }} as revenue_365d,
    {{ wml.aggregation('sum', 'revenue', event='Order Completed', within='90 days', where=wml.equals('channel', 'web'), timestamp=ts) }} as web_revenue_90d,
    {{ wml.aggregation('avg', 'revenue', event='Order Completed', timestamp=ts) }} as avg_order_value,
    {{ wml.aggregation('max', 'revenue', event='Order Completed', within='90 days', timestamp=ts) }} as max_order_90d,
    {{ wml.aggregation('sum', 'quantity', event='Order Completed', timestamp=ts) }} as items_bought,
    {{ wml.aggregation('max', 'event_at', timestamp=ts) }} as last_seen_at,
    {{ wml.unique_list_count('category', event='Product Viewed', within='90 days', timestamp=ts) }} as categories_viewed_90d,
    {{ wml.unique_list_count('product_id', event='Product Added', within='30 days', timestamp=ts) }} as products_added_30d,
    {{ wml.unique_list('category', event=['Product Viewed', 'Product Added'], within='30 days', timestamp=ts) }} as categories_30d,
    {{ wml.last_value('category', event='Product Viewed', timestamp=ts) }} as last_category_viewed,
    {{ wml.first_value('channel', timestamp=ts) }} as first_channel,
    {{ wml.last_value('revenue', event='Order Completed', timestamp=ts, cast='double precision') }} as last_order_revenue
from {{ ref('resolved_events') }}
where profile_id is not null
group by profile_id
"""

TRAIT_COUNT = sum(line.lstrip().startswith("{{ wml.") for line in TRAITS_SQL.splitlines())

# The same traits by hand in DuckDB SQL: one WHERE for as_of, CASE per window, FILTER
# where CASE cannot say it, arg_max / arg_min for last / first values. Ties at one timestamp take the largest / smallest value
# (the (event_at, value) key), as the macros define them, so the results are comparable.
_D30, _D90, _D365 = "timestamp '2026-06-01'", "timestamp '2026-04-02'", "timestamp '2025-07-01'"
BASELINE_SQL = f"""\
create or replace table {BASELINE_TABLE} as
select
    profile_id,
    count(*) as events_total,
    count(case when event = 'Order Completed' then 1 end) as orders_total,
    count(case when event = 'Order Completed' and event_at >= {_D90} then 1 end) as orders_90d,
    count(case when event = 'Product Viewed' and event_at >= {_D30} then 1 end) as views_30d,
    count(case when event = 'Product Added' and event_at >= {_D30} then 1 end) as adds_30d,
    count(case when event in ('Email Opened', 'Email Link Clicked') and event_at >= {_D90} then 1 end) as email_engagements_90d,
    sum(case when event in ('Order Completed', 'Store Purchase') and event_at >= {_D365} then revenue end) as revenue_365d,
    sum(case when event = 'Order Completed' and channel = 'web' and event_at >= {_D90} then revenue end) as web_revenue_90d,
    avg(case when event = 'Order Completed' then revenue end) as avg_order_value,
    max(case when event = 'Order Completed' and event_at >= {_D90} then revenue end) as max_order_90d,
    sum(case when event = 'Order Completed' then quantity end) as items_bought,
    max(event_at) as last_seen_at,
    count(distinct case when event = 'Product Viewed' and event_at >= {_D90} then category end) as categories_viewed_90d,
    count(distinct case when event = 'Product Added' and event_at >= {_D30} then product_id end) as products_added_30d,
    string_agg(distinct category, ',' order by category) filter (where event in ('Product Viewed', 'Product Added') and event_at >= {_D30}) as categories_30d,
    arg_max(category, (event_at, category)) filter (where event = 'Product Viewed') as last_category_viewed,
    arg_min(channel, (event_at, channel)) as first_channel,
    arg_max(revenue, (event_at, revenue)) filter (where event = 'Order Completed') as last_order_revenue
from resolved_events_stored
where profile_id is not null and event_at < timestamp '{AS_OF}'
group by profile_id
"""

# Runs in a fresh process (like the wml build), timing only the statement.
BASELINE_CHILD = """\
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
started = time.perf_counter()
con.execute(sys.argv[2])
print(time.perf_counter() - started)
con.close()
"""


# Runs one command and reports its wall time, CPU time and peak RSS (KiB) into a file. The peak must
# come from a small process: a child started by a big one (this script, after generating
# data) inherits the parent's high-water RSS when it execs (Linux keeps the larger of the
# old and new memory's peaks), so RUSAGE_CHILDREN measured here would floor every step at
# our own size.
MEASURE_CHILD = """\
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
sys.exit(code)
"""


@dataclasses.dataclass
class Proc:
    """A finished child process: wall time, CPU time (user + system), peak RSS, output."""

    wall: float
    cpu: float
    peak_rss_mb: float
    stdout: str


def run_measured(args: list[str], cwd: Path | None = None) -> Proc:
    """Run a command through MEASURE_CHILD: its wall and CPU time, peak RSS (RUSAGE_CHILDREN).

    Output goes to files, so a chatty child cannot block on a full pipe.
    """
    env = {**os.environ, "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out, err, report = (Path(tmp) / name for name in ("out", "err", "report"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            code = subprocess.call(
                [sys.executable, "-c", MEASURE_CHILD, str(report), *args],
                cwd=cwd,
                stdout=stdout,
                stderr=stderr,
                env=env,
            )
        if code != 0:
            raise SystemExit(
                f"{' '.join(args[:6])} ... failed ({code}):\n{out.read_text()}\n{err.read_text()}"
            )
        wall, cpu, peak_kib = report.read_text().split()
        return Proc(float(wall), float(cpu), int(peak_kib) / 1024, out.read_text())  # KiB


def demo_fingerprint() -> str:
    """A digest of the generator's source: --keep reuses data only from the same code."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "warehouse_ml" / "demo").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def write_data(
    data_dir: Path, profiles: int, seed: int, months: int
) -> tuple[dict[str, int], float | None]:
    """Generate the demo tables as parquet, chunk by chunk (memory bounded by one chunk).

    Reuses files already in ``data_dir`` for the same profiles, seed, months and generator code
    (with --keep).
    Returns the row counts and the seconds spent (None when reused).
    """
    from warehouse_ml.demo import generator

    meta = data_dir / "meta.json"
    wanted = {
        "profiles": profiles, "seed": seed, "months": months, "generator": demo_fingerprint()
    }
    if meta.exists():
        saved = json.loads(meta.read_text())
        if {k: saved.get(k) for k in wanted} == wanted:
            return saved["rows"], None
    shutil.rmtree(data_dir, ignore_errors=True)
    started = time.perf_counter()
    rows = generator.write_parquet(generator.iter_chunks(profiles, seed, months=months), data_dir)
    seconds = time.perf_counter() - started
    meta.write_text(json.dumps({**wanted, "rows": rows}))
    return rows, seconds


def _loaded_key(args: t.Any) -> dict[str, t.Any]:
    """What the loaded tables and identity_map depend on: the data and the identity macros."""
    macros = (REPO / "warehouse_ml" / "macros" / "identity.sql").read_bytes()
    return {
        "profiles": args.profiles, "seed": args.seed, "months": args.months,
        "generator": demo_fingerprint(), "identity_sql": hashlib.sha256(macros).hexdigest()[:16],
    }  # fmt: skip


def save_loaded(db: Path, args: t.Any) -> None:
    """Record, beside the database, what its tables were loaded from (--reuse-tables)."""
    db.with_name("loaded.json").write_text(json.dumps(_loaded_key(args)))


def loaded_matches(db: Path, args: t.Any) -> bool:
    """True when ``db`` holds tables loaded from this data and identity macro code."""
    marker = db.with_name("loaded.json")
    return db.exists() and marker.exists() and json.loads(marker.read_text()) == _loaded_key(args)


def write_project(root: Path, data_dir: Path, db_path: Path) -> None:
    """The benchmark project: sources on the parquet files, the demo's identity models,
    and the traits model."""
    shutil.rmtree(root, ignore_errors=True)
    models = root / "models_sql"
    for folder in ("raw", "staging", "identity", "traits"):
        (models / folder).mkdir(parents=True)
    (root / "wml_project.yml").write_text(PROJECT_YML)
    (root / "profiles.yml").write_text(PROFILES_YML.format(path=db_path.as_posix()))
    tables = "\n".join(
        f"      - name: {name}\n"
        f"        meta: {{external_location: '{(data_dir / f'{name}.parquet').as_posix()}'}}"
        for name in RAW_TABLES
    )
    (models / "sources.yml").write_text(f"sources:\n  - name: demo\n    tables:\n{tables}\n")
    for name in RAW_TABLES:
        (models / "raw" / f"{name}.sql").write_text(
            f"select * from {{{{ source('demo', '{name}') }}}}\n"
        )
    for rel in DEMO_MODELS:
        shutil.copyfile(REPO / "models_sql" / rel, models / rel)
    (models / "traits" / f"{TRAITS_MODEL}.sql").write_text(TRAITS_SQL)
    (models / "identity" / f"{STORED_EVENTS}.sql").write_text(
        "{{ config(materialized='table') }}\nselect * from {{ ref('resolved_events') }}\n"
    )
    stored = TRAITS_SQL.replace("ref('resolved_events')", f"ref('{STORED_EVENTS}')")
    (models / "traits" / f"{STORED_TRAITS_MODEL}.sql").write_text(stored)
    (models / "identity" / f"{EXACT_EVENTS}.sql").write_text(
        "{{ config(materialized='view') }}\n"
        "{{ wml.resolve_events(ref('stg_events'), ref('identity_map')) }}\n"
    )
    exact = TRAITS_SQL.replace("ref('resolved_events')", f"ref('{EXACT_EVENTS}')")
    (models / "traits" / f"{EXACT_TRAITS_MODEL}.sql").write_text(exact)


def node_times(project: Path) -> dict[str, float]:
    """Execution seconds per node name of the last wml command (target/run_results.json)."""
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].rsplit(".", 1)[-1]: float(r["execution_time"]) for r in results}


@dataclasses.dataclass
class Comparison:
    """Two tables with the same columns, compared by EXCEPT ALL both ways."""

    rows: int  # rows of the left table
    columns: int
    only_left: int  # every column exact, DOUBLEs by NULL-ness (their values: doubles_off)
    only_right: int
    doubles_off: int  # rows (joined on the key) with a DOUBLE beyond DOUBLE_REL_TOL
    raw_differ: int  # rows of the left table that differ at all (doubles bit for bit)
    max_rel_diff: float  # largest relative difference of a DOUBLE column

    @property
    def equal(self) -> bool:
        return self.rows > 0 and not (self.only_left or self.only_right or self.doubles_off)


DOUBLE_REL_TOL = 1e-12


def compare(con: t.Any, left: str, right: str, key: str = "profile_id") -> Comparison:
    """Compare two tables with EXCEPT ALL both ways, every column.

    A parallel SUM/AVG of doubles adds in an order that differs between two queries (and
    two runs), so sums of the same cents can differ in the last bits (1317.2400000000002
    against 1317.24), and any rounding has boundaries that such values straddle (an
    average of cents over 32 orders ends in ...5 at the 7th decimal). So the EXCEPT takes
    DOUBLE columns by NULL-ness, and a join on ``key`` checks their values within a
    relative DOUBLE_REL_TOL; rows differing at all are reported too.
    """
    types = dict(con.execute(f"select column_name, column_type from (describe {left})").fetchall())
    doubles = [c for c, ty in types.items() if ty in ("DOUBLE", "FLOAT")]
    exact = ", ".join(f'"{c}" is null' if c in doubles else f'"{c}"' for c in types)
    raw = ", ".join(f'"{c}"' for c in types)

    def value(sql: str) -> t.Any:
        return con.execute(sql).fetchone()[0]

    def only(cols: str, a: str, b: str) -> int:
        return int(
            value(
                f"select count(*) from (select {cols} from {a} except all select {cols} from {b})"
            )
        )

    rel = {
        c: f'abs(l."{c}" - r."{c}") / greatest(abs(l."{c}"), abs(r."{c}"), 1e-300)' for c in doubles
    }
    off = " or ".join(
        f'(l."{c}" is distinct from r."{c}" and not {rel[c]} <= {DOUBLE_REL_TOL})' for c in doubles
    )
    joined = f"from {left} as l join {right} as r using ({key})"
    return Comparison(
        rows=int(value(f"select count(*) from {left}")),
        columns=len(types),
        only_left=only(exact, left, right),
        only_right=only(exact, right, left),
        doubles_off=int(value(f"select count(*) {joined} where {off}")) if doubles else 0,
        raw_differ=only(raw, left, right),
        max_rel_diff=float(
            value(f"select max(greatest({', '.join(rel.values()) or '0'})) {joined}") or 0.0
        ),
    )
