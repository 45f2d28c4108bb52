"""Writing ``target/compiled/`` with as few system calls as the files need.

A compile writes a file per node (3,000 for a 1,000-model project with its tests). Most
are unchanged on a rerun, and telling so by reading each one back cost more than the
render it guards. This keeps, in a signed cache beside them (``compiled_files.bin``), the
stat (mtime, ctime, size, inode) and a keyed digest of every file the last compile wrote:
a file whose stat is the one recorded still holds what was written, so a new text with the
same digest is one ``stat`` and no write. A file the record does not know (``target/``
copied from elsewhere, the first run after an upgrade) is read and compared, as before.

New files are written with ``os.open``/``os.write`` (three calls: Python's ``open()`` adds
an ``fstat``, an ``ioctl`` and an ``lseek``), and each folder is created once per run.
A stale hooks file is looked for in its folder's listing, read once, rather than by an
``unlink`` per node without hooks.

The digests are BLAKE2b under the user's cache key, as in every wml cache, so the record
says nothing about what a file held (the files themselves are masked, see
:mod:`warehouse_ml.redaction`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from warehouse_ml.files import cache_key, load_marshalled_dict, save_cache

FILE = "compiled_files.bin"
_KIND = "compiled-files-1"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)

#: path -> (mtime_ns, ctime_ns, size, inode, keyed digest of the bytes written).
Record = dict[str, tuple[int, int, int, int, bytes]]
_REMOVED = (0, 0, 0, 0, b"")


class CompiledFiles:
    """What the last compile wrote under ``target_dir``, and what this one writes."""

    def __init__(self, target_dir: Path):
        self.path = target_dir / FILE
        secret = cache_key()
        self._secret = (secret or b"")[:64]
        self.enabled = secret is not None
        self._old: Record = load_marshalled_dict(self.path, _KIND) if self.enabled else {}
        self._new: Record = {}
        self._made: set[str] = set()
        self._listed: dict[str, set[str]] = {}
        self._lock = threading.Lock()  # two writer threads share the record and folders
        # No compiled folder at the start: nothing to compare with, nothing to remove.
        self._fresh = not (target_dir / "compiled").is_dir()

    def _digest(self, data: bytes) -> bytes:
        return hashlib.blake2b(data, key=self._secret, digest_size=16).digest()

    def write(self, path: Path, text: str) -> None:
        """``path`` holds ``text`` afterwards; written only if it does not already."""
        name = str(path)
        data = text.encode("utf-8")
        digest = self._digest(data)
        if not self._fresh:
            before = _stat(name)
            old = self._old.get(name)
            if before is not None and (
                (old is not None and old[:4] == before and old[4] == digest)
                or (old is None and _same_content(name, data, before[2]))
            ):
                self._keep(name, before, digest)
                return
        self._make_parent(path)
        fd = os.open(name, _FLAGS, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._keep(name, (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino), digest)

    def remove(self, path: Path) -> None:
        """``path`` is not there afterwards (a stale hooks file of an earlier compile)."""
        if self._fresh or path.name not in self._listing(str(path.parent)):
            return
        with self._lock:
            self._new[str(path)] = _REMOVED
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def save(self) -> None:
        """Keep the record, this run's files over the last one's: a run that selected some
        nodes, or failed half-way, leaves the others' files as they were."""
        merged = {**self._old, **self._new}
        merged = {k: v for k, v in merged.items() if v[4]}  # not removed
        if self.enabled and merged != self._old:
            save_cache(self.path, _marshal(merged), _KIND)

    def _keep(self, name: str, stat: tuple[int, int, int, int], digest: bytes) -> None:
        with self._lock:
            self._new[name] = (*stat, digest)

    def _make_parent(self, path: Path) -> None:
        parent = str(path.parent)
        if parent in self._made:
            return
        os.makedirs(parent, exist_ok=True)
        with self._lock:
            self._made.add(parent)

    def _listing(self, folder: str) -> set[str]:
        names = self._listed.get(folder)
        if names is None:
            try:
                names = {entry.name for entry in os.scandir(folder)}
            except OSError:
                names = set()
            with self._lock:
                self._listed[folder] = names
        return names


def _stat(name: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _same_content(name: str, data: bytes, size: int) -> bool:
    if size != len(data):
        return False
    try:
        with open(name, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def _marshal(record: Record) -> bytes:
    import marshal

    return marshal.dumps(record)
