"""The embedded default: a DuckDB file named in profiles.yml."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import typing as t
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse_ml.adapters.base import Adapter, _catalog, _catalog_value
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import ConfigError, DatabaseLockedError, ExecutionError

# The oldest DuckDB whose file format keeps everything wml uses (macros, ...); DuckDB
# 1.4 is a long-term-support release and duckdb-cli 1.5 on PyPI reads it.
# https://duckdb.org/docs/stable/internals/storage#storage-version-compatibility
DEFAULT_STORAGE_VERSION = "v1.4.0"
# What binding a relation by name reports: a table, or a view (bound as its query).
_BOUND_KINDS = {"TABLE_RELATION": "table", "QUERY_RELATION": "view", "VIEW_RELATION": "view"}
_LOCK = re.compile(r"Could not set lock on file \"(?P<file>[^\"]+)\".*?\(PID (?P<pid>\d+)\)", re.S)


class DuckDBAdapter(Adapter):
    dialect = "duckdb"
    reads_local_files = True

    def __init__(self, target: t.Any, *, read_only: bool = False):
        super().__init__(target, read_only=read_only)
        self.path: str = target.settings.get("path", ":memory:")
        self.con: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._guard = threading.Lock()
        self._late_settings: dict[str, t.Any] = {}
        self._names_at_first_look: dict[tuple[str, str], frozenset[str]] = {}

    def open(self) -> None:
        if self.con is not None:
            return
        config = self._config()
        read_only = self.read_only and self.path != ":memory:"
        if read_only and not Path(self.path).exists():
            raise ConfigError(
                f"the DuckDB file {self.path} does not exist yet.",
                path=self.target.profile_path,
                hint="Run `wml build` first; this command only reads the database.",
            )
        try:
            # Read-only opens share the file with other readers (DuckDB allows many
            # read-only processes, or one writer) and work on a file this user cannot write.
            self.con = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise self._locked(exc) or ExecutionError(
                f"cannot open DuckDB file {self.path}: {exc}"
            ) from None
        except duckdb.Error as exc:  # a bad setting in profiles.yml
            raise ConfigError(
                f"cannot open DuckDB file {self.path} with the profile's settings: "
                f"{str(exc).splitlines()[0]}",
                path=self.target.profile_path,
                hint=f"Fix the output's settings or storage_compatibility_version "
                f"(e.g. {DEFAULT_STORAGE_VERSION}).",
            ) from None
        try:
            for ext in self.target.settings.get("extensions", []) or []:
                _load_extension(self.con, ext)
            self._late_settings = _set_settings(self.con, self._late_settings)
            for attachment in self.target.settings.get("attach") or []:
                self.con.execute(_attach_sql(attachment))
        except ConfigError as exc:
            exc.path = exc.path or str(self.target.profile_path)
            self.close()
            raise
        except duckdb.Error as exc:
            self.close()
            raise ConfigError(
                f"cannot attach a database of the profile's `attach:`: "
                f"{str(exc).splitlines()[0]}",
                path=self.target.profile_path,
                hint="Check each entry's path, type and options (dbt-duckdb's keys).",
            ) from None

    def _config(self) -> dict[str, t.Any]:
        """``config_options``, the ``settings:`` DuckDB knows at open, and the file format
        version for a new file.

        Settings an extension defines (``s3_region`` of httpfs) are SET once the
        extensions are loaded, on each cursor, as dbt-duckdb does; the others are given
        at open, which also takes those DuckDB accepts only then.

        A file wml creates is written in ``storage_compatibility_version`` (default
        v1.4.0), so DuckDB releases from 1.4 on, such as the CLI on PyPI, read it; plain
        duckdb 2.x would write a format only 2.x reads. An existing file keeps the
        version it was created with (DuckDB does not convert files on open).
        """
        config = dict(self.target.settings.get("config_options") or {})
        settings = dict(self.target.settings.get("settings") or {})
        known = _startup_settings() if settings else set()
        self._late_settings = {k: v for k, v in settings.items() if k.lower() not in known}
        config.update({k: v for k, v in settings.items() if k.lower() in known})
        if self.path != ":memory:" and not Path(self.path).exists():
            version = self.target.settings.get("storage_compatibility_version")
            config.setdefault("storage_compatibility_version", version or DEFAULT_STORAGE_VERSION)
        return config

    def _locked(self, exc: BaseException) -> DatabaseLockedError | None:
        match = _LOCK.search(str(exc))
        if not match:
            return None
        return DatabaseLockedError(
            f"the DuckDB file {match['file']} is locked by another process (PID {match['pid']}).",
            hint="Wait for that wml or duckdb process to finish (or stop it), then run again; "
            "DuckDB allows one writing process per file.",
        )

    def cancel(self) -> None:
        """Also interrupt the statement each cursor runs now (DuckDB's interrupt())."""
        super().cancel()
        with self._guard:
            running = list(self._cursors)
        for cur in [*running, *([self.con] if self.con is not None else [])]:
            with contextlib.suppress(duckdb.Error):
                cur.interrupt()

    def close(self) -> None:
        with self._guard:
            for cur in self._cursors:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._cursors.clear()
        if self.con is not None:
            self.con.close()
            self.con = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        self.open()
        assert self.con is not None
        return self.con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Each thread gets its own cursor (its own transaction) on the shared database."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.connection.cursor()
            _set_settings(cur, self._late_settings)
            self._local.cursor = cur
            with self._guard:
                self._cursors.append(cur)
        return cur

    # -- catalog: a catalog query scans every relation (~5-10 ms at 1,000 relations, far
    # more under load), so the per-node lookups of a build avoid it where they can.
    def relation_type(self, relation: Relation, cursor: t.Any = None) -> str | None:
        """Binding a relation by name costs ~0.1 ms and a failed bind leaves the
        transaction usable; a failure is ambiguous (no such relation, or a view over a
        dropped table), so only a success is trusted and the rest asks the catalog."""
        cur = cursor or self.cursor()
        try:
            kind = _BOUND_KINDS.get(cur.table(str(relation)).type)
        except duckdb.Error:
            kind = None
        return kind or super().relation_type(relation, cursor)

    def swap_lookup(
        self, scratch: Relation, relation: Relation, cursor: t.Any = None
    ) -> tuple[str | None, str | None]:
        """A swap's scratch relation is created and renamed inside one transaction, so
        during this run it can only exist committed if it was there when the schema was
        first listed (a leftover): one listing per schema instead of a query per node."""
        stale = self.relation_type(scratch, cursor) if self._listed(scratch, cursor) else None
        return stale, self.relation_type(relation, cursor)

    def _listed(self, relation: Relation, cursor: t.Any) -> bool:
        key = ((relation.database or "").lower(), relation.schema.lower())
        names = self._names_at_first_look.get(key)
        if names is None:
            rows = self.execute(
                "select table_name from information_schema.tables "
                "where lower(table_schema) = lower(?)" + _catalog(relation),
                [relation.schema, *_catalog_value(relation)],
                cursor,
            )
            names = frozenset(str(name).lower() for (name,) in rows)
            with self._guard:
                names = self._names_at_first_look.setdefault(key, names)
        return relation.identifier.lower() in names

    def fetch_arrow(self, sql: str, cursor: t.Any = None) -> pa.Table:
        cur = cursor or self.cursor()
        return cur.sql(sql).to_arrow_table()

    def friendly_error(self, exc: BaseException) -> str | None:
        locked = self._locked(exc)
        return str(locked) if locked else None


@functools.lru_cache(maxsize=1)
def _startup_settings() -> frozenset[str]:
    """The settings this DuckDB knows before any extension loads."""
    con = duckdb.connect(":memory:")
    try:
        return frozenset(r[0].lower() for r in con.execute("select name from duckdb_settings()").fetchall())
    finally:
        con.close()


def _load_extension(con: duckdb.DuckDBPyConnection, ext: t.Any) -> None:
    """dbt-duckdb's ``extensions:``: a name, or ``{name, repo}`` for a community one;
    INSTALLed (network) only when LOAD finds it neither built in nor installed."""
    if isinstance(ext, dict):
        name, repo = str(ext.get("name", "")), ext.get("repo")
    else:
        name, repo = str(ext), None
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ConfigError(f"`extensions`: {ext!r} is not an extension name.")
    try:
        con.execute(f"load {name}")
        return
    except duckdb.Error:
        pass
    try:
        con.execute(f"install {name}" + (f" from {_quote_repo(str(repo))}" if repo else ""))
        con.execute(f"load {name}")
    except duckdb.Error as exc:
        raise ConfigError(
            f"cannot load DuckDB extension '{name}': {str(exc).splitlines()[0]}",
            hint="INSTALL needs the network once (or install it by hand with the duckdb "
            "CLI); check the name in the profile's `extensions:`.",
        ) from None


def _quote_repo(repo: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_]+", repo):  # community, core_nightly, ...
        return repo
    return "'" + repo.replace("'", "''") + "'"


def _set_settings(cur: duckdb.DuckDBPyConnection, settings: dict[str, t.Any]) -> dict[str, t.Any]:
    for key, value in settings.items():
        if not re.fullmatch(r"[A-Za-z0-9_.]+", str(key)):
            raise ConfigError(f"`settings`: {key!r} is not a setting name.")
        try:
            cur.execute(f"set {key} = ?", [value])  # DuckDB casts to the setting's type
        except duckdb.Error as exc:
            raise ConfigError(
                f"cannot SET {key} from the profile's `settings:`: {str(exc).splitlines()[0]}",
                hint="Check the name and value; a setting an extension defines needs that "
                "extension in `extensions:`.",
            ) from None
    return settings


def _attach_sql(attachment: t.Any) -> str:
    """dbt-duckdb's ``attach:`` entry as ATTACH (path, alias, type, read_only, options)."""
    if not isinstance(attachment, dict) or "path" not in attachment:
        raise ConfigError(f"`attach`: each entry needs a `path`, got {attachment!r}.")
    sql = "attach if not exists '" + str(attachment["path"]).replace("'", "''") + "'"
    alias = attachment.get("alias")
    if alias:
        sql += ' as "' + str(alias).replace('"', '""') + '"'
    options: list[str] = []
    if attachment.get("type"):
        options.append(f"type {_word(attachment['type'], 'type')}")
    if attachment.get("secret"):
        options.append(f"secret {_word(attachment['secret'], 'secret')}")
    if attachment.get("read_only"):
        options.append("read_only")
    for key, value in (attachment.get("options") or {}).items():
        literal = str(value).lower() if isinstance(value, bool) else (
            str(value) if isinstance(value, (int, float)) else
            "'" + str(value).replace("'", "''") + "'"
        )  # fmt: skip
        options.append(f"{_word(key, 'options')} {literal}")
    return sql + (f" ({', '.join(options)})" if options else "")


def _word(value: t.Any, key: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", str(value)):
        raise ConfigError(f"`attach`: {key} {value!r} must be a plain name.")
    return str(value)
