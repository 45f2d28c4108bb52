"""The embedded default: a DuckDB file named in profiles.yml."""

from __future__ import annotations

import contextlib
import re
import threading
import typing as t
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse_ml.adapters.base import Adapter
from warehouse_ml.errors import ConfigError, DatabaseLockedError, ExecutionError

# The oldest DuckDB whose file format keeps everything wml uses (macros, ...); DuckDB
# 1.4 is a long-term-support release and duckdb-cli 1.5 on PyPI reads it.
# https://duckdb.org/docs/stable/internals/storage#storage-version-compatibility
DEFAULT_STORAGE_VERSION = "v1.4.0"
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
        for ext in self.target.settings.get("extensions", []) or []:
            self.con.execute(f"load {ext}")

    def _config(self) -> dict[str, t.Any]:
        """The output's ``settings:``, plus the file format version for a new file.

        A file wml creates is written in ``storage_compatibility_version`` (default
        v1.4.0), so DuckDB releases from 1.4 on, such as the CLI on PyPI, read it; plain
        duckdb 2.x would write a format only 2.x reads. An existing file keeps the
        version it was created with (DuckDB does not convert files on open).
        """
        config = dict(self.target.settings.get("settings") or {})
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
            self._local.cursor = cur
            with self._guard:
                self._cursors.append(cur)
        return cur

    def fetch_arrow(self, sql: str, cursor: t.Any = None) -> pa.Table:
        cur = cursor or self.cursor()
        return cur.sql(sql).to_arrow_table()

    def friendly_error(self, exc: BaseException) -> str | None:
        locked = self._locked(exc)
        return str(locked) if locked else None
