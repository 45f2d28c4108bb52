"""Where ``wml sql`` gets its statements: a QUERY, a file, stdin, or a ``wml>`` prompt.

Every script runs in a session of its own: Jinja rendered first (only when it has any),
then opened read-only when every statement only reads. The prompt opens the database per
statement and closes it after, so an idle prompt never holds DuckDB's one-writer lock
against a ``wml build`` in another terminal (temporary tables and SET therefore last one
statement, as a new ``wml sql`` would).
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import click

from warehouse_ml import redaction
from warehouse_ml.cli.tables import print_table
from warehouse_ml.errors import ConfigError, WmlError, located
from warehouse_ml.run.sql_command import ScriptResult, is_read_only, render_script, run_script

PROMPT, CONTINUE = "wml> ", "...> "
QUIT = (".quit", ".exit")
STDIN = "<stdin>"


def stdin_is_tty() -> bool:
    return bool(getattr(sys.stdin, "isatty", lambda: False)())


def read_script(query: str | None, file: str | None) -> tuple[str, str | None]:
    """(script, the path errors name): QUERY, -f FILE, ``-f -`` or piped stdin."""
    if query and file:
        raise ConfigError("give either a QUERY argument or -f FILE, not both.")
    if query:
        return query, None
    if file and file != "-":
        with located(file):
            return Path(file).read_text(encoding="utf-8"), file
    script = sys.stdin.read()
    if not script.strip():
        raise ConfigError(
            "no SQL on stdin.", hint="e.g. echo 'select 1' | wml sql, or wml sql 'select 1'"
        )
    return script, STDIN


def run_sql(
    opts: t.Any, script: str, *, path: str | None, dialect: str | None, limit: int | None = None
) -> ScriptResult:
    """Render and run ``script`` in a session of its own; ``limit`` caps the rows fetched."""
    session = opts.session()
    reporter = opts.reporter()
    session.warn = reporter.warning
    try:
        script = render_script(session, script, path=path)
        read = dialect or session.project.settings.sql_dialect
        # Only reads (SELECT, SHOW, DESCRIBE...): open read-only, beside other readers.
        session.read_only = is_read_only(script, read, path=path)
        with reporter.task("sql") as progress:  # a terminal sees long statements run
            return run_script(
                session, script, path=path, dialect=dialect, warn=reporter.warning,
                limit=limit, progress=progress,
            )  # fmt: skip
    finally:
        session.close()


def print_result(result: ScriptResult, fmt: str, max_rows: int) -> None:
    for message in result.messages:
        click.echo(message, err=True)
    if result.table is not None:
        print_table(result.table, fmt, max_rows=max_rows)


def repl(run: t.Callable[[str], None]) -> None:
    """Read statements at ``wml> `` until ``.quit``, ``.exit`` or end of input.

    A statement ends with ``;`` (outside strings and comments) and may span lines; each is
    handed to ``run`` as it completes. Ctrl-C drops the statement being typed.
    """
    if stdin_is_tty():
        import readline  # noqa: F401  (line editing and history for input())
    buffer: list[str] = []
    while True:
        try:
            line = input(CONTINUE if buffer else PROMPT)
        except EOFError:
            click.echo()
            return
        except KeyboardInterrupt:
            click.echo()
            buffer = []
            continue
        if not buffer and line.strip().lower() in QUIT:
            return
        if buffer or line.strip():
            buffer.append(line)
        text = "\n".join(buffer)
        if buffer and is_complete(text):
            buffer = []
            run(text)


def is_complete(text: str) -> bool:
    """Whether the last token is a ``;``: an open string or a ``-- ;`` comment is not."""
    from sqlglot.dialects.redshift import Redshift
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = Redshift().tokenize(text)
    except TokenError:  # an unterminated string or comment: more lines to come
        return False
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


def run_at_prompt(
    opts: t.Any, text: str, *, dialect: str | None, fmt: str, max_rows: int
) -> None:
    """One statement from the prompt: its result, or its error as one paragraph."""
    try:
        result = run_sql(opts, text, path=None, dialect=dialect)
    except KeyboardInterrupt:
        click.secho("Error: interrupted.", fg="red", err=True)
    except WmlError as exc:
        click.secho(f"Error: {redaction.mask(str(exc))}", fg="red", err=True)
    except Exception as exc:  # user input behind a Python error: explained, never a traceback
        click.secho(f"Error: {redaction.mask(_explain(exc))}", fg="red", err=True)
    else:
        print_result(result, fmt, max_rows)


def _explain(exc: Exception) -> str:
    from warehouse_ml.explain import explain

    err = explain(exc)
    if err is not None:
        return str(err)
    return f"internal error ({type(exc).__name__}): {exc}."
