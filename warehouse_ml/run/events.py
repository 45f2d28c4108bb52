"""What a run tells its user: plain lines, a live terminal display, or JSON per event.

Scheduled jobs read ``--log-format json`` (one JSON object per line on stdout);
people at a terminal get colour and per-node status, timing and rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import threading
import typing as t

import click

from warehouse_ml import redaction
from warehouse_ml.run.progress import StatusLine

STATUS_COLOURS = {
    "success": "green",
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
    "error": "red",
    "skipped": "yellow",
}


class Reporter:
    """Prints run events; thread-safe, as worker threads report their own nodes."""

    def __init__(
        self, log_format: str = "text", stream: t.TextIO | None = None, quiet: bool = False
    ):
        self.log_format = log_format
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.is_tty = log_format == "text" and getattr(self.stream, "isatty", lambda: False)()
        self._lock = threading.RLock()
        # Live progress on a terminal only: CI logs and JSON never carry a redrawn line.
        self._status = StatusLine(self.stream, self._lock) if self.is_tty and not quiet else None

    def _emit_json(self, event: str, **fields: t.Any) -> None:
        record = {"ts": dt.datetime.now(dt.timezone.utc).isoformat(), "event": event, **fields}
        with self._lock:
            self.stream.write(redaction.mask(json.dumps(record, default=str)) + "\n")
            self.stream.flush()

    def _emit_text(self, text: str, colour: str | None = None) -> None:
        if self.quiet:
            return
        with self._lock:
            self._clear_status()
            click.secho(redaction.mask(text), fg=colour if self.is_tty else None, file=self.stream)
            self._draw_status()

    def info(self, message: str, **fields: t.Any) -> None:
        if self.log_format == "json":
            self._emit_json("info", message=message, **fields)
        else:
            self._emit_text(message)

    def warning(self, message: str, **fields: t.Any) -> None:
        if self.log_format == "json":
            self._emit_json("warning", message=message, **fields)
        else:  # stderr, so a command's stdout (CSV, JSON) stays clean
            with self._lock:
                self._clear_status()
                text = redaction.mask(f"Warning: {message}")
                click.secho(text, fg="yellow" if self.is_tty else None, err=True)
                self._draw_status()

    def _clear_status(self) -> None:
        if self._status is not None:
            self._status.clear()

    def _draw_status(self) -> None:
        if self._status is not None:
            self._status.draw()

    def progress(self, name: str, doing: str) -> None:
        """What node ``name`` is doing now (e.g. an AUTO candidate): a terminal's status
        line shows it in place; plain and JSON output ignore it. Safe from any thread."""
        if self._status is not None:
            self._status.update(name, redaction.mask(doing))

    @contextlib.contextmanager
    def task(self, name: str) -> t.Iterator[t.Callable[[str], None]]:
        """A status line for work outside a run (``wml sql``): elapsed time, and what the
        yielded callback says (a CREATE MODEL's training steps); erased at the end."""
        if self._status is not None:
            self._status.start(name)
        try:
            yield lambda doing: self.progress(name, doing)
        finally:
            self.close()

    def close(self) -> None:
        """Erase the status line (end of a run, or an error about to be printed)."""
        if self._status is not None:
            self._status.close()

    def node_started(self, index: int, total: int, kind: str, name: str) -> None:
        if self.log_format == "json":
            self._emit_json("node_start", index=index, total=total, resource_type=kind, name=name)
        elif self.is_tty:
            self._emit_text(f"{index:>3} of {total} START {kind} {name}")
            if self._status is not None:
                self._status.start(name)

    def node_finished(
        self,
        index: int,
        total: int,
        kind: str,
        name: str,
        status: str,
        seconds: float,
        rows: int | None,
        message: str,
    ) -> None:
        if self.log_format == "json":
            self._emit_json(
                "node_finish",
                index=index,
                total=total,
                resource_type=kind,
                name=name,
                status=status,
                execution_time=round(seconds, 3),
                rows=rows,
                message=message,
            )
            return
        if self._status is not None:
            self._status.finish(name)
        rows_text = f"{rows:,} rows " if rows is not None else ""
        head = f"{index:>3} of {total} {status.upper():<7} {kind} {name}"
        shown = status in ("error", "fail", "warn", "skipped") or kind in ("ml model", "sync")
        detail = message if shown else ""
        line = f"{head} [{rows_text}in {seconds:.2f}s]" + (f"\n      {detail}" if detail else "")
        self._emit_text(line, STATUS_COLOURS.get(status))

    def summary(self, counts: dict[str, int], seconds: float) -> None:
        if self.log_format == "json":
            self._emit_json("run_finish", counts=counts, elapsed=round(seconds, 3))
            return
        parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        bad = counts.get("error", 0) + counts.get("fail", 0)
        self._emit_text(
            f"Done in {seconds:.2f}s: {parts or 'nothing to do'}.", "red" if bad else "green"
        )
