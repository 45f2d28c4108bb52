"""The monitoring tables in schema ``wml``: profiles of training and scoring runs.

``wml.monitoring`` is long: one row per (run, column, bin). A *training* run is written
with the model version it profiles (its features over the training rows and its scores
over the evaluation rows, plus the evaluation metrics); a *scoring* run each time a
relation holding a model's scores (or features) is built, binned on the training bins of
the version that scored it, so PSI and KS are joins of small tables in any warehouse.
``wml.segment_snapshots`` keeps the last two runs' segment value per id for
``wml.segment_stability``.

Numeric columns have fine bins ``(lower_edge, upper_edge]`` cut at the distinct training
percentiles 1..99 (the outer edges are the largest double, so every finite value falls in
one bin); ``psi_bin`` groups them into the decile bins PSI is computed on. Categorical
columns have a bin per top category (``bin_index`` 1..20) and bin 0 for all others.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid

SCHEMA = "wml"
TABLE = f"{SCHEMA}.monitoring"
SEGMENTS = f"{SCHEMA}.segment_snapshots"
KEEP_SEGMENT_RUNS = 2  # the current run and the previous one: all segment_stability reads

COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR(32) NOT NULL"),
    ("run_at", "TIMESTAMP NOT NULL"),
    ("kind", "VARCHAR(16) NOT NULL"),  # 'training' | 'scoring'
    ("model_name", "VARCHAR(256) NOT NULL"),
    ("model_version", "INTEGER NOT NULL"),
    ("relation", "VARCHAR(512)"),  # scoring: schema.table; training: NULL
    ("column_name", "VARCHAR(256)"),  # the relation's column (training: = feature)
    ("feature", "VARCHAR(256) NOT NULL"),  # model side: a feature, 'prediction', 'probability', a metric
    ("role", "VARCHAR(16) NOT NULL"),  # 'feature' | 'score' | 'metric'
    ("value_type", "VARCHAR(16) NOT NULL"),  # 'numeric' | 'categorical' | 'metric'
    ("rows_total", "BIGINT"),  # rows profiled (NULLs included)
    ("rows_null", "BIGINT"),
    ("bin_index", "INTEGER"),
    ("psi_bin", "INTEGER"),
    ("lower_edge", "DOUBLE PRECISION"),
    ("upper_edge", "DOUBLE PRECISION"),
    ("category", "VARCHAR(1024)"),
    ("bin_count", "BIGINT"),
    ("metric_value", "DOUBLE PRECISION"),
]
NAMES = [name for name, _ in COLUMNS]
SEGMENT_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR(32) NOT NULL"),
    ("run_at", "TIMESTAMP NOT NULL"),
    ("relation", "VARCHAR(512) NOT NULL"),
    ("column_name", "VARCHAR(256) NOT NULL"),
    ("id_value", "VARCHAR(1024)"),
    ("segment_value", "VARCHAR(1024)"),
]

Execute = t.Callable[[str, list | None], list]
INSERT_ROWS = 500  # rows per INSERT: 19 columns stay far below PostgreSQL's 65,535 binds


def new_run() -> tuple[str, dt.datetime]:
    """A run's id and time (UTC, naive, as the registry stores times)."""
    return uuid.uuid4().hex, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ensure(execute: Execute) -> None:
    execute(f"create schema if not exists {SCHEMA}", None)
    cols = ", ".join(f"{n} {k}" for n, k in COLUMNS)
    execute(f"create table if not exists {TABLE} ({cols})", None)
    segs = ", ".join(f"{n} {k}" for n, k in SEGMENT_COLUMNS)
    execute(f"create table if not exists {SEGMENTS} ({segs})", None)


def insert(execute: Execute, rows: list[dict[str, t.Any]]) -> None:
    """Insert profile rows (dicts keyed by column name; missing keys are NULL), bound."""
    if not rows:
        return
    if not exists(execute):  # created before the run starts (record.prepare) in a build
        ensure(execute)
    mark = "(" + ", ".join("?" for _ in NAMES) + ")"
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        values = [row.get(name) for row in chunk for name in NAMES]
        execute(
            f"insert into {TABLE} ({', '.join(NAMES)}) values {', '.join([mark] * len(chunk))}",
            values,
        )


def exists(execute: Execute) -> bool:
    rows = execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [SCHEMA, "monitoring"],
    )
    return bool(rows and rows[0][0])


def drop_model(execute: Execute, name: str) -> None:
    """DROP MODEL: its profiles go with its versions (a retrained model restarts at 1)."""
    if exists(execute):
        execute(f"delete from {TABLE} where model_name = ?", [name])


def has_training_profile(execute: Execute, name: str, version: int) -> bool:
    if not exists(execute):
        return False
    rows = execute(
        f"select count(*) from {TABLE} where kind = 'training' and model_name = ? "
        "and model_version = ?",
        [name, int(version)],
    )
    return bool(rows[0][0])


def latest_runs(
    execute: Execute, name: str, relation: str | None = None, limit: int = 2
) -> list[tuple[str, t.Any, int, str]]:
    """(run_id, run_at, version, relation) of the model's newest scoring runs, newest first."""
    if not exists(execute):
        return []
    where, params = "kind = 'scoring' and model_name = ?", [name]
    if relation is not None:
        where, params = where + " and relation = ?", [*params, relation]
    rows = execute(
        f"select run_id, max(run_at), max(model_version), max(relation) from {TABLE} "
        f"where {where} group by run_id order by 2 desc limit {int(limit)}",
        params,
    )
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


def prune_segments(execute: Execute, relation: str, column: str) -> None:
    """Keep the newest KEEP_SEGMENT_RUNS runs of one segment column."""
    runs = execute(
        f"select run_id, max(run_at) from {SEGMENTS} where relation = ? and column_name = ? "
        "group by run_id order by 2 desc",
        [relation, column],
    )
    for run_id, _ in runs[KEEP_SEGMENT_RUNS:]:
        execute(f"delete from {SEGMENTS} where run_id = ?", [run_id])
