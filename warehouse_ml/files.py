"""Writing files in ``target/`` so that a reader, or another wml process, never sees half a
file; and caches in ``target/`` that are loaded only if this user's wml wrote them.

``target/`` is often shared (CI artifacts, a synced folder, a checkout with a committed
``target/``), so nothing read from it may run code: the Jinja cache holds compiled
template code and the transpile cache holds SQL that will run. Each cache file carries an
HMAC-SHA256 under a per-user key kept outside ``target/`` (``~/.cache/wml/cache.key``,
mode 0600); a file whose MAC does not verify is ignored as if absent.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import secrets
import typing as t
from pathlib import Path

_MAGIC = b"WMLCACHE1\n"
_MAC_SIZE = hashlib.sha256().digest_size


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` (named by process) and rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_cache(path: Path, data: bytes, kind: str) -> None:
    """Write a signed cache file of ``kind``; one that cannot be written (a read-only
    checkout, no key) only costs speed on the next run, so no error is raised."""
    key = cache_key()
    if key is None:
        return
    with contextlib.suppress(OSError):
        write_atomically(path, _MAGIC + _mac(key, kind, data) + data)


def load_cache(path: Path, kind: str) -> bytes | None:
    """The payload of a cache file written by :func:`save_cache`, or None when it is
    missing, unreadable, of another kind or not signed with this user's key."""
    key = cache_key()
    if key is None:
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head, payload = blob[: len(_MAGIC) + _MAC_SIZE], blob[len(_MAGIC) + _MAC_SIZE :]
    if not head.startswith(_MAGIC):
        return None
    if not hmac.compare_digest(head[len(_MAGIC) :], _mac(key, kind, payload)):
        return None
    return payload


def load_marshalled_dict(path: Path, kind: str) -> dict[t.Any, t.Any]:
    """A signed cache file's payload as the dict :mod:`marshal` wrote, or {} when it is
    missing, not ours, or not a marshalled dict (a cache only costs speed when lost)."""
    import marshal

    payload = load_cache(path, kind)
    if payload is None:
        return {}
    try:
        entries = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _mac(key: bytes, kind: str, data: bytes) -> bytes:
    return hmac.new(key, kind.encode() + b"\0" + data, hashlib.sha256).digest()


def key_directory() -> Path:
    """$WML_CACHE_DIR, else $XDG_CACHE_HOME/wml, else ~/.cache/wml."""
    if os.environ.get("WML_CACHE_DIR"):
        return Path(os.environ["WML_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wml"


def cache_key() -> bytes | None:
    """This user's cache key, created on first use; None (caches off) if it cannot be
    created or is readable or writable by others."""
    return _load_or_create_key(str(key_directory()))


@functools.lru_cache(maxsize=4)
def _load_or_create_key(directory: str) -> bytes | None:
    path = Path(directory) / "cache.key"
    with contextlib.suppress(OSError):
        if not path.exists():
            _create_key(path)
        return _read_private(path)
    return None


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # left by a crashed process with this pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _read_private(path: Path) -> bytes | None:
    info = path.stat()
    if os.name == "posix" and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        return None  # someone else could read or forge MACs
    key = path.read_bytes()
    return key if len(key) >= 32 else None
