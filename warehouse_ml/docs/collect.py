"""What the docs site shows, gathered in memory before a file is written.

Everything wml already knows, in dbt's shapes so a dbt project reads the same: the
manifest (built fresh from the parsed project, as ``dbt docs generate`` compiles), the
warehouse's column types (dbt's catalog), the last ``run_results.json`` (tests' results),
``sources.json`` (freshness), and the ML registry's versions.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from pathlib import Path

from warehouse_ml.docs import monitoring
from warehouse_ml.errors import ConfigError
from warehouse_ml.ml import registry

# Manifest sections that are not nodes of the graph.
_NOT_NODES = {"metadata", "macros", "docs", "groups", "selectors", "disabled", "parent_map",
              "child_map", "group_map"}  # fmt: skip
DOCS_KEYS = ("show", "node_color")  # dbt's `docs:` config


@dataclasses.dataclass
class SiteNode:
    uid: str
    name: str
    kind: str  # resource_type, with 'ml_model' for models materialized as ML models
    entry: dict[str, t.Any]  # the manifest entry, as dbt writes it
    parents: list[str]
    children: list[str] = dataclasses.field(default_factory=list)
    columns: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    result: dict[str, t.Any] | None = None  # last run_results entry
    freshness: dict[str, t.Any] | None = None  # last sources.json entry
    color: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "source":
            return f"{self.entry.get('source_name')}.{self.name}"
        return self.name

    @property
    def status(self) -> str | None:
        if self.freshness is not None:
            return str(self.freshness.get("status"))
        return None if self.result is None else str(self.result.get("status"))

    @property
    def is_test(self) -> bool:
        return self.kind in ("test", "unit_test")


@dataclasses.dataclass
class Site:
    project: str
    generated_at: str
    adapter_type: str
    nodes: dict[str, SiteNode]
    versions: dict[str, list[registry.ModelVersion]]  # registry name -> versions, oldest first
    manifest: dict[str, t.Any]
    catalog: dict[str, t.Any]
    run_results_at: str | None = None
    run_results_command: str | None = None
    freshness_at: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    # (model, version) -> rows for the card's Monitoring section (docs/monitoring.py)
    monitoring: dict[tuple[str, int], list[dict[str, t.Any]]] = dataclasses.field(
        default_factory=dict
    )

    def model_node(self, name: str) -> SiteNode | None:
        for node in self.nodes.values():
            if node.kind == "ml_model" and node.name == name:
                return node
        return None


def collect(session: t.Any, warn: t.Callable[[str], None]) -> Site:
    """The site's data; the warehouse is read only (a missing one is a warning)."""
    from warehouse_ml.run.manifest import build_manifest

    _ = session.graph  # renders every node: parents, compiled SQL and function calls known
    manifest = build_manifest(session)
    meta = manifest["metadata"]
    site = Site(
        project=str(meta.get("project_name") or session.project.settings.name),
        generated_at=str(meta.get("generated_at")),
        adapter_type=str(meta.get("adapter_type") or ""),
        nodes=_with_syncs(session, _nodes(manifest, warn)),
        versions={},
        manifest=manifest,
        catalog={},
    )
    _read_warehouse(session, site, warn)
    target = session.project.target_dir
    _read_run_results(target / "run_results.json", site, warn)
    _read_freshness(target / "sources.json", site, warn)
    return site


def _nodes(manifest: dict[str, t.Any], warn: t.Callable[[str], None]) -> dict[str, SiteNode]:
    nodes: dict[str, SiteNode] = {}
    parent_map = manifest.get("parent_map") or {}
    for section, entries in manifest.items():
        if section in _NOT_NODES or not isinstance(entries, dict):
            continue
        for uid, entry in entries.items():  # nodes, sources, exposures, unit_tests, syncs...
            if not isinstance(entry, dict) or "resource_type" not in entry:
                continue
            config = entry.get("config") or {}
            docs = _docs_config(entry, config, warn)
            if docs.get("show") is False:  # dbt: hidden from the generated documentation
                continue
            kind = str(entry["resource_type"])
            if kind == "model" and config.get("materialized") == "ml_model":
                kind = "ml_model"
            parents = parent_map.get(uid) or (entry.get("depends_on") or {}).get("nodes") or []
            nodes[uid] = SiteNode(uid, str(entry.get("name")), kind, entry, list(parents),
                                  color=docs.get("node_color"))  # fmt: skip
    for node in nodes.values():
        node.parents = [p for p in node.parents if p in nodes]
        for parent in node.parents:
            nodes[parent].children.append(node.uid)
        node.columns = {name: dict(col) for name, col in (node.entry.get("columns") or {}).items()}
    return nodes


def _with_syncs(session: t.Any, nodes: dict[str, SiteNode]) -> dict[str, SiteNode]:
    """Syncs are graph nodes but no dbt resource (manifest.json leaves them out): the
    lineage shows each downstream of its source, with its destination's type only (the
    rest may hold templates of secrets)."""
    project = session.project
    for spec in getattr(project, "syncs", {}).values():
        source = _site_uid(nodes, spec.source)
        uid = f"sync.{project.settings.name}.{spec.name}"
        entry = {
            "resource_type": "sync", "name": spec.name, "unique_id": uid,
            "description": spec.description or "", "original_file_path": str(spec.path),
            "config": {"tags": list(spec.tags), "destination": {"type": spec.destination.get("type")}},
            "depends_on": {"nodes": [source] if source else []}, "key": spec.key,
        }  # fmt: skip
        nodes[uid] = SiteNode(uid, spec.name, "sync", entry, [source] if source else [])
        if source:
            nodes[source].children.append(uid)
    return nodes


def _site_uid(nodes: dict[str, SiteNode], source: str) -> str | None:
    """The site node a sync reads: a model, seed or snapshot by name, or ``src.table``."""
    for uid, node in nodes.items():
        if node.kind in ("model", "ml_model", "seed", "snapshot") and node.name == source:
            return uid
        if node.kind == "source" and f"{node.entry.get('source_name')}.{node.name}" == source:
            return uid
    return None


def _docs_config(entry: dict, config: dict, warn: t.Callable[[str], None]) -> dict[str, t.Any]:
    docs = config.get("docs") or entry.get("docs") or {}
    if not isinstance(docs, dict):
        raise ConfigError(
            f"{entry.get('unique_id')}: docs must be a mapping, e.g. docs: {{show: false}}.",
            path=entry.get("original_file_path") or None,
            node=entry.get("name"),
        )
    for key in docs:
        if key not in DOCS_KEYS:
            warn(f"{entry.get('original_file_path')}: {entry.get('name')}: docs.{key} is not a dbt "
                 f"docs setting ({', '.join(DOCS_KEYS)}); ignored.")  # fmt: skip
    return docs


def _read_warehouse(session: t.Any, site: Site, warn: t.Callable[[str], None]) -> None:
    """Column types of every built relation (dbt's catalog) and the registry's versions."""
    try:
        con = session.connection()
    except ConfigError as exc:
        if "does not exist yet" not in str(exc):
            raise
        warn("the warehouse is not built yet, so the site shows documented columns only and "
             "no ML model versions; run `wml build`, then `wml docs generate` again.")  # fmt: skip
        site.warnings.append("warehouse not built yet")
        return
    cursor = con.cursor()
    try:
        rows = cursor.execute(
            "select table_schema, table_name, column_name, data_type, ordinal_position "
            "from information_schema.columns order by table_schema, table_name, ordinal_position"
        ).fetchall()
        tables: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        for schema, table, column, data_type, position in rows:
            tables.setdefault((str(schema).lower(), str(table).lower()), []).append(
                (str(column), str(data_type), int(position))
            )
        for node in site.nodes.values():
            _merge_catalog(node, tables, site.catalog)
        for version in registry.list_versions(cursor):
            site.versions.setdefault(version.name, []).append(version)
            site.monitoring[(version.name, version.version)] = monitoring.rows(cursor, version)
    finally:
        cursor.close()


def _merge_catalog(node: SiteNode, tables: dict, catalog: dict[str, t.Any]) -> None:
    entry = node.entry
    schema, name = entry.get("schema"), entry.get("alias") or entry.get("identifier")
    if node.is_test or not schema or not name:
        return
    found = tables.get((str(schema).lower(), str(name).lower()))
    if not found:
        return
    catalog[node.uid] = {
        "metadata": {"schema": schema, "name": name, "database": entry.get("database")},
        "columns": {c: {"name": c, "type": ty, "index": i, "comment": None} for c, ty, i in found},
    }
    documented = {k.lower(): k for k in node.columns}
    for column, data_type, _ in found:
        key = documented.get(column.lower())
        if key is None:
            node.columns[column] = {"name": column, "description": "", "data_type": data_type}
        else:
            node.columns[key]["warehouse_type"] = data_type


def _load(path: Path, warn: t.Callable[[str], None]) -> dict[str, t.Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warn(f"{path}: cannot read it ({exc}); the site shows no results from it.")
        return None


def _read_run_results(path: Path, site: Site, warn: t.Callable[[str], None]) -> None:
    data = _load(path, warn)
    if not data:
        return
    site.run_results_at = (data.get("metadata") or {}).get("generated_at")
    site.run_results_command = (data.get("args") or {}).get("which")
    for result in data.get("results") or []:
        node = site.nodes.get(result.get("unique_id"))
        if node is not None:
            node.result = result


def _read_freshness(path: Path, site: Site, warn: t.Callable[[str], None]) -> None:
    data = _load(path, warn)
    if not data:
        return
    site.freshness_at = (data.get("metadata") or {}).get("generated_at")
    for result in data.get("results") or []:
        node = site.nodes.get(result.get("unique_id"))
        if node is not None:
            node.freshness = result
