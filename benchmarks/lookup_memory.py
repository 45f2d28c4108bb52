"""What an exact identifier lookup costs DuckDB in memory, apart from everything else.

``wml.resolve_events`` joins every event to the identity map by identifier: a hash join
whose build side holds every identifier string and its profile key for the whole scan. At
the traits benchmark's 1M profiles there are 3.35M identifiers, and the traits alone peak at
2.3 GB (``traits_scale.py``), so this lookup decides whether resolution + traits can stay
under 2.5 GB (issue 15). Each case runs in a fresh process on the same generated tables
(``--ids`` identifiers of 25 characters, ``--events`` probing rows) and reports how much the
query raised the process's peak RSS above the tables already loaded:

  scan only            the events' scan and aggregate, no join (the baseline)
  md5 profile key      identifier -> md5 hex profile id (what identity_graph writes)
  integer profile key  identifier -> INTEGER (a surrogate the map could carry)
  64-bit hash key      hash(identifier) -> INTEGER: smaller, but not exact (two
                       identifiers may share a hash), shown for scale only

    python benchmarks/lookup_memory.py [--ids 3350000] [--events 20000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

QUERIES = {
    "scan only": "select count(k), sum(v) from ev",
    "md5 profile key": (
        "select count(p.profile_id), sum(v) from ev left join ids p on p.identifier_value = ev.k"
    ),
    "integer profile key": (
        "select count(p.profile_int), sum(v) from ev"
        " left join (select identifier_value, profile_int from ids) p on p.identifier_value = ev.k"
    ),
    "64-bit hash key": (
        "select count(p.profile_int), sum(v) from ev"
        " left join (select hash(identifier_value) as h, profile_int from ids) p on p.h = hash(ev.k)"
    ),
}

CHILD = """
import resource, sys, duckdb
ids, events, query = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
con = duckdb.connect()
con.execute("set threads = 2")
con.execute("set enable_progress_bar = false")
con.execute(f\"\"\"create table ids as select
    'user' || lpad(i::varchar, 8, '0') || '@example.com' as identifier_value,
    md5('p' || (i // 3)::varchar) as profile_id, (i // 3)::integer as profile_int
    from range({ids}) t(i)\"\"\")
con.execute(f\"\"\"create table ev as select
    'user' || lpad((hash(i) % {ids})::varchar, 8, '0') || '@example.com' as k, i as v
    from range({events}) t(i)\"\"\")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
con.execute(query).fetchall()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""


def measure(ids: int, events: int, query: str) -> tuple[float, float]:
    """(peak RSS MB with the tables loaded, MB the query added) in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ids), str(events), query],
        capture_output=True, text=True, check=True, env=dict(os.environ),
    )  # fmt: skip
    before, after = (int(x) for x in done.stdout.splitlines()[-1].split())
    return before / 1024, (after - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=3_350_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    added: dict[str, list[float]] = {name: [] for name in QUERIES}
    loaded: list[float] = []
    for _ in range(args.runs):  # the cases alternate, run by run
        for name, query in QUERIES.items():
            tables, grew = measure(args.ids, args.events, query)
            loaded.append(tables)
            added[name].append(grew)
    base = statistics.median(added["scan only"])
    print(f"{args.ids:,} identifiers, {args.events:,} probing events, median of {args.runs};"
          f" tables loaded: {statistics.median(loaded):.0f} MB")  # fmt: skip
    print(f"{'lookup':<22} {'MB added':>9} {'over the scan':>14} {'bytes/identifier':>17}")
    for name, values in added.items():
        grew = statistics.median(values)
        over = grew - base
        print(f"{name:<22} {grew:9.0f} {over:14.0f} {over * 2**20 / args.ids:17.0f}")


if __name__ == "__main__":
    main()
