"""Writing ``target/manifest.json`` fast: each node's JSON is reused while its inputs hold.

A 1,000-model project's manifest is several MB, and every command writes it. Most nodes
are unchanged between runs, so the JSON text of each node entry is kept in a signed cache
(``target/manifest_cache.bin``) under a fingerprint of everything the entry is made of
(the node's fields, its relation, its parents' ids, its compiled SQL, the project's macro
names and this wml's version), an HMAC under the user's cache key. Fragments are stored
with secrets masked, like every file in ``target/``. A node whose fingerprint matches is written from the cache
without being built or encoded again; any other is built, encoded and cached.
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


def write_manifest(session: t.Any, compiled: t.Mapping[str, str] | None = None) -> dict[str, int]:
    """Write ``target/manifest.json`` (secrets masked); returns how many nodes, sources and
    macros it holds."""
    builder = ManifestBuilder(session, compiled)
    target_dir = session.project.target_dir
    cache_path = target_dir / CACHE_FILE
    with paused():
        old = _load(cache_path)
        text, new, counts = _manifest_text(builder, old)
        text = redaction.mask(text)
    write_atomically(target_dir / "manifest.json", text.encode("utf-8"))
    if new != old:
        save_cache(cache_path, marshal.dumps(new), CACHE_KIND)
    return counts


def _load(path: t.Any) -> dict[str, tuple[str, str]]:
    blob = load_cache(path, CACHE_KIND)
    if blob is None:
        return {}
    try:
        data = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _manifest_text(
    builder: ManifestBuilder, old: t.Mapping[str, tuple[str, str]]
) -> tuple[str, dict[str, tuple[str, str]], dict[str, int]]:
    index = builder._index()
    # Keyed with this user's cache key: the fingerprints cover compiled SQL that may hold a
    # secret (masked in the fragments), so a plain hash in target/ could be brute-forced.
    secret = cache_key()
    if secret is None:
        old = {}
        secret = b"no cache"
    salt = hmac.new(secret, repr((
        __version__, builder.name, builder.database, builder.project.settings.target_path,
        sorted(index.items()),
    )).encode("utf-8"), "md5")  # fmt: skip
    new: dict[str, tuple[str, str]] = {}
    parts: list[str] = []
    parent_map: dict[str, list[str]] = {}
    relation_of = builder.session.relation
    compiled_sql = builder.compiled
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
        parents = builder.parents(node)
        relation = relation_of(node)
        compiled = compiled_sql.get(uid, node.compiled_sql)
        digest = salt.copy()
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
        hit = old.get(uid)
        if hit is not None and hit[0] == key:
            fragment = hit[1]
        else:
            fragment = redaction.mask(_dumps(builder.node_entry(node, index, parents)))
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
