"""``--defer``: read unselected upstream models from another environment's relations.

With ``--defer --state prod-target/``, a ``ref()`` to a model outside the selection that
does not exist in the target reads the relation recorded in the state's manifest instead
(dbt's rule, https://docs.getdbt.com/reference/node-selection/defer); ``--favor-state``
reads the state's relation even when the target has one. A CI job then builds only the
modified models, in its own schema, on top of production's tables.
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.project.nodes import Node
from warehouse_ml.run.manifest import ManifestBuilder
from warehouse_ml.run.state import State


@dataclasses.dataclass(frozen=True)
class DeferredRelation(Relation):
    """A relation of the state's environment; in another database it is named in full."""

    database: str | None = None

    def __str__(self) -> str:
        prefix = f"{quote(self.database)}." if self.database else ""
        return prefix + super().__str__()


def existing_relations(session: t.Any) -> set[tuple[str, str]]:
    """(schema, name) of every table and view in the target, lower-cased: one query."""
    rows = session.adapter.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database()"
    )
    return {(str(s).lower(), str(n).lower()) for s, n in rows}


def defer(session: t.Any, state: State, chosen: set[str], *, favor_state: bool) -> dict[str, str]:
    """Point ``ref()`` to unselected models at the relations in the state's manifest.

    dbt's rule: a model, seed or snapshot outside the selection that the state manifest
    knows is read from the state's relation when it does not exist in the target (or
    always, with ``--favor-state``); ephemeral models are inlined as usual. Returns our
    node id -> the relation name used, for the log.
    """
    old = state.manifest("--defer").get("nodes") or {}
    builder = ManifestBuilder(session)
    current_db = builder.database
    candidates: dict[str, tuple[Node, dict[str, t.Any]]] = {}
    for uid, node in session.nodes.items():
        if uid in chosen or not (node.kind.builds_relation or node.kind.value == "snapshot"):
            continue
        if node.materialized == "ephemeral":
            continue
        prev = old.get(builder.ids.dbt(uid))
        if prev and prev.get("schema") and prev.get("alias") and (
            (prev.get("config") or {}).get("materialized") != "ephemeral"
        ):
            candidates[uid] = (node, prev)
    if not candidates:
        return {}
    existing = set() if favor_state else existing_relations(session)
    deferred: dict[str, DeferredRelation] = {}
    for uid, (node, prev) in candidates.items():
        own = session.relation(node)
        if not favor_state and (own.schema.lower(), own.identifier.lower()) in existing:
            continue
        database = prev.get("database")
        deferred[uid] = DeferredRelation(
            str(prev["schema"]), str(prev["alias"]),
            database=None if database in (None, current_db) else str(database),
        )  # fmt: skip
    if deferred:
        session.renderer.defer(deferred)
    return {uid: str(rel) for uid, rel in deferred.items()}
