"""``wml show NAME`` for a SQL model or seed: its first rows, as ``dbt show`` prints them.

An ML model name keeps ``wml show``'s model card (cli/ml.py); a name that is neither a
model, a seed nor a registered ML model gets a did-you-mean over all three.
"""

from __future__ import annotations

import difflib
import typing as t

import pyarrow as pa

from warehouse_ml.errors import ConfigError, ModelNotFoundError
from warehouse_ml.project.nodes import Node, NodeKind

DEFAULT_LIMIT = 5  # dbt show's default


def relation_node(session: t.Any, name: str) -> Node | None:
    """The SQL model or seed called ``name`` (an ML model is not one: the registry has it)."""
    ids = [uid for uid in (f"model.{name}", f"seed.{name}") if uid in session.nodes]
    if not ids:  # e.g. a CREATE MODEL from wml sql: no need to parse the project
        return None
    session.graph  # noqa: B018  (parse: in-file config() decides ML model, alias, schema)
    for uid in ids:
        node = session.nodes.get(uid)
        if node is not None and not node.is_ml_model:
            return node
    return None


def preview(session: t.Any, node: Node, limit: int) -> pa.Table:
    """The first ``limit`` rows of the node's built relation (an ephemeral model's query)."""
    adapter = session.adapter
    # LIMIT takes no bound parameter on every engine; ``limit`` is an int from click.
    if node.materialized == "ephemeral":
        sql = session.compiled_sql(node)
        return adapter.fetch_arrow(f"select * from (\n{sql}\n) as wml_show limit {int(limit)}")
    relation = session.relation(node)
    if adapter.relation_type(relation) is None:
        raise ConfigError(  # exit 2, as a database not built yet is
            f"{node.kind.value} '{node.name}' has not been built: {relation} does not exist "
            f"in target '{session.target.name}'.",
            path=node.fqn_path or None,
            hint=f"Run `wml build -s {node.name}` first.",
        )
    return adapter.fetch_arrow(f"select * from {relation} limit {int(limit)}")


def not_found(session: t.Any, name: str, registered: list[str]) -> ModelNotFoundError:
    """Neither a model, a seed nor an ML model: say so, with the closest names."""
    names = sorted(
        {n.name for n in session.nodes.values() if n.kind in (NodeKind.MODEL, NodeKind.SEED)}
        | set(registered)
    )
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"Did you mean {', '.join(repr(c) for c in close)}?" if close else "See `wml ls`."
    return ModelNotFoundError(
        f"'{name}' does not exist: it is no model, seed or ML model of this project.", hint=hint
    )
