"""Identity resolution and computed traits at scale, against a hand-written DuckDB query.

Generates the demo data with our generator (``--profiles``, default 1,000,000, seed 7,
``--months`` of history, default 42: about 50 events a profile, 50M at 1M profiles) into parquet, chunk by chunk so memory stays bounded, and writes a wml project (see
``_traits_support.py``) whose sources point at the files (``meta: external_location``);
its first models load them into tables of a DuckDB file in the same temporary folder.
Every build is a real ``python -m warehouse_ml build -s ...`` process, so the figures
include what a user pays: rendering, transpiling Redshift SQL to DuckDB, the swap-in.

  (a) identity resolution: the demo's ``identity_map`` model (``wml.identity_graph`` over
      identifies, tracks and store sales, a table) and ``resolved_events``
      (``wml.resolve_events``, a view in the demo), then ``resolved_events_stored``, the
      view copied into a table: what the demo paid when resolved_events was a table;
      ``--identity-runs`` times (default 1: minutes at 1M profiles);
  (b) resolution + traits: one model computing 18 traits per profile (event_counter,
      aggregation sum/avg/max, unique_list_count, unique_list, first_value/last_value
      over 30, 90 and 365-day windows) with the package's macros, in ONE grouped scan of
      the resolved_events view (the demo's: ``normalized=true``, one lookup per identifier
      type), so the profile join runs inside it; then the same over a view with
      resolve_events' exact default (a second, normalized lookup per type);
  (c) traits alone: the same model over resolved_events_stored (resolution already paid);
  (d) baseline: the same aggregates by hand in one DuckDB CREATE TABLE AS over the stored
      table (plain CASE inside COUNT/SUM/AVG/MAX, COUNT(DISTINCT ...), arg_max/arg_min),
      run in a fresh process of its own.

(b), (c) and (d) alternate (``--runs``, default 3) so load from other processes on a
shared host hits them alike. "statement s" is the model's execution time from
``target/run_results.json`` (render + transpile + CREATE TABLE AS + swap + row count), or
the baseline's CREATE TABLE AS; "process s" is the whole process, "CPU s" its user +
system time (steadier than wall time when other jobs share the cores); "peak RSS" is the
step's process, as ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in a small launcher around it
(see ``_traits_support.MEASURE_CHILD`` for why not from this process). Before any ratio is
printed, the three traits tables must be equal: EXCEPT ALL both ways over every column
returns 0 rows (DOUBLE sums compared within 1e-12 relative: see ``compare``).

Targets on statement medians, PASS/FAIL: resolution + traits / traits alone <= 1.5
(issue 15), traits alone / baseline <= 1.2; exit 1 when the tables differ, or on FAIL
except with --quick (at 20k profiles fixed costs blur the ratios). At 1M profiles (50M
events) on a shared 2-core host one run takes many minutes: ``--runs 1`` is reasonable.

    python benchmarks/traits_scale.py [--profiles 1000000] [--months 42] [--runs 3] [--keep DIR]
    python benchmarks/traits_scale.py --quick        # 20,000 profiles, about a minute

With ``--keep DIR --reuse-tables`` a later run skips loading and identity_graph (minutes at
50M events) when DIR's database was loaded from the same data and identity macro code
(``loaded.json`` beside it records both); resolve_events and the traits are always rebuilt.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _traits_support as sup  # next to this script (its folder is on sys.path)
import duckdb

TARGET_RATIO = 1.2  # traits alone / hand-written baseline
RESOLVE_TARGET = 1.5  # resolution + traits / traits alone


@dataclasses.dataclass
class Step:
    """One measured step: statement, process and CPU seconds of each run, peak RSS (max)."""

    label: str
    statement: list[float] = dataclasses.field(default_factory=list)
    process: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    peak_rss_mb: float = 0.0

    def add(self, statement: float, proc: sup.Proc) -> None:
        self.statement.append(statement)
        self.process.append(proc.wall)
        self.cpu.append(proc.cpu)
        self.peak_rss_mb = max(self.peak_rss_mb, proc.peak_rss_mb)

    @property
    def median(self) -> float:
        return statistics.median(self.statement)

    @property
    def spread(self) -> str:
        return f"{min(self.statement):.2f}-{max(self.statement):.2f} s"


def wml_build(project: Path, select: str) -> tuple[sup.Proc, dict[str, float]]:
    """One ``wml build -s <select>`` process; its wall/RSS and per-node seconds."""
    args = [sys.executable, "-m", "warehouse_ml", "build", "--project-dir", str(project)]
    proc = sup.run_measured([*args, "-s", select], cwd=project)
    return proc, sup.node_times(project)


def baseline(db: Path) -> tuple[sup.Proc, float]:
    """The hand-written CREATE TABLE AS in a fresh process; the process and its seconds."""
    proc = sup.run_measured([sys.executable, "-c", sup.BASELINE_CHILD, str(db), sup.BASELINE_SQL])
    return proc, float(proc.stdout.strip().splitlines()[-1])


@dataclasses.dataclass
class Results:
    load: Step
    identity: Step
    stored: Step
    resolved_traits: Step
    exact_traits: Step
    traits: Step
    baseline: Step

    def table(self) -> list[Step]:
        return [
            self.load, self.identity, self.stored, self.resolved_traits, self.exact_traits,
            self.traits, self.baseline,
        ]  # fmt: skip


def run_steps(project: Path, db: Path, args: argparse.Namespace) -> Results:
    """Load, identity resolution, then traits and baseline alternating, each a process."""
    res = Results(
        Step("load parquet -> tables (wml build, 3 models)"),
        Step("identity_graph -> identity_map (table)"),
        Step("resolve_events copied to a table (old demo)"),
        Step(f"resolution + {sup.TRAIT_COUNT} traits, over the view"),
        Step("  the same, resolve_events' exact default"),
        Step(f"traits alone: {sup.TRAIT_COUNT} traits over the table"),
        Step("baseline: hand-written DuckDB CTAS"),
    )
    if not args.reused:
        proc, times = wml_build(project, " ".join(sup.RAW_TABLES))
        res.load.add(sum(times.values()), proc)
    for _ in range(0 if args.reused else args.identity_runs):
        print("identity resolution ...", flush=True)
        proc, times = wml_build(project, "identity_map")
        res.identity.add(times["identity_map"], proc)
    if not args.reused:
        sup.save_loaded(db, args)  # tables and identity_map match this data and macro code
    print("resolved events copied to a table ...", flush=True)
    proc, times = wml_build(
        project, f"stg_events resolved_events {sup.EXACT_EVENTS} {sup.STORED_EVENTS}"
    )
    res.stored.add(times[sup.STORED_EVENTS], proc)
    for i in range(args.runs):
        print(f"traits and baseline, run {i + 1} of {args.runs} ...", flush=True)
        proc, times = wml_build(project, sup.TRAITS_MODEL)
        res.resolved_traits.add(times[sup.TRAITS_MODEL], proc)
        proc, times = wml_build(project, sup.EXACT_TRAITS_MODEL)
        res.exact_traits.add(times[sup.EXACT_TRAITS_MODEL], proc)
        proc, times = wml_build(project, sup.STORED_TRAITS_MODEL)
        res.traits.add(times[sup.STORED_TRAITS_MODEL], proc)
        proc, seconds = baseline(db)
        res.baseline.add(seconds, proc)
    return res


def report(
    args: argparse.Namespace,
    rows: dict[str, int],
    gen_seconds: float | None,
    n_events: int,
    same: sup.Comparison,
    res: Results,
) -> bool:
    """Print the table; True when the ratio meets the target."""
    base = res.baseline.median
    print(
        f"\n{args.profiles:,} profiles, {args.months} months (seed {args.seed}); DuckDB {duckdb.__version__}, "
        f"{os.cpu_count()} cores, load average {args.load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other jobs share the cores: see CPU s)"
    )
    tables = ", ".join(f"{name} {rows[name]:,}" for name in sup.RAW_TABLES)
    print(f"rows: {tables}; resolved events {n_events:,}; profiles {same.rows:,}")
    if gen_seconds is not None:
        print(f"generate + write parquet: {gen_seconds:.1f} s (not a target)")
    print(
        "verified: resolution + traits (both lookups) == traits alone == baseline; the last pair, EXCEPT ALL "
        f"both ways: {same.only_left} + "
        f"{same.only_right} rows over {same.columns} columns (DOUBLEs within "
        f"{sup.DOUBLE_REL_TOL:g} relative: {same.raw_differ:,} rows differ in the last bits, "
        f"at most {same.max_rel_diff:.1e}, from the order of parallel sums)\n"
    )
    print(
        f"{'step':<46} {'runs':>4} {'statement s':>11} {'x base':>6} {'process s':>9} "
        f"{'CPU s':>7} {'x base':>6} {'peak RSS MB':>11}"
    )
    base_cpu = statistics.median(res.baseline.cpu)
    for step in res.table():
        if not step.statement:
            print(f"{step.label:<46} {'reused from an earlier run (--reuse-tables)':>40}")
            continue
        cpu = statistics.median(step.cpu)
        timed = step in (res.resolved_traits, res.exact_traits, res.traits, res.baseline)
        x, x_cpu = (f"{step.median / base:6.2f}", f"{cpu / base_cpu:6.2f}") if timed else ("-", "-")
        print(
            f"{step.label:<46} {len(step.statement):>4} {step.median:11.2f} {x:>6} "
            f"{statistics.median(step.process):9.2f} {cpu:7.1f} {x_cpu:>6} {step.peak_rss_mb:11.0f}"
        )
    ratio = res.traits.median / base
    resolve = res.resolved_traits.median / res.traits.median
    resolve_cpu = statistics.median(res.resolved_traits.cpu) / statistics.median(res.traits.cpu)
    exact = res.exact_traits.median / res.traits.median
    exact_cpu = statistics.median(res.exact_traits.cpu) / statistics.median(res.traits.cpu)
    old = res.stored.median + res.traits.median
    ok = ratio <= TARGET_RATIO
    ok_resolve = resolve <= RESOLVE_TARGET
    print(
        f"(medians; spread resolution + traits {res.resolved_traits.spread}, traits alone "
        f"{res.traits.spread}, baseline {res.baseline.spread}; CPU s: user + system of the "
        "whole process, less sensitive to other load)"
    )
    print(
        f"resolution + traits / traits alone = {resolve:.2f} ({resolve_cpu:.2f} CPU; target <= "
        f"{RESOLVE_TARGET}): {'PASS' if ok_resolve else 'FAIL'}; the old table path "
        f"(copy + traits) {old:.2f} s = {old / res.traits.median:.2f}x the traits alone"
    )
    print(
        f"with resolve_events' exact default (two lookups a type): {exact:.2f} ({exact_cpu:.2f} CPU)"
    )
    print(f"traits alone / baseline = {ratio:.2f} (target <= {TARGET_RATIO}): {'PASS' if ok else 'FAIL'}")
    return ok and ok_resolve


def measure(work: Path, args: argparse.Namespace) -> int:
    """Generate (or reuse) the data, build, verify, report; the exit status."""
    data, project, db = work / "data", work / "project", work / "bench.duckdb"
    print(
        f"generating {args.profiles:,} profiles over {args.months} months (seed {args.seed}) "
        f"into {data} ...",
        flush=True,
    )
    rows, gen_seconds = sup.write_data(data, args.profiles, args.seed, args.months)
    args.reused = args.reuse_tables and sup.loaded_matches(db, args)
    if args.reuse_tables and not args.reused:
        print("--reuse-tables: no loaded tables for this data and macro code yet; loading", flush=True)
    for path in () if args.reused else (db, db.with_suffix(".duckdb.wal")):
        path.unlink(missing_ok=True)
    sup.write_project(project, data, db)
    res = run_steps(project, db, args)
    with duckdb.connect(str(db), read_only=True) as con:
        viewed = sup.compare(con, sup.TRAITS_MODEL, sup.STORED_TRAITS_MODEL)
        exact = sup.compare(con, sup.EXACT_TRAITS_MODEL, sup.STORED_TRAITS_MODEL)
        same = sup.compare(con, sup.STORED_TRAITS_MODEL, sup.BASELINE_TABLE)
        n_events = con.execute(f"select count(*) from {sup.STORED_EVENTS}").fetchone()[0]
    if not viewed.equal:
        print(
            f"FAIL: {sup.TRAITS_MODEL} (over the view) and {sup.STORED_TRAITS_MODEL} (over the "
            f"table) differ: {viewed.only_left} + {viewed.only_right} rows, {viewed.doubles_off} "
            "DOUBLEs off; no ratio."
        )
        return 1
    if not exact.equal:
        print(
            f"FAIL: {sup.EXACT_TRAITS_MODEL} (resolve_events' default) and {sup.STORED_TRAITS_MODEL} "
            f"differ: {exact.only_left} + {exact.only_right} rows, {exact.doubles_off} DOUBLEs off."
        )
        return 1
    if not same.equal:
        print(
            f"FAIL: {sup.STORED_TRAITS_MODEL} and {sup.BASELINE_TABLE} differ: {same.only_left} rows "
            f"only in the traits, {same.only_right} only in the baseline, {same.doubles_off} "
            f"with a DOUBLE off by more than {sup.DOUBLE_REL_TOL:g} ({same.rows} profiles); "
            "no ratio."
        )
        return 1
    met = report(args, rows, gen_seconds, n_events, same, res)
    return 0 if met or args.quick else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--months", type=int, default=42, help="history length; 42 gives ~50 events a profile"
    )
    parser.add_argument("--runs", type=int, default=3, help="traits/baseline runs (median)")
    parser.add_argument("--identity-runs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (data is reused)")
    parser.add_argument("--quick", action="store_true", help="20,000 profiles")
    parser.add_argument(
        "--reuse-tables",
        action="store_true",
        help="with --keep: keep the loaded tables and identity_map of an earlier run on the "
        "same data and identity macro code (their steps are not re-timed)",
    )
    args = parser.parse_args()
    args.load_start = os.getloadavg()[0]
    if args.reuse_tables and not args.keep:
        parser.error("--reuse-tables needs --keep DIR")
    if args.quick:
        args.profiles = 20_000
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        status = measure(args.keep.resolve(), args)
    else:
        with tempfile.TemporaryDirectory(prefix="wml_traits_") as tmp:
            status = measure(Path(tmp), args)
    print(f"(total {time.perf_counter() - started:.0f} s)")
    sys.exit(status)


if __name__ == "__main__":
    main()
