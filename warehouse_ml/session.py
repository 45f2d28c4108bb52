"""A session: one project, one target, one database connection, the parsed graph.

Every command opens one; ``warehouse_ml.connect()`` opens one and hands out its
connection. Parsing (rendering every model) happens only when a command needs the graph.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from warehouse_ml import dialects
from warehouse_ml.adapters import Adapter, make_adapter
from warehouse_ml.errors import CompilationError
from warehouse_ml.graph import Graph
from warehouse_ml.nodes import Node, NodeKind
from warehouse_ml.profiles import Target, load_target
from warehouse_ml.project import Project, load_project
from warehouse_ml.render import Relation, Renderer


class Session:
    def __init__(self, project: Project, target: Target, cli_vars: dict[str, t.Any] | None = None):
        self.project = project
        self.target = target
        self.adapter: Adapter = make_adapter(target)
        self.renderer = Renderer(project, target, cli_vars)
        self._graph: Graph | None = None
        self.on_connect: list[t.Callable[[t.Any], None]] = []

    # -- parsing -------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self.renderer.parse()
            self._add_function_dependencies()
            self._check_tests()
            self._graph = Graph(self.project.nodes)
            self._graph.validate()
        return self._graph

    @property
    def nodes(self) -> dict[str, Node]:
        return self.project.nodes

    def ml_functions(self) -> dict[str, Node]:
        """SQL function name (and its ``_prob`` twin) -> the ML model node defining it."""
        functions: dict[str, Node] = {}
        for node in self.nodes.values():
            if node.is_ml_model:
                fn = str(node.config.get("function") or f"predict_{node.name}")
                functions[fn] = node
                functions[f"{fn}_prob"] = node
        return functions

    def _add_function_dependencies(self) -> None:
        """A model calling ``predict_x(...)`` depends on the ML model behind it."""
        functions = self.ml_functions()
        if not functions:
            return
        dialect = self.project.settings.sql_dialect
        for node in self.nodes.values():
            if node.kind is NodeKind.SEED or not node.compiled_sql:
                continue
            for fn in dialects.called_functions(node.compiled_sql, dialect, set(functions)):
                owner = functions[fn]
                if owner.unique_id != node.unique_id and owner.unique_id not in node.depends_on:
                    node.depends_on.append(owner.unique_id)

    def _check_tests(self) -> None:
        for node in self.nodes.values():
            if (
                node.kind is NodeKind.TEST
                and not node.depends_on
                and not node.source_info.get("sources")
            ):
                raise CompilationError(
                    "a test must select from at least one ref() or source().",
                    path=node.path,
                    node=node.name,
                )

    # -- SQL -------------------------------------------------------------------------------
    def relation(self, node: Node) -> Relation:
        return self.renderer.relation_for(node)

    def compiled_sql(
        self, node: Node, *, incremental: bool = False, dialect: str | None = None
    ) -> str:
        """The node's SQL rendered and transpiled to ``dialect`` (the target's by default)."""
        sql = self.renderer.render(node, incremental=incremental)
        return dialects.transpile(
            sql,
            self.project.settings.sql_dialect,
            dialect or self.adapter.dialect,
            node=node.name,
            path=node.fqn_path,
        )

    # -- database ------------------------------------------------------------------------
    def connection(self) -> t.Any:
        """The open database connection, with every registered hook applied."""
        self.adapter.open()
        con = getattr(self.adapter, "connection", None)
        for hook in self.on_connect:
            hook(con)
        return con

    def close(self) -> None:
        self.adapter.close()


def open_session(
    project_dir: str | Path = ".",
    *,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    cli_vars: dict[str, t.Any] | None = None,
) -> Session:
    project = load_project(project_dir)
    profile = project.settings.profile or project.settings.name
    resolved = load_target(project.root, profile, profiles_dir, target)
    return Session(project, resolved, cli_vars)
