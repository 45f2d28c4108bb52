"""``wml source freshness``: how old each source's newest row is, against its thresholds.

As dbt does (https://docs.getdbt.com/reference/resource-properties/freshness): for each
selected source table with a ``freshness`` block and a ``loaded_at_field``, run
``select max(<loaded_at_field>), current_timestamp from <source> [where <filter>]``; the
age is ``error`` past ``error_after``, else ``warn`` past ``warn_after``, else ``pass``;
a failed query (or no rows) is a ``runtime error``. The results go to
``target/sources.json`` in dbt's shape (schema v3), which ``source_status`` selection reads.
A timestamp without a time zone is taken as UTC, as dbt does.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import typing as t
import uuid
from pathlib import Path

from warehouse_ml import __version__, redaction
from warehouse_ml.adapters import dialects
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import ConfigError, Interrupted, WmlError
from warehouse_ml.files import write_atomically
from warehouse_ml.project.nodes import Node, NodeKind

if t.TYPE_CHECKING:
    from warehouse_ml.run.events import Reporter
    from warehouse_ml.run.session import Session

SCHEMA_VERSION = "https://schemas.getdbt.com/dbt/sources/v3.json"
PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
FAILED = ("error", "runtime error")


def criteria(node: Node) -> dict[str, t.Any] | None:
    """The node's freshness block, checked; None when it has none (or it is off)."""
    block = node.config.get("freshness")
    if not isinstance(block, dict):
        return None
    out: dict[str, t.Any] = {"warn_after": {}, "error_after": {}, "filter": block.get("filter")}
    for key in ("warn_after", "error_after"):
        value = block.get(key) or {}
        if not isinstance(value, dict):
            raise _bad(node, f"{key} must be a mapping with count and period")
        count, period = value.get("count"), value.get("period")
        if count is None and period is None:
            continue
        if not isinstance(count, int) or isinstance(count, bool) or period not in PERIODS:
            raise _bad(node, f"{key} needs an integer count and a period ({', '.join(PERIODS)})")
        out[key] = {"count": count, "period": period}
    return out


def _bad(node: Node, what: str) -> ConfigError:
    return ConfigError(
        f"source '{node.name}': freshness {what}.",
        path=node.path,
        hint="e.g. freshness: {warn_after: {count: 12, period: hour}, "
        "error_after: {count: 1, period: day}}.",
    )


def status(age: float, crit: dict[str, t.Any]) -> str:
    for key, name in (("error_after", "error"), ("warn_after", "warn")):
        limit = crit.get(key) or {}
        if limit and age > limit["count"] * PERIODS[limit["period"]]:
            return name
    return "pass"


def run(
    session: Session, chosen: t.Iterable[str], reporter: Reporter
) -> tuple[list[dict[str, t.Any]], float]:
    """Check every chosen source that has freshness; the sources.json results and time."""
    started = time.perf_counter()
    nodes = [session.nodes[uid] for uid in sorted(chosen)]
    checked: list[tuple[Node, dict[str, t.Any]]] = []
    for node in nodes:
        if node.kind is not NodeKind.SOURCE:
            continue
        crit = criteria(node)
        if crit is None or not (crit["warn_after"] or crit["error_after"]):
            continue
        if not node.config.get("loaded_at_field"):
            reporter.warning(
                f"{node.fqn_path}: source '{node.name}' has freshness but no loaded_at_field: "
                "skipped (DuckDB keeps no load times to read instead)."
            )
            continue
        checked.append((node, crit))
    results = []
    for index, (node, crit) in enumerate(checked, start=1):
        result = _check(session, node, crit)
        results.append(result)
        shown = "error" if result["status"] == "runtime error" else result["status"]
        message = result.get("error") or _age_text(result)
        reporter.node_finished(
            index, len(checked), "freshness of", node.name, shown, result["execution_time"],
            None, message,
        )  # fmt: skip
    return results, time.perf_counter() - started


def _check(session: Session, node: Node, crit: dict[str, t.Any]) -> dict[str, t.Any]:
    uid = unique_id(session, node)
    started, t0 = _now(), time.perf_counter()
    try:
        sql = _query(session, node, crit)
        rows = session.adapter.execute(sql)
        loaded, snapshotted = rows[0] if rows else (None, None)
        if loaded is None:
            raise WmlError(
                f"source '{node.name}': max({node.config['loaded_at_field']}) is NULL "
                "(no rows, or no row has a load time); dbt counts that as an error."
            )
        loaded, snapshotted = _utc(loaded, node), _utc(snapshotted, node)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as exc:
        reason = str(exc) if isinstance(exc, WmlError) else session.explain_error(exc)
        return {"unique_id": uid, "error": " ".join(reason.splitlines()),
                "status": "runtime error", "execution_time": time.perf_counter() - t0}  # fmt: skip
    age = (snapshotted - loaded).total_seconds()
    seconds = time.perf_counter() - t0
    return {
        "unique_id": uid,
        "max_loaded_at": loaded.isoformat(),
        "snapshotted_at": snapshotted.isoformat(),
        "max_loaded_at_time_ago_in_s": age,
        "status": status(age, crit),
        "criteria": crit,
        "adapter_response": {},
        "timing": [{"name": "execute", "started_at": started, "completed_at": _now()}],
        "thread_id": threading.current_thread().name,
        "execution_time": seconds,
    }


def _query(session: Session, node: Node, crit: dict[str, t.Any]) -> str:
    info = node.source_info or {}
    src = session.project.sources[(info["source"], info["table"])]
    if src.external_location:
        relation = "'" + src.external_location.replace("'", "''") + "'"
    else:
        relation = str(Relation(src.schema, src.identifier))
    sql = (
        f"select max({node.config['loaded_at_field']}) as max_loaded_at, "
        f"current_timestamp as snapshotted_at from {relation}"
    )
    if crit.get("filter"):
        sql += f" where {crit['filter']}"
    return dialects.transpile(
        sql, session.project.settings.sql_dialect, session.target_dialect,
        node=node.name, path=node.fqn_path, cache=session.transpile_cache,
    )  # fmt: skip


def _utc(value: t.Any, node: Node) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    else:
        raise WmlError(
            f"source '{node.name}': loaded_at_field gave {value!r}, not a timestamp.",
            hint="Cast it: loaded_at_field: \"cast(col as timestamp)\".",
        )
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def _age_text(result: dict[str, t.Any]) -> str:
    age = result.get("max_loaded_at_time_ago_in_s")
    if age is None:
        return ""
    return f"newest row {age / 3600:.1f} h old (max_loaded_at {result['max_loaded_at']})"


def unique_id(session: Session, node: Node) -> str:
    """dbt's id for a source table: source.<package>.<source>.<table>."""
    info = node.source_info or {}
    package = getattr(node, "package_name", None) or session.project.settings.name
    return f"source.{package}.{info.get('source')}.{info.get('table')}"


def write(path: Path, results: list[dict[str, t.Any]], elapsed: float) -> None:
    payload = {
        "metadata": {
            "dbt_schema_version": SCHEMA_VERSION,
            "dbt_version": __version__,
            "generated_at": _now(),
            "invocation_id": str(uuid.uuid4()),
            "env": {},
        },
        "results": [_output(r) for r in results],
        "elapsed_time": round(elapsed, 4),
    }
    write_atomically(path, redaction.mask(json.dumps(payload, default=str)).encode("utf-8"))


def _output(result: dict[str, t.Any]) -> dict[str, t.Any]:
    if result["status"] == "runtime error":  # dbt's SourceFreshnessRuntimeError
        return {k: result[k] for k in ("unique_id", "error", "status")}
    return {**result, "execution_time": round(result["execution_time"], 4)}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()
