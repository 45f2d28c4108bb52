"""Compiled tree libraries kept beside the ONNX, in the registry's schema.

``wml.native_artifacts`` holds one row per model version that the native engine serves:
the artifact key (platform | compiler | source hash, see :mod:`build`) and the shared
library's bytes. The row is written in the transaction that registers or deploys the
version and replaced when a process on another platform (or with another compiler)
rebuilds it; ``DROP MODEL`` removes the model's rows with its versions.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.ml import registry

TABLE = f"{registry.SCHEMA}.native_artifacts"


def ensure(cursor: t.Any) -> None:
    cursor.execute(f"create schema if not exists {registry.SCHEMA}")
    cursor.execute(
        f"create table if not exists {TABLE} (name VARCHAR NOT NULL, version INTEGER NOT NULL, "
        "artifact_key VARCHAR NOT NULL, library BLOB NOT NULL, built_at TIMESTAMP, "
        "primary key (name, version))"
    )


def _exists(cursor: t.Any) -> bool:
    schema, table = TABLE.split(".")
    row = cursor.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def get(cursor: t.Any, name: str, version: int) -> tuple[str, bytes] | None:
    """(artifact key, library bytes) stored for a version, or None."""
    if not _exists(cursor):
        return None
    row = cursor.execute(
        f"select artifact_key, library from {TABLE} where name = ? and version = ?",
        [name, version],
    ).fetchone()
    return (row[0], bytes(row[1])) if row else None


def put(cursor: t.Any, name: str, version: int, key: str, library: bytes) -> None:
    """Store (or replace) a version's library; inside the caller's transaction."""
    ensure(cursor)
    cursor.execute(f"delete from {TABLE} where name = ? and version = ?", [name, version])
    cursor.execute(
        f"insert into {TABLE} values (?, ?, ?, ?, current_timestamp)",
        [name, version, key, library],
    )


def drop(cursor: t.Any, name: str) -> None:
    if _exists(cursor):
        cursor.execute(f"delete from {TABLE} where name = ?", [name])
