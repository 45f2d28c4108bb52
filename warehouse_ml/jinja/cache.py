"""Compiled Jinja templates kept in one file in ``target/``, read once and written once.

Jinja's FileSystemBytecodeCache writes a file per template; on a 1,000-model project that
is 1,000 file creations on the first run and 1,000 opens on every run. Jinja's buckets
carry the source checksum, so an edited file's stale entry is simply recompiled.

The entries are Jinja's own bytecode (marshalled code objects, which run when a template
renders), so the file is loaded only when its HMAC verifies under this user's key
(:mod:`warehouse_ml.files`): a file crafted by anyone else is ignored. The container is
``marshal`` data, read only after the MAC check, and must be a dict of bytes.

The package's own templates (``wml/*.sql`` macros, dbt's global macros) are the same for
every project, so :class:`RoutedBytecodeCache` keeps them in one per-user file beside the
key (``~/.cache/wml``): a project's first run (no ``target/``) compiles only its own files,
as Python reuses an installed package's ``.pyc`` files.
"""

from __future__ import annotations

import hashlib
import marshal
import threading
import typing as t
from pathlib import Path

import jinja2

from warehouse_ml.files import key_directory, load_marshalled_dict, save_cache

_KIND = "jinja"


class SingleFileBytecodeCache(jinja2.BytecodeCache):
    """``keep_unused``: entries this run did not use stay (a cache shared by projects)."""

    def __init__(self, path: Path, keep_unused: bool = False):
        self.path = path
        self.keep_unused = keep_unused
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
            if not self._changed and (self.keep_unused or self._used.keys() == self._saved.keys()):
                return
            entries = {**self._saved, **self._used} if self.keep_unused else dict(self._used)
        save_cache(self.path, marshal.dumps(entries), _KIND)


class RoutedBytecodeCache(jinja2.BytecodeCache):
    """Templates named by ``is_package`` go to the per-user package cache, the rest to the
    project's. The package entries' keys include what the compiled code depends on
    (Jinja's version, the extensions and delimiters), so environments never share code
    they would compile differently."""

    def __init__(self, project_path: Path, is_package: t.Callable[[str], bool]):
        self.project = SingleFileBytecodeCache(project_path)
        self.package = SingleFileBytecodeCache(key_directory() / "package_templates.cache", keep_unused=True)
        self.is_package = is_package
        self._owner: dict[str, SingleFileBytecodeCache] = {}
        self._lock = threading.Lock()

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> jinja2.bccache.Bucket:
        cache = self.package if self.is_package(name) else self.project
        key = cache.get_cache_key(name, filename)
        if cache is self.package:
            key = hashlib.sha1((key + _signature(environment)).encode()).hexdigest()
        bucket = jinja2.bccache.Bucket(environment, key, cache.get_source_checksum(source))
        with self._lock:
            self._owner[key] = cache
        cache.load_bytecode(bucket)
        return bucket

    def set_bucket(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            cache = self._owner.get(bucket.key, self.project)
        cache.dump_bytecode(bucket)

    def save(self) -> None:
        self.project.save()
        self.package.save()


def _signature(env: jinja2.Environment) -> str:
    parts = (
        jinja2.__version__, sorted(env.extensions), env.optimized, env.block_start_string,
        env.variable_start_string, env.comment_start_string, env.line_statement_prefix,
        env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks, env.newline_sequence,
        env.keep_trailing_newline, env.is_async, getattr(env.finalize, "__qualname__", env.finalize),
        getattr(env.autoescape, "__qualname__", env.autoescape),
    )  # fmt: skip
    return repr(parts)


def _read(path: Path) -> dict[str, bytes]:
    entries = load_marshalled_dict(path, _KIND)
    if not all(isinstance(k, str) and isinstance(v, bytes) for k, v in entries.items()):
        return {}
    return entries
