"""Transpiling a compile's SQL in a second process, while this one loads and renders.

sqlglot is pure Python (compiled by mypyc) and holds the GIL, so threads cannot share its
work; on a cold compile of a 1,000-model project it is ~1 ms a model, close to half of the
command, and after an edit importing it is a sixth of the command. For a project of many
models ``wml compile`` starts a child process (this module's ``_serve`` in a new interpreter) at once;
it imports sqlglot on the other core, is sent each model's SQL as the project is parsed
(renders not final yet are only work done for nothing: answers are keyed by the exact
SQL), and then the rest that misses the transpile cache. It transpiles in the order sent,
which is about the order the compile loop goes through the models, and each answer lands
in the TranspileCache as the loop reaches it, exactly as if the loop had computed it.
When the loop gets ahead of the child it waits for the answer rather than importing
sqlglot (~0.3 s) and transpiling here: the child answers one every ~0.7 ms, about the
loop's own pace; while it waits it does the work queued for such waits
(``TranspileCache.while_waiting``: the manifest's entries of the nodes compiled so far).
After one edit, the edited model's answer comes from the child too, and this process
never imports sqlglot.

Nothing depends on the child: a statement it cannot transpile, a crash, or half a second
without an answer (a starved or stuck child) only leaves work to the compile loop, which
transpiles (and raises any error, naming the file and model) as it always does.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
import typing as t

from warehouse_ml import redaction

MIN_JOBS = 400  # fewer misses than this (~0.5 s of loop): a child starting in ~0.3 s does little
# The loop waits for an answer the child was sent (rather than importing sqlglot, ~0.3 s,
# to transpile it here) while the child keeps answering: until this long passes without
# an answer (a child starved or stuck), when the loop goes on alone.
STALL = 0.5


def worth_a_child(misses: int, cpus: int | None = None) -> bool:
    """Whether ``misses`` transpiles are enough to start a child (and there is a second
    core for it).

    >>> worth_a_child(1000, cpus=2), worth_a_child(300, cpus=2), worth_a_child(1000, cpus=1)
    (True, False, False)
    """
    return misses >= MIN_JOBS and (cpus if cpus is not None else _usable_cpus()) >= 2


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ``-c`` puts '' (the working folder) first, unless PYTHONSAFEPATH says not to.
_CHILD = f"import sys; sys.path[:1] = [p for p in sys.path[:1] if p]; from {__name__} import _serve; _serve()"


def start() -> Ahead | None:
    """A child, or None when one cannot be started (no interpreter to run, no processes
    left): the compile loop then transpiles everything, as it would anyway."""
    try:
        return Ahead()
    except (OSError, ValueError):
        return None


class Ahead:
    """A child process ready to transpile; :meth:`submit` gives it its jobs (key, SQL),
    ``answers`` fills with the transpiled SQL by key as it comes back (never one holding
    a secret: the cache it goes to is a file in target/)."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.sent: set[str] = set()  # the keys submitted so far
        self.unanswered: set[str] = set()  # keys the child could not (or must not) answer
        # Work for the loop to do while it waits for an answer, rather than sleep (it runs
        # in the waiting thread, one task at a time; what is left when the child closes is
        # not run).
        self.idle: collections.deque[t.Callable[[], None]] = collections.deque()
        self._arrived = threading.Condition()
        self._ended = False  # the child's output is closed: no more answers
        self._last = time.monotonic()  # when the last answer came (or the child started)
        self._stalled = False
        # Not ``-m``: that puts the working folder (the user's project) first on the
        # child's sys.path, where a stray json.py would be imported instead of the module.
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Threads write the jobs (the pipe holds 64 KB and the child may not be reading
        # yet) and read the answers as they come (so that it never blocks writing them).
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._feed, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, jobs: t.Iterable[tuple[str, str]], read: str, write: str) -> None:
        lines = []
        for key, sql in jobs:
            if key not in self.sent:
                self.sent.add(key)
                lines.append(json.dumps([key, read, write, sql]).encode() + b"\n")
        if lines:
            self._lines.put(b"".join(lines))

    def finish(self) -> None:
        """No more jobs: the child exits when it has answered them."""
        self._lines.put(None)

    def _feed(self) -> None:
        stdin = t.cast(t.IO[bytes], self._proc.stdin)
        try:
            while (lines := self._lines.get()) is not None:
                stdin.write(lines)
                stdin.flush()
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child is gone: the loop transpiles what it did not

    def _read(self) -> None:
        stdout = t.cast(t.IO[bytes], self._proc.stdout)
        try:
            for line in stdout:
                key, out = json.loads(line)
                with self._arrived:
                    if isinstance(out, str) and not redaction.contains_secret(out):
                        self.answers[key] = out
                    else:
                        self.unanswered.add(key)
                    self._last = time.monotonic()
                    self._arrived.notify_all()
        except (OSError, ValueError, TypeError):
            pass
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    def wait_for(self, key: str) -> str | None:
        """The child's answer for ``key``, waited for while answers keep coming (doing
        the ``idle`` work meanwhile); None when it was never sent, cannot be answered, or
        the child stalled (the loop then transpiles it, and the rest, itself)."""
        if key not in self.sent or self._stalled:
            return self.answers.get(key)
        began = time.monotonic()
        while True:
            with self._arrived:
                if key in self.answers or key in self.unanswered or self._ended:
                    break
                if not self.idle:
                    left = max(self._last, began) + STALL - time.monotonic()
                    if left <= 0:
                        self._stalled = True
                        break
                    self._arrived.wait(left)
                    continue
            self.idle.popleft()()  # outside the lock: the reader thread keeps storing answers
        return self.answers.get(key)

    def close(self) -> None:
        """Stop the child: what it has not sent by now, the loop has done itself."""
        self._lines.put(None)
        self._proc.kill()
        self._proc.wait()
        for thread in self._threads:
            thread.join()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()


_spare: Ahead | None = None


def start_early() -> None:
    """Start a child now, for a compile that will likely need one: its ~0.3 s start then
    overlaps loading and rendering the project. :func:`take` hands it over (or it is
    stopped at exit, unused)."""
    global _spare
    if _spare is None and _usable_cpus() >= 2:
        _spare = start()


def started() -> Ahead | None:
    """The child started early, until :func:`take` hands it over."""
    return _spare


def take() -> Ahead | None:
    global _spare
    child, _spare = _spare, None
    return child


@atexit.register
def stop_early() -> None:
    """Stop the child started early if it was never handed over."""
    child = take()
    if child is not None:
        child.close()


def _serve() -> None:
    """The child: lines of JSON ``[key, read, write, sql]`` on stdin; for each, in order,
    a line ``[key, transpiled SQL or null]`` on stdout (null: the loop says why)."""
    from warehouse_ml.adapters.dialects import transpile

    jobs: collections.deque[list[str]] = collections.deque()
    more = threading.Condition()
    done = False

    def read() -> None:
        nonlocal done
        for line in sys.stdin.buffer:
            with more:
                jobs.append(json.loads(line))
                more.notify()
        with more:
            done = True
            more.notify()

    threading.Thread(target=read, daemon=True).start()
    out = sys.stdout
    while True:
        with more:
            while not jobs and not done:
                more.wait()
            if not jobs:
                return
            key, read_dialect, write_dialect, sql = jobs.popleft()  # in the order sent
        try:
            answer: str | None = transpile(sql, read_dialect, write_dialect)
        except Exception:  # the compile loop transpiles it again and tells the error
            answer = None
        out.write(json.dumps([key, answer]) + "\n")
        out.flush()
