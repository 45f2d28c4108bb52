"""``wml sync``: send the selected syncs' changes to their destinations (sync/)."""

from __future__ import annotations

import datetime as dt
import sys
import time
import typing as t

import click

from warehouse_ml.cli.app import Options, main, project_options
from warehouse_ml.errors import ConfigError, WmlError


@main.command(name="sync")
@project_options()
@click.option("--dry-run", is_flag=True,
              help="Print the counts and sample payloads; send and write nothing.")
@click.option("--full-resync", is_flag=True,
              help="Send every row, changed or not (removed rows too).")
@click.option("--skip-invalid", is_flag=True,
              help="Leave out rows with a NULL key or required field instead of refusing.")
def sync_cmd(opts: Options, dry_run: bool, full_resync: bool, skip_invalid: bool) -> None:
    """Send what changed in each selected sync's source since its last run (reverse ETL).

    Every sync by default; -s NAME (dbt selectors) picks some. Exit code 1 when a sync
    failed or refused invalid rows, 2 for configuration errors.
    """
    from warehouse_ml.project.nodes import NodeKind
    from warehouse_ml.sync.runner import Options as SyncOptions

    session = opts.session(read_only=dry_run)
    reporter = opts.reporter()
    started = time.perf_counter()
    try:
        graph = session.graph
        chosen = {uid for uid in opts.choose(session) if session.nodes[uid].kind is NodeKind.SYNC}
        if opts.select and not chosen:
            raise ConfigError(
                f"--select {' '.join(opts.select)} picks no sync.",
                hint=f"Syncs: {', '.join(sorted(session.project.syncs)) or 'none declared'}.",
            )
        if not chosen:
            reporter.info("No syncs declared: add `syncs:` to a properties YAML file.")
            return
        options = SyncOptions(dry_run=dry_run, full_resync=full_resync, skip_invalid=skip_invalid)
        order = graph.topological_order(chosen)
        results, worst = _run_all(session, order, options, reporter)
        if not dry_run:  # a dry run writes nothing, run_results.json included
            from warehouse_ml.run import artifacts

            args = opts.run_args("sync", dry_run=dry_run, full_resync=full_resync,
                                 skip_invalid=skip_invalid)  # fmt: skip
            artifacts.write_run_results(session, results, time.perf_counter() - started, args)
        from warehouse_ml.run.runner import counts

        reporter.summary(counts(results), time.perf_counter() - started)
    finally:
        session.close()
    if worst:
        sys.exit(worst)


def _run_all(session: t.Any, order: list[str], options: t.Any,
             reporter: t.Any) -> tuple[list[t.Any], int]:  # fmt: skip
    """Each sync in turn; a failed one does not stop the others. (results, exit code)"""
    from warehouse_ml.run.artifacts import NodeResult
    from warehouse_ml.sync.runner import SyncRun

    results: list[t.Any] = []
    worst = 0
    for index, uid in enumerate(order, start=1):
        node = session.nodes[uid]
        reporter.node_started(index, len(order), "sync", node.name)
        begun, t0 = _now(), time.perf_counter()
        try:
            outcome = SyncRun(session, session.project.syncs[node.name], options, reporter).run()
            status, rows, message = outcome.status, outcome.sent, outcome.message
            worst = max(worst, 1 if status == "error" else 0)
        except WmlError as exc:
            status, rows, message = "error", None, str(exc)
            worst = max(worst, exc.exit_code)
        seconds = time.perf_counter() - t0
        reporter.node_finished(index, len(order), "sync", node.name, status, seconds, rows, message)
        results.append(NodeResult(uid, status, begun, _now(), seconds, rows, message))
    return results, worst


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()
