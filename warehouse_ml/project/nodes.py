"""Nodes of the project graph: seeds, SQL models, ML models and data tests.

An ML model is a model node whose config says ``materialized='ml_model'``: it shares the
models' namespace, selectors and ordering.
"""

from __future__ import annotations

import dataclasses
import enum
import typing as t
from pathlib import Path


class NodeKind(str, enum.Enum):
    SEED = "seed"
    MODEL = "model"  # SQL models and ML models (materialized='ml_model') alike
    TEST = "test"
    SOURCE = "source"
    SNAPSHOT = "snapshot"  # dbt's type-2 history table of a query (run/snapshots.py)
    ANALYSIS = "analysis"  # compiled into target/compiled, never run (dbt's analyses)
    SYNC = "sync"  # a reverse-ETL sync of a relation to a destination (project/syncs.py)

    @property
    def builds_relation(self) -> bool:
        return self in (NodeKind.SEED, NodeKind.MODEL, NodeKind.SNAPSHOT)


@dataclasses.dataclass
class Node:
    """One unit of work. ``depends_on`` holds unique ids of upstream nodes."""

    name: str
    kind: NodeKind
    path: Path | None  # file it came from, relative to the project root
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    depends_on: list[str] = dataclasses.field(default_factory=list)
    raw_sql: str = ""
    # For tests: the unique id of the node the test is attached to (if any).
    attached_to: str | None = None
    # For generic tests: test name and keyword arguments (column_name, values, ...).
    test_metadata: dict[str, t.Any] | None = None
    # For unit tests (dbt 1.8+): the parsed spec (warehouse_ml/project/unit_test_specs.py).
    unit_test: t.Any = None
    description: str = ""
    # The YAML file that describes it, relative to the project root (dbt's patch_path).
    patch_path: str | None = None
    columns: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    # dbt's model-level `constraints:` (primary keys over several columns, checks, ...).
    constraints: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    # dbt's fully qualified name: project, folders under the resource path, node name.
    fqn: list[str] = dataclasses.field(default_factory=list)
    # The project or dbt package the node comes from (the root project's name for its own).
    package_name: str = ""
    # Filled by the renderer.
    compiled_sql: str | None = None
    source_info: dict[str, t.Any] | None = None  # for sources: schema, table identifiers

    @property
    def unique_id(self) -> str:
        # `_value_`, not `value`: Enum's property costs more than the rest (called ~70,000
        # times in a compile of 3,000 nodes).
        return f"{self.kind._value_}.{self.name}"

    @property
    def tags(self) -> list[str]:
        tags = self.config.get("tags") or []
        return [tags] if isinstance(tags, str) else list(tags)

    @property
    def materialized(self) -> str | None:
        return self.config.get("materialized")

    @property
    def is_ml_model(self) -> bool:
        return self.kind is NodeKind.MODEL and self.materialized == "ml_model"

    @property
    def fqn_path(self) -> str:
        return self.path.as_posix() if self.path else ""

    @property
    def template_name(self) -> str:
        """The node's Jinja template: its file, and for a snapshot also its block (a file
        may hold several ``{% snapshot %}`` blocks)."""
        if self.kind is NodeKind.SNAPSHOT:
            return f"{self.fqn_path}#{self.name}"
        return self.fqn_path


@dataclasses.dataclass
class SourceTable:
    source: str
    name: str
    schema: str
    identifier: str
    external_location: str | None
    path: Path
    columns: dict[str, dict[str, t.Any]]
    # Merged config (enabled, freshness, loaded_at_field, meta, tags, ...) and dbt's fqn:
    # project, folders of the YAML file, source name, table name.
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    fqn: list[str] = dataclasses.field(default_factory=list)
    description: str = ""
