"""Jinja rendering of models, tests and macros: ref, source, config, var, this, ...

Macros are Jinja modules shared by every model, so the per-model functions (``ref``,
``config``, ``is_incremental``...) are global dispatchers that look up the model being
rendered in a context variable; a macro that calls ``ref`` therefore resolves it for the
calling model, as in dbt. Context variables are per thread, so models render in parallel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import typing as t
from pathlib import Path

import jinja2
from jinja2.environment import TemplateModule
from jinja2.runtime import Macro

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.dbt import macro_namespace, packages, test_blocks
from warehouse_ml.dbt.context import DbtContext, DbtTemplate, PackageNamespace
from warehouse_ml.dbt.relation import EPHEMERAL_PREFIX, CteRelation, DbtRelation
from warehouse_ml.errors import CompilationError, WmlError, located
from warehouse_ml.jinja import calls as call_state
from warehouse_ml.jinja import render_cache, shared_render, static_render
from warehouse_ml.jinja.cache import RoutedBytecodeCache
from warehouse_ml.jinja.calls import Call
from warehouse_ml.jinja.calls import current as _current
from warehouse_ml.jinja.context_objects import TargetContext, _Namespace
from warehouse_ml.jinja.errors import macro_call_hint, wrap_template_error
from warehouse_ml.jinja.macro_calls import MacroCall, PackageMacro, project_defaults
from warehouse_ml.jinja.naming import MACROS as NAMING_MACROS
from warehouse_ml.jinja.naming import Naming
from warehouse_ml.project import config as cfg
from warehouse_ml.project.loader import Project
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.project.profiles import Target, env_var
from warehouse_ml.run.statements import one_query

BUILTIN_MACROS = Path(__file__).parent.parent / "macros"
_NO_DEFAULT = object()


class Renderer:
    """Renders the project's nodes; ``parse()`` once, then ``render()`` per execution."""

    def __init__(self, project: Project, target: Target, cli_vars: dict[str, t.Any] | None = None):
        self.project = project
        self.target = target
        self.vars = packages.vars_for(project.settings, None, cli_vars)
        self._package_vars = {p.name: packages.vars_for(project.settings, p, cli_vars) for p in project.packages}
        self.run_started_at = dt.datetime.now(dt.timezone.utc)
        self._sources: dict[str, str] = {}
        self._parsed: dict[str, Call] = {}
        self._target_texts: dict[str, str] | None = None  # parse(): see _target_text
        #: Some render read a volatile name or the database: this run may not be repeated
        #: from its outputs (run/compile_state.py).
        self.volatile_seen = False
        self.render_cache_hits = 0  # nodes whose last-run render parse() reused
        #: Told each node's parse-time render as parse() makes it (Session: transpile ahead).
        self.on_parsed: t.Callable[[Node, Call], None] | None = None
        #: --defer: unselected nodes whose ref() reads another environment's relation.
        self.deferred: dict[str, Relation] = {}
        #: The live database adapter (set by the Session); what `run_query` and friends use.
        self.connect: t.Callable[[], t.Any] | None = None
        self.dbt = DbtContext(self, lambda: _current.get(None))
        self._naming_macros: dict[str, t.Any] = {}  # the root project's overrides
        self.naming = Naming(
            getattr(project.settings, "schema_naming", "verbatim"),
            target.schema,
            self.dbt.database,
            lambda: self._naming_macros,
            project.settings.name,
        )
        self.env = self._make_env()
        self._load_macros()
        # Every macro file's text, for the render cache's key (taken before any node loads).
        macro_texts = hashlib.blake2b(digest_size=16)
        for name in sorted(self._sources):
            macro_texts.update(f"{name}\0{self._sources[name]}\0".encode())
        self._macro_digest = macro_texts.hexdigest()

    # -- environment -------------------------------------------------------------
    def _make_env(self) -> jinja2.Environment:
        # Compiled templates are cached on disk, keyed by each file's checksum, so an
        # unchanged project skips Jinja's compile step (most of parse time); the package's
        # own macro files are cached once per user, so a first run skips them too.
        self.bytecode_cache = RoutedBytecodeCache(
            self.project.target_dir / "jinja_templates.cache",
            lambda name: name.startswith(("wml/", "dbt/")),
        )
        env = jinja2.Environment(
            # dbt's packages rely on its lenient Undefined, in a wml project too.
            undefined=jinja2.Undefined if self.project.packages else self.dbt.undefined,
            loader=jinja2.FunctionLoader(self._load_source),
            cache_size=-1,
            bytecode_cache=self.bytecode_cache,
            # Constant folding at compile time costs ~13% of a first run's template
            # compiles and saves nothing measurable when rendering model-sized templates.
            optimized=False,
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols", test_blocks.TestBlocks],
        )
        env.template_class = DbtTemplate  # `{{ return(x) }}` in macros, as in dbt
        # Names a render resolves that differ run to run keep it out of the render cache.
        env.context_class = render_cache.TrackingContext
        env.wml_volatile = self._mark_volatile  # type: ignore[attr-defined]
        env.globals.update(self.dbt.globals())
        env.filters.update(self.dbt.filters())
        env.globals.update(
            ref=self._ref,
            source=self._source,
            env_var=self._env_var,
            is_incremental=lambda: self._call().incremental,
            target=self._target_context(),
            sql_dialect=self.project.settings.sql_dialect,
            output_dialect=lambda: self._call().dialect,
            # The ML tests' SQL (warehouse_ml/macros/monitoring.sql -> ml/monitoring/tests_sql.py).
            _wml_monitoring_test=self._monitoring_test,
            run_started_at=self.run_started_at,
            # dbt's hooks that run outside the node's transaction.
            before_begin=lambda sql: {"sql": sql, "transaction": False},
            after_commit=lambda sql: {"sql": sql, "transaction": False},
        )
        return env

    def _mark_volatile(self) -> None:
        self.volatile_seen = True
        current = _current.get(None)
        if current is not None:
            current.volatile = True

    def _monitoring_test(self, kind: str, model: t.Any, column_name: t.Any, kwargs: t.Any) -> str:
        from warehouse_ml.ml.monitoring import tests_sql

        return tests_sql.render(self, kind, model, column_name, dict(kwargs or {}))

    def _load_source(self, name: str) -> tuple[str, str, t.Callable[[], bool]]:
        return self._sources[name], name, lambda: True

    def _template(self, name: str, source: str) -> jinja2.Template:
        self._sources.setdefault(name, source)
        return self.env.get_template(name)

    def _target_context(self) -> TargetContext:
        public = self.target.redacted()
        if self.dbt.database is not None:
            public.setdefault("database", self.dbt.database)  # dbt-duckdb: the file's stem
        public.setdefault("target_name", self.target.name)
        public.setdefault("profile_name", self.project.settings.profile or self.project.settings.name)
        return TargetContext(public)

    def _load_macros(self) -> None:
        """Package macros under ``wml.`` (and top level), project macros at top level."""
        namespace: dict[str, t.Any] = {}
        # A macro file sees the globals as they are when it loads, so package files load
        # in name order and each sees the macros of the files before it (columns.sql's
        # quote_column is shared); project macros come last and cannot change them.
        for path in sorted(BUILTIN_MACROS.glob("*.sql")):
            module = self._macro_module(path, f"wml/{path.name}")
            namespace.update(module)
            self.env.globals.update(module)
        macros = {k: v for k, v in namespace.items() if isinstance(v, Macro)}
        defaults = project_defaults(self.vars.get("wml"), macros)
        for name, macro in macros.items():
            namespace[name] = PackageMacro(macro, defaults[name], self._call_sink, self._sources.__contains__)
        self.env.globals.update(namespace)
        self.env.globals["wml"] = _Namespace(namespace)
        self.dbt.macros.add_package("wml", namespace)
        # dbt's global macros (dbt.*, and bare), then the project's, which override them.
        for path in self.dbt.macro_files():
            module = self._macro_module(path, f"dbt/{path.name}", live=True)
            self.dbt.macros.internal.update(module)
            for name, macro in module.items():  # a wml.* macro keeps its bare name (equals)
                self.env.globals.setdefault(name, macro)
        self._load_package_macros()

    def _load_package_macros(self) -> None:
        """The root project's and each dbt package's macros (see dbt/macro_namespace.py):
        the root's unqualified, each package's as ``<package>.<macro>``."""
        settings = self.project.settings
        self.macros = macro_namespace.PackageMacros(settings.name, self.env.globals, self._current_package)
        projects = [(settings.name, self.project.macro_files)]
        projects += [(p.name, p.macro_files) for p in self.project.packages]
        for package, files in projects:
            for path in files:
                rel = Path(os.path.relpath(path, self.project.root)).as_posix()
                self.macros.add(package, self._macro_module(path, rel, live=True, scope=self.macros.scope))
        root = self.macros.packages.get(settings.name, {})
        self.env.globals.update(root)
        self.dbt.macros.root.update(root)
        # dbt: only the root project overrides generate_schema_name & co.
        self._naming_macros.update({k: root[k] for k in NAMING_MACROS if k in root})
        for name, macros in self.macros.packages.items():
            if name != settings.name:
                self.dbt.macros.add_package(name, macros)  # adapter.dispatch searches them
            self.env.globals.setdefault(name, PackageNamespace(name, macros))  # `dbt_utils.star()`

    def _current_package(self) -> str | None:
        current = _current.get(None)
        return current.node.package_name if current is not None else None

    def _macro_module(
        self, path: Path, name: str, live: bool = False, scope: t.Mapping[str, t.Any] | None = None
    ) -> dict[str, t.Any]:
        """A macro file's macros. ``live``: names they use are looked up when they run
        (dbt's macros and the project's may call macros of files loaded after theirs,
        and dbt's see the project's overrides); else in the globals as they are now."""
        try:
            with located(name, template=name):
                template = self._template(name, path.read_text(encoding="utf-8"))
                if live:
                    # ``scope``: names as the node being rendered sees them (its package's first).
                    context = template.new_context(template.globals if scope is None else scope, shared=True)  # type: ignore[arg-type]
                    TemplateModule(template, context)  # runs the file: defines its macros
                    # dbt's `_private` macros are macros too (dbt_utils._is_relation).
                    return {k: v for k, v in context.vars.items() if isinstance(v, Macro)}
                module = template.module
        except (WmlError, jinja2.TemplateError) as exc:
            raise wrap_template_error(exc, name, None) from None
        return {k: getattr(module, k) for k in dir(module) if not k.startswith("_")}

    def _macros(self) -> dict[str, t.Any]:
        """Every macro by name: the package's (also as ``wml.``) and the project's."""
        return {
            k: v for k, v in self.env.globals.items() if isinstance(v, (Macro, PackageMacro))
        }

    def _call_sink(self) -> list[MacroCall] | None:
        current = _current.get(None)
        return current.macro_calls if current is not None and current.record else None

    def recorded_calls(self, node: Node) -> list[MacroCall]:
        """``node``'s package macro calls: it is rendered again, recording (error path only)."""
        calls: list[MacroCall] = []
        for incremental in (False, True)[: 2 if node.materialized == "incremental" else 1]:
            with contextlib.suppress(Exception):  # it rendered before; if not now, no calls
                calls += self._render(node, parse=False, incremental=incremental, record=True).macro_calls
        return calls

    def defaults_of(self, macro: str) -> dict[str, t.Any]:
        """A package macro's signature defaults (parsed on demand: errors only)."""
        from warehouse_ml.jinja.macro_docs import package_macros

        doc = package_macros().get(macro)
        return dict(doc.defaults) if doc else {}

    def place(self, call: MacroCall) -> tuple[str | None, int | None]:
        """The file and line where a recorded call starts (Jinja maps its end line)."""
        if call.template is None or call.python_line is None:
            return call.template, None
        line = self.env.get_template(call.template).get_corresponding_lineno(call.python_line)
        lines = self._sources[call.template].splitlines()
        start = re.compile(rf"\b{call.macro}\s*\(")
        for i in range(min(line, len(lines)) - 1, max(line - 12, 0) - 1, -1):
            if start.search(lines[i]):
                return call.template, i + 1
        return call.template, line

    # -- per-node functions ----------------------------------------------------------
    def _call(self) -> Call:
        try:
            return _current.get()
        except LookupError:
            raise CompilationError("ref/config/source used outside a model.") from None

    def relation_for(self, node: Node) -> Relation:
        """The node's relation, named as dbt names it (``jinja/naming.py``)."""
        database, schema, identifier = self.naming.resolve(node)
        return Relation(schema, identifier, database)

    def jinja_relation(self, node: Node) -> DbtRelation:
        """``this`` / ``ref()`` as models see them: dbt's relation API (dbt/relation.py)."""
        kind = {"view": "view", "ephemeral": "cte"}.get(str(node.config.get("materialized")), "table")
        return self.dbt.relation(self.relation_for(node), kind)

    def _ref(self, name: str, *extra: str, **_: t.Any) -> Relation | str:
        package, name = (name, extra[-1]) if extra else (None, name)  # ref('package', 'model')
        call = self._call()
        node = self._find_relation_node(name)
        if node is None or (package is not None and node.package_name != package):
            args = f"'{package}', '{name}'" if package else f"'{name}'"
            where = f" in package '{package}'" if package else ""
            raise CompilationError(
                f"ref({args}) names no model or seed{where}.",
                hint=f"'{name}' is in package '{node.package_name}'." if node else self._suggest(name),
            )
        call.refs.append(node.unique_id)
        relation = self._ref_target(node)
        call.relations.append((node, str(relation)))
        if isinstance(relation, str):
            call.ephemerals.append(node.unique_id)
        return relation

    def _ref_target(self, node: Node) -> Relation | str:
        """What ref() to ``node`` puts in the SQL: its relation, or its CTE if ephemeral."""
        if node.config.get("materialized") == "ephemeral":
            return CteRelation(EPHEMERAL_PREFIX + node.name)
        deferred = self.deferred.get(node.unique_id)
        if deferred is not None:  # --defer: the state's relation, as dbt's relation API
            kind = "view" if node.config.get("materialized") == "view" else "table"
            return self.dbt.relation(deferred, kind)
        return self.jinja_relation(node)

    def defer(self, relations: t.Mapping[str, Relation]) -> None:
        """From now on ``ref()`` to these nodes gives these relations (``--defer``);
        renders that named the nodes' own relations are redone."""
        self.deferred = dict(relations)
        self._parsed = {
            uid: call
            for uid, call in self._parsed.items()
            if all(str(self._ref_target(n)) == text for n, text in call.relations)
        }

    def _find_relation_node(self, name: str) -> Node | None:
        nodes = self.project.nodes
        return nodes.get(f"model.{name}") or nodes.get(f"seed.{name}") or nodes.get(f"snapshot.{name}")

    def _suggest(self, name: str) -> str:
        import difflib

        names = [n.name for n in self.project.nodes.values() if n.kind is not NodeKind.TEST]
        close = difflib.get_close_matches(name, names, n=3)
        return f"Did you mean {', '.join(repr(c) for c in close)}?" if close else "Check the name."

    def _source(self, source: str, table: str) -> str | DbtRelation:
        call = self._call()
        src = self.project.sources.get((source, table))
        if src is None:
            known = sorted(f"{s}.{n}" for s, n in self.project.sources)
            raise CompilationError(
                f"source('{source}', '{table}') is not declared.",
                hint=f"Declare it under `sources:` in a YAML file; declared: {known or 'none'}.",
            )
        call.sources.append((source, table))
        value = self._source_value(src)
        call.source_texts.append((source, table, str(value)))
        return value

    def _source_value(self, src: t.Any) -> str | DbtRelation:
        if src.external_location:  # dbt-duckdb: a function call or quoted text as written
            location = src.external_location
            if "(" in location or location.startswith("'"):
                return location
            if "://" not in location and not Path(location).is_absolute():
                location = (self.project.root / location).as_posix()  # not the process's cwd
            return "'" + location.replace("'", "''") + "'"
        return self.dbt.relation(Relation(src.schema, src.identifier), "table")

    def _config(self, **kwargs: t.Any) -> str:
        self._call().config.update(kwargs)
        return ""

    def _var(self, name: str, default: t.Any = _NO_DEFAULT) -> t.Any:
        overrides = self._overrides("vars")
        if name in overrides:
            return overrides[name]
        values = self._package_vars.get(self._current_package() or "", self.vars)
        if name in values:
            return values[name]
        if default is not _NO_DEFAULT:  # var('x', none) is a valid default, as in dbt
            return default
        raise CompilationError(
            f"var('{name}') has no value and no default.",
            hint=f"Set it under `vars:` in wml_project.yml, pass --vars '{{{name}: ...}}', or give a default.",
        )

    def _overrides(self, kind: str) -> dict[str, t.Any]:
        current = _current.get(None)
        return current.overrides.get(kind) or {} if current is not None else {}

    def _env_var(self, name: str, default: t.Any = None) -> t.Any:
        overrides = self._overrides("env_vars")
        if name in overrides:  # a unit test's override
            return str(overrides[name])
        current = _current.get(None)
        if current is not None:
            current.env_reads[name] = os.environ.get(name)
        return env_var(name, default)

    def resolve_relation(self, reference: list[str]) -> Relation | str:
        """``['ref', name]`` or ``['source', s, t]`` resolved for the node being rendered."""
        kind, *names = reference
        return self._ref(*names) if kind == "ref" else self._source(*names)

    def resolve_reference(self, reference: list[str]) -> str:
        return str(self.resolve_relation(reference))

    # -- rendering -------------------------------------------------------------------
    def _render(
        self, node: Node, *, parse: bool, incremental: bool, dialect: str | None = None,
        record: bool = False,
    ) -> Call:
        call = Call(node, parse, incremental, dialect or self.target.dialect, record=record)
        name = node.template_name
        token = _current.set(call)
        try:
            with located(node.fqn_path, node.name, node.kind.value, template=name):
                if node.test_metadata:
                    call.sql = test_blocks.render(self, node)
                elif node.unit_test is not None:
                    call.sql = self._render_unit_test(node, call)
                else:
                    this = self.jinja_relation(node)
                    call.relations.append((node, str(self._ref_target(node))))
                    local = self.macros.locals_for(node.package_name)  # a package's own macros
                    call.sql = self._render_model(call, name, node.raw_sql, {**local, "this": this})
                    if call.dynamic and not parse:
                        self.dbt.check_refs(call)
        except (WmlError, jinja2.TemplateError, TypeError) as exc:
            if parse and call.dynamic:
                # It depends on query results that parsing does not have (dbt parses
                # leniently too): rendered, and any error told, when it runs.
                call.sql = ""
                return call
            if isinstance(exc, TypeError):
                hint = macro_call_hint(exc, self._macros())
                if hint is None:
                    raise  # not a macro call: the CLI's handler explains it by its place
                raise wrap_template_error(
                    exc, name, node.name, display_path=node.fqn_path, hint=hint
                ) from None
            raise wrap_template_error(exc, name, node.name, display_path=node.fqn_path) from None
        finally:
            _current.reset(token)
            self.volatile_seen |= call.dynamic
        return call

    def _render_model(self, call: Call, name: str, source: str, variables: dict[str, t.Any]) -> str:
        """A model file rendered: without compiling it when it is only text and literal
        calls (static_render.py), else by Jinja (from scratch, if the first way failed)."""
        # Recording the package macros' calls (an error explained) needs Jinja's frames.
        plan = None if call.record else static_render.parse(source)
        if plan is not None:
            before = call_state.recorded(call)
            try:
                self._sources.setdefault(name, source)  # error places read the text
                return static_render.render(plan, self.env, name, variables)
            except Exception:
                call_state.restore(call, before)  # Jinja renders it again and tells any error its way
        return shared_render.render(self._template(name, source), variables)

    def _render_unit_test(self, node: Node, call: Call) -> str:
        """A unit test's model rendered with the test's overrides (its refs are the test's)."""
        spec = node.unit_test
        model = self.project.nodes[f"model.{spec.model}"]
        call.incremental = spec.is_incremental
        call.overrides = {"vars": spec.vars, "env_vars": spec.env_vars}
        # Other macro overrides shadow the macro in the model's own file, as in dbt.
        extra = {k: _constant(v) for k, v in spec.macros.items() if "." not in k}
        this = self.jinja_relation(model)
        call.relations.append((model, str(self._ref_target(model))))
        return self._template(model.fqn_path, model.raw_sql).render(this=this, **extra)

    def render_hook(
        self, node: Node, sql: str, label: str, *, incremental: bool = False,
        dialect: str | None = None, context: dict[str, t.Any] | None = None,
    ) -> str:
        """One hook's SQL, rendered with the model's context (``this``, target, vars, macros).

        dbt renders hooks when the model runs, so ``{{ this }}`` in a ``config(pre_hook=
        "...")`` string is the model's final relation. ``context`` adds variables
        (``results`` and ``schemas`` for on-run-end, run/project_hooks.py).
        """
        call = Call(node, False, incremental, dialect or self.target.dialect)
        name = f"{node.template_name} ({label})"  # its own template: the error names the hook
        token = _current.set(call)
        try:
            with located(node.fqn_path, node.name, node.kind.value, template=name):
                return self._template(name, sql).render(
                    self.macros.locals_for(node.package_name), this=self.jinja_relation(node),
                    **(context or {}),
                )
        except (WmlError, jinja2.TemplateError) as exc:
            err = wrap_template_error(exc, name, node.name, display_path=node.fqn_path)
            err.message = f"{label}: {err.message}"
            err.line = None  # a line of the hook's text, not of the file
            raise err from None
        finally:
            _current.reset(token)
            self.volatile_seen |= call.dynamic

    def parse(self) -> None:
        """Render every node once to learn its refs, sources and in-file config; a node
        whose inputs are unchanged since the last run reuses its render (render_cache.py)."""
        cache = render_cache.RenderCache(self.project.target_dir / render_cache.FILE, self._cache_salt())
        self._target_texts = {}
        calls, keys = [], {}
        try:
            for node in self.project.nodes.values():
                if node.kind is NodeKind.SEED:
                    continue
                key = cache.key(node) if node.unit_test is None else None
                call = call_state.cached_call(self, cache, key, node) if key else None
                if call is None:
                    call = self._render(node, parse=True, incremental=False)
                if key:
                    keys[node.unique_id] = key
                calls.append(call)
                if self.on_parsed is not None:
                    self.on_parsed(node, call)
                if call.config and node.unit_test is None:
                    self.project.validate_config(call.config, path=node.path, node=node.name)
                    # A generic test's own config() is a default its YAML overrides (dbt).
                    layers = (call.config, node.config) if node.test_metadata else (node.config, call.config)
                    node.config = cfg.merge(*layers)
                    self._target_texts.pop(node.unique_id, None)  # its relation may differ now
                self.project.validate_config(node.config, path=node.path, node=node.name)
                node.depends_on = list(dict.fromkeys(call.refs))
                node.source_info = {"sources": sorted(set(call.sources))}
                node.compiled_sql = call.sql
        except BaseException:
            self._target_texts = None
            raise
        finally:
            self.bytecode_cache.save()  # every template is compiled by now
        # A render is final unless a relation it named changed afterwards (a later
        # config() set an alias, schema or ephemeral): render() then renders it again.
        self._parsed = {
            call.node.unique_id: call
            for call in calls
            if not call.dynamic and all(self._target_text(n) == text for n, text in call.relations)
        }
        self._target_texts = None
        for uid, call in self._parsed.items():
            if uid in keys and not call.volatile:
                cache.keep(keys[uid], call_state.entry(call, cache.env_digest), [v for v in call.env_reads.values() if v])
        cache.save()
        self.render_cache_hits = cache.hits

    def _target_text(self, node: Node) -> str:
        """``str(self._ref_target(node))``, remembered while parsing (a node's relation
        changes only when its config does, and parse() forgets it then)."""
        memo = self._target_texts
        if memo is None:
            return str(self._ref_target(node))
        text = memo.get(node.unique_id)
        if text is None:
            text = memo[node.unique_id] = str(self._ref_target(node))
        return text

    def _cache_salt(self) -> tuple[t.Any, ...]:
        """What every node's render may read besides its own file: see render_cache.py."""
        target = self.target
        return (
            self._macro_digest, repr(self.vars), repr(self._package_vars),
            str(self._target_context()), target.name, target.type, target.dialect,
            repr(self.project.settings), self.dbt.database,
        )  # fmt: skip

    def render(self, node: Node, *, incremental: bool = False, dialect: str | None = None) -> str:
        """Final SQL for ``node`` in the project dialect, ephemeral models inlined as CTEs.

        ``dialect`` is the one the SQL will be transpiled to (macros may read it as
        ``output_dialect()``); the target's engine by default.
        """
        call = self._reuse(node, incremental, dialect) or self._render(
            node, parse=False, incremental=incremental, dialect=dialect
        )
        sql = call.sql
        ctes = self._ephemeral_ctes(call.ephemerals, seen=set(), dialect=call.dialect)
        return inject_ctes(sql, ctes) if ctes else sql

    def parsed_sql(self, node: Node, dialect: str | None = None) -> str | None:
        """What :meth:`render` returns for ``node``, when that is the parse-time render
        as it is (no ephemeral CTEs to add); None when only rendering again would say."""
        call = self._reuse(node, False, dialect)
        return call.sql if call is not None and not call.ephemerals else None

    def render_inline(self, sql: str, name: str) -> tuple[str, list[tuple[str, str]]]:
        """An ad hoc script (``wml sql``, ``wml show --inline``) rendered as a model would
        be: ref, source, var and every macro. ``name`` ('<sql>' or the -f file) is what an
        error names, with the line; call :meth:`parse` first so ref() knows the models.
        Returns the SQL and the CTEs of the ephemeral models it refers to (see inject_ctes).

        Compiled outside the loader (no template cache): each script is new text.
        """
        node = Node(name=name, kind=NodeKind.MODEL, path=None)
        call = Call(node, parse=False, incremental=False, dialect=self.target.dialect)
        token = _current.set(call)
        try:
            with located(name, template=name):
                code = self.env.compile(sql, name=name, filename=name)
                globals_ = self.env.make_globals(None)
                call.sql = self.env.template_class.from_code(self.env, code, globals_).render()
        except (WmlError, jinja2.TemplateError) as exc:
            raise wrap_template_error(exc, name, None) from None
        except TypeError as exc:
            hint = macro_call_hint(exc, self._macros())
            if hint is None:
                raise
            raise wrap_template_error(exc, name, None, hint=hint) from None
        finally:
            _current.reset(token)
        return call.sql, self._ephemeral_ctes(call.ephemerals, seen=set(), dialect=call.dialect)

    def _reuse(self, node: Node, incremental: bool, dialect: str | None) -> Call | None:
        """The parse-time render when rendering again would give the same SQL."""
        if incremental or (dialect or self.target.dialect) != self.target.dialect:
            return None
        return self._parsed.get(node.unique_id)

    def _ephemeral_ctes(
        self, ids: list[str], seen: set[str], dialect: str
    ) -> list[tuple[str, str]]:
        ctes: list[tuple[str, str]] = []
        for uid in dict.fromkeys(ids):
            if uid in seen:
                continue
            seen.add(uid)
            node = self.project.nodes[uid]
            inner = self._reuse(node, False, dialect) or self._render(
                node, parse=False, incremental=False, dialect=dialect
            )
            ctes += self._ephemeral_ctes(inner.ephemerals, seen, dialect)
            # Inlined into its caller: one query, its trailing ';' cut, its own file named.
            body = one_query(inner.sql, self.project.settings.sql_dialect, node=node.name, path=node.fqn_path)
            ctes.append((EPHEMERAL_PREFIX + node.name, body))
        return ctes


def _constant(value: t.Any) -> t.Callable[..., t.Any]:
    """A macro replaced by a unit test's override: any call returns the value."""
    return lambda *args, **kwargs: value


def inject_ctes(sql: str, ctes: list[tuple[str, str]]) -> str:
    """Put ``ctes`` first in the statement's WITH clause, creating one if needed."""
    from sqlglot.tokens import Tokenizer, TokenType

    body = ", ".join(f"{quote(name)} as (\n{inner}\n)" for name, inner in ctes)
    tokens = Tokenizer().tokenize(sql)
    if tokens and tokens[0].token_type == TokenType.WITH:
        anchor = tokens[0]
        if len(tokens) > 1 and tokens[1].text.upper() == "RECURSIVE":
            anchor = tokens[1]
        return f"{sql[: anchor.end + 1]} {body},\n{sql[anchor.end + 1 :]}"
    return f"with {body}\n{sql}"
