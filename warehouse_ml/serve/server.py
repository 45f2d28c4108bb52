"""Run the Profile API on uvicorn, and watch the pointer for new snapshots.

One process, one event loop (uvloop and httptools when installed). In-memory lookups run
on the loop itself (a dict access is faster than a hop to a thread); DuckDB lookups run
on Starlette's thread pool, each thread with its own cursor. A watcher thread polls the
pointer's inode, time and size every ``poll`` seconds and loads a new snapshot beside the
old one; the swap is one reference assignment under a lock.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import typing as t
from pathlib import Path

from warehouse_ml import redaction
from warehouse_ml.errors import ConfigError
from warehouse_ml.serve.app import create_app
from warehouse_ml.serve.guard import Limits
from warehouse_ml.serve.store import Current, SnapshotError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one clear error, not a log line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Another server may be using the port: pass --port with a free one.",
        ) from None
    return sock


def _say(message: str) -> None:
    print(redaction.mask(message), file=sys.stderr, flush=True)


class Watcher(threading.Thread):
    """Reload the snapshot when the pointer changes; errors keep the old one serving."""

    def __init__(self, current: Current, poll: float, say: t.Callable[[str], None] = _say):
        super().__init__(name="wml-snapshot-watcher", daemon=True)
        self.current, self.poll, self.say = current, poll, say
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.poll):
            try:
                if self.current.refresh():
                    self.say(describe(self.current))
            except SnapshotError as exc:
                # A snapshot deleted between reading the pointer and opening it, or a
                # broken file: keep serving the old one and try again at the next change.
                self.current.last_error = str(exc)
                self.say(f"Warning: {exc}; still serving the previous snapshot.")


def describe(current: Current) -> str:
    snap = current.snapshot
    if snap is None:
        return "No snapshot loaded."
    meta = snap.meta
    where = "in memory" if snap.in_memory else "from DuckDB (read-only)"
    return (f"Serving snapshot {snap.path.name}: {meta['profiles']:,} profiles, build "
            f"{meta['build_id']} built {meta['built_at']}, {where}, loaded in "
            f"{current.load_seconds * 1000:.0f} ms.")  # fmt: skip


def serve(
    folder: Path, *, host: str, port: int, tokens: list[tuple[str, str, t.Any]] | None,
    limits: Limits, in_memory: str = "auto", poll: float = 0.25, access_log: bool = False,
) -> None:  # fmt: skip
    """Serve until interrupted; raises SnapshotError when nothing is published yet."""
    import uvicorn

    # The watcher loads a new snapshot while the loop answers requests: a short GIL switch
    # interval lets it in between requests (5 ms, the default, made a swap take ~1 s on a
    # busy server; 1 ms costs no measurable throughput, see benchmarks/profile_api.py).
    sys.setswitchinterval(0.001)
    current = Current(folder, in_memory)
    current.refresh()
    if current.snapshot is None:
        raise SnapshotError(f"no snapshot is published in {folder}")
    _say(describe(current))
    watcher = Watcher(current, poll)
    watcher.start()
    app = create_app(current, limits, tokens)
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="off", access_log=access_log, server_header=False,
        log_level="info" if access_log else "warning", timeout_keep_alive=30,
        h11_max_incomplete_event_size=16 * 1024,
    )  # fmt: skip
    try:
        sock = _bind(host, port)
        auth = "bearer token required" if tokens is not None else "NO AUTH (loopback only)"
        _say(f"Profile API on http://{host}:{port} ({auth}); docs at /docs. Ctrl-C stops.")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        watcher.stopped.set()
        current.close()
