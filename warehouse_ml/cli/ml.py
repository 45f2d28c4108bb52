"""ML commands of the ``wml`` CLI: train, predict, models, show, deploy, export, import, sql."""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import click

from warehouse_ml.cli.app import Options, _execute, main, project_options
from warehouse_ml.errors import ConfigError


def _session(opts: Options, *, read_only: bool = False) -> t.Any:
    session = opts.session(read_only=read_only)
    session.warn = opts.reporter().warning
    return session


@main.command()
@project_options()
@click.option(
    "--full-refresh", is_flag=True, help="Retrain even when data and settings are unchanged."
)
def train(opts: Options, full_refresh: bool) -> None:
    """Train the selected ML models (materialized='ml_model')."""
    opts.select = opts.select or ["config.materialized:ml_model"]
    _execute(opts, "train", {"model"}, full_refresh=full_refresh, only_ml=True)


@main.command()
@project_options(selection=False)
@click.argument("name")
@click.option(
    "--input", "input_relation", required=True, help="Table or view holding the feature columns."
)
@click.option(
    "--output", "output_table", required=True, help="Table to write (swapped in atomically)."
)
@click.option("--id", "id_columns", multiple=True, help="Columns to carry over (repeatable).")
@click.option("--version", type=int, default=None, help="Model version (default: deployed).")
@click.option("--replace", is_flag=True, help="Replace OUTPUT if it is an existing table.")
def predict(
    opts: Options,
    name: str,
    input_relation: str,
    output_table: str,
    id_columns: tuple[str, ...],
    version: int | None,
    replace: bool,
) -> None:
    """Score INPUT with model NAME into OUTPUT, streaming Arrow batches."""
    from warehouse_ml.ml.batch import predict_to_table

    session = _session(opts)
    try:
        rows, seconds = predict_to_table(
            session, name, input_relation, output_table, list(id_columns), version, replace
        )
    finally:
        session.close()
    opts.reporter().info(f"Wrote {rows:,} scored rows to {output_table} in {seconds:.2f}s.")


@main.command()
@project_options(selection=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def models(opts: Options, fmt: str) -> None:
    """List every model version in the registry."""
    from warehouse_ml.ml import registry

    session = _session(opts, read_only=True)
    try:
        versions = registry.list_versions(session.connection().cursor())
    finally:
        session.close()
    rows = [
        {
            "name": v.name,
            "version": v.version,
            "function": v.function,
            "model_type": v.model_type,
            "problem_type": v.problem_type,
            "objective": v.objective,
            "score": (v.metrics or {}).get(v.objective or ""),
            "baseline": ((v.metrics or {}).get("baseline") or {}).get(v.objective or ""),
            "deployed": v.deployed,
            "pinned": v.pinned,
            "created_at": str(v.created_at),
            "source": v.source,
        }
        for v in versions
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, default=str, indent=2))
    elif not rows:
        click.echo("No models yet: train one with `wml build` or CREATE MODEL in `wml sql`.")
    else:
        import pyarrow as pa

        from warehouse_ml.cli.tables import print_table

        print_table(pa.Table.from_pylist(rows), "table")


@main.command()
@project_options(selection=False)
@click.argument("name", required=False)
@click.option("--inline", default=None, help="A query to preview instead (Jinja rendered).")
@click.option(
    "--limit", type=click.IntRange(min=0), default=5, show_default=True,
    help="Rows to preview of a model, seed or --inline query.",
)  # fmt: skip
@click.option("--version", type=int, default=None, help="ML model version (default: deployed).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "table", "csv", "json"]), default="text",
    help="text and table are the same.",
)  # fmt: skip
@click.option("--html", "html", is_flag=True,
              help="Write the ML model version's model card as one HTML file (plots inline).")  # fmt: skip
@click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
              help="With --html: the file to write (default target/cards/NAME_vN.html).")  # fmt: skip
def show(
    opts: Options, name: str | None, inline: str | None, limit: int, version: int | None,
    fmt: str, html: bool, output: str | None,
) -> None:  # fmt: skip
    """Preview a model's or seed's first rows (like dbt show), or show an ML model version:
    features, metrics against the baseline, leaderboard (--html: its model card)."""
    from warehouse_ml.cli import preview
    from warehouse_ml.cli import sql as sql_cli
    from warehouse_ml.cli.tables import print_table

    if output and not html:
        raise ConfigError("--output names the file --html writes.", hint="Add --html.")
    if html:
        _show_html(opts, name, inline, version, output)
        return
    if bool(name) == bool(inline):
        raise ConfigError(
            "give a NAME or --inline QUERY.",
            hint="e.g. wml show customers, or wml show --inline 'select 1'",
        )
    rows_format = "table" if fmt == "text" else fmt
    if inline:  # wml sql with a limit, as dbt show --inline
        result = sql_cli.run_sql(opts, inline, path=None, dialect=None, limit=limit)
        sql_cli.print_result(result, rows_format, max_rows=limit)
        return
    session = _session(opts, read_only=True)
    try:
        node = preview.relation_node(session, name)
        if node is not None:
            rows = preview.preview(session, node, limit)
        else:
            v = _registered(session, name, version)
    finally:
        session.close()
    if node is not None:
        print_table(rows, rows_format, max_rows=limit)
    else:
        _show_model(v, fmt)


def _show_html(
    opts: Options, name: str | None, inline: str | None, version: int | None, output: str | None
) -> None:
    from warehouse_ml.docs.generate import write_card

    if inline or not name:
        raise ConfigError("--html writes an ML model's card: give the model's NAME, not --inline.",
                          hint="e.g. wml show churn_model --html")  # fmt: skip
    session = _session(opts, read_only=True)
    try:
        _registered(session, name, version)  # an unknown name: the closest models, seeds, ...
        path = write_card(session, name, version, Path(output) if output else None)
    finally:
        session.close()
    opts.reporter().info(f"Wrote the model card of {name} to {path}.")


def _registered(session: t.Any, name: str, version: int | None) -> t.Any:
    """The ML model version, or an error naming the closest models, seeds and ML models."""
    from warehouse_ml.cli import preview
    from warehouse_ml.errors import ModelNotFoundError
    from warehouse_ml.ml import registry

    cursor = session.connection().cursor()
    try:
        try:
            return registry.get(cursor, name, version)
        except ModelNotFoundError:
            names = sorted({v.name for v in registry.list_versions(cursor)})
            if name in names:
                raise  # a model without that version: the registry lists the versions
            raise preview.not_found(session, name, names) from None
    finally:
        cursor.close()


def _show_model(v: t.Any, fmt: str) -> None:
    import pyarrow as pa

    from warehouse_ml.cli import model_checks
    from warehouse_ml.cli.tables import print_table
    from warehouse_ml.ml.search import describe_record
    from warehouse_ml.run.sql_command import evaluation_summary, show_model_fields

    evaluation = evaluation_summary(v)
    if fmt == "json":
        click.echo(json.dumps(v.summary() | {"evaluation": evaluation}, default=str, indent=2))
        return
    if fmt == "csv":  # SHOW MODEL's key/value rows
        pairs = show_model_fields(v)
        print_table(pa.table({"Key": [k for k, _ in pairs], "Value": [x for _, x in pairs]}), "csv")
        return
    for key, value in show_model_fields(v):
        click.echo(f"{key:<28} {value}")
    if v.problem_type == "clv":
        from warehouse_ml.ml.clv import card as clv_card

        for line in clv_card.metric_lines(v):
            click.echo(line)
        return
    if v.problem_type == "recommendation":
        from warehouse_ml.ml.recs import card

        for line in card.metric_lines(v):
            click.echo(line)
        if v.leaderboard:
            click.echo(f"\n{_leaderboard_title(v)}")
            for row in v.leaderboard:
                click.echo(_leaderboard_line(row, v.objective))
        return
    click.echo("\nMetrics (held-out)          model        95% bootstrap interval  baseline")
    base = (v.metrics or {}).get("baseline") or {}
    for key, value in (v.metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            b = base.get(key)
            shown = model_checks.interval(v, key)
            click.echo(f"  {key:<26} {value:<12.6g} {shown:<23} {'' if b is None else f'{b:.6g}'}")
    for line in model_checks.lines(v):
        click.echo(line)
    if v.leaderboard:
        click.echo(f"\n{_leaderboard_title(v)}")
        searched = describe_record((v.metrics or {}).get("search") or {})
        if searched:
            click.echo(searched)
        for row in v.leaderboard:
            click.echo(_leaderboard_line(row, v.objective))
    from warehouse_ml.ml.clv import card as clv_card

    for line in clv_card.auto_lines(v):  # an AUTO model won by its CLV candidate
        click.echo(line)
    if v.feature_importance:
        click.echo("\nFeature importance (permutation)")
        for feat, value in sorted(v.feature_importance.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {feat:<26} {value:.4g}")


def _leaderboard_line(row: dict[str, t.Any], objective: str | None) -> str:
    """'  random_forest   auc 0.871886    0.81s  {"n_estimators": 50, ...}'."""
    score = row.get("score")
    shown = f"{score:.6g}" if isinstance(score, (int, float)) else "n/a"
    metric = row.get("metric") or objective or ""
    return (
        f"  {row.get('model_type', ''):<24} {metric} {shown:<10} "
        f"{row.get('fit_seconds', 0.0):>8.2f}s  {json.dumps(row.get('params') or {}, default=str)}"
    )


def _leaderboard_title(v: t.Any) -> str:
    """'Leaderboard: validation auc on 420 rows (temporal, ..., inside the training rows)'."""
    scored = v.leaderboard[0].get("scored_on")
    search = (v.metrics or {}).get("search") or {}
    if scored is None and search.get("validation_rows"):  # trained before rows said it
        scored = (
            f"validation {v.objective} on {search['validation_rows']} rows "
            f"({search.get('validation')}, inside the training rows)"
        )
    return f"Leaderboard: {scored}" if scored else "Leaderboard"


@main.command()
@project_options(selection=False)
@click.argument("name")
@click.option(
    "--version", type=int, required=True, help="Version to serve (rollback or roll forward)."
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "sql", "udf"]),
    default=None,
    help="Serve as a SQL macro, a Python UDF, or auto (default: as last deployed).",
)
def deploy(opts: Options, name: str, version: int, mode: str | None) -> None:
    """Make VERSION the deployed version of model NAME."""
    from warehouse_ml.ml import serving

    session = _session(opts)
    try:
        served = serving.deploy(session.connection(), name, version, mode, pin=True)
    finally:
        session.close()
    how = "a SQL macro" if served.deploy_mode == "sql" else "an Arrow UDF"
    opts.reporter().info(
        f"Model {name} version {version} is deployed, served as {how}; builds keep it "
        "until its training data or query change."
    )


@main.command()
@project_options(selection=False)
@click.argument("name")
@click.option("--version", type=int, default=None)
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False))
def export(opts: Options, name: str, version: int | None, output: str) -> None:
    """Write a model version's ONNX file (runs in onnxruntime, or BigQuery ML imports it)."""
    from warehouse_ml.ml import registry

    session = _session(opts, read_only=True)
    try:
        v = registry.get(session.connection().cursor(), name, version)
    finally:
        session.close()
    if v.problem_type == "recommendation":
        raise ConfigError(
            f"model '{name}' is a recommender: it has no ONNX graph, it is its tables in schema "
            "wml and SQL macros.",
            hint=f"wml compile-model {name} --dialect redshift prints the tables' DDL and SQL; "
            f"COPY wml.\"{name}__v{v.version}__neighbors\" TO 'n.parquet' exports the data.",
        )
    if v.problem_type == "clv":
        raise ConfigError(
            f"model '{name}' is a BG/NBD + Gamma-Gamma model: it has no ONNX graph; its "
            "fitted parameters are in the registry and it serves as SQL macros.",
            hint=f"wml compile-model {name} prints the macros; wml show {name} the parameters.",
        )
    if not v.onnx:  # an AUTO model won by its CLV candidate (ml/clv/supervised_sql.py)
        raise ConfigError(
            f"model '{name}' version {v.version} has no ONNX graph: its AUTO search chose the "
            "BG/NBD + Gamma-Gamma candidate, which serves as SQL only.",
            hint=f"wml compile-model {name} --dialect redshift prints its SQL function; "
            f"wml show {name} its fitted parameters.",
        )
    Path(output).write_bytes(v.onnx)
    opts.reporter().info(f"Wrote {name} version {v.version} ({len(v.onnx):,} bytes) to {output}.")


@main.command(name="import")
@project_options(selection=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Registry name for the model.")
@click.option("--function", "function", required=True, help="SQL function to register.")
def import_cmd(opts: Options, file: str, name: str, function: str) -> None:
    """Bring your own ONNX model: it becomes a versioned, callable SQL function."""
    from warehouse_ml.ml.byom import import_onnx

    session = _session(opts)
    try:
        version = import_onnx(session, Path(file), name, function)
    finally:
        session.close()
    args = ", ".join(f"{n} {ty}" for n, ty in version.features)
    opts.reporter().info(
        f"Imported {file} as {name} version {version.version}: {function}({args})."
    )


@main.command()
@project_options(selection=False)
@click.argument("query", required=False)
@click.option(
    "-f", "--file", "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None, help="Read the statements from FILE ('-' for stdin).",
)  # fmt: skip
@click.option(
    "-i", "--interactive", is_flag=True,
    help="Read statements at a wml> prompt (the default on a terminal with no QUERY).",
)  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--dialect", default=None, help="Dialect the statements are written in.")
@click.option("--max-rows", type=int, default=100, help="Rows to print in table format.")
def sql(
    opts: Options,
    query: str | None,
    file: str | None,
    interactive: bool,
    fmt: str,
    dialect: str | None,
    max_rows: int,
) -> None:
    """Run SQL statements (Redshift ML's CREATE/SHOW/DROP MODEL too); print the last result.

    Jinja renders first, as in models: {{ ref('orders') }}, {{ var('k') }}, macros. With
    no QUERY or -f, the statements come from piped stdin, or a wml> prompt on a terminal.
    """
    from warehouse_ml.cli import sql as sql_cli

    if interactive or (not query and not file and sql_cli.stdin_is_tty()):
        if query or file:
            raise ConfigError("--interactive reads statements at the prompt: drop QUERY and -f.")
        sql_cli.repl(
            lambda text: sql_cli.run_at_prompt(
                opts, text, dialect=dialect, fmt=fmt, max_rows=max_rows
            )
        )
        return
    script, path = sql_cli.read_script(query, file)
    result = sql_cli.run_sql(opts, script, path=path, dialect=dialect)
    sql_cli.print_result(result, fmt, max_rows)


@main.command(name="demo-data")
@click.option("--profiles", type=int, default=2000, help="Number of people to simulate.")
@click.option("--seed", type=int, default=7, help="Random seed: same seed, same files.")
@click.option("--out", "out", type=click.Path(file_okay=False), default="seeds")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option(
    "--drift", type=float, default=0.0,
    help="Shift the population: activity in the last 90 days runs at (1 - DRIFT) of its rate.",
)  # fmt: skip
def demo_data(profiles: int, seed: int, out: str, fmt: str, drift: float) -> None:
    """Write Segment-style e-commerce demo data (identifies, tracks, store_sales, products)."""
    from warehouse_ml.demo.generator import write_demo
    from warehouse_ml.errors import WmlError

    try:
        counts = write_demo(Path(out), profiles, seed, fmt=fmt, drift=drift)
    except WmlError as exc:
        raise click.UsageError(str(exc)) from None
    for table, n in counts.items():
        click.echo(f"{table}: {n:,} rows", file=sys.stdout)


@main.command(name="compile-model")
@project_options(selection=False)
@click.argument("name")
@click.option("--version", type=int, default=None, help="Model version (default: deployed).")
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "redshift", "postgres", "snowflake", "bigquery"]),
    default="duckdb",
    help="SQL dialect of the CREATE FUNCTION / CREATE MACRO statement.",
)
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the statements to this file instead of printing them.",
)
def compile_model_cmd(
    opts: Options, name: str, version: int | None, dialect: str, output: str | None
) -> None:
    """Compile a model version to plain SQL: one expression over the raw feature columns."""
    from warehouse_ml.ml import portable, registry

    session = _session(opts, read_only=True)
    try:
        v = registry.get(session.connection().cursor(), name, version)
    finally:
        session.close()
    if v.problem_type == "recommendation":  # tables' DDL and the SQL serving from them
        from warehouse_ml.ml.recs import portable as recs_portable

        statements = recs_portable.statements(v, dialect)
    elif v.problem_type == "clv" or "clv_fit" in (v.settings or {}):  # ml/clv/serve.py
        from warehouse_ml.ml.clv import serve as clv_serve

        statements = clv_serve.statements(v, dialect)
    else:
        statements = portable.ddl_statements(v, dialect)
    text = ";\n\n".join(s.rstrip().rstrip(";") for s in statements) + ";\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        opts.reporter().info(
            f"Wrote {len(statements)} statement(s), {len(text):,} bytes of {dialect} "
            f"SQL for {name} version {v.version} to {output}."
        )
    else:
        click.echo(text, nl=False)
