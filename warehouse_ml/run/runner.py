"""Run selected nodes in dependency order, in parallel up to ``threads``.

The main thread owns the scheduler; worker threads only execute one node each and
return a result. A failed node (or failing error-level test) skips its descendants.
In ``build``, a model's children also wait for the model's tests, as in dbt.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import threading
import time
import typing as t

from warehouse_ml.errors import ExecutionError, Interrupted, WmlError
from warehouse_ml.explain import explain, is_database_error
from warehouse_ml.graph.dag import Scheduler
from warehouse_ml.ml.monitoring import record
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.run import data_tests, hooks, materializations
from warehouse_ml.run.artifacts import NodeResult
from warehouse_ml.run.events import Reporter
from warehouse_ml.run.materializations import BuildContext, BuildResult
from warehouse_ml.run.session import Session

FAILED = ("error", "fail")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


class Runner:
    def __init__(
        self,
        session: Session,
        reporter: Reporter,
        *,
        full_refresh: bool = False,
        threads: int | None = None,
        syncs: bool = False,
    ):
        self.session = session
        self.syncs = syncs  # `wml build --sync`: selected sync nodes run (sync/runner.py)
        self.reporter = reporter
        self.full_refresh = full_refresh
        self.threads = threads or session.target.threads
        session.warn = reporter.warning

    def run(self, selected: set[str], *, gate_on_tests: bool = False) -> list[NodeResult]:
        nodes = self.session.nodes
        skipped_kinds = (NodeKind.SOURCE, NodeKind.ANALYSIS) + (() if self.syncs else (NodeKind.SYNC,))
        runnable = {
            uid
            for uid in selected
            if nodes[uid].materialized != "ephemeral" and nodes[uid].kind not in skipped_kinds
        }  # nothing builds a source or an analysis, and an ephemeral model is inlined
        graph = self.session.graph.with_test_gates() if gate_on_tests else self.session.graph
        order = {uid: i for i, uid in enumerate(graph.topological_order(runnable), start=1)}
        scheduler = Scheduler(graph, runnable)
        results: list[NodeResult] = []
        if any(nodes[uid].is_ml_model for uid in runnable):
            _preload_ml()
        self.session.adapter.open()
        self._prepare()
        self._create_schemas(runnable)
        try:
            with cf.ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="wml") as pool:
                running: dict[cf.Future[NodeResult], str] = {}
                try:
                    self._loop(scheduler, pool, running, results, order)
                except KeyboardInterrupt:
                    self._interrupt(running, results, order)
        finally:
            self.reporter.close()  # no status line left over the summary or an error
        return results

    def _loop(
        self,
        scheduler: Scheduler,
        pool: cf.ThreadPoolExecutor,
        running: dict[cf.Future[NodeResult], str],
        results: list[NodeResult],
        order: dict[str, int],
    ) -> None:
        nodes, total = self.session.nodes, len(order)
        started: set[str] = set()
        while not scheduler.is_finished():
            for uid in scheduler.ready():
                if uid in started:
                    continue
                started.add(uid)
                node = nodes[uid]
                self.reporter.node_started(order[uid], total, _kind(node), node.name)
                running[pool.submit(self._execute, node)] = uid
            if not running:
                break
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                uid = running.pop(future)
                self._finish(uid, future.result(), scheduler, started, results, order)

    def _finish(
        self,
        uid: str,
        result: NodeResult,
        scheduler: Scheduler,
        started: set[str],
        results: list[NodeResult],
        order: dict[str, int],
    ) -> None:
        nodes, total = self.session.nodes, len(order)
        results.append(result)
        self._report(nodes[uid], result, order[uid], total)
        if result.status in FAILED:
            for skipped in scheduler.mark_failed(uid):
                started.add(skipped)
                results.append(self._skip(nodes[skipped], nodes[uid], order, total))
        else:
            scheduler.mark_done(uid)

    def _interrupt(
        self,
        running: dict[cf.Future[NodeResult], str],
        results: list[NodeResult],
        order: dict[str, int],
    ) -> t.NoReturn:
        """Ctrl-C: stop the database work, let each running node roll back, record the rest.

        The nodes in progress end as 'interrupted' (their transaction rolled back, so the
        previous relation stands), the nodes not started as 'skipped'; the command then
        exits 130 with ``run_results.json`` marked interrupted.
        """
        self.session.adapter.cancel()
        for future in running:
            if future.cancel():  # queued, never started
                continue
            while True:
                try:  # a second Ctrl-C must not leave a transaction half-way
                    results.append(future.result())
                    break
                except KeyboardInterrupt:
                    self.session.adapter.cancel()
        finished = {r.unique_id for r in results}
        now = _now()
        for uid in order:
            if uid not in finished:
                results.append(
                    NodeResult(uid, "skipped", now, now, 0.0, message="not run: interrupted")
                )
        raise Interrupted(
            "interrupted (Ctrl-C): the nodes in progress were rolled back.", results=results
        )

    def _prepare(self) -> None:
        """Hooks that must run on the connection before any node (functions of ML models)."""
        self.session.connection()
        record.prepare(self.session)  # monitoring tables, before parallel workers write them

    def _create_schemas(self, runnable: set[str]) -> None:
        """Every schema the run builds into, created here, before any worker starts."""
        nodes, adapter = self.session.nodes, self.session.adapter
        schemas = {
            (rel.database or "", rel.schema)
            for uid in runnable
            if nodes[uid].kind.builds_relation
            for rel in [self.session.relation(nodes[uid])]
        }
        schemas |= data_tests.audit_schemas(self.session, [nodes[uid] for uid in runnable])
        cursor = adapter.cursor()
        for database, schema in sorted(schemas):
            try:
                adapter.ensure_schema(schema, cursor, database or None)
            except Exception as exc:  # e.g. no CREATE privilege: one paragraph, not a traceback
                raise ExecutionError(
                    f"cannot create schema '{schema}': {self.session.explain_error(exc)}"
                ) from None

    # -- one node (worker thread) ------------------------------------------------------------
    def _execute(self, node: Node) -> NodeResult:
        started, t0 = _now(), time.perf_counter()
        try:
            if node.kind is NodeKind.TEST:
                status, rows, message, failures = self._run_test(node)
            elif node.kind is NodeKind.SYNC:
                from warehouse_ml.sync.runner import run_node  # sync/ sits above run/

                outcome = run_node(self.session, node, self.reporter)
                status, rows, message, failures = outcome.status, outcome.sent, outcome.message, None
            else:
                built = self._build(node)
                status, rows, message, failures = "success", built.rows, built.message, None
        except Exception as exc:  # database errors: keep the first paragraph, name the node
            if self.session.adapter.cancelled.is_set():  # Ctrl-C: it was rolled back
                return NodeResult(
                    node.unique_id, "interrupted", started, _now(), time.perf_counter() - t0,
                    message="interrupted (Ctrl-C); rolled back",
                )  # fmt: skip
            err = self._explain(exc, node)
            err.node, err.path = err.node or node.name, err.path or node.fqn_path
            if node.kind is not NodeKind.MODEL:
                err.node_kind = node.kind.value
            status, rows, message, failures = "error", None, str(err), None
        return NodeResult(
            node.unique_id,
            status,
            started,
            _now(),
            time.perf_counter() - t0,
            rows,
            message,
            failures,
        )

    def _explain(self, exc: Exception, node: Node) -> WmlError:
        """The node's error: a database's own first paragraph, else what explain() says."""
        if isinstance(exc, WmlError):
            return exc
        if is_database_error(exc) and (err := self.session.explain_macro_error(node, exc)):
            return err
        if not is_database_error(exc) and (err := explain(exc)) is not None:
            return err
        return ExecutionError(self.session.explain_error(exc))

    def _build(self, node: Node) -> BuildResult:
        materialized = node.materialized or "view"
        if materialized == "ml_model":
            from warehouse_ml.ml import materialize  # noqa: F401  (registers 'ml_model')
        build = materializations.MATERIALIZERS[materialized]
        adapter = self.session.adapter
        ctx = BuildContext(
            adapter=adapter,
            cursor=adapter.cursor(),
            node=node,
            relation=self.session.relation(node),
            render=lambda incremental: self.session.compiled_sql(node, incremental=incremental),
            full_refresh=self.full_refresh,
            project_root=self.session.project.root,
            extras={"session": self.session, "reporter": self.reporter},
            compiled_hooks=self._hooks_for(node),
            explain=self.session.explain_error,
            after_build=record.hook_for(self.session, node),
        )
        return build(ctx)

    def _hooks_for(self, node: Node) -> t.Callable[[str, bool], list[hooks.Hook]] | None:
        """The node's hooks, rendered when the build reaches them (None: nothing to run)."""
        if not (hooks.runs_hooks(node) and hooks.has_hooks(node)):
            return None  # ignored with a warning when the project was parsed
        # Rendered once per phase (dbt renders a hook once): the in- and out-of-transaction
        # hooks of a phase share one render, so a hook's Jinja side effects
        # (adapter.drop_relation, run_query) happen once.
        compiled: dict[tuple[str, bool], list[hooks.Hook]] = {}

        def compile_once(phase: str, incremental: bool) -> list[hooks.Hook]:
            if (phase, incremental) not in compiled:
                compiled[phase, incremental] = hooks.compile_hooks(
                    self.session, node, phase, incremental=incremental
                )
            return compiled[phase, incremental]

        return compile_once

    def _run_test(self, node: Node) -> tuple[str, int | None, str, int]:
        """A data test (``run/data_tests.py``) or a unit test (``run/unit_tests.py``)."""
        from warehouse_ml.run import unit_tests

        runner = unit_tests if node.unit_test is not None else data_tests
        outcome = runner.run(self.session, node, self.session.adapter.cursor())
        return outcome.status, None, outcome.message, outcome.failures

    # -- reporting -----------------------------------------------------------------------
    def _report(self, node: Node, result: NodeResult, index: int, total: int) -> None:
        self.reporter.node_finished(
            index,
            total,
            _kind(node),
            node.name,
            result.status,
            result.execution_time,
            result.rows,
            result.message,
        )

    def _skip(self, node: Node, cause: Node, order: dict[str, int], total: int) -> NodeResult:
        now = _now()
        result = NodeResult(
            node.unique_id, "skipped", now, now, 0.0, message=f"skipped because {cause.name} failed"
        )
        self._report(node, result, order.get(node.unique_id, 0), total)
        return result


def _preload_ml() -> None:
    """Import the ML stack (scikit-learn, ONNX, onnxruntime: ~3.5 s) on a side thread while
    the first SQL nodes run: DuckDB releases the GIL, so the imports cost the build little,
    where the first ML node would otherwise pay them holding it. An ML node that starts first
    waits on Python's per-module import locks; a failed import is left for that node to raise
    with its own error."""

    def load() -> None:
        with contextlib.suppress(Exception):  # the node's own import reports a failure
            from warehouse_ml.ml import materialize, trainer  # noqa: F401

    threading.Thread(target=load, name="wml-preload-ml", daemon=True).start()


def _kind(node: Node) -> str:
    if node.kind is NodeKind.MODEL:
        return "ml model" if node.is_ml_model else f"{node.materialized or 'view'} model"
    return node.kind.value


def counts(results: list[NodeResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out
