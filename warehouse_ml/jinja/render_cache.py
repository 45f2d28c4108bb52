"""A node's parse-time render reused by the next run while nothing it read has changed.

dbt's partial parsing, per node: rendering every model, test and macro call again is most
of a warm ``wml compile``, though on a rerun almost nothing changed. An entry holds what a
render produced (SQL, refs, sources, in-file config, ephemeral parents) under a key made of
everything the render can have read:

- the node itself: its file's text, its config before the render, its kind, path, fqn,
  package, columns and test arguments;
- the run: every macro file's text (the project's, its packages', wml's own ``wml/*.sql``
  and dbt's global macros), the vars (project and ``--vars``), the target and profile, the
  project settings, and the wml and Jinja versions;

and, checked when it is reused, what the render looked up: the value of every
``env_var()`` it read, and what each ``ref()``, ``source()`` and ``this`` it named resolves
to now (another node's new alias or schema, or its becoming ephemeral, renders it again).

A render that touched what differs from run to run is never kept: the database
(``execute``, ``run_query``, ``statement``, introspection: the renderer's *dynamic*
renders), ``run_started_at``, ``invocation_id``, ``modules`` (``modules.datetime``'s
now), ``flags``, ``model``, ``graph`` and wml's monitoring tests. Names are recorded as
Jinja resolves them (:class:`TrackingContext`), so a macro reading one counts too, even in
a branch it did not take (a miss, never a wrong hit).

Keys and env values are keyed hashes (BLAKE2b under the user's cache key, see
:mod:`warehouse_ml.files`), never the values; a render whose output holds a secret or the
value of an env var it read is not kept. The file is signed like every cache in
``target/``, so an entry someone else wrote is never used.
"""

from __future__ import annotations

import hashlib
import marshal
import typing as t
from pathlib import Path

import jinja2
from jinja2.runtime import Context

from warehouse_ml import __version__, redaction
from warehouse_ml.files import cache_key, load_marshalled_dict, save_cache

FILE = "render_cache.bin"
_KIND = "render-1"  # change it when an entry's shape changes

#: Globals whose value, or what they return, differs between two runs of the same files.
VOLATILE = frozenset(
    {"run_started_at", "invocation_id", "modules", "flags", "model", "graph",
     "_wml_monitoring_test"}
)  # fmt: skip


class TrackingContext(Context):
    """Jinja's context, telling the renderer when a template resolves a volatile name."""

    def resolve_or_missing(self, key: str) -> t.Any:
        if key in VOLATILE:
            mark = getattr(self.environment, "wml_volatile", None)
            if mark is not None:
                mark()
        return super().resolve_or_missing(key)


#: An entry: (sql, refs, sources, config, ephemerals, relations [(unique id, text)],
#: sources' texts [(source, table, text)], env reads {name: keyed hash}, test flag).
Entry = tuple[
    str, list[str], list[tuple[str, str]], dict[str, t.Any], list[str], list[tuple[str, str]],
    list[tuple[str, str, str]], dict[str, str], t.Any,
]


class RenderCache:
    """Entries of the last run, and those this run keeps; ``salt`` covers the run's inputs."""

    def __init__(self, path: Path, salt: t.Sequence[t.Any]):
        self.path = path
        secret = cache_key()
        self.enabled = secret is not None
        self._secret = (secret or b"")[:64]
        self._salt = self._hash(repr((__version__, jinja2.__version__, *salt)).encode())
        self._old: dict[str, Entry] = _read(path) if self.enabled else {}
        self._new: dict[str, Entry] = {}
        self.hits = 0

    def _hash(self, data: bytes) -> str:
        return hashlib.blake2b(data, key=self._secret, digest_size=16).hexdigest()

    def key(self, node: t.Any) -> str:
        meta = node.test_metadata
        if meta is not None:  # the flag a render sets is part of the entry, not the key
            meta = {k: v for k, v in meta.items() if k != "builtin_sql"}
        parts = repr((
            node.unique_id, node.kind.value, str(node.path), node.fqn, node.package_name,
            node.config, meta, node.attached_to, node.columns,
        ))  # fmt: skip
        return self._hash(f"{self._salt}\0{node.raw_sql}\0{parts}".encode())

    def env_digest(self, value: str | None) -> str:
        return self._hash(b"\0unset" if value is None else b"=" + value.encode())

    def get(self, key: str) -> Entry | None:
        return self._old.get(key) if self.enabled else None

    def keep(self, key: str, entry: Entry, env_values: t.Iterable[str]) -> None:
        """Keep ``entry`` for the next run unless its output holds a secret or an env value."""
        if not self.enabled:
            return
        sql, config = entry[0], repr(entry[3])
        if redaction.contains_secret(sql) or redaction.contains_secret(config):
            return
        if any(v and (v in sql or v in config) for v in env_values):
            return
        try:
            marshal.dumps(entry)
        except ValueError:
            return  # a config value marshal cannot hold (an object): rendered each run
        self._new[key] = entry

    def save(self) -> None:
        """Write this run's entries (the last run's unused ones are dropped) if they differ."""
        if self.enabled and self._new != self._old:
            save_cache(self.path, marshal.dumps(self._new), _KIND)


def _read(path: Path) -> dict[str, Entry]:
    return load_marshalled_dict(path, _KIND)
