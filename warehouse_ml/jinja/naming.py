"""Where a node's relation lives: schema, alias and database, as dbt names them.

dbt resolves a node's relation through three macros a project may override:
``generate_schema_name(custom_schema_name, node)``, ``generate_alias_name(custom_alias_name,
node)`` and ``generate_database_name(custom_database_name, node)``
(https://docs.getdbt.com/docs/build/custom-schemas). Without an override dbt's default
puts ``+schema: x`` in ``<target.schema>_x``; wml's own format (``schema_naming:
verbatim``) uses ``x`` as written. The dbt reader sets ``schema_naming: dbt``.

Results are cached per node and the config values they depend on, so a 1,000-model
project calls each macro once per node, not once per ``ref``.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.errors import CompilationError
from warehouse_ml.project.nodes import Node

SCHEMA_NAMING = ("verbatim", "dbt")
MACROS = ("generate_schema_name", "generate_alias_name", "generate_database_name")


class Naming:
    """Resolves (database, schema, identifier) for nodes; one per renderer."""

    def __init__(
        self,
        mode: str,
        target_schema: str,
        target_database: str | None,
        macros: t.Callable[[], dict[str, t.Any]],
        project_name: str,
    ):
        self.mode = mode
        self.target_schema = target_schema
        self.target_database = target_database
        self._macros = macros  # the overriding macros by name (looked up once, lazily)
        self._overrides: dict[str, t.Any] | None = None
        self.project_name = project_name
        self._cache: dict[tuple[t.Any, ...], tuple[str | None, str, str]] = {}

    def overrides(self) -> dict[str, t.Any]:
        if self._overrides is None:
            self._overrides = {k: v for k, v in self._macros().items() if k in MACROS}
        return self._overrides

    def resolve(self, node: Node) -> tuple[str | None, str, str]:
        """(database or None for the target's, schema, identifier)."""
        config = node.config
        key = (
            node.unique_id, config.get("schema"), config.get("alias"),
            config.get("database"), config.get("target_schema"), config.get("target_database"),
        )  # fmt: skip
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(node)
        return hit

    def _resolve(self, node: Node) -> tuple[str | None, str, str]:
        config = node.config
        overrides = self.overrides()
        # Legacy snapshots: target_schema / target_database are used as written (dbt).
        if config.get("target_schema"):
            schema = str(config["target_schema"])
        elif "generate_schema_name" in overrides:
            schema = self._call(overrides["generate_schema_name"], config.get("schema"), node)
        else:
            schema = self._default_schema(config.get("schema"))
        if "generate_alias_name" in overrides:
            alias = self._call(overrides["generate_alias_name"], config.get("alias"), node)
        else:
            alias = str(config.get("alias") or node.name)
        database = config.get("target_database") or config.get("database")
        if "generate_database_name" in overrides and not config.get("target_database"):
            database = self._call(overrides["generate_database_name"], database, node)
        database = str(database) if database else None
        if database is not None and database == self.target_database:
            database = None  # the target's own: leave names two-part
        return database, schema, alias

    def _default_schema(self, custom: t.Any) -> str:
        if custom is None or str(custom).strip() == "":
            return self.target_schema
        if self.mode == "dbt":
            return f"{self.target_schema}_{str(custom).strip()}"
        return str(custom)

    def _call(self, macro: t.Any, custom: t.Any, node: Node) -> str:
        name = getattr(macro, "name", None) or getattr(macro, "__name__", "macro")
        try:
            value = macro(custom, node_context(node, self.project_name))
        except TypeError as exc:
            raise CompilationError(
                f"{name}(custom_name, node) cannot be called: {exc}.",
                node=node.name,
                path=node.fqn_path,
                hint="dbt calls it with two arguments: the configured value (or none) and the node.",
            ) from None
        text = str(value).strip()
        if not text:
            raise CompilationError(
                f"{name} returned an empty name for {node.kind.value} '{node.name}'.",
                node=node.name,
                path=node.fqn_path,
                hint="Make the macro return a name in every branch ({{ return(...) }} or text).",
            )
        return text


def node_context(node: Node, project_name: str) -> dict[str, t.Any]:
    """The ``node`` argument as dbt's naming macros read it (``node.resource_type``,
    ``node.fqn``, ``node.config.materialized``, ``node.name``, ...)."""
    package = getattr(node, "package_name", None) or project_name
    return {
        "name": node.name,
        "resource_type": node.kind.value,
        "unique_id": f"{node.kind.value}.{package}.{node.name}",
        "package_name": package,
        "fqn": list(node.fqn),
        "path": node.fqn_path,
        "original_file_path": node.fqn_path,
        "config": dict(node.config),
        "tags": node.tags,
        "description": node.description,
    }
