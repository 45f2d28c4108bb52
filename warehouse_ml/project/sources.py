"""Sources as graph nodes: ``source:`` selectors, ``wml ls`` and freshness see them.

Each declared source table becomes a ``NodeKind.SOURCE`` node named ``source.table``
(unique id ``source.<source>.<table>``), and every node that calls ``source()`` depends
on it, as in dbt's DAG. Nothing builds a source: runners skip them.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.project.nodes import Node, NodeKind, SourceTable

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import Project


def source_uid(source: str, table: str) -> str:
    return f"{NodeKind.SOURCE.value}.{source}.{table}"


def node_for(src: SourceTable) -> Node:
    node = Node(f"{src.source}.{src.name}", NodeKind.SOURCE, src.path, config=dict(src.config))
    node.fqn = list(src.fqn) or [src.source, src.name]
    node.description = src.description
    node.columns = src.columns
    node.source_info = {"source": src.source, "table": src.name, "schema": src.schema,
                        "identifier": src.identifier}  # fmt: skip
    return node


def add_source_nodes(project: Project) -> None:
    """Add a node per source table and the edges from the nodes that read them (after
    parsing, which records each node's ``source()`` calls)."""
    for src in project.sources.values():
        node = node_for(src)
        project.nodes.setdefault(node.unique_id, node)
    for node in list(project.nodes.values()):
        if node.kind is NodeKind.SOURCE:
            continue
        for pair in (node.source_info or {}).get("sources", []):
            uid = source_uid(*pair)
            if uid in project.nodes and uid not in node.depends_on:
                node.depends_on.append(uid)
