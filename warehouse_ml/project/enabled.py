"""``enabled: false``: a disabled model, seed, test or source leaves the graph, as in dbt.

Config at any level disables (project file tree, YAML, ``{{ config(enabled=false) }}``),
so this runs after parsing. A model or seed that refs a disabled node is an error naming
it; a test of a disabled node goes with it, with a warning, as dbt does
(https://docs.getdbt.com/reference/resource-configs/enabled).
"""

from __future__ import annotations

import typing as t

from warehouse_ml.errors import CompilationError
from warehouse_ml.project import config as cfg
from warehouse_ml.project.nodes import Node, NodeKind

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import Project


def drop_disabled(project: Project) -> None:
    """Remove disabled nodes and sources from ``project``; fail on refs to them."""
    nodes = project.nodes
    disabled = {uid: n for uid, n in nodes.items() if not cfg.is_enabled(n.config)}
    gone_sources = {key for key, src in project.sources.items() if not cfg.is_enabled(src.config)}
    for uid in disabled:
        del nodes[uid]
    for key in gone_sources:
        del project.sources[key]
    changed = True
    while changed:  # a test dropped with its model may be all a later node needed
        changed = False
        for uid, node in list(nodes.items()):
            reason = _disabled_parent(node, disabled, gone_sources)
            if reason is None:
                continue
            if node.kind is not NodeKind.TEST:
                raise CompilationError(
                    f"{node.kind.value} '{node.name}' depends on {reason}, which is disabled.",
                    path=node.path,
                    node=node.name,
                    hint="Enable it (enabled: true) or disable this node too.",
                )
            project.warn(f"{node.fqn_path}: test '{node.name}' is disabled: it tests {reason}, "
                         "which is disabled.")
            disabled[uid] = nodes.pop(uid)
            changed = True


def _disabled_parent(
    node: Node, disabled: dict[str, Node], sources: set[tuple[str, str]]
) -> str | None:
    for uid in node.depends_on:
        if uid in disabled:
            parent = disabled[uid]
            return f"{parent.kind.value} '{parent.name}'"
    if node.attached_to in disabled:
        return f"'{disabled[node.attached_to].name}'"
    for pair in (node.source_info or {}).get("sources", []):
        if tuple(pair) in sources:
            return f"source '{pair[0]}.{pair[1]}'"
    return None
