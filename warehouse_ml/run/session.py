"""A session: one project, one target, one database connection, the parsed graph.

Every command opens one; ``warehouse_ml.connect()`` opens one and hands out its
connection. Parsing (rendering every model) happens only when a command needs the graph.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from warehouse_ml import redaction
from warehouse_ml.adapters import Adapter, dialects, make_adapter
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import CompilationError, ConfigError, WmlError
from warehouse_ml.graph.dag import Graph
from warehouse_ml.jinja.renderer import Renderer
from warehouse_ml.ml.monitoring import record as monitoring
from warehouse_ml.project import enabled, generic_tests, sources, syncs
from warehouse_ml.project.loader import Project, load_project, profile_name
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.project.profiles import Target, load_target
from warehouse_ml.run.statements import one_query

_RECOMMENDERS = ("recommender", "matrix_factorization")  # ml/recs/spec.py is_recommender


class Session:
    def __init__(
        self,
        project: Project,
        target: Target,
        cli_vars: dict[str, t.Any] | None = None,
        *,
        read_only: bool = False,
    ):
        self.project = project
        self.target = target
        #: The command only reads: the database is opened read-only (settable until it opens).
        self.read_only = read_only
        self._adapter: Adapter | None = None
        self.renderer = Renderer(project, target, cli_vars)
        self.renderer.connect = self._live_adapter  # run_query & co. when a node runs
        self._graph: Graph | None = None
        self._functions_bound = False
        self.store_failures = False  # `--store-failures`: tests whose config does not say
        # ML-model nodes written as Redshift ML's CREATE MODEL: unique id -> the statement.
        self.create_models: dict[str, t.Any] = {}
        self.profiles_dir: str | Path | None = None
        self.transpile_cache = dialects.TranspileCache(project.target_dir / "transpile_cache.json")
        self.warn: t.Callable[[str], None] = lambda message: print(
            redaction.mask(f"Warning: {message}"), file=sys.stderr
        )

    @property
    def adapter(self) -> Adapter:
        """Created on first use, so commands that only parse never import a driver."""
        if self._adapter is None:
            self._adapter = make_adapter(self.target, read_only=self.read_only)
        return self._adapter

    def _live_adapter(self) -> Adapter:
        self.connection()  # opened, with the deployed models' functions bound
        return self.adapter

    @property
    def target_dialect(self) -> str:
        return self.target.dialect

    # -- parsing -------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._stream_renders_ahead()
            try:
                self.renderer.parse()
            finally:
                self.renderer.on_parsed = None
            enabled.drop_disabled(self.project)
            sources.add_source_nodes(self.project)
            self._adopt_create_model_files()
            self._warn_ignored_hooks()
            self._add_function_dependencies()
            monitoring.add_model_dependencies(self.project.nodes)  # wml.*_drift -> ml_model
            self._check_tests()
            self._check_registry_schema()
            syncs.add_sync_nodes(self.project)  # after sources: a sync may read one
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
                names = (fn, f"{fn}_prob", f"{fn}_purchases")  # a CLV model's third
                if str(node.config.get("model_type") or "").lower() in _RECOMMENDERS:
                    names = tuple(f"{verb}_{node.name}{tail}" for verb, tail in
                                  (("recommend", ""), ("similar", ""), ("recommend", "_all")))
                for name in names:
                    other = functions.get(name.lower())
                    if other is not None and other.unique_id != node.unique_id:
                        raise ConfigError(
                            f"function '{name}' is declared by ML models '{other.name}' "
                            f"({other.path}) and '{node.name}'; one function, one model.",
                            path=node.path,
                            node=node.name,
                            hint=f"Set function='predict_{node.name}' (or another free name).",
                        )
                    functions[name.lower()] = node
        return functions

    def _adopt_create_model_files(self) -> None:
        """A model file holding CREATE MODEL becomes an ML-model node (ml/model_files.py)."""
        from warehouse_ml.ml import model_files

        for node in self.nodes.values():
            if node.kind is NodeKind.MODEL and model_files.is_create_model(node.compiled_sql):
                stmt = model_files.parse(node.compiled_sql or "", node)
                ignored = model_files.overridden(node)
                if ignored:
                    self.warn(
                        f"{node.fqn_path}: config {', '.join(ignored)} ignored: the CREATE "
                        "MODEL statement decides them."
                    )
                node.config["materialized"] = "ml_model"
                node.config["function"] = stmt.spec.function
                if hasattr(stmt.spec, "similar_function"):  # BigQuery ML's form: a recommender
                    node.config["model_type"] = "recommender"
                elif hasattr(stmt.spec, "horizon"):  # MODEL_TYPE CLV (ml/clv/create.py)
                    node.config["model_type"] = "clv"
                node.compiled_sql = stmt.spec.query
                self.create_models[node.unique_id] = stmt

    def _warn_ignored_hooks(self) -> None:
        """Hooks that never run say so: dbt runs none for ephemeral models or tests, and
        wml none around ML model training."""
        from warehouse_ml.run import hooks

        for node in self.nodes.values():
            warning = hooks.ignored_warning(node)
            if warning:
                self.warn(warning)

    def _add_function_dependencies(self) -> None:
        """A model calling ``predict_x(...)`` depends on the ML model behind it."""
        functions = self.ml_functions()
        if not functions:
            return
        dialect = self.project.settings.sql_dialect
        for node in self.nodes.values():
            if node.kind is NodeKind.SEED or not node.compiled_sql:
                continue
            # Sorted: a set's order changes with the hash seed, and depends_on is in the manifest.
            for fn in sorted(dialects.called_functions(node.compiled_sql, dialect, set(functions))):
                owner = functions[fn]
                if owner.unique_id != node.unique_id and owner.unique_id not in node.depends_on:
                    node.depends_on.append(owner.unique_id)

    def warn_functions_outside_project(
        self, chosen: t.Iterable[str], warn: t.Callable[[str], None]
    ) -> None:
        """A model calling a function that only a `wml sql` CREATE MODEL provides builds
        here but not on a fresh database: say so before running it."""
        if self.adapter.dialect != "duckdb":
            return
        from warehouse_ml.ml import registry

        cursor = self.connection().cursor()
        try:
            if not registry.exists(cursor):
                return
            rows = cursor.execute(
                f"select distinct name, function from {registry.TABLE} where deployed"
            ).fetchall()
        finally:
            cursor.close()
        project = self.ml_functions()
        outside = {
            n.lower(): model
            for model, fn in rows
            for n in (fn, f"{fn}_prob")
            if n.lower() not in project and f"model.{model}" not in self.nodes
        }
        if not outside:
            return
        dialect = self.project.settings.sql_dialect
        for uid in sorted(chosen):
            node = self.nodes[uid]
            if node.kind is NodeKind.SEED or not node.compiled_sql:
                continue
            for fn in sorted(dialects.called_functions(node.compiled_sql, dialect, set(outside))):
                warn(
                    f"{node.fqn_path}: model '{node.name}' calls {fn}(), which model "
                    f"'{outside[fn]}' provides, created in wml sql rather than by a project "
                    "file: a fresh database will not have it. Move its CREATE MODEL into "
                    f"models_sql/{outside[fn]}.sql."
                )

    def _check_registry_schema(self) -> None:
        from warehouse_ml.ml import registry

        for node in self.nodes.values():
            if node.kind.builds_relation and not node.is_ml_model:
                registry.guard(
                    self.relation(node).schema, f"{node.kind.value} '{node.name}'",
                    path=node.path, node=node.name,
                )

    def _check_tests(self) -> None:
        """wml's own format refuses a test that reads no relation (it can only be a typo);
        dbt runs one (dbt_utils' tests of its Jinja helpers select constants)."""
        if not self.project.settings.strict:
            return
        for node in self.nodes.values():
            if (
                node.kind is NodeKind.TEST
                and node.unit_test is None
                and not node.depends_on
                and not node.source_info.get("sources")
                and self.project.settings.strict  # dbt runs a singular test with no refs
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
        stmt = self.create_models.get(node.unique_id)
        if stmt is not None:  # CREATE MODEL in a file: its training query is what runs
            return dialects.transpile(
                stmt.spec.query, self.project.settings.sql_dialect, dialect,
                node=node.name, path=node.fqn_path, cache=self.transpile_cache,
            )
        sql = self.renderer.render(node, incremental=incremental, dialect=dialect)
        where = {"node": node.name, "path": node.fqn_path}
        # Checked as written and as it will run: whatever vars or macros rendered, one query.
        if generic_tests.runs_as_written(node, dialect):
            return one_query(sql, dialect, **where)
        read = self.project.settings.sql_dialect
        sql = one_query(sql, read, **where)
        out = dialects.transpile(sql, read, dialect, **where, cache=self.transpile_cache)
        return out if read == dialect else one_query(out, dialect, **where)

    def transpile_ahead(self, nodes: t.Iterable[Node], dialect: str | None = None) -> t.ContextManager[None]:
        """Within the block, ``compiled_sql`` of ``nodes`` may find its transpiled SQL
        computed by a second process (adapters/transpile_ahead.py): one started early, or
        one started now when many miss the cache. Only nodes whose parse-time render is
        final are sent: nothing renders twice."""
        dialect = dialect or self.target_dialect
        read = self.project.settings.sql_dialect
        sqls = []
        if read != dialect:
            for node in nodes:
                sql = self.renderer.parsed_sql(node, dialect)
                sql = self._to_transpile(node, sql, read, dialect) if sql is not None else None
                if sql is not None:
                    sqls.append(sql)
        return self.transpile_cache.ahead(sqls, read, dialect)

    def _to_transpile(self, node: Node, sql: str, read: str, write: str) -> str | None:
        """The statement ``compiled_sql`` would transpile for ``node`` rendered as ``sql``,
        or None when it transpiles none (or the SQL is not one query: it tells that in
        its turn, naming the model)."""
        if (node.kind in (NodeKind.SEED, NodeKind.SOURCE, NodeKind.SYNC) or node.unit_test is not None
                or node.unique_id in self.create_models or generic_tests.runs_as_written(node, write)):
            return None
        try:
            return one_query(sql, read)
        except WmlError:
            return None

    def _stream_renders_ahead(self) -> None:
        """When a transpiling child was started early (``wml compile`` of a large project),
        send it each model's SQL as parse() renders it, so it works while this process
        parses; a render that is not final is only a job it did for nothing (answers are
        keyed by the exact SQL)."""
        from warehouse_ml.adapters import transpile_ahead

        child = transpile_ahead.started()
        read, write = self.project.settings.sql_dialect, self.target_dialect
        if child is None:
            return
        if read == write:
            transpile_ahead.stop_early()  # nothing to transpile for this target
            return

        def send(node: Node, call: t.Any) -> None:
            if call.dynamic or call.ephemerals:
                return  # rendered again, or with CTEs added, before it is transpiled
            sql = self._to_transpile(node, call.sql, read, write)
            if sql is not None:
                key = dialects.TranspileCache.key(sql, read, write)
                if not self.transpile_cache.has(key):
                    child.submit([(key, sql)], read, write)

        self.renderer.on_parsed = send

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
            from warehouse_ml.ml import serving

            serving.sync(con, writable=not self.read_only, warn=self.warn)

    def explain_error(self, exc: BaseException) -> str:
        """One paragraph for a database error, naming a model function's expected arguments."""
        friendly = self.adapter.friendly_error(exc)
        if friendly:
            return friendly
        text = str(exc).strip() or type(exc).__name__
        if "does not exist" in text and self._adapter is not None and self.adapter.dialect == "duckdb":
            from warehouse_ml.ml import registry

            cursor = self.adapter.connection.cursor()
            try:
                dropped = registry.explain_missing_function(cursor, text)
            finally:
                cursor.close()
            if dropped:
                return dropped
        if ("No function matches" in text or "does not support the supplied arguments" in text) and (
            self._functions_bound
        ):
            from warehouse_ml.ml.functions import explain_call_error

            explained = explain_call_error(self.adapter.connection, text)
            if explained:
                return explained
        return text.split("\n\n")[0].strip()

    def explain_macro_error(self, node: Node, exc: BaseException) -> WmlError | None:
        """A missing column that a package macro's argument named, in the macro's terms."""
        nodes = self.project.nodes
        # An ephemeral parent is inlined into this node's SQL: its calls count too.
        inlined = [u for u in node.depends_on if u in nodes and nodes[u].materialized == "ephemeral"]
        calls = [c for u in [node.unique_id, *inlined] for c in self.renderer.recorded_calls(nodes[u])]
        if not calls:
            return None
        from warehouse_ml.jinja import macro_errors

        refs = [self.relation(nodes[uid]) for uid in node.depends_on if uid in nodes]

        def columns_of(relation: Relation) -> list[tuple[str, str]]:
            try:
                return self.adapter.columns(relation)
            except Exception:  # an error path: a listing we cannot get is left out
                return []

        return macro_errors.explain(str(exc), calls, self.renderer, refs, columns_of)

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
    read_only: bool = False,
    profile: str | None = None,
) -> Session:
    # The profile first, as dbt does: dbt_project.yml may read `target` when rendered.
    root = Path(project_dir).resolve()
    resolved = load_target(root, profile or profile_name(root), profiles_dir, target)
    project = load_project(root, cli_vars, resolved.redacted())
    session = Session(project, resolved, cli_vars, read_only=read_only)
    session.profiles_dir = profiles_dir  # where profiles.yml was looked for (compile_state.py)
    return session
