"""dbt's unique ids for our nodes: ``model.<package>.<name>``, ``seed.``, ``snapshot.``,
``source.<package>.<source>.<table>``, ``test.<package>.<name>.<hash>`` for a generic test
(dbt adds a hash of its arguments; singular tests have none) and
``unit_test.<package>.<model>.<name>``. Inside wml nodes keep short ids (``model.<name>``);
the artifacts and the Jinja ``graph`` both write these, so they agree.
"""

from __future__ import annotations

import hashlib
import typing as t

from warehouse_ml.project.nodes import Node, NodeKind


def package_of(node: Node, project_name: str) -> str:
    """The node's package: the root project's name for its own nodes."""
    return str(getattr(node, "package_name", None) or project_name)


def dbt_unique_id(node: Node, project_name: str) -> str:
    package = package_of(node, project_name)
    if node.kind is NodeKind.TEST:
        spec = getattr(node, "unit_test", None)
        if spec is not None:
            return f"unit_test.{package}.{spec.model}.{node.name}"
        meta = node.test_metadata
        if meta:
            kwargs = sorted((meta.get("kwargs") or {}).items())
            key = repr((node.name, kwargs, meta.get("column_name"), meta.get("model")))
            digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:10]
            return f"test.{package}.{node.name}.{digest}"
    return f"{node.kind.value}.{package}.{node.name}"


def is_unit_test(node: t.Any) -> bool:
    return getattr(node, "unit_test", None) is not None
