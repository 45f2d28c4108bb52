"""dbt's ``on-run-start`` / ``on-run-end``: project SQL before the first node and after the last.

As in dbt (https://docs.getdbt.com/reference/project-configs/on-run-start-on-run-end):
they run for ``run``, ``build``, ``seed`` and ``test``, each hook rendered with the
project's Jinja context (``on-run-end`` also sees ``results`` and ``schemas``), split into
statements and transpiled like model hooks, and committed one by one. A failing
``on-run-start`` hook stops the command before any node runs (the nodes are skipped);
a failing ``on-run-end`` hook is an error of its own. Either way the command exits 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import typing as t
from pathlib import Path

from warehouse_ml.errors import Interrupted, WmlError
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.run import hooks
from warehouse_ml.run.artifacts import NodeResult

if t.TYPE_CHECKING:
    from warehouse_ml.run.events import Reporter
    from warehouse_ml.run.session import Session

START, END = "on-run-start", "on-run-end"
COMMANDS = ("run", "build", "seed", "test")  # dbt's RunTask family (not compile, not ls)


@dataclasses.dataclass
class _Result:
    """What an ``on-run-end`` hook reads of each node's result (dbt's RunResult shape)."""

    node: Node
    status: str
    message: str
    execution_time: float
    failures: int | None
    unique_id: str


def configured(session: Session, phase: str) -> list[str]:
    settings = session.project.settings
    return list(settings.on_run_start if phase == START else settings.on_run_end)


def run(
    session: Session,
    phase: str,
    reporter: Reporter,
    results: list[NodeResult] | None = None,
) -> list[NodeResult]:
    """Run the project's ``phase`` hooks; one result per hook (stopping at a failure)."""
    raw_hooks = configured(session, phase)
    if not raw_hooks:
        return []
    settings = session.project.settings
    node = Node(f"{settings.name}-{phase}", NodeKind.MODEL, Path(settings.source_file or "."))
    context = _end_context(session, results or []) if phase == END else {}
    plural = "s" if len(raw_hooks) > 1 else ""
    reporter.info(f"Running {len(raw_hooks)} {phase} hook{plural}")
    out: list[NodeResult] = []
    for index, raw in enumerate(raw_hooks, start=1):
        started, t0 = _now(), time.perf_counter()
        uid = f"operation.{settings.name}.{settings.name}-{phase}-{index - 1}"
        try:
            _run_one(session, node, phase, index, raw, context)
            status, message = "success", ""
        except (Interrupted, KeyboardInterrupt):
            raise
        except WmlError as exc:
            status, message = "error", str(exc)
        except Exception as exc:  # a database error
            reason = " ".join(session.explain_error(exc).splitlines())
            status, message = "error", f"{node.path}: {phase} #{index} failed: {reason}"
        seconds = time.perf_counter() - t0
        out.append(NodeResult(uid, status, started, _now(), seconds, message=message))
        name = f"{settings.name}.{phase}.{index - 1}"
        reporter.node_finished(index, len(raw_hooks), "hook", name, status, seconds, None, message)
        if status == "error":
            break
    return out


def skipped(uids: t.Iterable[str], why: str) -> list[NodeResult]:
    """The selected nodes, none run because an ``on-run-start`` hook failed."""
    now = _now()
    return [NodeResult(uid, "skipped", now, now, 0.0, message=why) for uid in sorted(uids)]


def _run_one(
    session: Session, node: Node, phase: str, index: int, raw: str, context: dict[str, t.Any]
) -> None:
    hook = hooks.Hook(phase, index, ())
    sql = session.renderer.render_hook(node, raw, hook.label, context=context)
    statements = hooks._transpile(session, node, hook, sql, session.target_dialect)
    adapter = session.adapter
    cursor = adapter.cursor()
    for statement in statements:
        adapter.execute(statement, cursor=cursor)


def _end_context(session: Session, results: list[NodeResult]) -> dict[str, t.Any]:
    nodes = session.nodes
    ran = [r for r in results if r.unique_id in nodes]
    schemas = sorted(
        {
            session.relation(nodes[r.unique_id]).schema
            for r in ran
            if nodes[r.unique_id].kind.builds_relation
        }
    )
    database = str(session.target.redacted().get("database", ""))
    return {
        "results": [
            _Result(nodes[r.unique_id], r.status, r.message, r.execution_time, r.failures,
                    r.unique_id)
            for r in ran
        ],  # fmt: skip
        "schemas": schemas,
        "database_schemas": [(database, s) for s in schemas],
    }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()
