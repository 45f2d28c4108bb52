"""``wml docs generate`` / ``wml docs serve``: the docs site with lineage and model cards
(warehouse_ml/docs/)."""

from __future__ import annotations

import click

from warehouse_ml.cli.app import Options, main, project_options


@main.group()
def docs() -> None:
    """The project's docs site: lineage, models, tests, sources and model cards."""


@docs.command()
@project_options(selection=False)
def generate(opts: Options) -> None:
    """Write the static site into target/docs/ (opens from disk, or run `wml docs serve`)."""
    from warehouse_ml.docs.generate import generate as write_site

    session = opts.session(read_only=True)
    reporter = opts.reporter()
    try:
        done = write_site(session, reporter.warning)
    finally:
        session.close()
    reporter.info(
        f"Wrote the docs site to {done.folder}: {done.nodes} nodes, {done.cards} model "
        f"cards, {done.pages} pages. Open {done.folder / 'index.html'} or run `wml docs serve`."
    )


@docs.command()
@project_options(selection=False)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0 picks a free one).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 shares the site with your network.")  # fmt: skip
def serve(opts: Options, port: int, host: str) -> None:
    """Serve target/docs/ over HTTP until Ctrl-C."""
    from warehouse_ml.docs.serve import server

    session = opts.session(read_only=True)
    try:
        folder = session.project.target_dir / "docs"
    finally:
        session.close()
    httpd = server(folder, host, port)
    bound_host, bound_port = httpd.server_address[:2]
    click.echo(f"Serving {folder} at http://{bound_host}:{bound_port}/ (Ctrl-C to stop)", err=False)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        httpd.server_close()
