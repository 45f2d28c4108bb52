"""The published snapshot's layout on disk: files, the pointer, the metadata, clean-up.

``target/serve/`` holds ``snapshot-<UTC time>-<build id>.duckdb`` files and
``current.json``, the pointer naming the one to serve. A publisher writes a whole new
file under a temporary name, renames it into place, then replaces the pointer (both
renames are atomic), so a server reading the pointer always finds a complete snapshot.
Inside a snapshot every served table has two columns, ``_id`` (the key as text, sorted)
and ``_json`` (the row as JSON text), and ``_wml_snapshot`` describes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import typing as t
from pathlib import Path

from warehouse_ml.files import write_atomically

FORMAT = 2  # 2: one profiles table (r0, r1, ..., a) instead of a table per relation
DIRECTORY = "serve"
POINTER = "current.json"
META_TABLE = "_wml_snapshot"
_FILE = re.compile(r"^snapshot-[0-9T.]+-[A-Za-z0-9]+\.duckdb$")
_TMP = re.compile(r"^(snapshot-[0-9T.]+-[A-Za-z0-9]+\.duckdb)\.tmp-(\d+)$")


def directory(target_dir: Path) -> Path:
    return target_dir / DIRECTORY


def new_file_name(build_id: str, now: dt.datetime | None = None) -> str:
    """Names sort by publication time: ``snapshot-20261201T120000.123456-3f2a9c1b.duckdb``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    short = re.sub(r"[^A-Za-z0-9]", "", build_id)[:12] or "manual"
    return f"snapshot-{now.strftime('%Y%m%dT%H%M%S.%f')}-{short}.duckdb"


def temp_name(final: str) -> str:
    return f"{final}.tmp-{os.getpid()}"


def read_pointer(folder: Path) -> dict[str, t.Any] | None:
    """The pointer's content, or None when nothing was published (or it is unreadable)."""
    try:
        value = json.loads((folder / POINTER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or not _FILE.match(str(value.get("snapshot", ""))):
        return None  # a pointer may only name a snapshot file in this folder
    return value


def write_pointer(folder: Path, pointer: dict[str, t.Any]) -> None:
    write_atomically(folder / POINTER, json.dumps(pointer, indent=2).encode() + b"\n")


def pointer_stamp(folder: Path) -> tuple[int, int, int] | None:
    """What changes when the pointer is replaced (inode, mtime, size): cheap to poll."""
    try:
        st = os.stat(folder / POINTER)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def collect_garbage(folder: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest snapshots (the current one is always kept) and
    the temporary files of publishers that are no longer running; the names deleted.

    The previous snapshot is kept because a server may have read the pointer an instant
    before it was replaced; a server that already opened a deleted file keeps reading it
    (POSIX keeps an open file until it is closed), and one that had not yet opened it
    re-reads the pointer.
    """
    pointer = read_pointer(folder) or {}
    current = pointer.get("snapshot")
    files = sorted((p.name for p in folder.glob("snapshot-*.duckdb") if _FILE.match(p.name)),
                   reverse=True)  # fmt: skip
    doomed = [name for name in files[keep:] if name != current]
    for tmp in folder.glob("snapshot-*.tmp-*"):
        match = _TMP.match(tmp.name)
        if match and not _alive(int(match.group(2))):
            doomed.append(tmp.name)
    removed = []
    for name in doomed:
        for path in (folder / name, folder / f"{name}.wal"):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                path.unlink()
                if path.name == name:
                    removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
