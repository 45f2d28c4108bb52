"""The model registry: one row per model version in the warehouse table ``wml.models``.

Versions are never overwritten (PostgresML's model): a retrain adds a version, and
deploy / rollback only move the ``deployed`` flag, inside one transaction, so exactly
one version of a model serves at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import typing as t

from warehouse_ml.errors import ConfigError, ModelNotFoundError

SCHEMA = "wml"
TABLE = f"{SCHEMA}.models"

_COLUMNS: list[tuple[str, str]] = [
    ("name", "VARCHAR NOT NULL"),
    ("version", "INTEGER NOT NULL"),
    ("function", "VARCHAR NOT NULL"),
    ("problem_type", "VARCHAR"),
    ("model_type", "VARCHAR"),
    ("target", "VARCHAR"),
    ("features", "VARCHAR"),  # JSON [[name, sql_type], ...] in argument order
    ("classes", "VARCHAR"),  # JSON list or null
    ("objective", "VARCHAR"),
    ("metrics", "VARCHAR"),  # JSON
    ("leaderboard", "VARCHAR"),  # JSON
    ("feature_importance", "VARCHAR"),  # JSON
    ("settings", "VARCHAR"),  # JSON: the training spec as declared, ignored AWS settings
    ("training_query", "VARCHAR"),
    ("query_hash", "VARCHAR"),
    ("data_fingerprint", "VARCHAR"),
    ("rows_train", "BIGINT"),
    ("rows_eval", "BIGINT"),
    ("training_seconds", "DOUBLE"),
    ("onnx", "BLOB"),
    ("source", "VARCHAR"),  # 'config' | 'create_model' | 'import'
    ("deploy_mode", "VARCHAR"),  # 'udf' | 'sql' (portable macro)
    ("created_at", "TIMESTAMP"),
    ("deployed", "BOOLEAN"),
    ("pinned", "BOOLEAN"),  # deployed by `wml deploy`: builds keep it until the data change
    ("retrain_reason", "VARCHAR"),  # why this version was trained (ml/monitoring/retrain.py)
]
# Columns added after the first release: ensure() adds them to an older registry.
_ADDED = ("pinned", "retrain_reason")
DROPPED = f"{SCHEMA}.dropped_models"  # tombstones, so a view calling a dropped model says so
_JSON = ("features", "classes", "metrics", "leaderboard", "feature_importance", "settings")


@dataclasses.dataclass
class ModelVersion:
    name: str
    version: int
    function: str
    problem_type: str | None
    model_type: str | None
    target: str | None
    features: list[list[str]]
    onnx: bytes = dataclasses.field(repr=False)
    # What training knows; an imported (bring-your-own) model has none of it.
    classes: list[t.Any] | None = None
    objective: str | None = None
    metrics: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    leaderboard: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    feature_importance: dict[str, float] = dataclasses.field(default_factory=dict)
    settings: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    training_query: str | None = None
    query_hash: str | None = None
    data_fingerprint: str | None = None
    rows_train: int | None = None
    rows_eval: int | None = None
    training_seconds: float | None = None
    source: str = "config"
    deploy_mode: str = "udf"
    created_at: dt.datetime | None = None
    deployed: bool = False
    pinned: bool = False
    retrain_reason: str | None = None

    def summary(self) -> dict[str, t.Any]:
        """What ``wml show --format json`` prints (everything but the ONNX bytes)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "onnx"}
        out["features"] = [{"name": n, "type": ty} for n, ty in self.features]
        out["onnx_bytes"] = len(self.onnx)
        return out


def guard(schema: str | None, what: str, **where: t.Any) -> None:
    """Refuse ``what`` writing into the registry's schema: the registry is wml's alone."""
    if schema is not None and schema.strip('"').lower() == SCHEMA:
        raise ConfigError(
            f"{what} would write into schema '{SCHEMA}', which holds the model registry "
            "(every model version and its ONNX); wml never writes anything else there.",
            hint="Use another schema. To change models use wml deploy, DROP MODEL or a build.",
            **where,
        )


def query_hash(sql: str) -> str:
    return hashlib.sha256(sql.strip().encode("utf-8")).hexdigest()[:16]


def ensure(cursor: t.Any) -> None:
    """Create the registry (or add the columns a newer wml needs to an older one)."""
    cursor.execute(f"create schema if not exists {SCHEMA}")
    cols = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
    cursor.execute(f"create table if not exists {TABLE} ({cols}, primary key (name, version))")
    present = _present(cursor)
    for name, kind in _COLUMNS:
        if name in _ADDED and name not in present:
            cursor.execute(f"alter table {TABLE} add column {name} {kind}")
    cursor.execute(
        f"create table if not exists {DROPPED} (name VARCHAR NOT NULL, function VARCHAR NOT NULL, "
        "versions INTEGER, dropped_at TIMESTAMP)"
    )


def _present(cursor: t.Any) -> set[str]:
    rows = cursor.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = 'models'",
        [SCHEMA],
    ).fetchall()
    return {r[0] for r in rows}


def _select_list(cursor: t.Any) -> str:
    """The registry's columns, NULL for those an older registry lacks (read-only opens)."""
    present = _present(cursor)
    return ", ".join(n if n in present else f"null as {n}" for n, _ in _COLUMNS)


def exists(cursor: t.Any) -> bool:
    return _table_exists(cursor, "models")


def add_version(cursor: t.Any, version: ModelVersion, *, deploy: bool) -> int:
    """Insert ``version`` as the model's next version number; deploy it if asked.

    Runs in the caller's transaction when there is one; the version number is read and
    written in the same statement batch so two builds cannot take the same number.
    """
    ensure(cursor)
    row = cursor.execute(
        f"select coalesce(max(version), 0) + 1 from {TABLE} where name = ?", [version.name]
    ).fetchall()[0]
    version.version = int(row[0])
    version.created_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    version.deployed = False
    values = [_encode(name, getattr(version, name)) for name, _ in _COLUMNS]
    marks = ", ".join("?" for _ in _COLUMNS)
    names = ", ".join(name for name, _ in _COLUMNS)
    cursor.execute(f"insert into {TABLE} ({names}) values ({marks})", values)
    if deploy:
        set_deployed(cursor, version.name, version.version)
    return version.version


def set_deployed(cursor: t.Any, name: str, version: int, *, pinned: bool = False) -> None:
    """Make ``version`` the one that serves; every other version of the model stops.

    ``pinned`` marks a choice made by hand (``wml deploy``) that builds must keep.
    """
    get(cursor, name, version)  # raises a clear error for an unknown model or version
    cursor.execute(
        f"update {TABLE} set deployed = (version = ?), pinned = (version = ? and ?) "
        "where name = ?",
        [version, version, pinned, name],
    )


def get(cursor: t.Any, name: str, version: int | None = None) -> ModelVersion:
    """A version, or the deployed one (else the newest) when ``version`` is None."""
    if not exists(cursor):
        raise ModelNotFoundError(
            f"model '{name}' does not exist: no model has been trained yet.",
            hint="Train one with `wml build` or CREATE MODEL.",
        )
    cols = _select_list(cursor)
    if version is None:
        sql = f"select {cols} from {TABLE} where name = ? order by deployed desc, version desc limit 1"
        rows = cursor.execute(sql, [name]).fetchall()
    else:
        rows = cursor.execute(
            f"select {cols} from {TABLE} where name = ? and version = ?", [name, int(version)]
        ).fetchall()
    if not rows:
        raise ModelNotFoundError(
            _missing(cursor, name, version), hint="See `wml models` for what exists."
        )
    return _decode(rows[0])


def _missing(cursor: t.Any, name: str, version: int | None) -> str:
    versions = [
        r[0]
        for r in cursor.execute(
            f"select version from {TABLE} where name = ? order by version", [name]
        ).fetchall()
    ]
    if not versions:
        import difflib

        names = [r[0] for r in cursor.execute(f"select distinct name from {TABLE}").fetchall()]
        close = difflib.get_close_matches(name, names, n=1)
        return f"model '{name}' does not exist." + (f" Did you mean '{close[0]}'?" if close else "")
    return f"model '{name}' has no version {version} (versions: {versions})."


def twin(function: str) -> str:
    """The second function a model owns: ``f_prob``, or ``similar_m`` for a recommender's
    ``recommend_m``."""
    if function.lower().startswith("recommend_") and len(function) > len("recommend_"):
        return "similar_" + function[len("recommend_"):]
    return f"{function}_prob"


_TWIN_SQL = (
    "lower(?) in (lower(function), lower(function) || '_prob', lower(function) || '_purchases', "
    "case when lower(function) "
    "like 'recommend\\_%' escape '\\' then 'similar_' || substr(lower(function), 11) end, "
    "case when lower(function) like 'recommend\\_%' escape '\\' then lower(function) || '_all' end)"
)


def function_owner(cursor: t.Any, function: str) -> str | None:
    """The model whose functions (``f`` or ``f_prob``, any version) include ``function``."""
    if not exists(cursor):
        return None
    rows = cursor.execute(
        f"select name from {TABLE} where {_TWIN_SQL} order by version desc limit 1",
        [function],
    ).fetchall()
    return rows[0][0] if rows else None


def dropped_with(cursor: t.Any, function: str) -> tuple[str, t.Any] | None:
    """(model, dropped_at) of the dropped model that owned ``function``, if any."""
    if not _table_exists(cursor, "dropped_models"):
        return None
    rows = cursor.execute(
        f"select name, dropped_at from {DROPPED} where {_TWIN_SQL} order by dropped_at desc limit 1",
        [function],
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


_MISSING_FUNCTION = re.compile(r"(?:Scalar Function|Macro Function|Function) with name (\w+) does not exist", re.I)


def explain_missing_function(cursor: t.Any, message: str) -> str | None:
    """For DuckDB's 'Function with name f does not exist': name the model that was dropped."""
    match = _MISSING_FUNCTION.search(message)
    if not match:
        return None
    found = dropped_with(cursor, match.group(1))
    if found is None or function_owner(cursor, match.group(1)) is not None:
        return None
    model, when = found
    return (
        f"{match.group(1)}() was the function of model '{model}', dropped with DROP MODEL at "
        f"{when:%Y-%m-%d %H:%M:%S} UTC; anything that calls it (a view, a model) fails until "
        f"the model is trained again (wml build, CREATE MODEL) or the call is removed."
    )


def _table_exists(cursor: t.Any, table: str) -> bool:
    rows = cursor.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [SCHEMA, table],
    ).fetchall()
    return bool(rows)


def find_by_function(cursor: t.Any, function: str) -> ModelVersion | None:
    if not exists(cursor):
        return None
    rows = cursor.execute(
        f"select name from {TABLE} where lower(function) = lower(?) and deployed limit 1",
        [function],
    ).fetchall()
    return get(cursor, rows[0][0]) if rows else None


def list_versions(cursor: t.Any, name: str | None = None) -> list[ModelVersion]:
    if not exists(cursor):
        return []
    cols = _select_list(cursor)
    where, params = ("where name = ?", [name]) if name else ("", [])
    rows = cursor.execute(
        f"select {cols} from {TABLE} {where} order by name, version", params
    ).fetchall()
    return [_decode(r) for r in rows]


def deployed_versions(cursor: t.Any) -> list[ModelVersion]:
    return [v for v in list_versions(cursor) if v.deployed]


def drop(cursor: t.Any, name: str, if_exists: bool = False) -> int:
    """Delete every version of ``name``; returns how many were removed."""
    if not if_exists:
        get(cursor, name)
    if not exists(cursor):
        return 0
    rows = cursor.execute(
        f"select distinct function from {TABLE} where name = ?", [name]
    ).fetchall()
    n = cursor.execute(f"select count(*) from {TABLE} where name = ?", [name]).fetchall()[0][0]
    cursor.execute(f"delete from {TABLE} where name = ?", [name])
    if n:
        ensure(cursor)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        for (function,) in rows:
            cursor.execute(f"insert into {DROPPED} values (?, ?, ?, ?)", [name, function, n, now])
    return int(n)


def _encode(name: str, value: t.Any) -> t.Any:
    if name in _JSON:
        return json.dumps(value, default=str)
    return value


def _decode(row: tuple) -> ModelVersion:
    values = {}
    for (name, _), value in zip(_COLUMNS, row, strict=True):
        values[name] = json.loads(value) if name in _JSON and value is not None else value
    values["onnx"] = bytes(values["onnx"]) if values["onnx"] is not None else b""
    values["deployed"] = bool(values["deployed"])
    values["pinned"] = bool(values["pinned"])
    return ModelVersion(**values)
