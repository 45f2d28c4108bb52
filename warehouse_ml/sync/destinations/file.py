"""``type: file``: the sync's current rows as CSV, Parquet or JSON lines, by DuckDB's COPY.

A file holds a snapshot, not a stream of changes: whenever a run finds rows added,
changed or removed (or the file is missing, or ``--full-resync``), the whole current
relation (key columns and mapped fields, invalid rows left out) is written again. A local
path is written to a temporary file beside it and renamed over it, so a reader sees the
old file or the new one, never half of one; a remote location (``s3://...``, anything
with ``://``) is written by COPY in place, as DuckDB's httpfs writes it.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

from warehouse_ml.sync.destinations.base import Delivery, Destination
from warehouse_ml.sync.diff import Change

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "jsonl"}  # fmt: skip
_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet",
                 "jsonl": "FORMAT json"}  # fmt: skip


class FileDestination(Destination):
    snapshot = True

    def __init__(self, *args: t.Any):
        super().__init__(*args)
        location = str(self.config["path"])
        self.remote = "://" in location
        self.location = location if self.remote else str(self._local(location))
        self.format = self.config.get("format") or SUFFIXES.get(Path(location).suffix.lower())
        if self.format is None:
            from warehouse_ml.errors import ConfigError

            raise ConfigError(
                f"sync '{self.spec.name}': cannot tell the file format of '{location}'.",
                path=self.spec.path,
                hint="Name a .csv, .parquet or .jsonl file, or set `format:` (csv, parquet, jsonl).",
            )

    def _local(self, location: str) -> Path:
        path = Path(location).expanduser()
        return path if path.is_absolute() else self.ctx.project_root / path

    def describe(self) -> str:
        return f"file -> {self.config['path']} ({self.format})"

    def missing(self) -> bool:
        return not self.remote and not Path(self.location).is_file()

    def preview(self, changes: list[Change]) -> list[t.Any]:
        return [c.payload for c in changes if not c.removed]

    def write(self, select_sql: str) -> int:
        """COPY ``select_sql`` to the file (atomically when local); the rows written."""
        options = _COPY_OPTIONS[self.format]
        if self.remote:
            return _copy(self.ctx.cursor, select_sql, self.location, options)
        final = Path(self.location)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.wml-{os.getpid()}.tmp")
        try:
            rows = _copy(self.ctx.cursor, select_sql, str(temp), options)
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return rows

    def send(self, changes: list[Change]) -> Delivery:
        raise NotImplementedError("a file destination writes snapshots (write())")


def _copy(cursor: t.Any, select_sql: str, location: str, options: str) -> int:
    quoted = "'" + location.replace("'", "''") + "'"
    cursor.execute(f"copy ({select_sql}) to {quoted} ({options})")
    row = cursor.fetchone()
    return int(row[0]) if row else 0
