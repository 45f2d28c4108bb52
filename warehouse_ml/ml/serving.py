"""Serving: which version answers a model's SQL functions, kept equal to the registry.

The registry's deployed row is the one truth; this module makes the database file and this
process agree with it:

- SQL form: the persistent macros ``f`` / ``f_prob`` are created, replaced or dropped in the
  same transaction that moves the deployed flag, so a crash leaves the old pair or the new
  one, never a mix. Each macro carries the comment ``wml:<model>:<version>``, which is how
  :func:`sync` tells whose macro it is and whether it is current.
- UDF form: that transaction drops the model's macros; the Arrow UDFs are registered on the
  connection after the commit, and every connection wml opens binds them from the registry
  (:func:`sync`), so a process that dies right after the commit serves the new version in
  the next one.

A Python UDF lives in DuckDB's system catalog, where ``DROP MACRO IF EXISTS f`` fails
("Cannot drop internal catalog entry"); macros are therefore dropped by their qualified
name and only when the database holds one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
import typing as t

from warehouse_ml.adapters.relation import quote
from warehouse_ml.errors import ConfigError
from warehouse_ml.ml import functions, portable, registry
from warehouse_ml.ml.clv import serve as clv_serve
from warehouse_ml.ml.clv.sql import ScalarMacro
from warehouse_ml.ml.native import store as native_store
from warehouse_ml.ml.recs import serve as recs_serve

# Registry writes are serialized within a process: parallel build threads train at once,
# and DuckDB reports concurrent catalog changes as write-write conflicts.
LOCK = threading.RLock()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_RULE = (
    "A model function name is a plain SQL identifier (letters, digits and _, not starting "
    "with a digit, no quotes), so every client can call it unquoted."
)


@dataclasses.dataclass
class _Macro:
    qualified: str
    comment: str | None
    table: bool = False  # a table macro (a recommender's): DROP MACRO TABLE

    @property
    def drop(self) -> str:
        return f"drop macro {'table ' if self.table else ''}{self.qualified}"


@dataclasses.dataclass
class Plan:
    """How a version will serve, worked out before anything is written."""

    version: registry.ModelVersion
    requested: str
    mode: str
    note: str
    compiled: list[tuple[str, t.Any]]
    prepared: functions.Prepared | None


def names_of(version: registry.ModelVersion | None) -> list[str]:
    """Every function name a version can own (the ``_prob`` twin too)."""
    return [] if version is None else names_of_function(version.function)


def comment_for(version: registry.ModelVersion) -> str:
    return f"wml:{version.name}:{version.version}"


def plan(
    version: registry.ModelVersion,
    requested: str | None = None,
    cached: tuple[str, bytes] | None = None,
) -> Plan:
    """Compile (SQL form) or load (UDF form) ``version``; raises before any write.
    ``cached`` is the compiled-trees library the registry holds for it, if any."""
    requested = requested or (version.settings or {}).get("deploy_requested") or "auto"
    if recs_serve.is_recommender(version):  # table macros over its tables in schema wml
        note = "table macros over its tables in schema wml"
        return Plan(version, requested, "sql", note, recs_serve.macros(version), None)
    if clv_serve.is_clv(version):  # closed forms as scalar macros (ml/clv/sql.py)
        note = "scalar macros: spend, P(alive) and purchases over the horizon"
        return Plan(version, requested, "sql", note, clv_serve.macros(version), None)
    if clv_serve.served_by_clv(version):  # AUTO's CLV winner: its macro over the features
        from warehouse_ml.ml.clv import supervised_sql

        note = f"a scalar macro: the CLV candidate's expected {clv_serve.predicts(version)}"
        if requested == "udf":
            note += " (deploy='udf' does not apply: the CLV candidate has no ONNX graph)"
        return Plan(version, requested, "sql", note, supervised_sql.macros(version), None)
    mode, compiled, note = portable.choose(requested, version)
    prepared = functions.prepare(version, cached) if mode == "udf" else None
    if prepared is not None and prepared.engine is not None:
        note = f"{note}; {prepared.engine.note}"
    return Plan(version, requested, mode, note, compiled, prepared)


# -- names -------------------------------------------------------------------------------
def check_function(cursor: t.Any, model: str, function: str) -> None:
    """Refuse a function name that would shadow a built-in, a macro or another model's."""
    if not _IDENT.match(function):
        raise ConfigError(
            f"model '{model}': function name {function!r} is not allowed.", hint=NAME_RULE
        )
    if function.lower() in _reserved(cursor):
        raise ConfigError(
            f"model '{model}': function name '{function}' is a reserved SQL keyword.",
            hint=f"Pick another name, e.g. predict_{model}.",
        )
    macros = _macros(cursor)
    builtins: set[str] | None = None  # one scan of duckdb_functions() (~50 ms) per check
    for name in names_of_function(function):
        owner = registry.function_owner(cursor, name)
        if owner is not None and owner != model:
            raise ConfigError(
                f"model '{model}': function '{name}' belongs to model '{owner}'; two models "
                "cannot serve one function.",
                hint=f"Pick another name (e.g. predict_{model}), or DROP MODEL {owner} first.",
            )
        if owner is None and builtins is None:
            builtins = _builtins(cursor)
        if owner is None and builtins is not None and name.lower() in builtins:
            raise ConfigError(
                f"model '{model}': function '{name}' is a DuckDB built-in function; a model "
                "must never replace it.",
                hint=f"Pick another name, e.g. predict_{model}.",
            )
        macro = macros.get(name.lower())
        ours = macro is not None and (macro.comment or "").startswith(f"wml:{model}:")
        if macro is not None and owner is None and not ours:
            raise ConfigError(
                f"model '{model}': the database already has a macro '{name}' that no model "
                "created; a model will not replace it.",
                hint=f"Pick another name (e.g. predict_{model}), or drop that macro first.",
            )


_T = t.TypeVar("_T")


def checked_then(con: t.Any, model: str, function: str, work: t.Callable[[t.Any], _T]) -> _T:
    """Check ``function`` is free for ``model``, then run ``work`` (the read or the training)
    on the same short-lived cursor: a taken name fails before minutes of work."""
    cursor = con.cursor()
    try:
        check_function(cursor, model, function)
        return work(cursor)
    finally:
        cursor.close()


def names_of_function(function: str) -> list[str]:
    """A model's function pair: ``f`` and ``f_prob`` (and a CLV model's ``f_purchases``),
    or a recommender's ``recommend_m`` and ``similar_m``."""
    names = [function, f"{function}_prob", f"{function}_purchases"]
    twin = registry.twin(function)  # a recommender's similar_m, and recommend_m_all
    return names if twin in names else [*names, twin, f"{function}_all"]


_BUILTINS: set[str] | None = None


def _builtins(cursor: t.Any) -> set[str]:
    """DuckDB's own functions: a fresh in-memory database's, plus loaded extensions'."""
    global _BUILTINS
    if _BUILTINS is None:
        import duckdb

        con = duckdb.connect()
        try:
            rows = con.execute("select distinct lower(function_name) from duckdb_functions()")
            _BUILTINS = {r[0] for r in rows.fetchall()}
        finally:
            con.close()
    loaded = cursor.execute(
        "select distinct lower(function_name) from duckdb_functions() where internal "
        "and database_name = 'system' and function_type <> 'macro'"
    ).fetchall()
    # Our own Arrow UDFs are internal too; the caller checks ownership before this.
    return _BUILTINS | {r[0] for r in loaded}


def _reserved(cursor: t.Any) -> set[str]:
    rows = cursor.execute(
        "select keyword_name from duckdb_keywords() where keyword_category = 'reserved'"
    ).fetchall()
    return {r[0].lower() for r in rows}


def _macros(cursor: t.Any) -> dict[str, _Macro]:
    """Scalar macros stored in the database's default schema, by lower-case name."""
    rows = cursor.execute(
        "select function_name, database_name, schema_name, comment, function_type "
        "from duckdb_functions() where function_type in ('macro', 'table_macro') and not internal "
        "and database_name = current_database() and schema_name = current_schema()"
    ).fetchall()
    return {
        name.lower(): _Macro(f"{quote(db)}.{quote(schema)}.{quote(name)}", comment, kind == "table_macro")
        for name, db, schema, comment, kind in rows
    }


# -- writes (inside the caller's transaction) --------------------------------------------
def _install(cursor: t.Any, p: Plan, previous: registry.ModelVersion | None) -> None:
    """Macros and the registry's serving columns for ``p``; the caller commits."""
    from warehouse_ml.sqlcompile import ddl

    v = p.version
    macros = _macros(cursor)
    wanted = {name.lower() for name, _ in p.compiled}
    for name in {*names_of(v), *names_of(previous)}:
        macro = macros.get(name.lower())
        if macro is not None and name.lower() not in wanted:
            cursor.execute(macro.drop)
    for name, model in p.compiled:
        if isinstance(model, ScalarMacro):  # a CLV model's: the statement is complete
            cursor.execute(model.sql)
            cursor.execute(f"comment on macro {quote(name)} is '{comment_for(v).replace(chr(39), chr(39) * 2)}'")
            continue
        table = isinstance(model, str)  # a recommender's CREATE MACRO ... AS TABLE
        if table and name.lower() in macros and not macros[name.lower()].table:
            cursor.execute(macros[name.lower()].drop)
        cursor.execute(model if table else ddl(model, name, "duckdb"))
        literal = comment_for(v).replace("'", "''")
        kind = "macro table" if table else "macro"
        cursor.execute(f"comment on {kind} {quote(name)} is '{literal}'")
    _store_artifact(cursor, p)
    settings = dict(v.settings or {})
    settings.update(deploy_requested=p.requested, deploy_note=p.note)
    cursor.execute(
        f"update {registry.TABLE} set deploy_mode = ?, settings = ? where name = ? and version = ?",
        [p.mode, json.dumps(settings, default=str), v.name, v.version],
    )
    v.deploy_mode, v.settings = p.mode, settings


def _store_artifact(cursor: t.Any, p: Plan) -> None:
    """A compiled-trees library built for this version goes beside its ONNX."""
    chosen = p.prepared.engine if p.prepared is not None else None
    if chosen is not None and chosen.artifact is not None:
        native_store.put(cursor, p.version.name, p.version.version, *chosen.artifact)
        chosen.artifact = None


def _finish(con: t.Any, p: Plan | None, stale: t.Iterable[str]) -> None:
    """After the commit: this process's UDFs follow what was committed."""
    for name in stale:
        functions.remove(con, name)
    if p is not None and p.prepared is not None:
        functions.register(con, p.prepared)


def _deployed(cursor: t.Any, name: str) -> registry.ModelVersion | None:
    current = [v for v in registry.list_versions(cursor, name) if v.deployed]
    return current[0] if current else None


@contextlib.contextmanager
def _transaction(
    con: t.Any, before_commit: t.Callable[[], None] | None = None
) -> t.Iterator[t.Any]:
    """One registry transaction at a time in this process; rolled back on any error, and
    when ``before_commit`` raises (a Ctrl-C that arrived meanwhile)."""
    with LOCK:
        cursor = con.cursor()
        try:
            cursor.execute("begin transaction")
            try:
                yield cursor
                if before_commit is not None:
                    before_commit()
            except BaseException:
                cursor.execute("rollback")
                raise
            cursor.execute("commit")
        finally:
            cursor.close()


# -- commands ----------------------------------------------------------------------------
def deploy(
    con: t.Any, name: str, version: int, requested: str | None = None, *, pin: bool = False
) -> registry.ModelVersion:
    """Serve ``version`` of ``name``: flag, macros and serving form in one transaction."""
    cursor = con.cursor()
    try:
        target = registry.get(cursor, name, version)
        cached = native_store.get(cursor, name, version)
    finally:
        cursor.close()
    p = plan(target, requested, cached)
    with _transaction(con) as cur:
        previous = _deployed(cur, name)
        registry.set_deployed(cur, name, version, pinned=pin)
        _install(cur, p, previous)
    _finish(con, p, {*names_of(previous), *names_of(target)})
    target.deployed, target.pinned = True, pin
    return target


def add(
    con: t.Any,
    version: registry.ModelVersion,
    *,
    should_deploy: t.Callable[[t.Any], bool],
    requested: str | None = None,
    before_commit: t.Callable[[], None] | None = None,
    write: t.Callable[[t.Any, registry.ModelVersion], None] | None = None,
) -> registry.ModelVersion:
    """Register a new version and, if ``should_deploy`` says so, serve it: one transaction.

    ``write`` adds what the version needs beside its row (a recommender's tables), in the
    same transaction, once its number is known."""
    with LOCK:
        cursor = con.cursor()
        try:
            check_function(cursor, version.name, version.function)
            deploy_it = should_deploy(cursor)
        finally:
            cursor.close()
    # A recommender's macros name its tables by version number: planned once it is known.
    later = recs_serve.is_recommender(version)
    p = plan(version, requested) if deploy_it and not later else None
    with _transaction(con, before_commit) as cur:
        registry.ensure(cur)
        check_function(cur, version.name, version.function)
        previous = _deployed(cur, version.name)
        registry.add_version(cur, version, deploy=False)
        if write is not None:
            write(cur, version)
        if deploy_it and later:
            p = plan(version, requested)
        if p is not None:
            registry.set_deployed(cur, version.name, version.version)
            _install(cur, p, previous)
    if p is not None:
        _finish(con, p, {*names_of(previous), *names_of(version)})
    version.deployed = p is not None
    return version


def drop(con: t.Any, name: str, *, if_exists: bool = False) -> int:
    """DROP MODEL: registry rows, stored macros and this process's UDFs, all at once."""
    with _transaction(con) as cur:
        versions = registry.list_versions(cur, name)
        removed = registry.drop(cur, name, if_exists=if_exists)
        macros = _macros(cur)
        stale = {n for v in versions for n in names_of(v)}
        for fn in stale:
            if fn.lower() in macros:
                cur.execute(macros[fn.lower()].drop)
        recs_serve.drop_tables(cur, name)
        native_store.drop(cur, name)
        from warehouse_ml.ml.monitoring import store as monitoring

        monitoring.drop_model(lambda q, p: cur.execute(q, p).fetchall(), name)
    _finish(con, None, stale)
    return removed


# -- reconcile on open -------------------------------------------------------------------
def sync(
    con: t.Any, *, writable: bool = True, warn: t.Callable[[str], None] | None = None
) -> list[functions.Bound]:
    """Make the database's macros and this connection's UDFs match the registry.

    A repair (a macro left by a crash, a macro of a version no longer deployed) is applied
    in one transaction when the database is writable, and reported otherwise. Every
    deployed UDF-form model is then registered on ``con``; a broken one is reported and
    skipped, so the others still serve.
    """
    say = warn or (lambda _message: None)
    cursor = con.cursor()
    try:
        deployed = registry.deployed_versions(cursor)
        owned = _owned_names(cursor)
        drops, installs = _repairs(deployed, _macros(cursor), owned)
        cached = {
            (v.name, v.version): native_store.get(cursor, v.name, v.version)
            for v in deployed
            if v.deploy_mode != "sql"
        }
    finally:
        cursor.close()
    if drops or installs:
        _repair(con, drops, installs, writable, say)
    bound: list[functions.Bound] = []
    rebuilt: list[tuple[registry.ModelVersion, tuple[str, bytes]]] = []
    for version in deployed:
        if version.deploy_mode == "sql":
            continue
        try:
            prepared = functions.prepare(version, cached.get((version.name, version.version)))
            bound.append(functions.register(con, prepared))
            chosen = prepared.engine
            if chosen is not None and chosen.artifact is not None:
                rebuilt.append((version, chosen.artifact))
            if chosen is not None and chosen.fallback and _tell_once(chosen.fallback):
                say(chosen.fallback)
        except Exception as exc:  # corrupted ONNX bytes, a leftover macro...: that model only
            say(
                f"model '{version.name}' version {version.version} could not be loaded "
                f"({str(exc).splitlines()[0][:200]}); its function {version.function}() is "
                "unavailable. Retrain it or deploy another version (wml deploy)."
            )
    if rebuilt and writable:
        _store_rebuilt(con, rebuilt, say)
    return bound


def _tell_once(message: str) -> bool:
    from warehouse_ml.ml.native import engine

    return engine.first_time("told:" + message)


def _store_rebuilt(
    con: t.Any,
    rebuilt: list[tuple[registry.ModelVersion, tuple[str, bytes]]],
    say: t.Callable[[str], None],
) -> None:
    """Libraries compiled on open (none stored, or stored for another platform) are kept
    beside the ONNX, so the next process loads instead of compiling."""
    try:
        with _transaction(con) as cur:
            for version, (key, library) in rebuilt:
                if registry.get(cur, version.name, version.version).deployed:
                    native_store.put(cur, version.name, version.version, key, library)
    except Exception as exc:  # a concurrent writer: the next open stores it
        say(f"compiled trees could not be stored in the registry ({str(exc).splitlines()[0]}).")


def _owned_names(cursor: t.Any) -> set[str]:
    if not registry.exists(cursor):
        return set()
    rows = cursor.execute(f"select distinct lower(function) from {registry.TABLE}").fetchall()
    return {n for (fn,) in rows for n in names_of_function(fn)}


def _repairs(
    deployed: list[registry.ModelVersion], macros: dict[str, _Macro], owned: set[str]
) -> tuple[list[_Macro], list[registry.ModelVersion]]:
    """(macros to drop, SQL-form versions to reinstall) for the registry's truth."""
    expected: dict[str, str] = {}  # macro name -> comment it must carry
    installs = []
    for v in deployed:
        if v.deploy_mode != "sql":
            continue
        names = [v.function] + (
            [f"{v.function}_prob"]
            if v.problem_type in ("binary_classification", "multiclass_classification")
            else list(recs_serve.function_names(v)[1:]) if recs_serve.is_recommender(v)
            else clv_serve.function_names(v)[1:] if clv_serve.is_clv(v) else []
        )
        for name in names:
            expected[name.lower()] = comment_for(v)
        if any((macros.get(n.lower()) or _Macro("", None)).comment != comment_for(v) for n in names):
            installs.append(v)
    drops = [
        macro
        for name, macro in macros.items()
        if name not in expected
        and (name in owned or (macro.comment or "").startswith("wml:"))
    ]
    return drops, installs


def _repair(
    con: t.Any,
    drops: list[_Macro],
    installs: list[registry.ModelVersion],
    writable: bool,
    say: t.Callable[[str], None],
) -> None:
    if not writable:
        for v in installs:
            say(
                f"model '{v.name}' version {v.version} is deployed as a SQL macro, but the "
                "database does not hold that version's macro; open it read-write (e.g. "
                f"wml deploy {v.name} --version {v.version}) to repair."
            )
        for macro in drops:
            say(f"macro {macro.qualified} belongs to no deployed model; a write command removes it.")
        return
    plans = []
    for v in installs:
        requested = (v.settings or {}).get("deploy_requested") or "auto"
        try:
            p = plan(v, "sql")
        except Exception as exc:  # the compiler changed since: serve it as the UDF instead
            say(f"model '{v.name}' could not be recompiled ({exc}); serving it as an Arrow UDF.")
            p = plan(v, "udf")
        p.requested = requested  # a repair keeps what the user asked for
        plans.append(p)
    with _transaction(con) as cur:
        for macro in drops:
            cur.execute(macro.drop)
        for p in plans:
            _install(cur, p, None)
