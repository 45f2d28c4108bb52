"""``wml source freshness``: dbt's source freshness check (warehouse_ml/dbt/freshness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from warehouse_ml.cli.app import Options, main, project_options


@main.group()
def source() -> None:
    """Commands about the project's sources."""


@source.command()
@project_options()
@click.option("--output", "-o", "output", default=None,
              help="Where to write the results (default: target/sources.json).")  # fmt: skip
def freshness(opts: Options, output: str | None) -> None:
    """Check how fresh each selected source is against its warn_after / error_after."""
    from warehouse_ml.dbt import freshness as fresh
    from warehouse_ml.graph.selectors import select
    from warehouse_ml.project.nodes import NodeKind

    session = opts.session(read_only=True)
    reporter = opts.reporter()
    try:
        graph = session.graph
        chosen = {
            uid
            for uid in select(graph, opts.select, opts.exclude, indirect_tests=False)
            if session.nodes[uid].kind is NodeKind.SOURCE
        }
        results, elapsed = fresh.run(session, chosen, reporter)
        path = Path(output) if output else session.project.target_dir / "sources.json"
        fresh.write(path, results, elapsed)
    finally:
        session.close()
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    reporter.summary(counts, elapsed)
    if any(r["status"] in fresh.FAILED for r in results):
        sys.exit(1)
