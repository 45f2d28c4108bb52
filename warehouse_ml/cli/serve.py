"""``wml serve``: the Profile API; and publishing its snapshot after run / build / seed / snapshot.

A build publishes only when ``profile_api:`` is configured and a served relation was
rebuilt (or nothing is published yet). The token is read only here, when the server
starts, so ``wml build`` never needs ``WML_API_TOKEN``.
"""

from __future__ import annotations

import json
import typing as t
import uuid

import click

from warehouse_ml.cli import app
from warehouse_ml.cli.app import Options, main, project_options
from warehouse_ml.errors import ConfigError, ExecutionError

_PUBLISHING = ("run", "build", "seed", "snapshot")


def api_config(session: t.Any) -> t.Any:
    from warehouse_ml.serve import config

    settings = session.project.settings
    return config.parse(settings.profile_api, settings.source_file or "wml_project.yml")


def _check(opts: Options, session: t.Any, command: str) -> None:
    """A bad profile_api block fails the command before any node runs."""
    if command in _PUBLISHING:
        api_config(session)


def _publish_after_run(opts: Options, session: t.Any, command: str, results: list[t.Any], reporter: t.Any) -> None:
    from warehouse_ml.run.manifest import INVOCATION_ID
    from warehouse_ml.serve import snapshot

    config = api_config(session) if command in _PUBLISHING else None
    if config is None:
        return
    served = _served_ids(session, config)
    rebuilt = any(r.unique_id in served and r.status == "success" for r in results)
    folder = snapshot.directory(session.project.target_dir)
    if any(r.status in ("error", "fail") for r in results):
        # A failed model or test is a quality gate: the API keeps the last good build.
        if rebuilt:
            reporter.warning("profile_api: no snapshot published, as the run had errors or "
                             "failed tests; wml serve keeps serving the previous one.")  # fmt: skip
        return
    if not rebuilt:
        if snapshot.read_pointer(folder) is not None:
            return
        # Nothing published yet and nothing served rebuilt (wml build -s +stg_x): publish
        # when every served relation exists, else wait for the build that makes them.
        try:
            done = _publish(session, config, INVOCATION_ID, reporter)
        except ExecutionError as exc:
            reporter.info(f"profile_api: nothing published yet ({exc.message})")
            return
    else:
        done = _publish(session, config, INVOCATION_ID, reporter)
    reporter.info(_published_text(done))


def _served_ids(session: t.Any, config: t.Any) -> set[str]:
    names = set(config.source_relations())
    return {uid for uid, node in session.nodes.items() if node.name in names and node.kind.builds_relation}


def _publish(session: t.Any, config: t.Any, build_id: str, reporter: t.Any, built_at: str | None = None) -> t.Any:
    from warehouse_ml.serve.publish import publish

    session.connection()  # a served view may call a deployed model's function
    try:
        return publish(session, config, build_id=build_id, built_at=built_at, warn=reporter.warning)
    except (ConfigError, ExecutionError):
        raise
    except Exception as exc:  # a database error reading a relation: one paragraph
        raise ExecutionError(
            f"publishing the profile_api snapshot failed: {session.explain_error(exc)}",
            path=config.path,
            hint="The previous snapshot is still the one served.",
        ) from exc


def _published_text(done: t.Any) -> str:
    return (f"Published {done.path.name} for wml serve: {done.profiles:,} profiles in "
            f"{done.seconds:.2f} s.")  # fmt: skip


app.BEFORE_RUN.append(_check)
app.AFTER_RUN.append(_publish_after_run)


def _last_build(session: t.Any) -> tuple[str, str | None]:
    """The build the database holds, from run_results.json (else a new id, time unknown)."""
    try:
        meta = json.loads((session.project.target_dir / "run_results.json").read_text())["metadata"]
        return str(meta["invocation_id"]), str(meta["generated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"manual-{uuid.uuid4().hex[:8]}", None


@main.command()
@project_options(selection=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--publish", is_flag=True, help="Publish a snapshot from the current database first.")
@click.option("--publish-only", is_flag=True, help="Publish a snapshot from the current database and exit.")
@click.option("--no-auth", is_flag=True, help="Serve without a token (loopback addresses only).")
@click.option("--poll", type=click.FloatRange(0.05, 60), default=0.25, show_default=True,
              help="Seconds between checks for a newly published snapshot.")  # fmt: skip
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status).")
def serve(
    opts: Options, host: str, port: int, publish: bool, publish_only: bool, no_auth: bool,
    poll: float, access_log: bool,
) -> None:  # fmt: skip
    """Serve profiles over HTTP from the last published snapshot (the Profile API)."""
    from warehouse_ml.serve import snapshot
    from warehouse_ml.serve.guard import Limits
    from warehouse_ml.serve.server import serve as run_server
    from warehouse_ml.serve.store import SnapshotError

    reporter = opts.reporter()
    session = opts.session(read_only=True)
    try:
        config = api_config(session)
        if config is None:
            raise ConfigError(
                f"{session.project.settings.source_file or 'the project file'} has no "
                "`profile_api:` block, so there is nothing to serve.",
                hint="Add one: profile_api: {key: profile_id, relations: [profile_traits], "
                "token: \"{{ env_var('WML_API_TOKEN') }}\"}.",
            )
        tokens = None if publish_only else _tokens(config, host, no_auth, reporter)
        if publish or publish_only:
            _ = session.graph  # names resolve to relations through the parsed project
            build_id, built_at = _last_build(session)
            reporter.info(_published_text(_publish(session, config, build_id, reporter, built_at)))
    finally:
        session.close()  # the server never holds the warehouse open
    if publish_only:
        return
    folder = snapshot.directory(session.project.target_dir)
    limits = Limits(max_batch=config.max_batch, max_page=config.max_page)
    try:
        run_server(folder, host=host, port=port, tokens=tokens, limits=limits,
                   in_memory=config.in_memory, poll=poll, access_log=access_log)  # fmt: skip
    except SnapshotError as exc:
        raise ConfigError(
            f"{exc}.", hint="Run `wml build` (it publishes one when profile_api is set), or "
            "`wml serve --publish` to publish from the current database."
        ) from None


def _tokens(config: t.Any, host: str, no_auth: bool, reporter: t.Any) -> list[t.Any] | None:
    from warehouse_ml.serve.config import resolve_tokens
    from warehouse_ml.serve.server import is_loopback

    if no_auth:
        if not is_loopback(host):
            raise ConfigError(
                f"--no-auth is for a loopback address only: on {host} it would serve every "
                "profile to anyone who can reach it.",
                hint="Use --host 127.0.0.1 (or ::1, localhost) with it; elsewhere set a token.",
            )
        return None
    if not config.tokens:
        raise ConfigError(
            "profile_api has no `token:`, so every request would be refused.",
            path=config.path,
            hint="Add token: \"{{ env_var('WML_API_TOKEN') }}\", or pass --no-auth on a loopback host.",
        )
    tokens = resolve_tokens(config)
    for name, secret, _ in tokens:
        if len(secret) < 16:
            reporter.warning(f"profile_api {name} has {len(secret)} characters: use 32 or more random ones.")
    return tokens
