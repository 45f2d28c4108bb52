"""The ``wml`` command group and what every command shares: options, errors, a run.

Exit codes are part of the API for scheduled jobs: 0 success, 1 a node or test failed,
2 bad usage or configuration. Errors print one paragraph, with a traceback only under
``--debug``.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import typing as t

import click

from warehouse_ml import __version__
from warehouse_ml.errors import Interrupted, WmlError, place_of
from warehouse_ml.run.events import Reporter

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: Extensions of run / build / seed / snapshot, registered by the command modules that own
#: them (cli/serve.py publishes the Profile API's snapshot), so _execute names none of them.
#: BEFORE_RUN: f(opts, session, command) before any node runs (validate, so a bad block
#: writes nothing); AFTER_RUN: f(opts, session, command, results, reporter) after the nodes
#: ran and run_results.json was written, the session still open (results say what failed).
BEFORE_RUN: list[t.Callable[..., None]] = []
AFTER_RUN: list[t.Callable[..., None]] = []


class Options:
    """Options shared by every command that opens a project."""

    def __init__(self, **kwargs: t.Any):
        self.project_dir: str = kwargs.get("project_dir") or "."
        self.profiles_dir: str | None = kwargs.get("profiles_dir")
        self.target: str | None = kwargs.get("target")
        self.profile: str | None = kwargs.get("profile")
        self.vars: dict[str, t.Any] = _parse_vars(kwargs.get("vars"))
        self.debug: bool = bool(kwargs.get("debug"))
        self.log_format: str = kwargs.get("log_format") or "text"
        self.select: list[str] = list(kwargs.get("select") or [])
        self.exclude: list[str] = list(kwargs.get("exclude") or [])
        self.threads: int | None = kwargs.get("threads")
        # State selection and deferral (dbt's --state, --defer, --defer-state, --favor-state).
        self.state: str | None = kwargs.get("state")
        self.defer: bool = bool(kwargs.get("defer"))
        self.defer_state: str | None = kwargs.get("defer_state")
        self.favor_state: bool = bool(kwargs.get("favor_state"))

    def session(self, *, read_only: bool = False) -> t.Any:
        """The command's session; ``read_only`` commands open the database read-only."""
        from warehouse_ml.run.session import open_session

        return open_session(
            self.project_dir,
            target=self.target,
            profile=self.profile,
            profiles_dir=self.profiles_dir,
            cli_vars=self.vars,
            read_only=read_only,
        )

    def reporter(self) -> Reporter:
        return Reporter(self.log_format)

    def choose(self, session: t.Any) -> set[str]:
        """The ids --select / --exclude pick (``state:`` methods read --state)."""
        from warehouse_ml.graph.selectors import select
        from warehouse_ml.run.state import State, StateMatcher

        matcher = StateMatcher(session, State(self.state) if self.state else None)
        return select(session.graph, self.select, self.exclude, state=matcher)

    def apply_defer(self, session: t.Any, chosen: set[str], reporter: Reporter) -> None:
        """``--defer``: refs to unselected models missing here read the state's relations."""
        from warehouse_ml.errors import ConfigError

        if not self.defer:
            if self.favor_state:
                reporter.warning("--favor-state does nothing without --defer; ignored.")
            return
        folder = self.defer_state or self.state
        if not folder:
            raise ConfigError(
                "--defer needs the manifest of the run to defer to.",
                hint="Pass --state DIR or --defer-state DIR (or set DBT_STATE), e.g. a copy "
                "of production's target/ folder.",
            )
        from warehouse_ml.run.deferral import defer
        from warehouse_ml.run.state import State

        deferred = defer(session, State(folder), chosen, favor_state=self.favor_state)
        if deferred:
            reporter.info(f"Deferred {len(deferred)} unselected nodes to the relations in {folder}.")

    def run_args(self, command: str, **extra: t.Any) -> dict[str, t.Any]:
        """The invocation as dbt records it under ``args`` in run_results.json."""
        return {
            "which": command, "select": self.select, "exclude": self.exclude,
            "state": self.state, "defer": self.defer, "defer_state": self.defer_state,
            "favor_state": self.favor_state, "threads": self.threads, **extra,
        }  # fmt: skip


def _parse_vars(text: str | None) -> dict[str, t.Any]:
    if not text:
        return {}
    from warehouse_ml.project.yamlio import load_yaml_text

    value = load_yaml_text(text, "--vars")
    if not isinstance(value, dict):
        raise click.BadParameter("--vars takes a YAML mapping, e.g. '{cutoff: 2026-01-01}'.")
    return value


def project_options(selection: bool = True) -> t.Callable[[F], F]:
    """Decorate a command with the shared options and the error handling."""

    def decorate(func: F) -> F:
        opts = [
            click.option("--project-dir", default=None, help="Project folder (default: current)."),
            click.option("--profiles-dir", default=None, help="Folder holding profiles.yml."),
            click.option("--target", "-t", default=None, help="Output in profiles.yml to use."),
            click.option("--profile", default=None, help="Profile to use (default: the project's)."),
            click.option("--vars", default=None, help="YAML mapping of variables for var()."),
            click.option("--debug", is_flag=True, help="Show Python tracebacks on errors."),
            click.option("--log-format", type=click.Choice(["text", "json"]), default="text"),
        ]
        if selection:
            opts += [
                click.option(
                    "--select", "-s", multiple=True, help="Nodes to include (dbt syntax)."
                ),
                click.option("--exclude", multiple=True, help="Nodes to leave out."),
                click.option("--threads", type=int, default=None, help="Parallel nodes."),
                click.option(
                    "--state", default=None, envvar=["WML_STATE", "DBT_STATE"],
                    type=click.Path(file_okay=False),
                    help="target/ folder of an earlier run, for state:, result: and --defer.",
                ),
                click.option(
                    "--defer/--no-defer", default=False, envvar="DBT_DEFER",
                    help="Read unselected upstream models missing here from --state's relations.",
                ),
                click.option(
                    "--defer-state", default=None, envvar="DBT_DEFER_STATE",
                    type=click.Path(file_okay=False),
                    help="Defer to this folder's manifest instead of --state's.",
                ),
                click.option(
                    "--favor-state/--no-favor-state", default=False, envvar="DBT_FAVOR_STATE",
                    help="With --defer, read the state's relation even when one exists here.",
                ),
            ]  # fmt: skip

        @functools.wraps(func)
        def wrapper(**kwargs: t.Any) -> t.Any:
            names = (
                "project_dir",
                "profiles_dir",
                "target",
                "profile",
                "vars",
                "debug",
                "log_format",
                "select",
                "exclude",
                "threads",
                "state",
                "defer",
                "defer_state",
                "favor_state",
            )
            shared = {k: kwargs.pop(k, None) for k in names}
            debug = bool(shared["debug"])
            try:
                return func(Options(**shared), **kwargs)
            except WmlError as exc:
                _fail(exc, exc.exit_code, debug, shared["log_format"])
            except click.exceptions.Exit:
                raise
            except click.ClickException:
                raise
            except BrokenPipeError:  # output piped into `head`: not an error
                sys.stderr.close()
                sys.exit(0)
            except KeyboardInterrupt as exc:
                _fail(Interrupted("interrupted."), 130, debug, shared["log_format"], cause=exc)
            except Exception as exc:
                _fail_unexpected(exc, debug, shared["log_format"])

        for opt in reversed(opts):
            wrapper = opt(wrapper)
        return t.cast(F, wrapper)

    return decorate


def _fail_unexpected(exc: Exception, debug: bool, log_format: str | None) -> t.NoReturn:
    """The one place a non-WmlError lands: explained when user input caused it (a
    ``{{ 1/0 }}``, a file that is not UTF-8, an unwritable path), else an internal error;
    either way one paragraph naming the file and model where it happened."""
    from warehouse_ml.explain import explain

    err = explain(exc)
    if err is not None:
        _fail(err, err.exit_code, debug, log_format, cause=exc)
    place = place_of(exc)
    where = WmlError("", path=place.path, node=place.node) if place else None
    prefix = f"{str(where).rstrip(': ')}: " if where and (place.path or place.node) else ""
    message = (
        f"{prefix}internal error ({type(exc).__name__}): {exc}. Rerun with --debug for details."
    )
    _fail(RuntimeError(message), 2, debug, log_format, cause=exc)


def _fail(
    exc: BaseException,
    code: int,
    debug: bool,
    log_format: str | None,
    cause: BaseException | None = None,
) -> t.NoReturn:
    """Print ``exc`` as one paragraph (the traceback of ``cause or exc`` under --debug)."""
    from warehouse_ml import redaction

    if debug:
        import traceback

        sys.stderr.write(redaction.mask("".join(traceback.format_exception(cause or exc))))
    message = redaction.mask(str(exc))
    if log_format == "json":
        click.echo(json.dumps({"event": "error", "message": message, "exit_code": code}))
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


_MULTI_VALUE = ("-s", "--select", "--exclude")  # only commands with selection have these


class SelectorCommand(click.Command):
    """Accept dbt's ``-s a b c`` (several values after one flag) as ``-s a -s b -s c``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        flag: str | None = None
        for arg in args:
            if arg in _MULTI_VALUE:
                flag = arg
            elif arg.startswith("-"):
                flag = None
            elif flag and rewritten[-1] != flag:
                rewritten.append(flag)
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


class WmlGroup(click.Group):
    command_class = SelectorCommand


@click.group(cls=WmlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wml")
def main() -> None:
    """warehouse-ml: dbt-style SQL models and machine learning in your warehouse."""


def _execute(
    opts: Options,
    command: str,
    kinds: set[str] | None,
    *,
    full_refresh: bool = False,
    gate_on_tests: bool = False,
    only_ml: bool = False,
    store_failures: bool = False,
    sync: bool = False,
) -> None:
    from warehouse_ml.run import artifacts, project_hooks
    from warehouse_ml.run.runner import Runner, counts

    started = time.perf_counter()
    session = opts.session()
    session.store_failures = store_failures  # dbt's --store-failures: tests that do not say
    reporter = opts.reporter()
    try:
        chosen = opts.choose(session)
        if kinds is not None:
            chosen = {uid for uid in chosen if session.nodes[uid].kind.value in kinds}
        if only_ml:
            chosen = {uid for uid in chosen if session.nodes[uid].is_ml_model}
        if sync:
            chosen = _with_syncs(opts, session, chosen)
        opts.apply_defer(session, chosen, reporter)
        for check in BEFORE_RUN:
            check(opts, session, command)
        session.warn_functions_outside_project(chosen, reporter.warning)
        artifacts.write_manifest(session)
        runner = Runner(session, reporter, full_refresh=full_refresh, threads=opts.threads,
                        syncs=sync)  # fmt: skip
        args = opts.run_args(command, full_refresh=full_refresh)
        hooked = command in project_hooks.COMMANDS
        try:
            results = project_hooks.run(session, project_hooks.START, reporter) if hooked else []
            if any(r.status == "error" for r in results):
                results += project_hooks.skipped(chosen, "not run: an on-run-start hook failed")
            else:
                results += runner.run(chosen, gate_on_tests=gate_on_tests)
                if hooked:
                    results += project_hooks.run(session, project_hooks.END, reporter, results)
        except Interrupted as stop:  # record what ran and what did not, then exit 130
            elapsed = time.perf_counter() - started
            artifacts.write_run_results(session, stop.results, elapsed, args, interrupted=True)
            raise
        elapsed = time.perf_counter() - started
        artifacts.write_run_results(session, results, elapsed, args)
        summary = counts(results)
        reporter.summary(summary, elapsed)
        for extension in AFTER_RUN:
            extension(opts, session, command, results, reporter)
    finally:
        session.close()
    if summary.get("error") or summary.get("fail"):
        sys.exit(1)


def _with_syncs(opts: Options, session: t.Any, chosen: set[str]) -> set[str]:
    """``build --sync``: the syncs whose source this build rebuilds (selected or not, unless
    --exclude names them); a sync whose source is not built here does not run."""
    from warehouse_ml.graph.selectors import select
    from warehouse_ml.project.nodes import NodeKind

    nodes = session.nodes
    built = {uid for uid in chosen if nodes[uid].kind.builds_relation}
    kept = select(session.graph, [], opts.exclude) if opts.exclude else set(nodes)
    syncs = {uid for uid, node in nodes.items() if node.kind is NodeKind.SYNC
             and node.depends_on[0] in built and uid in kept}  # fmt: skip
    return {uid for uid in chosen if nodes[uid].kind is not NodeKind.SYNC} | syncs
