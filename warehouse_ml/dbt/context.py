"""dbt's Jinja context: what a dbt model or package macro can call beyond ref/source/var.

``execute`` is false while wml parses (every node renders once to learn its refs) and
true when the node runs. A render that reads ``execute``, queries (``run_query``,
``statement``, ``adapter`` introspection) or reads ``graph`` marks its node *dynamic*;
the renderer renders dynamic nodes again at run time, with a live connection, and
reuses the parse render of every other node (the fast path), as dbt parses with
``execute`` false and compiles each node when it runs.

Macros defined in Jinja return a value with ``{{ return(x) }}``: every template's
macros are :class:`DbtMacro`, which turns the signal into the call's result.
"""

from __future__ import annotations

import collections.abc
import contextlib
import typing as t
import uuid
from pathlib import Path

import jinja2
from jinja2.runtime import Macro

from warehouse_ml.dbt import members
from warehouse_ml.dbt.adapter import DbtAdapter, MacroRegistry, run_sql
from warehouse_ml.dbt.relation import Api, DbtRelation
from warehouse_ml.dbt.results import Lenient
from warehouse_ml.errors import CompilationError

if t.TYPE_CHECKING:
    from warehouse_ml.jinja.renderer import Renderer

DBT_VERSION = "1.11.0"  # the dbt-core release whose Jinja context this follows
MACROS = Path(__file__).parent / "macros"
_MISSING = object()


# -- return() ------------------------------------------------------------------------------
class MacroReturn(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, value: t.Any):
        self.value = value


def _return(value: t.Any = None) -> t.NoReturn:
    raise MacroReturn(value)


class DbtMacro(Macro):
    """A Jinja macro whose ``return(x)`` makes ``x`` (any value) the call's result."""

    def _invoke(self, arguments: list[t.Any], autoescape: bool) -> t.Any:
        try:
            return super()._invoke(arguments, autoescape)
        except MacroReturn as ret:
            return ret.value


class DbtTemplate(jinja2.Template):
    """Templates whose macros are :class:`DbtMacro` (compiled code names ``Macro`` as a
    module global, looked up when a macro is defined, so rebinding it is enough)."""

    @classmethod
    def from_code(cls, environment, code, globals, uptodate=None):  # type: ignore[no-untyped-def] # noqa: A002
        template = super().from_code(environment, code, globals, uptodate)
        template.root_render_func.__globals__["Macro"] = DbtMacro
        return template


# -- the context --------------------------------------------------------------------------
class DbtContext:
    """The dbt members of one renderer's Jinja environment."""

    def __init__(self, renderer: Renderer, current: t.Callable[[], t.Any]):
        self.r = renderer
        self._current = current
        settings = renderer.project.settings
        self.root_name = settings.name
        self.macros = MacroRegistry(
            settings.name, lambda: getattr(getattr(renderer, "macros", None), "packages", None) or {}
        )
        self.invocation_id = str(uuid.uuid4())
        project_flags = getattr(settings, "flags", None) or {}
        self.flags = members.Flags(members.command_flags(project_flags))
        self.database = target_database(renderer.target)
        # dbt-duckdb writes relations as "database"."schema"."name" (a value macros can
        # store, e.g. union_relations' _dbt_source_relation); wml's own projects keep
        # "schema"."name", so their SQL does not change.
        dbt_project = getattr(settings, "source_file", "") == "dbt_project.yml"
        self.include_policy = (dbt_project and self.database is not None, True, True)
        # dbt renders an undefined name as '' (its packages rely on it, e.g. dbt_utils'
        # recency); using one any other way is an error. wml's own projects stay strict.
        self.undefined: type[jinja2.Undefined] = jinja2.Undefined if dbt_project else jinja2.StrictUndefined
        self.adapter = DbtAdapter(
            renderer.target.type, self.macros, getattr(settings, "dispatch", None) or [],
            self.live, self.database, project_flags,
        )
        self._graph: dict[str, t.Any] | None = None
        self._results: dict[str, t.Any] = {}  # statements outside any node (hooks of a run)

    # -- per-render state ----------------------------------------------------------------
    def executing(self) -> bool:
        """``execute``: false while parsing; reading it makes the node render again later."""
        call = self._current()
        if call is None:
            return self.r.connect is not None
        call.dynamic = True
        return not call.parse

    def live(self) -> t.Any:
        """The database when executing (None while parsing); marks the node dynamic."""
        if not self.executing():
            return None
        if self.r.connect is None:
            raise CompilationError(
                "this model queries the database (run_query, statement or adapter "
                "introspection) but no database is connected here.",
                hint="Run it with wml run/build/compile, which connect to the target.",
            )
        return self.r.connect()

    def _store(self) -> dict[str, t.Any]:
        call = self._current()
        return call.results if call is not None else self._results

    # -- statements and results ----------------------------------------------------------
    def statement(
        self, name: str | None = None, fetch_result: bool = False, auto_begin: bool = True,
        language: str = "sql", caller: t.Callable[[], str] | None = None,
    ) -> str:
        db = self.live()
        if db is None:
            # Nothing runs while parsing; the body is rendered only for the refs it names
            # (dbt would miss them and fail at run time); an error there shows when it runs.
            if caller is not None:
                with contextlib.suppress(Exception):
                    caller()
            return ""
        sql = caller() if caller is not None else ""
        response, table = run_sql(db, str(sql), bool(fetch_result))
        if name is not None:
            self.store_result(name, response, table)
        return ""

    def store_result(self, name: str, response: t.Any, agate_table: t.Any = None) -> str:
        from warehouse_ml.dbt.results import Table

        table = agate_table if agate_table is not None else Table([], [], [])
        self._store()[name] = {
            "response": response, "data": [tuple(r) for r in table.rows], "table": table,
        }  # fmt: skip
        return ""

    def store_raw_result(self, name: str, message: str | None = None, code: str | None = None,
                         rows_affected: int | None = None, agate_table: t.Any = None) -> str:
        from warehouse_ml.dbt.results import Response

        return self.store_result(name, Response(code or "OK", rows_affected or -1), agate_table)

    def load_result(self, name: str) -> t.Any:
        """dbt's load_result: a stored result once ('main' any number of times)."""
        store = self._store()
        if name not in store:
            return None
        result = store[name]
        if name == "main":
            return result
        if result is None:
            raise CompilationError(
                f"the result of statement '{name}' was already loaded; dbt loads each once."
            )
        store[name] = None
        return result

    def run_query(self, sql: str) -> t.Any:
        db = self.live()
        if db is None:
            return Lenient()
        return run_sql(db, str(sql), True)[1]

    def check_refs(self, call: t.Any) -> None:
        """A node rendered at run time must not ref() what parsing did not see (dbt's rule):
        the build order was decided from the parse-time refs."""
        missing = [u for u in dict.fromkeys(call.refs) if u not in call.node.depends_on]
        if missing:
            names = ", ".join(u.split(".", 1)[-1] for u in missing)
            raise CompilationError(
                f"ref() to {names} appeared only when the model ran (inside an "
                "`{% if execute %}` block or a query result), so the build order cannot "
                "include it.",
                hint=f"Add a line `-- depends_on: {{{{ ref('{missing[0].split('.', 1)[-1]}') }}}}` "
                "at the top of the model, as dbt asks.",
            )

    # -- the current node ------------------------------------------------------------------
    def node(self) -> t.Any:
        call = self._current()
        return call.node if call is not None else None

    def this(self) -> DbtRelation | None:
        node = self.node()
        return self.r.jinja_relation(node) if node is not None and node.path is not None else None

    def relation(self, relation: t.Any, kind: str | None) -> DbtRelation:
        """The engine's relation (database None: the target's) as dbt's relation API."""
        include = (relation.database is not None or self.include_policy[0], True, True)
        return DbtRelation(
            relation.schema, relation.identifier, relation.database or self.database, kind, include
        )

    def merged_config(self) -> dict[str, t.Any]:
        call = self._current()
        if call is None:
            return {}
        return {**call.node.config, **call.config}

    def model(self) -> dict[str, t.Any]:
        from warehouse_ml.dbt.manifest_view import node_dict

        node = self.node()
        return node_dict(self, node, config=self.merged_config()) if node is not None else {}

    def graph(self) -> dict[str, t.Any]:
        from warehouse_ml.dbt.manifest_view import graph_dict

        call = self._current()
        if call is not None:
            call.dynamic = True  # complete (depends_on of every node) only after parsing
            if call.parse:
                return graph_dict(self)
        if self._graph is None:
            self._graph = graph_dict(self)
        return self._graph

    # -- the globals -----------------------------------------------------------------------
    def globals(self) -> dict[str, t.Any]:
        r = self.r
        config = _Config(self)
        # Python members that dbt defines as macros, so `dbt.run_query(...)` works too.
        self.macros.internal.update(
            run_query=self.run_query, statement=self.statement,
            is_incremental=lambda: bool(getattr(self._current(), "incremental", False)),
        )
        return {
            "execute": _Execute(self),
            "this": _Proxy(self.this),
            "model": _Proxy(self.model),
            "graph": _Proxy(self.graph),
            "adapter": self.adapter,
            "api": Api,
            "run_query": self.run_query,
            "statement": self.statement,
            "load_result": self.load_result,
            "store_result": self.store_result,
            "store_raw_result": self.store_raw_result,
            "return": _return,
            "log": members.log,
            "print": members.print_message,
            "modules": _Namespace("modules", members.modules()),
            "fromjson": members.fromjson, "tojson": members.tojson, "fromyaml": members.fromyaml, "toyaml": members.toyaml,
            "local_md5": members.local_md5,
            "zip": members.zip_lenient, "zip_strict": members.zip_strict, "set": members.set_lenient, "set_strict": members.set_strict,
            "try_or_compiler_error": members.try_or_compiler_error,
            "invocation_id": self.invocation_id,
            "dbt_version": DBT_VERSION,
            "flags": self.flags,
            "exceptions": members.Exceptions(),
            "config": config,
            "var": _Var(r),
            "builtins": _Namespace("builtins", {"ref": r._ref, "source": r._source, "config": config}),
            "project_name": self.root_name,
            "dbt": _DbtNamespace(self),
        }  # fmt: skip

    @staticmethod
    def filters() -> dict[str, t.Callable[..., t.Any]]:
        return {
            "as_bool": members.as_bool, "as_number": members.as_number, "as_native": members.as_native,
            "as_text": lambda v: "" if v is None else str(v),
            "tojson": members.tojson, "fromjson": members.fromjson, "toyaml": members.toyaml, "fromyaml": members.fromyaml,
        }  # fmt: skip

    def macro_files(self) -> list[Path]:
        return sorted(MACROS.glob("*.sql"))


def target_database(target: t.Any) -> str | None:
    """dbt-duckdb's ``database``: the file's stem (``memory`` for :memory:)."""
    settings = target.settings
    if settings.get("database"):
        return str(settings["database"])
    if target.type != "duckdb":
        return settings.get("dbname")
    path = str(settings.get("path", ":memory:")).split("?", 1)[0]
    return "memory" if path in (":memory:", "") else Path(path).stem


# -- context objects ----------------------------------------------------------------------
class _Execute:
    """``execute``: truthiness read when a template tests it (``{% if execute %}``)."""

    def __init__(self, ctx: DbtContext):
        self._ctx = ctx

    def __bool__(self) -> bool:
        return self._ctx.executing()

    def __eq__(self, other: object) -> bool:
        return bool(self) == other

    def __hash__(self) -> int:
        return hash(bool(self))

    def __str__(self) -> str:
        return str(bool(self))


class _Proxy(collections.abc.Mapping):  # type: ignore[type-arg]
    """``this`` / ``model`` / ``graph`` for the node being rendered, looked up on use
    (macro modules capture their globals once, when they load)."""

    def __init__(self, get: t.Callable[[], t.Any]):
        self._get = get

    def _target(self) -> t.Any:
        value = self._get()
        if value is None:
            raise CompilationError("this/model used outside a model.")
        return value

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._target()
        if isinstance(value, dict):
            try:
                return value[name]
            except KeyError:
                raise AttributeError(name) from None
        return getattr(value, name)

    def __getitem__(self, key: t.Any) -> t.Any:
        return self._target()[key]

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __str__(self) -> str:
        return str(self._target())

    def __html__(self) -> str:
        return str(self._target())

    def __eq__(self, other: object) -> bool:
        return self._target() == other

    def __hash__(self) -> int:
        return hash(str(self))


class _Config:
    """``config``: called to set config, ``.get``/``.require`` to read it (dbt's object)."""

    def __init__(self, ctx: DbtContext):
        self._ctx = ctx

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> str:
        for arg in args:  # config({'materialized': 'table'}) as well as keywords
            if isinstance(arg, dict):
                kwargs = {**arg, **kwargs}
        return self._ctx.r._config(**kwargs)

    def get(self, name: str, default: t.Any = None, validator: t.Any = None) -> t.Any:
        value = self._ctx.merged_config().get(name, _MISSING)
        return default if value is _MISSING or value is None else value

    def require(self, name: str, validator: t.Any = None) -> t.Any:
        value = self._ctx.merged_config().get(name, _MISSING)
        if value is _MISSING:
            raise CompilationError(f"config '{name}' is required here and is not set.")
        return value

    def set(self, name: str, value: t.Any) -> str:
        return self._ctx.r._config(**{name: value})

    def meta_get(self, key: str, default: t.Any = None) -> t.Any:
        return (self._ctx.merged_config().get("meta") or {}).get(key, default)

    def persist_relation_docs(self) -> bool:
        return bool((self.get("persist_docs") or {}).get("relation"))

    def persist_column_docs(self) -> bool:
        return bool((self.get("persist_docs") or {}).get("columns"))


class _Var:
    """``var('x', default)`` and ``var.has_var('x')``."""

    def __init__(self, renderer: Renderer):
        self._r = renderer

    def __call__(self, name: str, *default: t.Any) -> t.Any:
        return self._r._var(name, *default)

    def has_var(self, name: str) -> bool:
        return name in self._r.vars


class _Namespace:
    def __init__(self, label: str, items: dict[str, t.Any]):
        self._label = label
        self._items = items

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            raise CompilationError(f"{self._label}.{name} does not exist.") from None

    def __getitem__(self, name: str) -> t.Any:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items


class _DbtNamespace:
    """``dbt.<macro>``: dbt's global macros (a project's own override is reached through
    dispatch, as in dbt)."""

    def __init__(self, ctx: DbtContext):
        self._ctx = ctx

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        macro = self._ctx.macros.internal.get(name)
        if macro is None:
            raise CompilationError(
                f"dbt.{name} is not one of dbt's global macros here.",
                hint="See the dbt compatibility table in the README for what is supported.",
            )
        return macro


class PackageNamespace(_Namespace):
    """``<project>.<macro>``: a project's (or package's) macros by its name."""

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            raise CompilationError(
                f"{self._label}.{name}: package '{self._label}' has no macro named '{name}'.",
                hint="Check the macro's name and that its file is under the package's macro-paths.",
            ) from None
