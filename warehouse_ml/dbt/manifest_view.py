"""``model`` and ``graph`` in the Jinja context: nodes as dicts shaped like dbt's manifest."""

from __future__ import annotations

import typing as t

from warehouse_ml.project.nodes import Node, NodeKind

if t.TYPE_CHECKING:
    from warehouse_ml.dbt.context import DbtContext


def package_of(ctx: DbtContext, node: t.Any) -> str:
    return getattr(node, "package_name", None) or ctx.root_name


def dbt_unique_id(ctx: DbtContext, node: Node) -> str:
    """dbt's id, as the artifacts write it (``test.<package>.<name>.<hash>`` for generic tests)."""
    from warehouse_ml.dbt.unique_ids import dbt_unique_id as unique_id

    return unique_id(node, ctx.root_name)


def _unique_ids(ctx: DbtContext, ids: list[str]) -> list[str]:
    nodes = ctx.r.project.nodes
    return [dbt_unique_id(ctx, nodes[u]) if u in nodes else u for u in ids]


def node_dict(ctx: DbtContext, node: Node, config: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    config = dict(node.config if config is None else config)
    config.setdefault("enabled", True)
    config.setdefault("tags", node.tags)
    config.setdefault("meta", {})
    path = node.fqn_path
    out: dict[str, t.Any] = {
        "unique_id": dbt_unique_id(ctx, node),
        "name": node.name,
        "resource_type": node.kind.value,
        "package_name": package_of(ctx, node),
        "path": path,
        "original_file_path": path,
        "fqn": list(node.fqn) or [ctx.root_name, node.name],
        "config": config,
        "tags": node.tags,
        "meta": config.get("meta") or {},
        "description": node.description,
        "columns": {k: dict(v) for k, v in node.columns.items()},
        "raw_code": node.raw_sql,
        "raw_sql": node.raw_sql,
        "compiled_code": node.compiled_sql,
        "language": "sql",
        "depends_on": {"nodes": _unique_ids(ctx, node.depends_on), "macros": []},
        "refs": [],
        "sources": [list(s) for s in (node.source_info or {}).get("sources", [])],
        "database": ctx.database,
        "batch": None,
    }
    if node.kind.builds_relation:
        relation = ctx.r.jinja_relation(node)
        out.update(schema=relation.schema, alias=relation.identifier, relation_name=str(relation))
    else:
        out.update(schema=ctx.r.target.schema, alias=node.name, relation_name=None)
    if node.kind is NodeKind.TEST:
        meta = node.test_metadata or {}
        kwargs = dict(meta.get("kwargs") or {k: v for k, v in meta.items() if k != "name"})
        out["test_metadata"] = {"name": meta.get("name"), "kwargs": kwargs, "namespace": meta.get("namespace")}
        out["column_name"] = kwargs.get("column_name")
        attached = node.attached_to
        out["attached_node"] = _unique_ids(ctx, [attached])[0] if attached else None
    return out


def source_dict(ctx: DbtContext, src: t.Any) -> dict[str, t.Any]:
    package = getattr(src, "package_name", None) or ctx.root_name
    return {
        "unique_id": f"source.{package}.{src.source}.{src.name}",
        "resource_type": "source",
        "name": src.name,
        "source_name": src.source,
        "identifier": src.identifier,
        "schema": src.schema,
        "database": ctx.database,
        "package_name": package,
        "path": src.path.as_posix() if src.path else "",
        "original_file_path": src.path.as_posix() if src.path else "",
        "fqn": [package, src.source, src.name],
        "columns": {k: dict(v) for k, v in src.columns.items()},
        "config": {"enabled": True},
        "meta": {},
        "tags": [],
        "relation_name": f'"{src.schema}"."{src.identifier}"',
    }


def graph_dict(ctx: DbtContext) -> dict[str, t.Any]:
    project = ctx.r.project
    nodes = {}
    for node in project.nodes.values():
        if node.kind is NodeKind.SOURCE:
            continue
        entry = node_dict(ctx, node)
        nodes[entry["unique_id"]] = entry
    sources = {}
    for src in project.sources.values():
        entry = source_dict(ctx, src)
        sources[entry["unique_id"]] = entry
    return {
        "nodes": nodes, "sources": sources, "exposures": {}, "metrics": {}, "groups": {},
        "semantic_models": {}, "saved_queries": {}, "unit_tests": {},
    }  # fmt: skip
