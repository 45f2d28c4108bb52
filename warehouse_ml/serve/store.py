"""A published snapshot opened for serving: in memory, or as read-only DuckDB lookups.

Both forms answer the same questions with the same JSON text, so the server does not
care which one it has. In memory (the default up to :data:`MEMORY_ROWS` rows) each table
is a dict from id to JSON text: a lookup is a dict access (~1 microsecond), and the file
is closed once read. Larger snapshots stay in DuckDB, opened read-only, one cursor per
worker thread, each lookup a prepared statement on the sorted, indexed ``_id``.

A snapshot in use is reference-counted: :class:`Current` swaps in a new one atomically,
requests that started on the old one finish on it, and the old one closes after the last.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
import typing as t
from pathlib import Path

import duckdb

from warehouse_ml.serve import snapshot as layout

MEMORY_ROWS = 1_000_000


class SnapshotError(Exception):
    """A snapshot that cannot be opened (missing, unreadable, another format)."""


class _Table(t.Protocol):
    def get(self, key: str) -> t.Any: ...
    def page(self, after: str | None, limit: int) -> list[tuple[str, str]]: ...


class _MemoryTable:
    def __init__(self, keys: list[str], values: t.Iterable[t.Any], ordered: bool):
        self.rows = dict(zip(keys, values, strict=False))
        self.keys = keys if ordered else []  # sorted by the query

    def get(self, key: str) -> t.Any:
        return self.rows.get(key)

    def page(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        start = 0 if after is None else bisect.bisect_right(self.keys, after)
        return [(k, self.rows[k]) for k in self.keys[start : start + limit]]


class _DuckTable:
    def __init__(self, snap: Snapshot, table: str, column: str):
        self.snap = snap
        self.whole = "," in column  # several columns: a row is a tuple
        self.get_sql = f'select {column} from "{table}" where _id = ?'
        self.page_sql = f'select _id, {column} from "{table}" where _id > ? order by _id limit ?'
        self.first_sql = f'select _id, {column} from "{table}" order by _id limit ?'

    def get(self, key: str) -> t.Any:
        rows = self.snap.cursor().execute(self.get_sql, [key]).fetchall()
        if not rows:
            return None
        return rows[0] if self.whole else rows[0][0]

    def page(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        cur = self.snap.cursor()
        if after is None:
            return cur.execute(self.first_sql, [limit]).fetchall()
        return cur.execute(self.page_sql, [after, limit]).fetchall()


class Snapshot:
    """One loaded snapshot: its metadata and a table per relation, audience and the recs."""

    def __init__(self, path: Path, pointer: dict[str, t.Any], in_memory: str = "auto"):
        self.path = path
        self.pointer = pointer
        self._local = threading.local()
        self._cursors: list[t.Any] = []
        self._lock = threading.Lock()
        self._users = 0
        self._retired = False
        self.closed = False
        try:
            self.con = duckdb.connect(str(path), read_only=True)
            found = self.con.execute(f"select format, meta from {layout.META_TABLE}").fetchall()
            row = found[0] if found else None
        except (duckdb.Error, OSError) as exc:
            raise SnapshotError(f"cannot open snapshot {path.name}: {exc}") from exc
        if row is None or row[0] != layout.FORMAT:
            self.con.close()
            raise SnapshotError(f"snapshot {path.name} has format {row and row[0]}, not {layout.FORMAT}")
        self.meta: dict[str, t.Any] = json.loads(row[1])
        try:
            self._load(in_memory)
        except duckdb.Error as exc:
            self.con.close()
            raise SnapshotError(f"snapshot {path.name} is not readable: {exc}") from exc

    def _load(self, in_memory: str) -> None:
        rows = sum(e["rows"] for e in self._entries())
        self.in_memory = in_memory == "true" or (in_memory == "auto" and rows <= MEMORY_ROWS)
        self.relations = self.meta["relations"]
        # Per profile: (r0, r1, ..., a): each relation's JSON text, then its audiences.
        columns = ", ".join([*(f"r{i}" for i in range(len(self.relations))), "a"])
        self.profiles = self._table("profiles", columns, False)
        self.audiences = {e["name"]: (e, self._table(e["table"], "_json", True)) for e in self.meta["audiences"]}
        self.audience_names = [e["name"] for e in self.meta["audiences"]]
        self.audience_scopes = [e["scope"] for e in self.meta["audiences"]]
        recs = self.meta["recommendations"]
        self.recs = (recs, self._table(recs["table"], "_items", False)) if recs else None
        if self.in_memory:
            self.con.close()  # everything is in the dicts now

    def _entries(self) -> list[dict[str, t.Any]]:
        recs = self.meta["recommendations"]
        return [*self.meta["relations"], *self.meta["audiences"], *([recs] if recs else [])]

    def _table(self, table: str, column: str, ordered: bool) -> _Table:
        if not self.in_memory:
            return _DuckTable(self, table, column)
        # Column by column through Arrow: about twice as fast as fetchall's row tuples
        # (100k profiles load in ~1 s instead of ~2 s on a busy 2-core host).
        query = f'select _id, {column} from "{table}"' + (" order by _id" if ordered else "")
        # In batches: each conversion holds the GIL, and between two the event loop answers.
        table_ = self.con.sql(query).to_arrow_table()
        keys, *columns = ([] for _ in table_.columns)
        for batch in table_.to_batches(max_chunksize=8192):
            for out, col in zip([keys, *columns], batch.columns, strict=True):
                out.extend(col.to_pylist())
        values = zip(*columns, strict=True) if len(columns) > 1 else columns[0]
        return _MemoryTable(keys, values, ordered)

    @property
    def blocking(self) -> bool:
        """Lookups do I/O in DuckDB: run them off the event loop."""
        return not self.in_memory

    def cursor(self) -> t.Any:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.con.cursor()
            self._local.cursor = cur
            with self._lock:
                self._cursors.append(cur)
        return cur

    # -- reference counting, for an atomic swap --------------------------------------------
    def acquire(self) -> Snapshot:
        with self._lock:
            self._users += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self.close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            done = self._users == 0
        if done:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.in_memory:
            for cur in self._cursors:
                cur.close()
            self.con.close()


class Current:
    """The snapshot being served, swapped when the pointer names a new one."""

    def __init__(self, folder: Path, in_memory: str = "auto"):
        self.folder = folder
        self.in_memory = in_memory
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self.snapshot: Snapshot | None = None
        self.loaded_at: str | None = None
        self.last_error: str | None = None
        self.load_seconds = 0.0

    def acquire(self) -> Snapshot:
        with self._lock:
            snap = self.snapshot
            if snap is None:
                raise SnapshotError("no snapshot is loaded")
            return snap.acquire()

    def refresh(self) -> bool:
        """Load the snapshot the pointer names if it changed; True when swapped.

        Loading happens outside the lock: requests keep being answered from the old
        snapshot until the new one is whole.
        """
        stamp = layout.pointer_stamp(self.folder)
        if stamp is None or stamp == self._stamp:
            return False
        # Recorded first: a pointer naming a broken file is not retried at every poll,
        # only when it changes again (the next publish).
        self._stamp = stamp
        pointer = layout.read_pointer(self.folder)
        if pointer is None:
            return False
        if self.snapshot is not None and pointer["snapshot"] == self.snapshot.path.name:
            return False
        started = time.perf_counter()
        new = Snapshot(self.folder / pointer["snapshot"], pointer, self.in_memory)
        self.load_seconds = time.perf_counter() - started
        with self._lock:
            old, self.snapshot = self.snapshot, new
            self.loaded_at = layout.utc_now()
            self.last_error = None
        if old is not None:
            old.retire()
        return True

    def close(self) -> None:
        with self._lock:
            old, self.snapshot = self.snapshot, None
        if old is not None:
            old.retire()
