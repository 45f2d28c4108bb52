"""A session: one project, one target, one database connection, the parsed graph.

Every command opens one; ``warehouse_ml.connect()`` opens one and hands out its
connection. Parsing (rendering every model) happens only when a command needs the graph.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from warehouse_ml import dialects, generic_tests, redaction
from warehouse_ml.adapters import Adapter, make_adapter
from warehouse_ml.errors import CompilationError
from warehouse_ml.graph import Graph
from warehouse_ml.nodes import Node, NodeKind
from warehouse_ml.profiles import Target, load_target
from warehouse_ml.project import Project, load_project
from warehouse_ml.render import Relation, Renderer
from warehouse_ml.statements import one_query


class Session:
    def __init__(self, project: Project, target: Target, cli_vars: dict[str, t.Any] | None = None):
        self.project = project
        self.target = target
        self._adapter: Adapter | None = None
        self.renderer = Renderer(project, target, cli_vars)
        self._graph: Graph | None = None
        self._functions_bound = False
        self.transpile_cache = dialects.TranspileCache(project.target_dir / "transpile_cache.json")
        self.warn: t.Callable[[str], None] = lambda message: print(
            redaction.mask(f"Warning: {message}"), file=sys.stderr
        )

    @property
    def adapter(self) -> Adapter:
        """Created on first use, so commands that only parse never import a driver."""
        if self._adapter is None:
            self._adapter = make_adapter(self.target)
        return self._adapter

    @property
    def target_dialect(self) -> str:
        return self.target.dialect

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
        dialect = dialect or self.target_dialect
        sql = self.renderer.render(node, incremental=incremental, dialect=dialect)
        where = {"node": node.name, "path": node.fqn_path}
        # Checked as written and as it will run: whatever vars or macros rendered, one query.
        if generic_tests.runs_as_written(node, dialect):
            return one_query(sql, dialect, **where)
        read = self.project.settings.sql_dialect
        sql = one_query(sql, read, **where)
        out = dialects.transpile(sql, read, dialect, **where, cache=self.transpile_cache)
        return out if read == dialect else one_query(out, dialect, **where)

    # -- database ------------------------------------------------------------------------
    def connection(self) -> t.Any:
        """The open connection, with every deployed model's functions registered (DuckDB)."""
        self.adapter.open()
        con = getattr(self.adapter, "connection", None)
        if con is not None and not self._functions_bound:
            self._functions_bound = True
            self._bind_functions(con)
        return con

    def _bind_functions(self, con: t.Any) -> None:
        from warehouse_ml.ml import registry

        cursor = con.cursor()
        try:
            has_models = registry.exists(cursor)
        finally:
            cursor.close()
        if has_models:  # onnxruntime is imported only when there is something to serve
            from warehouse_ml.ml.functions import bind_deployed

            bind_deployed(con, self.warn)

    def explain_error(self, exc: BaseException) -> str:
        """One paragraph for a database error, naming a model function's expected arguments."""
        friendly = self.adapter.friendly_error(exc)
        if friendly:
            return friendly
        text = str(exc).strip() or type(exc).__name__
        if ("No function matches" in text or "does not support the supplied arguments" in text) and (
            self._functions_bound
        ):
            from warehouse_ml.ml.functions import explain_call_error

            explained = explain_call_error(self.adapter.connection, text)
            if explained:
                return explained
        return text.split("\n\n")[0].strip()

    def close(self) -> None:
        self.transpile_cache.save()
        if self._adapter is not None:
            self._adapter.close()


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
