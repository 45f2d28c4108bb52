"""``target/run_results.json`` in dbt's shape (run results v6).

Each result carries dbt's status words (success, error, skipped for nodes; pass, fail,
warn for tests), ``timing``, ``thread_id``, ``adapter_response``, ``failures``, the dbt
``unique_id`` of the node, its compiled code and relation. wml's own facts about the
invocation (its version, whether Ctrl-C stopped it, the selection) go under ``args``,
where dbt keeps the command's arguments, so strict readers of the schema accept the file.
"""

from __future__ import annotations

import dataclasses
import threading
import typing as t

from warehouse_ml import __version__
from warehouse_ml.run import manifest as mf

SCHEMA_VERSION = "https://schemas.getdbt.com/dbt/run-results/v6.json"


@dataclasses.dataclass
class NodeResult:
    unique_id: str
    status: str  # success | error | skipped | pass | fail | warn | interrupted
    started_at: str
    completed_at: str
    execution_time: float
    rows: int | None = None
    message: str = ""
    failures: int | None = None
    # Results are made in the worker thread that ran the node (skips: the main thread).
    thread_id: str = dataclasses.field(default_factory=lambda: threading.current_thread().name)

    def to_json(self, ids: mf.DbtIds | None = None) -> dict[str, t.Any]:
        status, message = self.status, self.message
        if status == "interrupted":  # not a dbt status: an error that says why
            status, message = "error", message or "interrupted (Ctrl-C); rolled back"
        started = _dbt_time(self.started_at)
        return {
            "status": status,
            "timing": [
                # Rendering happens when the project is parsed, before any node runs.
                {"name": "compile", "started_at": started, "completed_at": started},
                {"name": "execute", "started_at": started,
                 "completed_at": _dbt_time(self.completed_at)},
            ],  # fmt: skip
            "thread_id": self.thread_id,
            "execution_time": round(self.execution_time, 4),
            "adapter_response": (
                {"_message": "OK", "code": None, "rows_affected": self.rows}
                if self.rows is not None
                else {}
            ),
            "message": message or None,
            "failures": self.failures,
            "unique_id": ids.dbt(self.unique_id) if ids else self.unique_id,
        }


def _dbt_time(value: str) -> str:
    """ISO timestamps as dbt writes them (``...T10:28:01.123456Z``)."""
    import datetime as dt

    try:
        return mf.timestamp(dt.datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return value


def build_run_results(
    session: t.Any,
    results: list[NodeResult],
    elapsed: float,
    args: t.Mapping[str, t.Any] | None = None,
    interrupted: bool = False,
) -> dict[str, t.Any]:
    builder = mf.ManifestBuilder(session)
    nodes = session.nodes
    out = []
    for result in results:
        entry = result.to_json(builder.ids)
        node = nodes.get(result.unique_id)
        if node is not None:
            entry["compiled"] = node.compiled_sql is not None
            entry["compiled_code"] = node.compiled_sql
            entry["relation_name"] = builder.relation_info(node)[3] if node.kind.builds_relation else None
        out.append(entry)
    return {
        "metadata": mf.metadata(SCHEMA_VERSION),
        "results": out,
        "elapsed_time": round(elapsed, 4),
        "args": {
            **dict(args or {}),
            "target": session.target.redacted().get("name"),
            "wml_version": __version__,
            "interrupted": interrupted,  # Ctrl-C: the node running rolled back, the rest skipped
        },
    }


def write_run_results(
    session: t.Any,
    results: list[NodeResult],
    elapsed: float,
    args: t.Mapping[str, t.Any] | None = None,
    interrupted: bool = False,
) -> dict[str, t.Any]:
    payload = build_run_results(session, results, elapsed, args, interrupted)
    mf.write_json(session.project.target_dir / "run_results.json", payload)
    return payload
