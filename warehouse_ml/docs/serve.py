"""``wml docs serve``: the generated site over HTTP, from the standard library.

Bound to 127.0.0.1 by default (the site shows SQL and model details: not for the whole
network unless asked with ``--host``). Only files under ``target/docs/`` are served.
"""

from __future__ import annotations

import functools
import http.server
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 (stdlib's name)
        return None  # one line per request would drown the terminal


def server(folder: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A server for ``folder`` (not yet serving; ``port`` 0 picks a free one)."""
    if not (folder / "index.html").exists():
        raise ConfigError(
            f"there is no docs site in {folder} yet.",
            hint="Run `wml docs generate` first (after `wml build`, to show results and models).",
        )
    handler = functools.partial(_Handler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the docs on {host}:{port}: {exc.strerror or exc}.",
            hint="Pick another port with --port (0 picks a free one).",
        ) from None
