"""Writing ``target/manifest.json`` fast: each node's JSON is reused while its inputs hold.

A 1,000-model project's manifest is several MB, and every command writes it. Most nodes
are unchanged between runs, so the JSON text of each node entry is kept in a signed cache
(``target/manifest_cache.bin``) under a fingerprint of everything the entry is made of
(the node's fields, its relation, its parents' ids, its compiled SQL, the project's macro
names and this wml's version), an HMAC under the user's cache key. Fragments are stored
with secrets masked, like every file in ``target/``. A node whose fingerprint matches is written from the cache
without being built or encoded again; any other is built, encoded and cached. On a cold
``wml compile`` most entries are built while the loop waits for the transpiling child
(:class:`FragmentsAhead`) and only fingerprinted again at the end.
"""

from __future__ import annotations

import hmac
import json
import marshal
import re
import typing as t

from warehouse_ml import __version__, redaction
from warehouse_ml.dbt.unique_ids import is_unit_test
from warehouse_ml.files import cache_key, load_cache, save_cache, write_atomically
from warehouse_ml.gc_pause import paused
from warehouse_ml.project.nodes import NodeKind
from warehouse_ml.run.manifest import SCHEMA_VERSION, ManifestBuilder, metadata

CACHE_FILE = "manifest_cache.bin"
CACHE_KIND = "manifest-nodes-2"  # change it when an entry's shape changes
_PLAIN = re.compile(r"^[\w.\-]*$")  # an id that needs no escaping in JSON
_dumps = json.JSONEncoder(default=str, separators=(",", ":"), check_circular=False).encode


def write_manifest(
    session: t.Any, compiled: t.Mapping[str, str] | None = None, ahead: FragmentsAhead | None = None
) -> dict[str, int]:
    """Write ``target/manifest.json`` (secrets masked); returns how many nodes, sources and
    macros it holds. ``ahead`` holds fragments built while the compile loop waited."""
    builder = ManifestBuilder(session, compiled)
    target_dir = session.project.target_dir
    cache_path = target_dir / CACHE_FILE
    with paused():
        old = ahead.old if ahead is not None and ahead.old is not None else _load(cache_path)
        text, new, counts = _manifest_text(builder, old, ahead.ready if ahead is not None else {})
        text = redaction.mask(text)
    write_atomically(target_dir / "manifest.json", text.encode("utf-8"))
    if new != old:
        save_cache(cache_path, marshal.dumps(new), CACHE_KIND)
    return counts


class FragmentsAhead:
    """Node fragments built one at a time while a cold compile waits for the transpiling
    child (``TranspileCache.while_waiting``), instead of all at the end: the ~0.2 s of
    building and encoding 3,000 entries then fills time the loop would have slept.

    A fragment is only a candidate: :func:`write_manifest` fingerprints every node again
    at the end and takes one built here only under the same fingerprint, so the file is
    byte-for-byte the one built at the end.
    """

    def __init__(self, session: t.Any, compiled: t.Mapping[str, str]) -> None:
        self._session = session
        self._compiled = compiled  # filled by the compile loop as it goes
        self._builder: ManifestBuilder | None = None
        self._index: t.Mapping[str, str] = {}
        self._salt: t.Any = None
        self.old: dict[str, tuple[str, str]] | None = None  # the cache, once loaded
        self.ready: dict[str, tuple[str, str]] = {}  # node id -> (fingerprint, fragment)

    def prepare(self, uid: str) -> None:
        """Build and keep the fragment of ``uid`` (compiled by now)."""
        try:
            if self._builder is None:  # set up at the first wait, all of it or none
                builder = ManifestBuilder(self._session, self._compiled)
                index = builder._index()
                self._salt = _salt(builder, index)
                self.old = _load(self._session.project.target_dir / CACHE_FILE)
                self._index, self._builder = index, builder
            node = self._builder.nodes.get(uid)
            if node is None or node.kind in (NodeKind.SOURCE, NodeKind.SYNC) or is_unit_test(node):
                return
            with paused():
                key, fragment, _ = _fragment(self._builder, self._index, self._salt, node, self.ready, self.old)
            self.ready[uid] = (key, fragment)
        except Exception:  # the end builds this node again, and raises there
            return


def _load(path: t.Any) -> dict[str, tuple[str, str]]:
    blob = load_cache(path, CACHE_KIND)
    if blob is None:
        return {}
    try:
        data = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _salt(builder: ManifestBuilder, index: t.Mapping[str, str]) -> t.Any:
    """The keyed digest every node's fingerprint starts from; None without a cache key."""
    # Keyed with this user's cache key: the fingerprints cover compiled SQL that may hold a
    # secret (masked in the fragments), so a plain hash in target/ could be brute-forced.
    secret = cache_key()
    if secret is None:
        return None
    return hmac.new(secret, repr((
        __version__, builder.name, builder.database, builder.project.settings.target_path,
        sorted(index.items()),
    )).encode("utf-8"), "md5")  # fmt: skip


_NO_KEY = hmac.new(b"no cache", b"", "md5")  # fingerprints that match nothing cached


def _fragment(
    builder: ManifestBuilder, index: t.Mapping[str, str], salt: t.Any, node: t.Any,
    ready: t.Mapping[str, tuple[str, str]], cached: t.Mapping[str, tuple[str, str]] | None,
) -> tuple[str, str, tuple[list[str], list[list[str]]]]:
    """(fingerprint, masked JSON entry, parents) of one node; the entry is the one built
    earlier in this run (``ready``) or kept in ``target/`` (``cached``, used only with a
    ``salt``: unkeyed fingerprints are for this run) under the same fingerprint, else built."""
    uid = node.unique_id
    kind = node.kind
    parents = builder.parents(node)
    relation = builder.session.relation(node)
    compiled = builder.compiled.get(uid, node.compiled_sql)
    digest = (salt or _NO_KEY).copy()
    # The long texts go in as they are (repr would escape them); the rest as repr.
    digest.update(f"{node.raw_sql}\0{compiled}\0{node.description}\0".encode())
    digest.update(repr((
        node.name, kind.value, str(node.path), node.fqn, node.test_metadata, node.config,
        node.columns, node.attached_to, getattr(node, "package_name", ""),
        getattr(node, "patch_path", None), getattr(node, "constraints", None),
        node.depends_on, parents[0],
        relation.schema, relation.identifier, getattr(relation, "database", None),
        builder._checksum(node) if kind is NodeKind.SEED else None,
    )).encode())  # fmt: skip
    key = digest.hexdigest()
    for known in (ready, cached if salt is not None else None):
        hit = known.get(uid) if known else None
        if hit is not None and hit[0] == key:
            return key, hit[1], parents
    return key, redaction.mask(_dumps(builder.node_entry(node, index, parents))), parents


def _manifest_text(
    builder: ManifestBuilder, old: t.Mapping[str, tuple[str, str]], ready: t.Mapping[str, tuple[str, str]]
) -> tuple[str, dict[str, tuple[str, str]], dict[str, int]]:
    index = builder._index()
    salt = _salt(builder, index)
    new: dict[str, tuple[str, str]] = {}
    parts: list[str] = []
    parent_map: dict[str, list[str]] = {}
    to_dbt = builder.ids.dbt
    unit_tests: dict[str, t.Any] = {}
    for uid in sorted(builder.nodes):
        node = builder.nodes[uid]
        kind = node.kind
        if kind in (NodeKind.SOURCE, NodeKind.SYNC):
            continue  # sources: written from the project's source tables; syncs: not dbt's
        if is_unit_test(node):
            entry = builder.unit_test_entry(node)
            unit_tests[entry["unique_id"]] = entry
            parent_map[entry["unique_id"]] = entry["depends_on"]["nodes"]
            continue
        key, fragment, parents = _fragment(builder, index, salt, node, ready, old)
        new[uid] = (key, fragment)
        dbt_id = to_dbt(uid)
        parts.append(f'"{dbt_id}":{fragment}' if _PLAIN.match(dbt_id) else f"{_dumps(dbt_id)}:{fragment}")
        parent_map[dbt_id] = parents[0]
    sources = {}
    for src in builder.project.sources.values():
        entry = builder.source_entry(src)
        sources[entry["unique_id"]] = entry
    parent_map.update({uid: [] for uid in sources})
    child_map: dict[str, list[str]] = {uid: [] for uid in parent_map}
    for uid, ups in parent_map.items():
        for parent in ups:
            child_map.setdefault(parent, []).append(uid)
    for children in child_map.values():
        children.sort()
    rest = builder.rest(sources, parent_map, child_map, unit_tests)
    head = _dumps({"metadata": metadata(SCHEMA_VERSION, builder.adapter_type, builder.name)})
    text = head[:-1] + ',"nodes":{' + ",".join(parts) + "}," + _dumps(rest)[1:]
    counts = {"nodes": len(parts), "sources": len(sources), "macros": len(rest["macros"])}
    return text, new, counts
