"""dbt's ``persist_docs``: descriptions written to the database as comments.

``persist_docs: {relation: true}`` comments the table or view with the node's
description, ``{columns: true}`` each column the YAML describes and the relation has, as
dbt-duckdb does with ``COMMENT ON`` (https://duckdb.org/docs/stable/sql/statements/comment_on).
Run inside the build's transaction, after the swap. Warehouses without COMMENT ON skip it.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.adapters.relation import quote

if t.TYPE_CHECKING:
    from warehouse_ml.run.materializations import BuildContext


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def statements(ctx: BuildContext, kind: str) -> list[str]:
    node, rel = ctx.node, ctx.relation
    config = node.config.get("persist_docs") or {}
    if not isinstance(config, dict):
        return []
    out = []
    if config.get("relation") and node.description:
        out.append(f"comment on {kind} {rel} is {_literal(node.description)}")
    if config.get("columns"):
        existing = {c.lower() for c, _ in ctx.adapter.columns(rel, ctx.cursor)}
        for name, column in node.columns.items():
            text = column.get("description")
            if text and name.lower() in existing:
                out.append(f"comment on column {rel}.{quote(name)} is {_literal(str(text))}")
    return out


def apply(ctx: BuildContext, kind: str) -> None:
    if ctx.node is None or ctx.adapter.dialect != "duckdb" or not ctx.node.config.get("persist_docs"):
        return
    for sql in statements(ctx, kind):
        ctx.adapter.execute(sql, cursor=ctx.cursor)
