"""Compiled Jinja templates kept in one file in ``target/``, read once and written once.

Jinja's FileSystemBytecodeCache writes a file per template; on a 1,000-model project that
is 1,000 file creations on the first run and 1,000 opens on every run. Jinja's buckets
carry the source checksum, so an edited file's stale entry is simply recompiled.
"""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import jinja2

from warehouse_ml.files import save_cache


class SingleFileBytecodeCache(jinja2.BytecodeCache):
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._used: dict[str, bytes] = {}
        self._changed = False
        try:
            with open(path, "rb") as f:
                self._saved: dict[str, bytes] = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            self._saved = {}

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
        save_cache(self.path, pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
