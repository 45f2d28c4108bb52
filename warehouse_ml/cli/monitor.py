"""``wml monitor NAME``: the drift table of a model's newest scoring runs."""

from __future__ import annotations

import json
import typing as t

import click

from warehouse_ml.cli.app import Options, main, project_options
from warehouse_ml.errors import ExecutionError


@main.command()
@project_options(selection=False)
@click.argument("name")
@click.option("--relation", default=None, help="Only this relation's runs (schema.table).")
@click.option(
    "--previous", is_flag=True,
    help="Compare each relation's newest run with its previous run (same version) instead of training.",
)  # fmt: skip
@click.option("--psi-threshold", type=float, default=0.2, show_default=True, help="PSI above it is drift.")
@click.option("--psi-warn", type=float, default=0.1, show_default=True, help="PSI above it is a warning.")
@click.option("--ks-threshold", type=float, default=None, help="KS above it is drift too (default: reported only).")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when some column drifts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def monitor(
    opts: Options,
    name: str,
    relation: str | None,
    previous: bool,
    psi_threshold: float,
    psi_warn: float,
    ks_threshold: float | None,
    fail_on_drift: bool,
    fmt: str,
) -> None:
    """Drift of model NAME's newest scoring run against its training distribution.

    One line per column (its scores and the features the relation holds): PSI over the
    training deciles, KS over the training percentiles, the threshold and the status.
    Writes target/monitoring/NAME.json for the model card.
    """
    from warehouse_ml.ml import registry
    from warehouse_ml.ml.monitoring import report

    session = opts.session(read_only=True)
    session.warn = opts.reporter().warning
    try:
        con = session.connection()
        registry.get(con.cursor(), name)  # an unknown model is a clear error
        rows = report.drift_table(
            con, name, relation=relation, compare_to="previous_run" if previous else "training",
            psi_threshold=psi_threshold, psi_warn=psi_warn, ks_threshold=ks_threshold,
        )  # fmt: skip
    finally:
        session.close()
    path = report.write_json(rows, session.project.target_dir, name)
    if fmt == "json":
        click.echo(json.dumps([r.as_json() for r in rows], indent=2, default=str))
    elif not rows:
        click.echo(
            f"No scoring run of model '{name}' is recorded yet: build a model whose SQL calls "
            f"its function (or run wml predict {name}), then run wml monitor {name} again."
        )
    else:
        click.echo(report.format_table(rows), nl=False)
        click.echo(f"Wrote {path}.")
    _judge(rows, fail_on_drift)


def _judge(rows: list[t.Any], fail_on_drift: bool) -> None:
    drifting = sorted({(r.relation, r.column) for r in rows if r.status == "drift"})
    if fail_on_drift and drifting:
        names = ", ".join(f"{rel}.{col}" for rel, col in drifting)
        raise ExecutionError(
            f"drift above the threshold in {len(drifting)} column(s): {names}.",
            hint="Look at the table above; retrain the model (retrain: {on_drift: true}) or "
            "find what changed upstream.",
        )
