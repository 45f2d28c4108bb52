"""``target/manifest.json`` in dbt's shape (manifest v12, as dbt 1.11 writes it).

Tools that read dbt's artifacts (state selection, dbt-checkpoint, elementary, dbt-artifacts-
parser, docs sites) find what they expect: nodes keyed by dbt's unique ids
(``model.<package>.<name>``, ``test.<package>.<name>.<hash>``), sources, macros,
``parent_map`` / ``child_map``, ``raw_code`` / ``compiled_code`` and checksums. Inside wml
nodes keep their short ids (``model.<name>``); :class:`DbtIds` maps between the two.
ML-model options stay under ``config`` (materialized ``ml_model``, target, model_type...).

The same entries are what ``state:modified`` compares, so a manifest written by an earlier
run is read back by :mod:`warehouse_ml.run.state` key for key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import typing as t
import uuid
from pathlib import Path, PurePosixPath

from warehouse_ml import __version__, redaction
from warehouse_ml.dbt.unique_ids import dbt_test_metadata, dbt_unique_id, is_unit_test, package_of
from warehouse_ml.files import write_atomically
from warehouse_ml.gc_pause import paused
from warehouse_ml.project.nodes import Node, NodeKind

SCHEMA_VERSION = "https://schemas.getdbt.com/dbt/manifest/v12.json"
#: The dbt release whose artifacts we write, with wml's version as build metadata (semver
#: and PEP 440 both parse it), so a reader that checks versions sees a dbt 1.11 manifest.
DBT_VERSION = f"1.11.0+wml.{__version__}"
#: One process is one invocation: manifest.json and run_results.json share the id.
INVOCATION_ID = str(uuid.uuid4())
INVOCATION_STARTED_AT = dt.datetime.now(dt.timezone.utc)
SEED_HASH_LIMIT = 1024 * 1024  # dbt checksums larger seeds by path, not contents
_MACRO = re.compile(
    r"{%-?\s*macro\s+(?P<name>[A-Za-z_]\w*)\s*\(.*?{%-?\s*endmacro\s*-?%}", re.DOTALL
)
_CALL = re.compile(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\s*\(")
BUILTIN_MACROS = Path(__file__).resolve().parent.parent / "macros"
DBT_MACROS = Path(__file__).resolve().parent.parent / "dbt" / "macros"


def timestamp(when: dt.datetime | None = None) -> str:
    """dbt's format: ``2026-12-01T10:28:01.123456Z``."""
    when = when or dt.datetime.now(dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def metadata(schema: str, adapter_type: str | None = None, project: str | None = None) -> dict:
    """The ``metadata`` block shared by dbt's artifacts (manifest, run results, sources)."""
    env = {
        k[len("DBT_ENV_CUSTOM_ENV_") :]: v
        for k, v in os.environ.items()
        if k.startswith("DBT_ENV_CUSTOM_ENV_")
    }
    meta: dict[str, t.Any] = {
        "dbt_schema_version": schema,
        "dbt_version": DBT_VERSION,
        "generated_at": timestamp(),
        "invocation_id": INVOCATION_ID,
        "invocation_started_at": timestamp(INVOCATION_STARTED_AT),
        "env": env,
    }
    if project is not None:
        meta.update(
            project_name=project,
            project_id=hashlib.md5(project.encode(), usedforsecurity=False).hexdigest(),
            user_id=None,
            send_anonymous_usage_stats=False,
            adapter_type=adapter_type,
            quoting={"database": True, "schema": True, "identifier": True, "column": None},
            run_started_at=timestamp(INVOCATION_STARTED_AT),
        )
    return meta


# -- unique ids ---------------------------------------------------------------------------

class DbtIds:
    """Our node ids (``model.orders``) to dbt's (``model.shop.orders``) and back."""

    def __init__(self, nodes: t.Iterable[Node], project_name: str):
        self.project_name = project_name
        self.to_dbt = {node.unique_id: dbt_unique_id(node, project_name) for node in nodes}
        self.from_dbt = {v: k for k, v in self.to_dbt.items()}

    def source_id(self, source: str, table: str) -> str:
        return f"source.{self.project_name}.{source}.{table}"

    def dbt(self, uid: str) -> str:
        return self.to_dbt.get(uid, uid)


# -- the manifest -------------------------------------------------------------------------


class ManifestBuilder:
    """The manifest of one session's project; ``build()`` gives the JSON-ready dict.

    Args:
        session: the parsed session (project, target, relations).
        compiled: SQL as written to ``target/compiled/`` by this command, per node id;
            other nodes carry their parse-time render.
    """

    def __init__(self, session: t.Any, compiled: t.Mapping[str, str] | None = None):
        self.session = session
        self.project = session.project
        self.name = self.project.settings.name
        self.nodes: dict[str, Node] = dict(session.nodes)
        self.ids = DbtIds(self.nodes.values(), self.name)
        self.compiled = compiled if compiled is not None else {}
        target = session.target.redacted()
        self.adapter_type = str(target.get("type") or "duckdb")
        self.database = _database(target)
        self._macros: dict[str, dict[str, t.Any]] | None = None
        self._macro_index: dict[str, str] | None = None
        settings = self.project.settings
        extra = [*(getattr(settings, "snapshot_paths", None) or []),
                 *(getattr(settings, "analysis_paths", None) or [])]  # fmt: skip
        self._folders = {  # resource folders as path prefixes ('models_sql/')
            kind: [PurePosixPath(f).as_posix().rstrip("/") + "/" for f in [*folders, *extra]]
            for kind, folders in (("model", settings.model_paths), ("seed", settings.seed_paths),
                                  ("test", settings.test_paths), ("snapshot", []),
                                  ("analysis", []))
        }  # fmt: skip

    # -- macros -------------------------------------------------------------------------
    @property
    def macros(self) -> dict[str, dict[str, t.Any]]:
        """Every macro by dbt id: the project's, wml's package macros and dbt's globals."""
        if self._macros is None:
            self._macros = {}
            root = self.project.root
            files: list[tuple[Path, str, str]] = [
                (p, "dbt", f"macros/{p.name}") for p in sorted(DBT_MACROS.glob("*.sql"))
            ]
            files += [(p, "wml", f"macros/{p.name}") for p in sorted(BUILTIN_MACROS.glob("*.sql"))]
            for package in getattr(self.project, "packages", None) or []:  # dbt packages
                files += [(p, package.name, _relative(p, package.root)) for p in package.macro_files]
            files += [(p, self.name, _relative(p, root)) for p in self.project.macro_files]
            for path, package, rel in files:
                self._read_macros(path, package, rel)
            index = self._index()
            for entry in self._macros.values():
                entry["depends_on"]["macros"] = self._called(entry["macro_sql"], index,
                                                             exclude=entry["unique_id"])  # fmt: skip
        return self._macros

    def _read_macros(self, path: Path, package: str, rel: str) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return  # the renderer reports unreadable macro files
        assert self._macros is not None
        for match in _MACRO.finditer(text):
            name = match["name"]
            uid = f"macro.{package}.{name}"
            self._macros[uid] = {
                "name": name, "resource_type": "macro", "package_name": package, "path": rel,
                "original_file_path": rel, "unique_id": uid, "macro_sql": match.group(0),
                "depends_on": {"macros": []}, "description": "", "meta": {},
                "docs": {"show": True, "node_color": None}, "patch_path": None,
                "arguments": [], "created_at": INVOCATION_STARTED_AT.timestamp(),
                "supported_languages": None,
            }  # fmt: skip

    def _index(self) -> dict[str, str]:
        """Call name -> macro id: ``pkg.name`` always, a bare name by dbt's search order
        (the project first, then packages, then dbt's own)."""
        if self._macro_index is None:
            rank = {self.name: 0, "dbt": 3}
            index: dict[str, str] = {}
            for uid, entry in sorted(
                self.macros.items(), key=lambda kv: -rank.get(kv[1]["package_name"], 1)
            ):
                index[entry["name"]] = uid  # better-ranked packages overwrite
                index[f"{entry['package_name']}.{entry['name']}"] = uid
            self._macro_index = index
        return self._macro_index

    def _called(self, code: str, index: t.Mapping[str, str], exclude: str = "") -> list[str]:
        if "{{" not in code and "{%" not in code:  # no Jinja, no macro call
            return []
        found = {index[m] for m in _CALL.findall(code) if m in index}
        found.discard(exclude)
        return sorted(found)

    # -- nodes ----------------------------------------------------------------------------
    def build(self) -> dict[str, t.Any]:
        nodes: dict[str, dict[str, t.Any]] = {}
        sources: dict[str, dict[str, t.Any]] = {}
        unit_tests: dict[str, dict[str, t.Any]] = {}
        index = self._index()
        for uid in sorted(self.nodes):
            node = self.nodes[uid]
            if node.kind in (NodeKind.SOURCE, NodeKind.SYNC):
                continue  # sources: written from the project's source tables below; syncs
                # are not dbt resources (and their destinations are no artifact's business)
            if is_unit_test(node):
                unit_tests[self.ids.dbt(uid)] = self.unit_test_entry(node)
                continue
            nodes[self.ids.dbt(uid)] = self.node_entry(node, index)
        for src in self.project.sources.values():
            entry = self.source_entry(src)
            sources[entry["unique_id"]] = entry
        parent_map = {uid: entry["depends_on"].get("nodes", [])
                      for uid, entry in {**nodes, **unit_tests}.items()}  # fmt: skip
        parent_map.update({uid: [] for uid in sources})
        child_map: dict[str, list[str]] = {uid: [] for uid in parent_map}
        for uid, parents in parent_map.items():
            for parent in parents:
                child_map.setdefault(parent, []).append(uid)
        for children in child_map.values():
            children.sort()
        return {
            "metadata": metadata(SCHEMA_VERSION, self.adapter_type, self.name),
            "nodes": nodes,
            **self.rest(sources, parent_map, child_map, unit_tests),
        }

    def rest(
        self,
        sources: dict[str, t.Any],
        parent_map: dict[str, list[str]],
        child_map: dict[str, list[str]],
        unit_tests: dict[str, t.Any] | None = None,
    ) -> dict[str, t.Any]:
        """Everything after ``nodes``, in dbt's order."""
        return {
            "sources": sources,
            "macros": self.macros,
            "docs": self._docs(),
            "exposures": {},
            "metrics": {},
            "groups": {},
            "selectors": {},
            "disabled": {},
            "parent_map": parent_map,
            "child_map": child_map,
            "group_map": {},
            "saved_queries": {},
            "semantic_models": {},
            "unit_tests": unit_tests or {},
        }

    def unit_test_entry(self, node: Node) -> dict[str, t.Any]:
        """A unit test (dbt 1.8+) as dbt writes it under ``unit_tests``."""
        spec = node.unit_test

        def fixture(f: t.Any) -> dict[str, t.Any]:
            out = {"format": f.format, "rows": f.rows, "fixture": None}
            if f.sql is not None:
                out["rows"] = f.sql
            if getattr(f, "input", None):  # ['ref', 'm'] -> "ref('m')"; ['this'] -> "this"
                kind, *names = f.input
                out["input"] = f"{kind}({', '.join(repr(n) for n in names)})" if names else kind
            return out

        model = self.nodes.get(f"model.{spec.model}")
        parents = [self.ids.dbt(model.unique_id)] if model is not None else []
        return {
            "model": spec.model,
            "given": [fixture(g) for g in spec.given],
            "expect": fixture(spec.expect),
            "name": node.name,
            "resource_type": "unit_test",
            "package_name": package_of(node, self.name),
            "path": node.fqn_path,
            "original_file_path": node.fqn_path,
            "unique_id": self.ids.dbt(node.unique_id),
            "fqn": list(node.fqn or [self.name, spec.model, node.name]),
            "description": node.description or "",
            "overrides": {"macros": spec.macros, "vars": spec.vars, "env_vars": spec.env_vars},
            "depends_on": {"macros": [], "nodes": parents},
            "config": {"tags": node.tags, "meta": dict(node.config.get("meta") or {}),
                       "enabled": True},  # fmt: skip
            "checksum": None,
            "schema": self.relation_info(model)[1] if model is not None else None,
            "version": None,
        }

    def parents(self, node: Node) -> tuple[list[str], list[list[str]]]:
        """The node's parents as dbt ids (sorted, sources included) and its sources."""
        ids = self.ids
        parents = {ids.dbt(d) for d in node.depends_on}
        sources = [list(s) for s in (node.source_info or {}).get("sources", ())]
        parents.update(ids.source_id(source, table) for source, table in sources)
        return sorted(parents), sources

    def node_entry(
        self,
        node: Node,
        index: t.Mapping[str, str] | None = None,
        parents: tuple[list[str], list[list[str]]] | None = None,
        relation: tuple[str | None, str, str, str | None] | None = None,
    ) -> dict[str, t.Any]:
        """One node as dbt writes it under ``nodes`` (``parents`` and ``relation`` as
        :meth:`parents` and :meth:`relation_info` give them, when already known)."""
        index = index if index is not None else self._index()
        uid = self.ids.dbt(node.unique_id)
        rel = node.fqn_path
        relation = relation or self.relation_info(node)
        generic = node.kind is NodeKind.TEST and bool(node.test_metadata)
        if generic:  # as dbt writes a generic test: the call; the SQL is compiled_code
            raw = "{{ test_" + str(node.test_metadata["name"]) + "(**_dbt_generic_test_kwargs) }}"
        else:
            raw = node.raw_sql or ""
        config = _config(node)
        parent_ids, sources = parents or self.parents(node)
        refs = [{"name": self.nodes[d].name, "package": None, "version": None}
                for d in node.depends_on
                if d in self.nodes and self.nodes[d].kind is not NodeKind.SOURCE]  # fmt: skip
        compiled = self.compiled.get(node.unique_id, node.compiled_sql)
        # dbt's optional keys that only hold defaults here (group, docs, doc_blocks,
        # created_at, extra_ctes, ...) are left out: the schema does not require them, and a
        # 1,000-model manifest is written on every command.
        entry: dict[str, t.Any] = {
            "database": relation[0],
            "schema": relation[1],
            "name": node.name,
            "resource_type": node.kind.value,
            "package_name": package_of(node, self.name),
            "path": self._resource_path(node, rel),
            "original_file_path": rel,
            "unique_id": uid,
            "fqn": list(node.fqn or [self.name, node.name]),
            "alias": relation[2],
            "checksum": _NO_CHECKSUM if generic else self._checksum(node),
            "config": config,
            "tags": config["tags"],
            "description": node.description or "",
            "columns": {name: _column(name, c) for name, c in node.columns.items()}
            if node.columns
            else {},
            "meta": config["meta"],
            "patch_path": self._patch_path(node),
            "unrendered_config": _unrendered(node.config),
            "relation_name": relation[3],
            "raw_code": raw,
        }
        if node.kind is NodeKind.SEED:
            entry["raw_code"] = ""
            entry["depends_on"] = {"macros": []}
            return entry
        entry["language"] = "sql"
        entry["refs"] = refs
        entry["sources"] = sources
        entry["depends_on"] = {
            "macros": [] if generic else self._called(raw, index), "nodes": parent_ids
        }
        entry["compiled_path"] = self._compiled_path(node, rel) if compiled is not None else None
        entry["compiled"] = compiled is not None
        entry["compiled_code"] = compiled
        if node.kind is NodeKind.TEST:
            self._test_fields(node, entry)
        else:
            entry["contract"] = _contract(node)
            if node.kind is NodeKind.MODEL:
                entry["constraints"] = list(getattr(node, "constraints", None) or [])
        return entry

    def _compiled_path(self, node: Node, rel: str) -> str:
        """Where ``wml compile`` writes the node (see ``artifacts.write_compiled``)."""
        if node.test_metadata:
            folder, _, _ = rel.rpartition("/")
            rel = f"{folder}/{node.name}.sql" if folder else f"{node.name}.sql"
        return f"{self.project.settings.target_path}/compiled/{rel}"

    def _patch_path(self, node: Node) -> str | None:
        """The YAML file that describes the node, as dbt writes it (``project://path``)."""
        path = getattr(node, "patch_path", None)
        return f"{package_of(node, self.name)}://{path}" if path else None

    def _test_fields(self, node: Node, entry: dict[str, t.Any]) -> None:
        entry["schema"] = f"{entry['schema']}_dbt_test__audit"
        entry["alias"] = node.name
        entry["relation_name"] = None
        attached = node.attached_to
        entry["attached_node"] = self.ids.dbt(attached) if attached else None
        meta = node.test_metadata
        if not meta:
            return
        model = meta.get("model") or []
        entry["column_name"] = meta.get("column_name")
        entry["file_key_name"] = (f"models.{model[-1]}" if model and model[0] == "ref"
                                  else f"sources.{model[1]}" if model else None)  # fmt: skip
        entry["test_metadata"] = dbt_test_metadata(node)

    def _resource_path(self, node: Node, rel: str) -> str:
        """dbt's ``path``: relative to the resource folder (``staging/orders.sql``); a
        generic test's is its own name (``not_null_orders_id.sql``)."""
        if node.kind is NodeKind.TEST and node.test_metadata:
            return f"{node.name}.sql"
        for prefix in self._folders.get(node.kind.value, ()):
            if rel.startswith(prefix):
                return rel[len(prefix) :]
        return rel

    def _checksum(self, node: Node) -> dict[str, str]:
        if node.kind is NodeKind.SEED and node.path is not None:
            path = self.project.root / node.path
            try:
                if path.stat().st_size > SEED_HASH_LIMIT:
                    return {"name": "path", "checksum": node.fqn_path}
                data = path.read_bytes()
            except OSError:
                return {"name": "path", "checksum": node.fqn_path}
            return {"name": "sha256", "checksum": hashlib.sha256(data).hexdigest()}
        raw = (node.raw_sql or "").encode("utf-8")
        return {"name": "sha256", "checksum": hashlib.sha256(raw).hexdigest()}

    def relation_info(self, node: Node) -> tuple[str | None, str, str, str | None]:
        """(database, schema, alias, relation_name) as the node is built."""
        try:
            rel = self.session.relation(node)
        except Exception:  # a node whose config cannot name a relation: report none
            return self.database, "", node.name, None
        database = getattr(rel, "database", None) or self.database
        builds = node.kind.builds_relation or node.kind.value == "snapshot"
        if node.materialized == "ephemeral" or not builds:
            return database, rel.schema, rel.identifier, None
        parts = [database] if database else []
        name = ".".join(_quote(p) for p in [*parts, rel.schema, rel.identifier])
        return database, rel.schema, rel.identifier, name

    def source_entry(self, src: t.Any) -> dict[str, t.Any]:
        uid = self.ids.source_id(src.source, src.name)
        rel = _relative(src.path, self.project.root) if src.path else ""
        folder = list(PurePosixPath(rel).parent.parts[1:]) if rel else []
        database = getattr(src, "database", None) or self.database
        location = getattr(src, "external_location", None)
        relation = (
            f"'{location}'" if location
            else ".".join(_quote(p) for p in [*([database] if database else []), src.schema,
                                              src.identifier])
        )  # fmt: skip
        config = dict(getattr(src, "config", None) or {})
        freshness = config.get("freshness") or getattr(src, "freshness", None) or {}
        return {
            "database": database,
            "schema": src.schema,
            "name": src.name,
            "resource_type": "source",
            "package_name": self.name,
            "path": rel,
            "original_file_path": rel,
            "unique_id": uid,
            "fqn": list(getattr(src, "fqn", None) or [self.name, *folder, src.source, src.name]),
            "source_name": src.source,
            "source_description": str(getattr(src, "source_description", "") or ""),
            "loader": str(getattr(src, "loader", "") or ""),
            "identifier": src.identifier,
            "quoting": {"database": None, "schema": None, "identifier": None, "column": None},
            "loaded_at_field": config.get("loaded_at_field", getattr(src, "loaded_at_field", None)),
            "loaded_at_query": None,
            "freshness": {
                "warn_after": freshness.get("warn_after") or {"count": None, "period": None},
                "error_after": freshness.get("error_after") or {"count": None, "period": None},
                "filter": freshness.get("filter"),
            },
            "external": {"location": location} if location else None,
            "description": str(getattr(src, "description", "") or ""),
            "columns": {n: _column(n, c) for n, c in (src.columns or {}).items()},
            "meta": dict(config.get("meta") or {}),
            "source_meta": {},
            "tags": list(config.get("tags") or []),
            "config": {"enabled": True, **{k: v for k, v in config.items()
                                           if k in ("enabled", "event_time", "freshness")}},
            "patch_path": None,
            "unrendered_config": {},
            "relation_name": relation,
            "created_at": INVOCATION_STARTED_AT.timestamp(),
            "unrendered_database": None,
            "unrendered_schema": None,
            "doc_blocks": [],
        }

    def _docs(self) -> dict[str, dict[str, t.Any]]:
        """``{% docs %}`` blocks, when the project loader collected them (name -> text)."""
        blocks = getattr(self.project, "docs", None) or {}
        out = {}
        for name, block in dict(blocks).items():
            text = getattr(block, "block_contents", block)
            path = str(getattr(block, "path", "") or "")
            uid = f"doc.{self.name}.{name}"
            out[uid] = {"name": name, "resource_type": "doc", "package_name": self.name,
                        "path": path, "original_file_path": path, "unique_id": uid,
                        "block_contents": str(text)}  # fmt: skip
        return out


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _database(target: t.Mapping[str, t.Any]) -> str | None:
    """The target's database as dbt-duckdb names it: the file's stem, or ``memory``."""
    if target.get("database"):
        return str(target["database"])
    if str(target.get("type") or "duckdb") != "duckdb":
        return None
    path = str(target.get("path") or ":memory:")
    if path in (":memory:", "") or path.startswith(":memory:"):
        return "memory"
    return PurePosixPath(path.replace("\\", "/").split("?", 1)[0]).stem or None


def _quote(part: str) -> str:
    return '"' + str(part).replace('"', '""') + '"'


# dbt's config keys that tools read, with dbt's defaults (others only when set).
_DEFAULTS: dict[str, t.Any] = {
    "enabled": True, "alias": None, "schema": None, "database": None, "tags": [], "meta": {},
    "materialized": "view", "persist_docs": {}, "full_refresh": None, "unique_key": None,
    "on_schema_change": "ignore", "contract": {"enforced": False, "alias_types": True},
}  # fmt: skip
_TEST_DEFAULTS: dict[str, t.Any] = {
    "enabled": True, "alias": None, "schema": "dbt_test__audit", "database": None, "tags": [],
    "meta": {}, "materialized": "test", "severity": "ERROR", "store_failures": None,
    "where": None, "limit": None, "fail_calc": "count(*)", "warn_if": "!= 0",
    "error_if": "!= 0",
}  # fmt: skip


_SEED_DEFAULTS = {**_DEFAULTS, "materialized": "seed", "delimiter": ",", "quote_columns": None}
_NO_CHECKSUM = {"name": "none", "checksum": ""}  # dbt's for generic tests (no file of their own)


def _config(node: Node) -> dict[str, t.Any]:
    """The node's config with dbt's defaults filled in and hooks in dbt's form."""
    if node.kind is NodeKind.SOURCE:
        return {"enabled": True}
    # The defaults' nested values are shared between nodes: entries are written, not edited.
    base = _TEST_DEFAULTS if node.kind is NodeKind.TEST else _DEFAULTS
    config = dict(_SEED_DEFAULTS if node.kind is NodeKind.SEED else base)
    config.update(node.config)
    if "severity" in node.config:
        config["severity"] = str(config["severity"]).upper()
    contract = node.config.get("contract")
    if isinstance(contract, dict):
        config["contract"] = {"enforced": bool(contract.get("enforced")),
                              "alias_types": contract.get("alias_types", True)}  # fmt: skip
    if "tags" in node.config:
        config["tags"] = node.tags
    if not isinstance(config.get("meta"), dict):
        config["meta"] = {}
    for key in ("pre_hook", "post_hook"):
        hooks = config.pop(key, None)
        if hooks and node.kind is not NodeKind.TEST:
            config[key.replace("_", "-")] = [
                {"sql": h if isinstance(h, str) else str(h.get("sql", "")),
                 "transaction": True if isinstance(h, str) else bool(h.get("transaction", True)),
                 "index": None}
                for h in ([hooks] if isinstance(hooks, str) else hooks)
            ]  # fmt: skip
    return config


def _unrendered(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The config as the project set it (what ``state:modified.configs`` compares)."""
    if "pre_hook" not in config and "post_hook" not in config:
        return dict(config)
    out = {}
    for key, value in config.items():
        out[key.replace("_", "-") if key in ("pre_hook", "post_hook") else key] = value
    return out


def _contract(node: Node) -> dict[str, t.Any]:
    contract = node.config.get("contract")
    enforced = bool(contract.get("enforced")) if isinstance(contract, dict) else False
    checksum = None
    if enforced:  # dbt's contract checksum: the columns' names and types, sorted
        cols = sorted((str(n), str(c.get("data_type", ""))) for n, c in (node.columns or {}).items())
        checksum = hashlib.sha256(json.dumps(cols).encode()).hexdigest()
    return {"enforced": enforced, "alias_types": True, "checksum": checksum}


_COLUMN = {"description": "", "meta": {}, "data_type": None, "constraints": [], "quote": None,
           "tags": []}  # fmt: skip


def _column(name: str, column: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out = {"name": name, **_COLUMN}
    for key, value in column.items():
        if key in _COLUMN and value is not None:
            out[key] = value
    if not isinstance(out["description"], str):
        out["description"] = str(out["description"])
    return out


def build_manifest(session: t.Any, compiled: t.Mapping[str, str] | None = None) -> dict:
    with paused():
        return ManifestBuilder(session, compiled).build()


def write_manifest(session: t.Any, compiled: t.Mapping[str, str] | None = None, ahead: t.Any = None) -> dict:
    """Write ``target/manifest.json`` (see ``manifest_writer``: unchanged nodes are reused,
    and so are those ``ahead`` built while the compile loop waited)."""
    from warehouse_ml.run.manifest_writer import write_manifest as write

    return write(session, compiled, ahead)


def write_json(path: Path, payload: t.Mapping[str, t.Any]) -> None:
    # Compact separators: a 1,000-model manifest is a few MB, written on every command.
    with paused():
        text = json.dumps(payload, default=str, separators=(",", ":"), check_circular=False)
    text = redaction.mask(text)
    write_atomically(path, text.encode("utf-8"))
