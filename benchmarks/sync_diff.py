"""How long `wml sync` takes, beside the plain DuckDB work it cannot avoid.

A generated table of ``--rows`` rows (default 100,000: a key, two doubles, a text and a
date column) in a fresh project; each figure is the median of ``--runs`` runs (default 3)
of the sync in this process through the CLI (project parse included), each on a fresh
copy of the state it needs:

  file, first run      every row added: snapshot, diff, parquet COPY, state recorded
  file, nothing new    the same rows again: snapshot and diff only, no file written
  file, 1% changed     one row in a hundred changed: the file is written again whole
  http, first run      every row POSTed in batches of ``--batch`` to a loopback server
  http, 1% changed     only the changed rows sent

Baseline, measured in the same run: the plain ``COPY (SELECT ...) TO 'x.parquet'`` of the
same rows in DuckDB (what a hand-written export costs), and the loopback server's own
time to take the same number of requests of the same size.

    python benchmarks/sync_diff.py [--rows N] [--runs R] [--batch B]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sync"))
from hook_server import HookServer  # noqa: E402

from warehouse_ml.cli.main import main  # noqa: E402

PROFILE = "b:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb}\n"
SYNCS = """syncs:
  - name: to_file
    source: scores
    key: id
    destination: {{type: file, path: out/scores.parquet}}
  - name: to_hook
    source: scores
    key: id
    destination: {{type: http, url: "{{{{ env_var('HOOK_URL') }}}}", batch_size: {batch}}}
"""


def make_project(root: Path, rows: int, batch: int) -> None:
    (root / "models_sql").mkdir(parents=True)
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text("name: b\nprofile: b\n")
    (root / "models_sql/scores.sql").write_text("select 1 as x")  # replaced by a table below
    (root / "models_sql/syncs.yml").write_text(SYNCS.format(batch=batch))
    CliRunner().invoke(main, ["build", "--project-dir", str(root)], catch_exceptions=False)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute("drop view if exists main.scores")
    con.execute(f"create table main.scores as select i as id, random() as score, "
                f"random() * 500 as ltv, 'segment_' || (i % 7) as tier, "
                f"date '2026-01-01' + (i % 365)::int as since from range({rows}) t(i)")  # fmt: skip
    con.close()
    (root / "models_sql/scores.sql").unlink()  # the sync reads the table as a source ...
    (root / "models_sql/src.yml").write_text(
        "sources:\n  - name: main\n    schema: main\n    tables: [{name: scores}]\n")
    text = (root / "models_sql/syncs.yml").read_text().replace("source: scores", "source: main.scores")
    (root / "models_sql/syncs.yml").write_text(text)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sync(root: Path, name: str, env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["sync", "--project-dir", str(root), "-s", name], env=env)
    assert result.exit_code == 0, result.output


def change(root: Path, fraction: float) -> None:
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute(f"update main.scores set score = score + 1 where id % {int(1 / fraction)} = 0")
    con.close()


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wml-sync-bench-"))
    seed = base / "seed"
    make_project(seed, args.rows, args.batch)
    figures: dict[str, list[float]] = {}
    with HookServer() as hook:
        env = {"HOOK_URL": hook.url}
        for run in range(args.runs):
            root = base / f"run{run}"
            shutil.copytree(seed, root)
            figures.setdefault("file, first run", []).append(timed(functools.partial(sync, root, "to_file", env)))
            figures.setdefault("file, nothing new", []).append(timed(functools.partial(sync, root, "to_file", env)))
            figures.setdefault("http, first run", []).append(timed(functools.partial(sync, root, "to_hook", env)))
            change(root, 0.01)
            figures.setdefault("file, 1% changed", []).append(timed(functools.partial(sync, root, "to_file", env)))
            figures.setdefault("http, 1% changed", []).append(timed(functools.partial(sync, root, "to_hook", env)))
            con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
            out = root / "plain.parquet"
            figures.setdefault("baseline: plain COPY to parquet", []).append(
                timed(functools.partial(con.execute, f"copy (select * from main.scores) to '{out}' (format parquet)")))
            con.close()
            body = json.dumps({"rows": [{"op": "upsert", "idempotency_key": "x" * 32, "key": {"id": 1},
                                         "data": {"id": 1, "score": 0.5, "ltv": 1.0, "tier": "segment_1",
                                                  "since": "2026-01-01"}}] * args.batch}).encode()
            requests = -(-args.rows // args.batch)

            def post_all(requests: int = requests, body: bytes = body) -> None:
                for _ in range(requests):
                    urllib.request.urlopen(urllib.request.Request(hook.url, data=body, method="POST")).read()

            figures.setdefault(f"baseline: {requests} bare POSTs of {args.batch} rows", []).append(timed(post_all))
            shutil.rmtree(root)
    print(f"{args.rows:,} rows, median of {args.runs} (seconds; load {os.getloadavg()[0]:.1f})")
    print(f"| {'what':<40} | median s | min-max |")
    print(f"|{'-' * 42}|----------|---------|")
    for what, values in figures.items():
        print(f"| {what:<40} | {statistics.median(values):8.2f} | {min(values):.2f}-{max(values):.2f} |")
    shutil.rmtree(base)


if __name__ == "__main__":
    main_()
