"""A new build reaches a running server atomically, within a bounded delay, and old
snapshots are collected: no request ever sees half a build."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

from serve.helpers import Server, build_served, wml
from warehouse_ml.serve import snapshot
from warehouse_ml.serve.store import Current


def test_a_rebuild_is_served_within_a_bounded_delay_and_never_half(tmp_path):
    root = build_served(tmp_path / "p")
    folder = snapshot.directory(root / "target")
    server = Server(root)
    seen: list[tuple[float, int, int | None, int | None]] = []
    stop = threading.Event()

    def hammer() -> None:  # both relations carry var('v'): one response, one build
        while not stop.is_set():
            status, doc = server.get("/v1/profiles/p1")
            seen.append((time.time(), status, (doc.get("traits") or {}).get("version"),
                         (doc.get("scores") or {}).get("version")))  # fmt: skip

    client = threading.Thread(target=hammer)
    client.start()
    published = {}
    try:
        for version in (2, 3, 4):
            done = wml(root, "build", "--vars", f"{{v: {version}}}")
            assert done.returncode == 0, done.stderr
            stamp = snapshot.read_pointer(folder)["published_at"].replace("Z", "+00:00")
            published[version] = dt.datetime.fromisoformat(stamp).timestamp()
            deadline = time.monotonic() + 10
            while not any(v == version for _, _, v, _ in seen[-50:]):
                assert time.monotonic() < deadline, "the new build was not served in 10 s"
                time.sleep(0.01)
    finally:
        stop.set()
        client.join()
        log = server.stop()
    # From the moment the build moved the pointer to the first answer with its data.
    delays = [min(t for t, _, v, _ in seen if v == version) - published[version] for version in published]
    print(f"build published -> served: {', '.join(f'{d * 1000:.0f} ms' for d in delays)}\n{log}")
    assert max(delays) < 3.0, delays  # poll 0.1 s + loading a small snapshot
    assert len(seen) > 20
    assert all(status == 200 for _, status, _, _ in seen)
    assert all(a == b for _, _, a, b in seen), [s for s in seen if s[2] != s[3]][:5]
    assert [v for _, _, v, _ in seen] == sorted(v for _, _, v, _ in seen)  # never back
    files = sorted(folder.glob("snapshot-*"))
    assert len(files) == 2, files  # keep_snapshots: the current one and the one before


def test_requests_in_flight_finish_on_the_old_snapshot(tmp_path):
    root = build_served(tmp_path / "p")
    folder = snapshot.directory(root / "target")
    current = Current(folder, in_memory="false")  # DuckDB lookups: a real file to close
    assert current.refresh()
    old = current.acquire()  # a request in flight
    assert wml(root, "build", "--vars", "{v: 2}").returncode == 0
    assert current.refresh()
    assert old is not current.snapshot and not old.closed
    assert '"version":1' in old.profiles.get("p1")[0]  # still answers, from its own file
    assert '"version":2' in current.snapshot.profiles.get("p1")[0]
    old.release()
    assert old.closed  # the last request out closed it
    current.close()
    assert current.snapshot is None


def test_garbage_collection_keeps_the_newest_and_live_publishers(tmp_path):
    folder = tmp_path
    names = [f"snapshot-2026120{i}T000000.000000-b{i}.duckdb" for i in range(1, 6)]
    for name in names:
        (folder / name).write_bytes(b"")
    snapshot.write_pointer(folder, {"snapshot": names[0]})  # pointing at the oldest
    dead = folder / f"{names[4]}.tmp-999999999"
    live = folder / f"{names[4]}.tmp-{os.getpid()}"
    dead.write_bytes(b"")
    live.write_bytes(b"")
    removed = snapshot.collect_garbage(folder, keep=2)
    left = sorted(p.name for p in folder.iterdir())
    assert names[0] in left and names[4] in left and names[3] in left  # current + 2 newest
    assert names[1] not in left and names[2] not in left
    assert live.name in left and dead.name not in left
    assert set(removed) == {names[1], names[2], dead.name}


def test_a_pointer_cannot_name_a_file_outside_the_folder(tmp_path):
    snapshot.write_pointer(tmp_path, {"snapshot": "../../etc/passwd"})
    assert snapshot.read_pointer(tmp_path) is None


def test_a_broken_snapshot_keeps_the_old_one_serving(tmp_path):
    from warehouse_ml.serve.server import Watcher

    root = build_served(tmp_path / "p")
    folder = snapshot.directory(root / "target")
    current = Current(folder)
    assert current.refresh()
    good = current.snapshot
    said: list[str] = []
    watcher = Watcher(current, 0.05, said.append)
    watcher.start()
    try:
        bad = "snapshot-20991231T000000.000000-broken.duckdb"
        (folder / bad).write_bytes(b"not a database")
        snapshot.write_pointer(folder, {"snapshot": bad})
        deadline = time.monotonic() + 10
        while current.last_error is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        watcher.stopped.set()
        watcher.join()
    assert current.snapshot is good and not good.closed
    assert bad in current.last_error and "still serving the previous snapshot" in said[-1]
    snap = current.acquire()
    assert '"version":1' in snap.profiles.get("p1")[0]
    snap.release()
    current.close()
