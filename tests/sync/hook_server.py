"""A real HTTP server on loopback that records what syncs send and misbehaves on cue.

``script`` is a queue of answers for the next requests: an int is a status code, a
``(status, {header: value})`` pair adds headers (``Retry-After``), ``("slow", seconds)``
sleeps before answering 200 (longer than the client's timeout: a timeout). With an
empty queue every request gets ``200 {"ok": true}``; ``delay`` slows every answer.
Every request is recorded, with the status it got.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HookServer:
    def __init__(self, delay: float = 0.0):
        self.script: collections.deque[t.Any] = collections.deque()
        self.requests: list[dict[str, t.Any]] = []
        self.delay = delay
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[dict[str, t.Any]]:
        """The bodies of requests answered 2xx, in order."""
        with self.lock:
            return [r["body"] for r in self.requests if 200 <= r["status"] < 300]

    def accepted_rows(self) -> list[dict[str, t.Any]]:
        return [row for body in self.accepted() for row in body.get("rows", body.get("batch", []))]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: t.Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with hook.lock:
                    action = hook.script.popleft() if hook.script else 200
                    record = {"path": self.path, "headers": dict(self.headers),
                              "body": json.loads(raw or b"{}"), "raw": raw, "status": 0,
                              "at": time.monotonic()}  # fmt: skip
                    hook.requests.append(record)
                status, headers = 200, {}
                if isinstance(action, tuple) and action[0] == "slow":
                    time.sleep(action[1])
                elif isinstance(action, tuple):
                    status, headers = action
                else:
                    status = action
                if hook.delay:
                    time.sleep(hook.delay)
                record["status"] = status
                payload = json.dumps({"ok": 200 <= status < 300}).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, str(value))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    record["status"] = 0

            do_PUT = do_POST  # noqa: N815
            do_PATCH = do_POST  # noqa: N815

        return Handler
