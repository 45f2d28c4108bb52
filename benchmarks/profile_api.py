"""Profile API speed: `wml serve` on loopback over 100k profiles, beside in-process floors.

    python benchmarks/profile_api.py [--profiles 100000] [--requests 20000] [--seconds 20]
                                     [--clients 1,16,128] [--runs 3] [--modes memory,duckdb]
                                     [--swap-seconds 8]

Builds a generated project (traits, scores, 5 recommendations per profile, an audience),
which publishes the snapshot, then for each lookup mode starts the real server (`python
-m warehouse_ml serve` in a subprocess, uvicorn on 127.0.0.1) and drives it with a load
generator: asyncio (uvloop when installed) with one keep-alive connection per client,
each asking ``GET /v1/profiles/{random id}`` with the bearer token, bounded by
``--requests`` per level and ``--seconds``. Figures are medians over ``--runs``:
p50/p95/p99 latency, requests/s and errors at each client count.

The floor is the same lookup without HTTP, in this process, one at a time: the profile
read by prepared DuckDB queries on the warehouse tables (the relations and the audience),
the same on the snapshot file (what the server's DuckDB mode does), and the in-memory
assembly the server's default mode does. Last, 16 clients while a new snapshot is
published and swapped in, and the delay from a publish (the pointer moving) to the
server answering with the new snapshot, at this size.

The load generator and the server share the machine's cores (and, here, other jobs):
the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import duckdb

TOKEN = "bench-token-" + "x" * 32
PROFILE = "b:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: w.duckdb, threads: 2}\n"
PROJECT = """name: bench
profile: b
models: {{+materialized: table}}
vars: {{n: {n}}}
profile_api:
  key: profile_id
  relations: [traits, scores]
  audiences: [{{name: at_risk, relation: scores, where: "churn_probability > 0.7"}}]
  recommendations: {{relation: recs, order_by: rank}}
  token: "{{{{ env_var('WML_API_TOKEN') }}}}"
  in_memory: {mode}
"""
MODELS = {
    "traits.sql": """select 'u' || lpad(cast(i as varchar), 7, '0') as profile_id,
        cast(i % 97 as integer) as orders_90d, round((i * 7919 % 100000) / 100.0, 2) as revenue_90d,
        date '2026-01-01' + cast(i % 180 as integer) as last_seen_at,
        ['email', 'web', 'app'][1 + i % 3] as first_channel, cast(i % 13 as decimal(10, 2)) as avg_basket,
        [cast(i % 5 as integer), cast(i % 7 as integer)] as top_categories,
        cast(i % 3 = 0 as boolean) as subscribed, 'City ' || cast(i % 500 as varchar) as city
    from range({{ var('n') }}) as t(i)""",
    "scores.sql": """select profile_id, revenue_90d * 1.3 as predicted_ltv_90d,
        ((orders_90d * 37) % 100) / 100.0 as churn_probability,
        ['top 10%', 'top 25%', 'top 50%', 'rest'][1 + orders_90d % 4] as ltv_cohort,
        case when orders_90d % 2 = 0 then 'recommender' else 'popular' end as recs_arm
    from {{ ref('traits') }}""",
    "recs.sql": """select profile_id, r as rank, 'P' || cast((orders_90d * 31 + r * 17) % 2000 as varchar) as product_id,
        round(1.0 / r, 3) as score
    from {{ ref('traits') }}, range(1, 6) as t(r)""",
}


def _env() -> dict[str, str]:
    return {**os.environ, "WML_API_TOKEN": TOKEN}


def wml(root: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "warehouse_ml", *args, "--project-dir", str(root)],
                          capture_output=True, text=True, env=_env())  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return done.stdout + done.stderr


def make_project(root: Path, n: int, mode: str) -> float:
    (root / "models_sql").mkdir(parents=True)
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text(PROJECT.format(n=n, mode=mode))
    for name, sql in MODELS.items():
        (root / "models_sql" / name).write_text(sql + "\n")
    out = wml(root, "build")
    return float(out.split("profiles in ")[1].split(" s")[0])  # the publish time it printed


# -- the server and the load generator -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "warehouse_ml", "serve", "--project-dir", str(root),
                             "--port", str(port), "--poll", "0.1"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1))
            if proc.poll() is not None or health.get("status") != "ok":  # another server's port
                raise SystemExit(f"port {port} is taken: {proc.stderr.read().decode()}")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(proc.stderr.read().decode()) from None
            time.sleep(0.2)
    raise SystemExit("server did not start")


async def _client(port: int, ids: list[str], count: int, deadline: float,
                  latencies: list[float], errors: list[int]) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random(len(latencies))
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    try:
        for _ in range(count):
            if time.perf_counter() > deadline:
                break
            request = f"GET /v1/profiles/{rng.choice(ids)} HTTP/1.1\r\nHost: b\r\n{auth}\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200":
                errors.append(1)
    finally:
        writer.close()


def load(port: int, ids: list[str], clients: int, requests: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        per = max(1, requests // clients)
        await asyncio.gather(*(_client(port, ids, per, deadline, latencies, errors) for _ in range(clients)))
        return time.perf_counter() - started

    elapsed = _loop_run(run())
    return _figures(latencies, elapsed, len(errors))


def _loop_run(coro):  # uvloop for the client too, when installed: less client CPU
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _figures(latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "rps": len(ordered) / elapsed, "errors": errors, "n": len(ordered)}  # fmt: skip


# -- floors: the same lookup in this process -----------------------------------------------------
def floor_warehouse(root: Path, ids: list[str], n: int) -> dict[str, float]:
    """Prepared queries on the warehouse: each relation's row as JSON and the audience."""
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    queries = ["select to_json(t) from main.traits as t where profile_id = ?",
               "select to_json(s) from main.scores as s where profile_id = ?",
               "select count(*) from main.scores where profile_id = ? and churn_probability > 0.7"]  # fmt: skip
    return _time_each(ids, n, lambda pid: [con.execute(q, [pid]).fetchall() for q in queries])


def floor_snapshot(root: Path, ids: list[str], n: int, in_memory: str) -> dict[str, float]:
    from warehouse_ml.serve import snapshot
    from warehouse_ml.serve.app import profile_json
    from warehouse_ml.serve.store import Snapshot

    folder = snapshot.directory(root / "target")
    pointer = snapshot.read_pointer(folder)
    snap = Snapshot(folder / pointer["snapshot"], pointer, in_memory)
    try:
        return _time_each(ids, n, lambda pid: profile_json(snap, pid, None))
    finally:
        snap.close()


def _time_each(ids: list[str], n: int, lookup) -> dict[str, float]:
    rng = random.Random(7)
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        pid = rng.choice(ids)
        t0 = time.perf_counter()
        lookup(pid)
        latencies.append(time.perf_counter() - t0)
    return _figures(latencies, time.perf_counter() - started, 0)


def load_during_swap(root: Path, port: int, ids: list[str], seconds: float) -> dict[str, float]:
    """16 clients for ``seconds`` while a publish runs beside them (a new process: ~3 s)
    and the server loads the new snapshot; the swap must fall inside."""
    from warehouse_ml.serve import snapshot

    before = snapshot.read_pointer(snapshot.directory(root / "target"))["snapshot"]
    publisher = threading.Thread(target=lambda: (time.sleep(0.5), wml(root, "serve", "--publish-only")))
    publisher.start()
    try:
        figures = load(port, ids, 16, 10**9, seconds)
    finally:
        publisher.join()
    health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"))
    if health["snapshot"]["file"] == before:
        raise SystemExit("the swap did not happen while the clients ran: raise --seconds")
    return figures


def swap_delay(root: Path, port: int) -> float:
    """Publish again while serving; seconds from the pointer moving to /healthz naming it."""
    wml(root, "serve", "--publish-only")
    from warehouse_ml.serve import snapshot

    pointer = snapshot.read_pointer(snapshot.directory(root / "target"))
    moved = dt.datetime.fromisoformat(pointer["published_at"].replace("Z", "+00:00")).timestamp()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"))
        if health["snapshot"]["file"] == pointer["snapshot"]:
            return time.time() - moved
        time.sleep(0.005)
    raise SystemExit(f"the new snapshot was not served in 60 s: {health['last_reload_error']}")


# -- the report --------------------------------------------------------------------------------
def _median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _row(label: str, f: dict[str, float]) -> str:
    return (f"| {label} | {f['p50']:.2f} | {f['p95']:.2f} | {f['p99']:.2f} | {f['rps']:,.0f} | "
            f"{int(f['errors'])} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=20_000, help="per client count and run")
    ap.add_argument("--seconds", type=float, default=20.0, help="time bound per client count and run")
    ap.add_argument("--clients", default="1,16,128")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="memory,duckdb")
    ap.add_argument("--swap-seconds", type=float, default=8.0, help="load while a snapshot is swapped in")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    print(f"load average before: {os.getloadavg()}  ({os.cpu_count()} cores)", flush=True)
    rows = ["| lookup | p50 ms | p95 ms | p99 ms | requests/s | errors |", "|---|---|---|---|---|---|"]
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            root = Path(tmp) / mode
            publish = make_project(root, args.profiles, "true" if mode == "memory" else "false")
            ids = [r[0] for r in duckdb.connect(str(root / "w.duckdb"), read_only=True)
                   .execute("select profile_id from traits").fetchall()]  # fmt: skip
            port = free_port()
            server = start_server(root, port)
            try:
                load(port, ids, 16, 2000, 5)  # warm-up
                for clients in levels:
                    runs = [load(port, ids, clients, args.requests, args.seconds) for _ in range(args.runs)]
                    rows.append(_row(f"HTTP, {mode}, {clients} clients", _median_runs(runs)))
                    print(rows[-1], flush=True)
                runs = [load_during_swap(root, port, ids, args.swap_seconds) for _ in range(args.runs)]
                rows.append(_row(f"HTTP, {mode}, 16 clients, a new snapshot swapped in", _median_runs(runs)))
                print(rows[-1], flush=True)
                delays = [swap_delay(root, port) for _ in range(args.runs)]
            finally:
                server.terminate()
                server.wait()
            floor = "true" if mode == "memory" else "false"
            runs = [floor_snapshot(root, ids, args.requests, floor) for _ in range(args.runs)]
            rows.append(_row(f"in process, snapshot {mode} (floor)", _median_runs(runs)))
            if mode == args.modes.split(",")[0]:
                runs = [floor_warehouse(root, ids, min(2000, args.requests // 4)) for _ in range(args.runs)]
                rows.append(_row("in process, DuckDB queries on the warehouse", _median_runs(runs)))
            notes.append(f"{mode}: publish {publish:.2f} s at {len(ids):,} profiles; publish -> "
                         f"served median {statistics.median(delays) * 1000:.0f} ms "
                         f"({', '.join(f'{d * 1000:.0f}' for d in delays)} ms)")  # fmt: skip
    print("\n" + "\n".join(rows))
    print("\n" + "\n".join(notes))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
