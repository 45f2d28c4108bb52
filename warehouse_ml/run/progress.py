"""A status line at the bottom of a terminal: what each running node is doing, and for how long.

Only a terminal gets one (``events.Reporter`` decides): plain and JSON logs read by CI and
schedulers never see a ``\\r``. One combined line covers every running node, so parallel
nodes never fight over the cursor; a ticker thread redraws it in place every second while
a node runs, and a node shorter than that never shows at all.
"""

from __future__ import annotations

import shutil
import threading
import time
import typing as t

CLEAR = "\r\x1b[K"  # back to column 0, erase to the end of the line


class StatusLine:
    """Every call takes ``lock``, the reporter's: printed lines and the status never interleave."""

    interval = 1.0  # seconds between redraws

    def __init__(self, stream: t.TextIO, lock: threading.RLock):
        self.stream = stream
        self.lock = lock
        self._running: dict[str, tuple[float, str]] = {}  # node -> (started, doing now)
        self._shown = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, name: str) -> None:
        with self.lock:
            self._running[name] = (time.monotonic(), "")
            if self._ticker is None:  # each ticker its own stop event: an old one never lingers
                self._stop = threading.Event()
                self._ticker = threading.Thread(
                    target=self._tick, args=(self._stop,), name="wml-status", daemon=True
                )
                self._ticker.start()

    def update(self, name: str, doing: str) -> None:
        with self.lock:
            if name in self._running:
                self._running[name] = (self._running[name][0], doing)
                self.draw()

    def finish(self, name: str) -> None:
        with self.lock:
            self._running.pop(name, None)
            if not self._running:
                self.clear()

    def close(self) -> None:
        """Erase the line and stop the ticker (the run is over, or failed)."""
        with self.lock:
            self._running.clear()
            self.clear()
            self._stop.set()
            self._ticker = None

    def clear(self) -> None:
        with self.lock:
            if self._shown:
                self.stream.write(CLEAR)
                self.stream.flush()
                self._shown = False

    def draw(self) -> None:
        with self.lock:
            text = self.text()
            if not text:
                self.clear()
                return
            width = shutil.get_terminal_size((100, 24)).columns - 1  # never wrap: \r redraws one row
            self.stream.write(CLEAR + text[:width])
            self.stream.flush()
            self._shown = True

    def text(self) -> str:
        """'running: stg_orders 12s | churn 41s, AUTO candidate 2 of 5: ... (33s left ...)'.

        Only nodes past ``interval`` or saying what they do: a fast build shows no line.
        """
        now = time.monotonic()
        parts = [
            f"{name} {now - started:.0f}s" + (f", {doing}" if doing else "")
            for name, (started, doing) in self._running.items()
            if doing or now - started >= self.interval
        ]
        return "running: " + " | ".join(parts) if parts else ""

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self.lock:
                if stop.is_set():
                    return
                if not self._running:
                    self._ticker = None
                    stop.set()
                    return
                self.draw()
