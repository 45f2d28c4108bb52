"""Writing files in ``target/`` so that a reader, or another wml process, never sees half a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` (named by process) and rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_cache(path: Path, data: bytes) -> None:
    """:func:`write_atomically` for caches: one that cannot be written (a read-only
    checkout) only costs speed on the next run, so the error is not raised."""
    with contextlib.suppress(OSError):
        write_atomically(path, data)
