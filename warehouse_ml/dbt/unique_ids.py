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
        metadata = dbt_test_metadata(node)
        if metadata:
            # dbt-core's create_test_node: md5 of the name and the metadata with sorted
            # keys and every leaf as str, its last 10 hex digits (the same id as dbt's)
            key = node.name + repr(_hashable(metadata))
            digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[-10:]
            return f"test.{package}.{node.name}.{digest}"
    return f"{node.kind.value}.{package}.{node.name}"


def dbt_test_metadata(node: Node) -> dict[str, t.Any] | None:
    """A generic test's ``test_metadata`` as dbt writes it: name, namespace and kwargs,
    where ``model`` is the Jinja dbt renders (``{{ get_where_subquery(ref('x')) }}``)."""
    meta = node.test_metadata
    if not meta:
        return None
    kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if not k.startswith("_")}
    kwargs["column_name"] = meta.get("column_name")
    model = meta.get("model") or []
    if model and model[0] == "ref":
        kwargs["model"] = "{{ get_where_subquery(ref('" + model[-1] + "')) }}"
    elif model:
        kwargs["model"] = "{{ get_where_subquery(source('" + "', '".join(model[1:]) + "')) }}"
    return {"name": meta.get("name"), "kwargs": kwargs, "namespace": meta.get("namespace")}


def _hashable(data: t.Any) -> t.Any:
    if type(data) is dict:
        return {k: _hashable(data[k]) for k in sorted(data)}
    if type(data) is list:
        return [_hashable(v) for v in data]
    return str(data)


def is_unit_test(node: t.Any) -> bool:
    return getattr(node, "unit_test", None) is not None
