"""dbt-core + dbt-duckdb and wml on the same generated 1,000-model dbt project, side by side.

One dbt project (dbt_project.yml, profiles.yml for dbt-duckdb, seeds/, models/, macros/)
is generated in a temporary folder: 10 seeds, 100 staging views, 700 intermediate models
in 7 layers (each joins 1-3 models of the layer below; even layers tables, odd layers
views), 50 incremental fact models and 150 mart tables, four macros used throughout (two
with Jinja loops over a project var), and 2,000 tests (not_null, unique, accepted_values,
relationships). The very same files are then run by both tools, each in its own copy:

    figure          dbt                 wml
    parse           dbt parse           wml ls
    compile         dbt compile         wml compile
    build           dbt build           wml build

each cold (target/ removed; for build also the DuckDB file: from nothing) and warm (the
same command again: dbt's partial parsing and wml's caches on, the database built, so
incremental models take their incremental path). Every figure is the median of --runs
runs (the two tools' runs interleaved, so both see the same machine load), with the CPU
seconds (user + sys) and peak RSS of the process (/usr/bin/time; dbt runs its threads in
one process); the table shows dbt/wml ratios (goal of issue 10: wml >= 5x on every
figure). On a busy machine read the CPU columns: wall times follow the load.
After the builds both DuckDB files are compared relation by relation (dbt_compare.py's
checksums), and the number of nodes `wml ls` listed is checked against what was
generated, so a figure over a project wml did not read is flagged, not celebrated.

dbt is found by --dbt PATH, else $WML_DBT, else `dbt` on PATH; without it only the wml
column is measured (and the script says so).

    python benchmarks/dbt_side_by_side.py                     # 1,000 models, 3 runs
    python benchmarks/dbt_side_by_side.py --models 200 --runs 1 --dbt /tmp/dbtvenv/bin/dbt
    python benchmarks/dbt_side_by_side.py --write DIR         # only write the project
    python benchmarks/dbt_side_by_side.py --keep              # keep both copies + results.json
    python benchmarks/dbt_side_by_side.py --dbt-from KEPT_DIR # wml only, dbt's figures reused
    python benchmarks/dbt_side_by_side.py --wml "/other/checkout/.venv/bin/wml"
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dbt_compare  # noqa: E402  (sibling script: find_dbt, compare_files)

STATUSES = ["placed", "shipped", "completed", "returned"]
LAYERS = 7
SEED_ROWS = 300
PROJECT = """\
name: bench
version: "1.0"
config-version: 2
profile: bench
model-paths: ["models"]
seed-paths: ["seeds"]
macro-paths: ["macros"]
vars:
  statuses: {statuses}
models:
  bench:
    staging:
      +materialized: view
    intermediate:
      +materialized: view
    marts:
      +materialized: table
      +tags: ["mart"]
seeds:
  bench:
    +quote_columns: false
"""
PROFILES = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
      threads: {threads}
"""
MACROS = """\
{% macro cents_to_dollars(col) -%}
    ({{ col }} / 100)::decimal(16, 2)
{%- endmacro %}

{% macro money(col) -%}
    round(coalesce({{ col }}, 0), 2)
{%- endmacro %}

{% macro normalize_status(col) -%}
    case
    {%- for s in var('statuses') %}
        when {{ col }} = '{{ s }}' then '{{ s }}'
    {%- endfor %}
        else 'other'
    end
{%- endmacro %}

{% macro sum_by_status(amount, status) -%}
    {%- for s in var('statuses') %}
    sum(case when {{ status }} = '{{ s }}' then {{ amount }} else 0 end) as amount_{{ s }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _seeds(root: Path, n_order_seeds: int) -> None:
    rng = random.Random(7)
    with (root / "seeds/raw_customers.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows([i, f"customer {i}"] for i in range(1, SEED_ROWS + 1))
    for k in range(n_order_seeds):
        with (root / f"seeds/raw_orders_{k}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "customer_id", "amount_cents", "status", "ordered_at"])
            for i in range(1, SEED_ROWS + 1):
                day, sec = rng.randrange(365), rng.randrange(86400)
                w.writerow([i, rng.randint(1, SEED_ROWS), rng.randrange(100, 10000),
                            rng.choice(STATUSES + ["lost"]),
                            f"2025-{1 + day // 31 % 12:02d}-{1 + day % 28:02d} "
                            f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"])  # fmt: skip


def _counts(n: int) -> tuple[int, int, int, int]:
    """(staging, intermediate per layer, incremental, marts) adding up to n models."""
    staging, facts, marts = max(2, n // 10), max(1, n // 20), max(1, n * 3 // 20)
    per_layer = max(1, (n - staging - facts - marts) // LAYERS)
    marts = n - staging - facts - per_layer * LAYERS
    return staging, per_layer, facts, marts


def _yaml_models(entries: list[tuple[str, list[str]]]) -> str:
    lines = ["version: 2", "", "models:"]
    for name, columns in entries:
        lines += [f"  - name: {name}", "    columns:"] + columns
    return "\n".join(lines) + "\n"


def generate(root: Path, n_models: int = 1000, threads: int = 4, db: str = "bench.duckdb") -> dict[str, int]:
    """Write the dbt project under `root`; the counts of what was generated."""
    staging, per_layer, facts, marts = _counts(n_models)
    n_order_seeds = 9
    _write(root / "dbt_project.yml", PROJECT.format(statuses=STATUSES))
    _write(root / "profiles.yml", PROFILES.format(path=db, threads=threads))
    _write(root / "macros/bench.sql", MACROS)
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    _seeds(root, n_order_seeds)
    tests = 0
    # staging: stg_customers and stg_orders_XXX, one view each over a seed
    _write(root / "models/staging/stg_customers.sql",
           "select id, name from {{ ref('raw_customers') }}\n")  # fmt: skip
    stg_yml = [("stg_customers", _cols("id", ["unique", "not_null"]))]
    below = []
    for i in range(1, staging):
        name = f"stg_orders_{i:03d}"
        _write(root / f"models/staging/{name}.sql", (
            "with source as (\n"
            f"    select * from {{{{ ref('raw_orders_{i % n_order_seeds}') }}}}\n)\n"
            "select\n    id,\n    customer_id,\n"
            "    {{ cents_to_dollars('amount_cents') }} as amount,\n"
            "    {{ normalize_status('status') }} as status,\n"
            "    ordered_at as ts\nfrom source\n"))  # fmt: skip
        stg_yml.append((name, _cols("id", ["unique", "not_null"])))
        below.append(name)
    tests += 2 * len(stg_yml)
    _write(root / "models/staging/schema.yml", _yaml_models(stg_yml))
    for layer in range(LAYERS):
        names, yml = [], []
        for j in range(per_layer):
            name = f"int_l{layer}_{j:03d}"
            picks = sorted({below[j % len(below)], below[(j * 7 + 3) % len(below)],
                            below[(j * 13 + 5) % len(below)]})[: 1 + j % 3]  # fmt: skip
            _write(root / f"models/intermediate/{name}.sql", _int_sql(layer, picks))
            third = [
                ["unique"],
                [{"accepted_values": {"values": [*STATUSES, "other"]}}],
                [{"relationships": {"to": "ref('stg_customers')", "field": "id"}}],
            ][j % 3]
            col = "customer_id" if j % 3 == 2 else ("status" if j % 3 == 1 else "id")
            columns = _cols("id", ["not_null"] + (third if col == "id" else []))
            if col != "id":
                columns += _cols(col, third)
            yml.append((name, columns))
            names.append(name)
        tests += 2 * len(yml)
        _write(root / f"models/intermediate/layer_{layer}.yml", _yaml_models(yml))
        below = names
    fct_yml = []
    for i in range(facts):
        name = f"fct_orders_{i:03d}"
        _write(root / f"models/marts/{name}.sql", (
            "{{ config(materialized='incremental', unique_key='id') }}\n"
            f"select id, customer_id, amount, status, ts from {{{{ ref('{below[i % len(below)]}') }}}}\n"
            "{% if is_incremental() %}\n"
            "where ts > (select max(ts) from {{ this }})\n"
            "{% endif %}\n"))  # fmt: skip
        fct_yml.append((name, _cols("id", ["unique", "not_null"])))
    mart_yml = []
    for i in range(marts):
        name = f"mart_customers_{i:03d}"
        _write(root / f"models/marts/{name}.sql", (
            f"select\n    customer_id,\n    count(*) as orders,\n"
            f"    {{{{ sum_by_status('amount', 'status') }}}}\n"
            f"from {{{{ ref('{below[(i * 3) % len(below)]}') }}}}\ngroup by customer_id\n"))  # fmt: skip
        mart_yml.append((name, _cols("customer_id", ["unique", "not_null"])))
    tests += 2 * (len(fct_yml) + len(mart_yml))
    _write(root / "models/marts/schema.yml", _yaml_models(fct_yml + mart_yml))
    models = staging + per_layer * LAYERS + facts + marts
    return {"seeds": n_order_seeds + 1, "models": models, "tests": tests}


def _cols(name: str, tests: list[t.Any]) -> list[str]:
    rendered = ", ".join(_flow(x) for x in tests)
    return [f"      - name: {name}", f"        data_tests: [{rendered}]"]


def _flow(test: t.Any) -> str:
    if isinstance(test, str):
        return test
    (kind, args), = test.items()
    # the pre-1.10 form (arguments beside the test name): what most projects in the wild use
    inner = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in args.items())
    return f"{{{kind}: {{{inner}}}}}"


def _int_sql(layer: int, parents: list[str]) -> str:
    config = "{{ config(materialized='table') }}\n" if layer % 2 == 0 else ""
    joins = "".join(
        f"left join {{{{ ref('{p}') }}}} p{k} on p{k}.id = p0.id\n" for k, p in enumerate(parents[1:], 1)
    )
    amount = " + ".join(f"{{{{ money('p{k}.amount') }}}}" for k in range(len(parents)))
    return (
        f"{config}-- layer {layer}: joins {len(parents)} model(s) of the layer below\n"
        f"select\n    p0.id,\n    p0.customer_id,\n    {amount} as amount,\n"
        f"    p0.status,\n    p0.ts\nfrom {{{{ ref('{parents[0]}') }}}} p0\n{joins}"
    )


# --- measuring ----------------------------------------------------------------------------

FIGURES = [("parse", "parse", "ls"), ("compile", "compile", "compile"), ("build", "build", "build")]
PHASES = ("cold", "warm")
TIME_BIN = "/usr/bin/time"


def measure(cmd: list[str], cwd: Path) -> tuple[dict[str, float | None], subprocess.CompletedProcess]:
    """{wall, cpu (user + sys s), rss (peak MB)} of one process (cpu and rss need
    /usr/bin/time; None without it) and the finished process."""
    stats_file = cwd / ".time"
    timed = Path(TIME_BIN).exists()
    wrapped = [TIME_BIN, "-f", "%M %U %S", "-o", str(stats_file), *cmd] if timed else cmd
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false", "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run(wrapped, cwd=cwd, env=env, capture_output=True, text=True)
    sample: dict[str, float | None] = {"wall": time.perf_counter() - started, "cpu": None, "rss": None}
    if stats_file.exists():
        fields = stats_file.read_text().split()[-3:]  # earlier lines: "Command exited with ..."
        if len(fields) == 3:
            sample["rss"] = int(fields[0]) / 1024
            sample["cpu"] = float(fields[1]) + float(fields[2])
        stats_file.unlink()
    return sample, done


def _prepare(root: Path, figure: str, phase: str) -> None:
    """Cold: no target/ (no partial parse, no caches); a cold build also starts from no database."""
    if phase == "cold":
        shutil.rmtree(root / "target", ignore_errors=True)
        if figure == "build":
            for stale in ("bench.duckdb", "bench.duckdb.wal"):
                (root / stale).unlink(missing_ok=True)


def measure_all(tools: list[tuple[str, list[str], Path]], runs: int) -> dict[str, dict[str, t.Any]]:
    """Every figure for every tool, the tools' runs interleaved (dbt, wml, dbt, wml, ...) so
    both see the same machine load; medians of `runs` runs."""
    out: dict[str, dict[str, t.Any]] = {tool: {"failures": []} for tool, _, _ in tools}
    for figure, dbt_verb, wml_verb in FIGURES:
        for phase in PHASES:
            samples: dict[str, list[dict[str, float | None]]] = {tool: [] for tool, _, _ in tools}
            for _ in range(runs):
                for tool, exe, root in tools:
                    _prepare(root, figure, phase)
                    verb = dbt_verb if tool == "dbt" else wml_verb
                    sample, done = measure([*exe, verb, "--profiles-dir", str(root)], root)
                    samples[tool].append(sample)
                    if done.returncode != 0 and len(out[tool]["failures"]) < 6:
                        out[tool]["failures"].append(
                            f"{figure} {phase}: {verb} exit {done.returncode}: {_last_lines(done)}"
                        )
            for tool, _, _ in tools:
                out[tool][f"{figure} {phase}"] = med = _medians(samples[tool])
                print(f"  {tool} {figure:<8} {phase}: {med['wall']:7.2f} s wall, "
                      f"{_fmt(med['cpu'], 2, 0)} s cpu, {_fmt(med['rss'], 0, 0)} MB", flush=True)  # fmt: skip
    for tool, exe, root in tools:
        out[tool]["outcomes"] = dbt_compare.outcomes(root)  # of the last (warm) build
        if tool == "wml":
            _, done = measure([*exe, "ls", "--profiles-dir", str(root)], root)
            out[tool]["listed"] = len([line for line in done.stdout.splitlines() if line.strip()])
    return out


def _medians(samples: list[dict[str, float | None]]) -> dict[str, float | None]:
    keys = ("wall", "cpu", "rss")
    return {k: (statistics.median(v) if (v := [s[k] for s in samples if s[k] is not None]) else None)
            for k in keys}  # fmt: skip


def _last_lines(done: subprocess.CompletedProcess, n: int = 6) -> str:
    text = (done.stdout + done.stderr).strip().splitlines()
    return " | ".join(line.strip() for line in text[-n:])


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:7.1f}x" if a and b else f"{'-':>8}"


def report(results: dict[str, dict[str, t.Any]], counts: dict[str, int], runs: int) -> None:
    dbt, wml = results.get("dbt", {}), results["wml"]
    print(f"\n{counts['models']} models, {counts['tests']} tests, {counts['seeds']} seeds; "
          f"median of {runs} run(s); cpu = user + sys seconds of the process")  # fmt: skip
    head = "".join(f" {f'dbt {u}':>8} {f'wml {u}':>8} {'dbt/wml':>8}" for u in ("s", "cpu s", "MB"))
    print(f"{'figure':<14}{head}")
    worst = None
    for figure, _, _ in FIGURES:
        for phase in PHASES:
            key = f"{figure} {phase}"
            d, w = dbt.get(key, {}), wml[key]
            cells = ""
            for unit, digits in (("wall", 2), ("cpu", 2), ("rss", 0)):
                cells += f" {_fmt(d.get(unit), digits)} {_fmt(w.get(unit), digits)} {_ratio(d.get(unit), w.get(unit))}"
            if d.get("wall") and w.get("wall"):
                ratio = d["wall"] / w["wall"]
                worst = ratio if worst is None else min(worst, ratio)
            print(f"{key:<14}{cells}")
    expected = counts["models"] + counts["tests"] + counts["seeds"]
    if wml.get("listed", 0) < expected:
        print(f"WARNING: `wml ls` listed {wml.get('listed', 0)} nodes of the {expected} generated: "
              "wml did not read the whole project, so its figures are not comparable.")  # fmt: skip
    for tool, res in results.items():
        print(f"{tool} warm build results: {res.get('outcomes', '-')}")
    for tool, res in results.items():
        for failure in res["failures"]:
            print(f"{tool} FAILED {failure}")
    if worst is not None:
        print(f"slowest wall-time ratio: {worst:.1f}x (goal of issue 10: >= 5x on every figure)")


def _save_results(path: Path, results: dict[str, t.Any], counts: dict[str, int], runs: int) -> None:
    path.write_text(json.dumps({"counts": counts, "runs": runs, **results}, indent=1))


def _load_results(path: Path) -> dict[str, t.Any]:
    data = json.loads(path.read_text())
    return {tool: data[tool] for tool in ("dbt", "wml") if tool in data}


def _fmt(value: float | None, digits: int = 2, width: int = 8) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--dbt", help="the dbt executable (default: $WML_DBT, then PATH)")
    parser.add_argument("--wml", help="the wml command (default: this Python's -m warehouse_ml)")
    parser.add_argument("--write", type=Path, help="only write the project into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the two copies and print where")
    parser.add_argument("--dbt-from", type=Path, metavar="DIR",
                        help="reuse dbt's figures and database from a run kept with --keep "
                        "(same --models): dbt's side does not change while wml does")  # fmt: skip
    args = parser.parse_args(argv)
    if args.write:
        counts = generate(args.write, args.models, args.threads)
        print(f"wrote {counts} to {args.write}")
        return 0
    dbt = dbt_compare.find_dbt(args.dbt)
    if dbt is None and not args.dbt_from:
        print("dbt not found (--dbt PATH, $WML_DBT or PATH): measuring wml only.")
    work = Path(tempfile.mkdtemp(prefix="dbt_side_by_side_"))
    wml = shlex.split(args.wml) if args.wml else [sys.executable, "-m", "warehouse_ml"]
    tools = [("wml", wml, work / "wml")]
    if dbt and not args.dbt_from:
        tools.insert(0, ("dbt", [dbt], work / "dbt"))
    counts: dict[str, int] = {}
    for _, _, root in tools:
        counts = generate(root, args.models, args.threads, str(root / "bench.duckdb"))
    print(f"measuring {', '.join(tool for tool, _, _ in tools)} in {work}", flush=True)
    results = measure_all(tools, args.runs)
    dbt_db = work / "dbt/bench.duckdb"
    if args.dbt_from:
        results["dbt"] = _load_results(args.dbt_from / "results.json")["dbt"]
        dbt_db = args.dbt_from / "dbt/bench.duckdb"
        print(f"dbt's figures and database from {args.dbt_from}")
    _save_results(work / "results.json", results, counts, args.runs)
    report(results, counts, args.runs)
    if "dbt" in results and dbt_db.exists():
        rows = dbt_compare.compare_files(dbt_db, work / "wml/bench.duckdb")
        same = sum(r.equal for r in rows)
        print(f"relations after the warm builds: {same} of {len(rows)} equal")
        for row in [r for r in rows if not r.equal][:10]:
            print(f"  {row.relation}: {row.why}")
    if args.keep:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
