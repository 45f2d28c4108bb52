"""Pausing Python's cycle collector while a step builds a large object graph.

A step that makes hundreds of thousands of objects (a manifest's dicts, a tree model's SQL
expression nodes) triggers the collector again and again, and each full pass scans the
whole heap, which grows as the step goes on: on a 100-tree forest compiled to SQL that was
half of the time. The pause covers such steps only; garbage they leave (sqlglot nodes
hold parent pointers, so cycles) is collected when the collector runs again after.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import typing as t

_lock = threading.Lock()
_depth = 0  # steps inside a pause, across threads
_resume = False  # whether the collector was on when the first one began

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


@contextlib.contextmanager
def paused() -> t.Iterator[None]:
    """No cycle collection inside the block (nested or in several threads at once: the
    collector resumes, if it was on, when the last one leaves)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def pausing(function: F) -> F:
    """``function`` runs inside :func:`paused`."""

    @functools.wraps(function)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        with paused():
            return function(*args, **kwargs)

    return t.cast(F, wrapper)
