"""``adapter`` in the Jinja context: dbt's dispatch and catalog introspection.

Introspection runs against the session's database (information_schema, bound values)
only when ``execute`` is true; while parsing it answers "nothing there" and marks the
node so it is rendered again when it runs (see ``context.py``).
"""

from __future__ import annotations

import typing as t

from warehouse_ml.adapters.relation import quote
from warehouse_ml.dbt.relation import Column, DbtRelation, relation_type
from warehouse_ml.dbt.results import Response, Table
from warehouse_ml.errors import CompilationError

if t.TYPE_CHECKING:
    from warehouse_ml.adapters.base import Adapter

#: Package names that mean dbt's own macros (dbt-core, and dbt-<adapter>'s).
INTERNAL_PACKAGES = ("dbt", "dbt_duckdb", "dbt_postgres", "dbt_redshift")
# Adapters whose macros a target's dispatch also tries, as dbt-redshift extends postgres.
_PARENTS = {"redshift": ["postgres"]}


class MacroRegistry:
    """Macros by package: the root project's, dbt's internal ones, installed packages'."""

    def __init__(self, root_name: str, loaded: t.Callable[[], dict[str, dict[str, t.Any]]] | None = None):
        self.root_name = root_name
        self.root: dict[str, t.Any] = {}
        self.internal: dict[str, t.Any] = {}
        self.packages: dict[str, dict[str, t.Any]] = {}
        # Macros by package that the package loader keeps (dbt/packages), if it runs.
        self._loaded = loaded or (lambda: {})

    def add_package(self, name: str, macros: dict[str, t.Any]) -> None:
        """Register a package's macros (for ``adapter.dispatch(..., 'name')``)."""
        self.packages.setdefault(name, {}).update(macros)

    def _package(self, name: str) -> dict[str, t.Any]:
        return self.packages.get(name) or self._loaded().get(name) or {}

    def known(self, package: str) -> bool:
        return package in INTERNAL_PACKAGES or package == self.root_name or bool(self._package(package))

    def get(self, package: str | None, name: str) -> t.Any:
        if package is None:  # the flat namespace: the root project overrides dbt's own
            return self.get(self.root_name, name) or self.internal.get(name)
        if package in INTERNAL_PACKAGES:
            return self.internal.get(name)
        if package == self.root_name:
            return self.root.get(name) or self._package(package).get(name)
        return self._package(package).get(name)


class _Behavior:
    """``adapter.behavior.<flag>``: a behaviour flag set under ``flags:`` (off by default)."""

    def __init__(self, flags: dict[str, t.Any]):
        self._flags = flags

    def __getattr__(self, name: str) -> _Flag:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Flag(bool(self._flags.get(name, False)))


class _Flag:
    def __init__(self, value: bool):
        self.setting = self.no_warn = value

    def __bool__(self) -> bool:
        return self.setting


class DbtAdapter:
    """dbt's ``adapter`` object for one target."""

    Relation = DbtRelation
    Column = Column

    def __init__(
        self,
        adapter_type: str,
        registry: MacroRegistry,
        dispatch_config: list[dict[str, t.Any]],
        live: t.Callable[[], Adapter | None],
        database: str | None,
        flags: dict[str, t.Any] | None = None,
    ):
        self._type = adapter_type
        self._registry = registry
        self._dispatch = dispatch_config or []
        self._live = live  # the database when executing, None while parsing
        self._database = database
        self.behavior = _Behavior(flags or {})

    # -- dispatch ----------------------------------------------------------------------
    def type(self) -> str:
        return self._type

    def _prefixes(self) -> list[str]:
        return [self._type, *_PARENTS.get(self._type, []), "default"]

    def _search_packages(self, namespace: str | None) -> list[str | None]:
        if namespace is None:
            return [None]
        for entry in self._dispatch:
            if isinstance(entry, dict) and entry.get("macro_namespace") == namespace:
                order = entry.get("search_order") or []
                return list(order) if isinstance(order, list) else [str(order)]
        if self._registry.known(namespace):
            # dbt: the root project first, then the package named by macro_namespace.
            return list(dict.fromkeys([self._registry.root_name, namespace]))
        return [namespace]

    def dispatch(
        self, macro_name: str, macro_namespace: str | None = None, packages: t.Any = None
    ) -> t.Any:
        if "." in macro_name:
            ns, name = macro_name.split(".", 1)
            raise CompilationError(
                f"In adapter.dispatch, got a macro name of '{macro_name}', but '.' is not "
                f"a valid macro name component.",
                hint=f"Write adapter.dispatch('{name}', macro_namespace='{ns}').",
            )
        if packages is not None:
            raise CompilationError(
                "adapter.dispatch(packages=...) was removed in dbt 0.20.",
                hint="Pass the package name as macro_namespace instead.",
            )
        attempts = []
        for package in self._search_packages(macro_namespace):
            for prefix in self._prefixes():
                candidate = f"{prefix}__{macro_name}"
                macro = self._registry.get(package, candidate)
                attempts.append(candidate if package is None else f"{package}.{candidate}")
                if macro is not None:
                    return macro
        raise CompilationError(
            f"In dispatch: no macro named '{macro_name}' found within namespace "
            f"'{macro_namespace}'; searched for {', '.join(repr(a) for a in attempts)}.",
            hint="Define one of those macros, or install the package that provides it.",
        )

    # -- quoting -----------------------------------------------------------------------
    def quote(self, identifier: str) -> str:
        return quote(str(identifier))

    def quote_as_configured(self, identifier: str, quote_key: str = "identifier") -> str:
        return quote(str(identifier))  # dbt-duckdb quotes every part by default

    def quote_seed_column(self, column: str, quote_config: bool | None = None) -> str:
        return quote(str(column)) if quote_config is not False else str(column)

    # -- running SQL -------------------------------------------------------------------
    def execute(
        self, sql: str, auto_begin: bool = False, fetch: bool = False, limit: int | None = None
    ) -> tuple[Response, Table]:
        """Run ``sql`` (dbt's adapter.execute); while parsing nothing runs."""
        db = self._live()
        if db is None:
            return Response("OK", 0), Table([], [], [])
        return run_sql(db, str(sql), fetch, limit)

    def _query(self, sql: str, params: list[t.Any]) -> list[tuple[t.Any, ...]] | None:
        db = self._live()
        if db is None:
            return None
        return db.execute(sql, params, cursor=db.cursor())

    # -- catalog -----------------------------------------------------------------------
    def get_relation(self, database: str | None, schema: str, identifier: str) -> DbtRelation | None:
        rows = self._query(
            "select table_catalog, table_schema, table_name, table_type "
            "from information_schema.tables where lower(table_schema) = lower(?) "
            "and lower(table_name) = lower(?) order by table_catalog = current_database() desc",
            [str(schema), str(identifier)],
        )
        for catalog, found_schema, name, kind in rows or []:
            if database is None or str(catalog).lower() == str(database).lower() or catalog == "temp":
                return DbtRelation(found_schema, name, catalog, relation_type(str(kind)))
        return None

    def load_relation(self, relation: t.Any) -> DbtRelation | None:
        return self.get_relation(
            getattr(relation, "database", None), relation.schema, relation.identifier
        )

    def already_exists(self, schema: str, name: str) -> bool:
        return self.get_relation(self._database, schema, name) is not None

    def get_columns_in_relation(self, relation: t.Any) -> list[Column]:
        rows = self._query(
            "select column_name, data_type, character_maximum_length, numeric_precision, "
            "numeric_scale from information_schema.columns where lower(table_schema) = "
            "lower(?) and lower(table_name) = lower(?) order by ordinal_position",
            [str(relation.schema), str(relation.identifier)],
        )
        return [Column(str(n), str(ty), size, prec, scale) for n, ty, size, prec, scale in rows or []]

    def get_missing_columns(self, from_relation: t.Any, to_relation: t.Any) -> list[Column]:
        """Columns of ``from_relation`` that ``to_relation`` lacks (by name, any case)."""
        have = {c.name.lower() for c in self.get_columns_in_relation(to_relation)}
        return [c for c in self.get_columns_in_relation(from_relation) if c.name.lower() not in have]

    def expand_target_column_types(self, from_relation: t.Any, to_relation: t.Any) -> str:
        return ""  # DuckDB's VARCHAR has no length to widen (dbt-duckdb does nothing either)

    def get_column_schema_from_query(self, sql: str) -> list[Column]:
        db = self._live()
        if db is None:
            return []
        if db.dialect == "duckdb":
            rel = db.cursor().sql(f"select * from ({sql}) as wml_q limit 0")
            return [Column(str(n), str(ty)) for n, ty in zip(rel.columns, rel.dtypes, strict=False)]
        table = db.fetch_arrow(f"select * from ({sql}) as wml_q limit 0", db.cursor())
        return [Column(f.name, str(f.type)) for f in table.schema]

    def list_relations(self, database: str | None, schema: str) -> list[DbtRelation]:
        rows = self._query(
            "select table_catalog, table_schema, table_name, table_type from "
            "information_schema.tables where lower(table_schema) = lower(?) order by table_name",
            [str(schema)],
        )
        return [
            DbtRelation(s, n, c, relation_type(str(k)))
            for c, s, n, k in rows or []
            if database is None or str(c).lower() == str(database).lower()
        ]

    def list_relations_without_caching(self, schema_relation: t.Any) -> list[DbtRelation]:
        return self.list_relations(getattr(schema_relation, "database", None), schema_relation.schema)

    def list_schemas(self, database: str | None = None) -> list[str]:
        rows = self._query(
            "select distinct schema_name from information_schema.schemata "
            "where ? is null or lower(catalog_name) = lower(?) order by 1",
            [database, database],
        )
        return [str(r[0]) for r in rows or []]

    def check_schema_exists(self, database: str | None, schema: str) -> bool:
        return str(schema).lower() in {s.lower() for s in self.list_schemas(database)}

    # -- changing the catalog (executing only) ---------------------------------------------
    def _run(self, sql: str) -> str:
        db = self._live()
        if db is not None:
            db.execute(sql, cursor=db.cursor())
        return ""

    def _kind(self, relation: t.Any) -> str:
        kind = getattr(relation, "type", None)
        if kind in ("table", "view"):
            return kind
        found = self.load_relation(relation)
        return found.type if found is not None and found.type else "table"

    def drop_relation(self, relation: t.Any) -> str:
        if self._live() is None or self.load_relation(relation) is None:
            return ""
        return self._run(f"drop {self._kind(relation)} if exists {relation}")

    def truncate_relation(self, relation: t.Any) -> str:
        return self._run(f"delete from {relation}")

    def rename_relation(self, from_relation: t.Any, to_relation: t.Any) -> str:
        if self._live() is None:
            return ""
        return self._run(
            f"alter {self._kind(from_relation)} {from_relation} rename to {quote(to_relation.identifier)}"
        )

    def create_schema(self, relation: t.Any) -> str:
        return self._run(f"create schema if not exists {quote(relation.schema)}")

    def drop_schema(self, relation: t.Any) -> str:
        return self._run(f"drop schema if exists {quote(relation.schema)} cascade")

    # -- dbt's relation cache: there is none here (every lookup asks the database) -----
    def cache_added(self, relation: t.Any) -> str:
        return ""

    def cache_dropped(self, relation: t.Any) -> str:
        return ""

    def cache_renamed(self, from_relation: t.Any, to_relation: t.Any) -> str:
        return ""

    def commit(self) -> str:
        return ""


def run_sql(db: Adapter, sql: str, fetch: bool, limit: int | None = None) -> tuple[Response, Table]:
    """Run one script on the calling thread's cursor; with ``fetch``, its last result."""
    db.check_cancelled()
    cur = db.cursor()
    code = (sql.strip().split(None, 1) or ["OK"])[0].upper()
    if db.dialect == "duckdb":
        rel = cur.sql(sql)  # runs every statement but a final query, which stays lazy
        if rel is None or not fetch:
            if rel is not None:
                rel.execute()
            return Response(code, -1), Table([], [], [])
        if limit is not None:
            rel = rel.limit(int(limit))
        table = Table.from_arrow(rel.to_arrow_table())
        return Response(code, len(table.rows)), table
    if not fetch:
        db.execute(sql, cursor=cur)
        return Response(code, -1), Table([], [], [])
    table = Table.from_arrow(db.fetch_arrow(sql, cur))
    return Response(code, len(table.rows)), table
