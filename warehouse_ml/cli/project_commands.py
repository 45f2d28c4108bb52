"""The project commands, named as in dbt: run, seed, test, build, parse, ls; and init, macros
(compile: compile_command.py)."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import click

from warehouse_ml.cli.app import Options, _execute, _fail, main, project_options
from warehouse_ml.errors import ConfigError, WmlError


@main.command()
@project_options()
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
def run(opts: Options, full_refresh: bool) -> None:
    """Build the selected models (not seeds or tests)."""
    _execute(opts, "run", {"model"}, full_refresh=full_refresh)


@main.command()
@project_options()
def seed(opts: Options) -> None:
    """Load the selected CSV seeds into tables."""
    _execute(opts, "seed", {"seed"})


@main.command()
@project_options()
def snapshot(opts: Options) -> None:
    """Record the selected snapshots: a new version of each changed row (dbt snapshots)."""
    _execute(opts, "snapshot", {"snapshot"})


_STORE_FAILURES = click.option(
    "--store-failures",
    is_flag=True,
    help="Store every test's failing rows in <schema>_dbt_test__audit (unless its config says no).",
)


@main.command(name="test")
@project_options()
@_STORE_FAILURES
def test_cmd(opts: Options, store_failures: bool) -> None:
    """Run the selected data tests and unit tests."""
    _execute(opts, "test", {"test"}, store_failures=store_failures)


@main.command()
@project_options()
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@_STORE_FAILURES
@click.option("--sync", "sync", is_flag=True,
              help="Then run the syncs whose source this build rebuilt (wml sync).")
def build(opts: Options, full_refresh: bool, store_failures: bool, sync: bool) -> None:
    """Seeds, models, ML models and tests in DAG order; a failing test skips downstream."""
    _execute(
        opts, "build", None, full_refresh=full_refresh, gate_on_tests=True,
        store_failures=store_failures, sync=sync,
    )  # fmt: skip


@main.command()
@project_options(selection=False)
def parse(opts: Options) -> None:
    """Read and render the project and write target/manifest.json (no database needed)."""
    from warehouse_ml.run import artifacts

    session = opts.session(read_only=True)
    try:
        _ = session.graph  # renders every node: refs, sources, config
        counts = artifacts.write_manifest(session)
    finally:
        session.close()
    path = session.project.target_dir / "manifest.json"
    opts.reporter().info(
        f"Wrote {path}: {counts['nodes']} nodes, {counts['sources']} sources, "
        f"{counts['macros']} macros."
    )


@main.command(name="ls")
@project_options()
@click.option(
    "--resource-type",
    type=click.Choice(
        ["model", "seed", "snapshot", "test", "unit_test", "source", "analysis", "sync"]
    ),
    default=None,
)
@click.option(
    "--output", "output", type=click.Choice(["name", "path", "json", "selector"]), default="name"
)
@click.option("--output-keys", default=None,
              help="With --output json: the keys to print, comma-separated (dbt's).")  # fmt: skip
def ls_cmd(opts: Options, resource_type: str | None, output: str, output_keys: str | None) -> None:
    """List the selected nodes in dependency order."""
    session = opts.session(read_only=True)
    graph = session.graph
    chosen = opts.choose(session)
    order = [uid for uid in graph.topological_order(chosen)
             if not resource_type or _resource_type(session.nodes[uid]) == resource_type]  # fmt: skip
    if output == "json":
        for line in _ls_json(session, order, output_keys):
            click.echo(line)
        return
    for uid in order:
        node = session.nodes[uid]
        if output == "selector":
            fqn = node.fqn or [session.project.settings.name, node.name]
            click.echo(("source:" if node.kind.value == "source" else "") + ".".join(fqn))
        else:
            source = node.kind.value == "source"  # as dbt lists it: a selector
            name = f"source:{node.name}" if source else node.name
            click.echo(node.fqn_path if output == "path" else name)


def _resource_type(node: t.Any) -> str:
    """The type dbt lists a node as (a unit test is not a data test)."""
    return "unit_test" if node.unit_test is not None else node.kind.value


_LS_KEYS = ("name", "resource_type", "package_name", "original_file_path", "unique_id",
            "alias", "config", "tags", "depends_on")  # fmt: skip


def _ls_json(session: t.Any, order: list[str], output_keys: str | None) -> t.Iterator[str]:
    """One JSON object per node with dbt's keys (its manifest entry's), and wml's
    ``path`` and ``materialized``."""
    from warehouse_ml.run.manifest import ManifestBuilder

    builder = ManifestBuilder(session)
    keys = [k.strip() for k in output_keys.split(",") if k.strip()] if output_keys else None
    for uid in order:
        node = session.nodes[uid]
        if node.kind.value == "source":
            source, _, table = node.name.partition(".")
            entry = builder.source_entry(session.project.sources[(source, table)])
        elif node.kind.value == "sync":
            entry = _sync_entry(session, node, builder)
        else:
            entry = builder.node_entry(node)
        entry = {**entry, "path": node.fqn_path, "materialized": node.materialized}
        picked = {k: entry.get(k) for k in (keys or [*_LS_KEYS, "path", "materialized"])}
        yield json.dumps(picked, default=str)


def _sync_entry(session: t.Any, node: t.Any, builder: t.Any) -> dict[str, t.Any]:
    """A sync as `wml ls --output json` prints it: its destination's type, never its values
    (they may render secrets)."""
    spec = session.project.syncs[node.name]
    return {
        "name": node.name, "resource_type": "sync", "package_name": node.package_name,
        "original_file_path": node.fqn_path, "unique_id": builder.ids.dbt(node.unique_id),
        "alias": node.name, "tags": node.tags, "depends_on": {"nodes": [
            builder.ids.dbt(uid) for uid in node.depends_on]},
        "config": {"enabled": spec.enabled, "destination": spec.type, "key": spec.key},
    }  # fmt: skip


@main.command()
@project_options(selection=False)
@click.option("--upgrade", is_flag=True, help="Resolve versions again instead of package-lock.yml's.")
def deps(opts: Options, upgrade: bool) -> None:
    """Install packages.yml's packages into dbt_packages/ (as dbt deps), write package-lock.yml."""
    from warehouse_ml.dbt import deps as dbt_deps
    from warehouse_ml.dbt.packages import install_path, spec_file
    from warehouse_ml.project.loader import load_settings

    root = Path(opts.project_dir).resolve()
    settings = load_settings(root)
    installed = dbt_deps.install(root, settings, upgrade=upgrade, echo=click.echo)
    if spec_file(root) is None:
        click.echo("No packages.yml or dependencies.yml: nothing to install.")
    else:
        click.echo(f"Installed {len(installed)} package(s) into {install_path(root, settings)}.")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--template", default="plain", show_default=True, metavar="NAME",
              help="plain (dbt basics) or ecommerce (identity, traits, ML, scoring).")  # fmt: skip
def init(directory: str, template: str) -> None:
    """Create a new project in DIRECTORY that builds out of the box."""
    from warehouse_ml.scaffold import create_project

    try:
        created = create_project(Path(directory), template)
    except WmlError as exc:
        _fail(exc, exc.exit_code, False, "text")
    click.echo(
        f"Created project in {directory} ({len(created)} files). Next: cd {directory} && wml build"
    )


@main.command()
@click.argument("name", required=False)
@click.option("--markdown", is_flag=True, help="The reference as Markdown (macros/README.md).")
@click.option("--project-dir", default=".", help="Show this project's defaults (vars.wml) too.")
def macros(name: str | None, markdown: bool, project_dir: str) -> None:
    """List the package macros (wml.*), or show NAME's arguments and an example."""
    from warehouse_ml.jinja import macro_docs

    docs = macro_docs.package_macros()
    if markdown:
        click.echo(macro_docs.markdown(docs), nl=False)
    elif name is None:
        click.echo(macro_docs.text_list(docs))
    elif (doc := docs.get(name.removeprefix("wml."))) is not None:
        try:
            defaults = macro_docs.project_defaults(Path(project_dir), docs).get(doc.name, {})
        except WmlError as exc:
            _fail(exc, exc.exit_code, False, "text")
        click.echo(macro_docs.text_one(doc, defaults))
    else:
        import difflib

        close = difflib.get_close_matches(name.removeprefix("wml."), docs, n=3)
        hint = f"Did you mean {', '.join(close)}? " if close else ""
        _fail(ConfigError(f"wml.{name.removeprefix('wml.')} is not a package macro.",
                          hint=hint + f"The macros: {', '.join(docs)}."), 2, False, "text")  # fmt: skip

