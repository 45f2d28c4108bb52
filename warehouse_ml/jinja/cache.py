"""Compiled Jinja templates kept in one file in ``target/``, read once and written once.

Jinja's FileSystemBytecodeCache writes a file per template; on a 1,000-model project that
is 1,000 file creations on the first run and 1,000 opens on every run. Jinja's buckets
carry the source checksum, so an edited file's stale entry is simply recompiled.

The entries are Jinja's own bytecode (marshalled code objects, which run when a template
renders), so the file is loaded only when its HMAC verifies under this user's key
(:mod:`warehouse_ml.files`): a file crafted by anyone else is ignored. The container is
``marshal`` data, read only after the MAC check, and must be a dict of bytes.
"""

from __future__ import annotations

import marshal
import threading
from pathlib import Path

import jinja2

from warehouse_ml.files import load_cache, save_cache

_KIND = "jinja"


class SingleFileBytecodeCache(jinja2.BytecodeCache):
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._used: dict[str, bytes] = {}
        self._changed = False
        self._saved: dict[str, bytes] = _read(path)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._saved.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)
            if bucket.code is not None:
                with self._lock:
                    self._used[bucket.key] = data

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            self._used[bucket.key] = bucket.bytecode_to_string()
            self._changed = True

    def save(self) -> None:
        """Write the templates used in this run (others are dropped), if any changed."""
        with self._lock:
            if not self._changed and self._used.keys() == self._saved.keys():
                return
            entries = dict(self._used)
        save_cache(self.path, marshal.dumps(entries), _KIND)


def _read(path: Path) -> dict[str, bytes]:
    payload = load_cache(path, _KIND)
    if payload is None:
        return {}
    try:
        entries = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, bytes) for k, v in entries.items()
    ):
        return {}
    return entries
