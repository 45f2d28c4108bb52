"""What each sync last delivered, and the log of its runs: two tables in schema ``wml``.

``wml.sync_state`` holds, per sync and key, the hash of the row version the destination
acknowledged; a row is written there only after its batch was acknowledged, in one
transaction per batch, so a failed batch or a ``kill -9`` leaves it to the next run.
``wml.sync_runs`` logs every run (started, finished, counts, seconds, status); a run
that died keeps status ``running`` until the next run of that sync marks it ``aborted``.
The ``epoch`` of a sync (how many ``--full-resync`` runs it has started) is part of every
idempotency key, so a full resync is not dropped as a duplicate by the receiver.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t

STATE = "wml.sync_state"
RUNS = "wml.sync_runs"
# Syncs running in parallel (wml build --sync) share these tables: one writer at a time,
# so DuckDB never sees two transactions touching the same rows.
LOCK = threading.Lock()

_DDL = (
    "create schema if not exists wml",
    f"""create table if not exists {STATE} (
        sync varchar not null, key_json varchar not null, row_hash varchar not null,
        epoch integer not null, delivered_at timestamp with time zone not null,
        primary key (sync, key_json))""",
    f"""create table if not exists {RUNS} (
        run_id varchar primary key, sync varchar not null, destination varchar not null,
        started_at timestamp with time zone not null, finished_at timestamp with time zone,
        full_resync boolean not null, epoch integer not null, added bigint, changed bigint,
        removed bigint, resent bigint, invalid bigint, sent bigint, failed bigint,
        seconds double, status varchar not null, message varchar)""",
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def exists(cursor: t.Any) -> bool:
    rows = cursor.execute(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name in ('sync_state', 'sync_runs')"
    ).fetchone()
    return bool(rows and rows[0] == 2)


def ensure(cursor: t.Any) -> None:
    with LOCK:
        for sql in _DDL:
            cursor.execute(sql)


def epoch(cursor: t.Any, sync: str) -> int:
    """How many full resyncs of ``sync`` have started (0 without the tables)."""
    if not exists(cursor):
        return 0
    row = cursor.execute(f"select count(*) from {RUNS} where sync = ? and full_resync",
                         [sync]).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def start_run(
    cursor: t.Any, run_id: str, sync: str, destination: str, full_resync: bool
) -> int:
    """Log the run as ``running`` (committed), mark runs a crash left as ``aborted``, and
    return the epoch this run's idempotency keys use."""
    with LOCK:
        cursor.execute("begin transaction")
        try:
            cursor.execute(
                f"update {RUNS} set status = 'aborted', message = 'the process stopped "
                "before the run finished; its unacknowledged rows were sent again by a "
                "later run' where sync = ? and status = 'running'",
                [sync],
            )
            row = cursor.execute(f"select count(*) from {RUNS} where sync = ? and full_resync",
                                 [sync]).fetchone()  # fmt: skip
            current = int(row[0]) + (1 if full_resync else 0)
            cursor.execute(
                f"insert into {RUNS} (run_id, sync, destination, started_at, full_resync, "
                "epoch, status) values (?, ?, ?, ?, ?, ?, 'running')",
                [run_id, sync, destination, now(), full_resync, current],
            )
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
    return current


def finish_run(cursor: t.Any, run_id: str, counts: t.Mapping[str, t.Any], status: str,
               message: str, seconds: float) -> None:  # fmt: skip
    with LOCK:
        cursor.execute(
            f"update {RUNS} set finished_at = ?, added = ?, changed = ?, removed = ?, "
            "resent = ?, invalid = ?, sent = ?, failed = ?, seconds = ?, status = ?, "
            "message = ? where run_id = ?",
            [now(), counts.get("added", 0), counts.get("changed", 0), counts.get("removed", 0),
             counts.get("resent", 0), counts.get("invalid", 0), counts.get("sent", 0),
             counts.get("failed", 0), round(seconds, 3), status, message, run_id],
        )  # fmt: skip


def record(cursor: t.Any, sync: str, epoch: int, delivered: t.Sequence[t.Any]) -> None:
    """Acknowledged changes, in one transaction: upserts keep the new row hash, removals
    leave the state. The rows go in as one Arrow table (no statement per row)."""
    if not delivered:
        return
    import pyarrow as pa

    acked = pa.table({
        "key_json": [c.key_json for c in delivered],
        "row_hash": [c.row_hash for c in delivered],
        "removed": [c.removed for c in delivered],
    })  # fmt: skip
    with LOCK:
        cursor.register("__wml_sync_acked", acked)
        cursor.execute("begin transaction")
        try:
            if not all(acked["removed"].to_pylist()):
                cursor.execute(
                    f"insert or replace into {STATE} select ?, key_json, row_hash, ?, ? "
                    "from __wml_sync_acked where not removed",
                    [sync, epoch, now()],
                )
            if any(acked["removed"].to_pylist()):
                cursor.execute(
                    f"delete from {STATE} where sync = ? and key_json in "
                    "(select key_json from __wml_sync_acked where removed)",
                    [sync],
                )
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
        finally:
            cursor.unregister("__wml_sync_acked")


def record_all(cursor: t.Any, sync: str, epoch: int, changes_table: str) -> None:
    """Every change of a run as delivered, in one transaction (a file written whole)."""
    with LOCK:
        cursor.execute("begin transaction")
        try:
            cursor.execute(
                f"insert or replace into {STATE} select ?, key_json, row_hash, ?, ? "
                f"from {changes_table} where op <> 'removed'",
                [sync, epoch, now()],
            )
            cursor.execute(
                f"delete from {STATE} where sync = ? and key_json in "
                f"(select key_json from {changes_table} where op = 'removed')",
                [sync],
            )
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
