"""Transpile a model's SQL from the project's dialect to the target's, with sqlglot.

An untranslatable construct fails loudly (``unsupported_level=RAISE``) naming the model,
never passes silently.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import typing as t
from pathlib import Path

from warehouse_ml import redaction
from warehouse_ml.errors import CompilationError
from warehouse_ml.files import load_cache, save_cache

_KIND = "transpile"

# sqlglot is imported where it is used: it is a quarter of a second of start-up, and a
# rerun whose SQL is all in the transpile cache (or `wml ls`) never needs it.
if t.TYPE_CHECKING:
    from sqlglot import exp


@functools.cache
def _dialect(name: str) -> t.Any:
    """sqlglot's Dialect for ``name``, made once: it holds settings only, and building one
    per parse and per generate was a tenth of a cold compile's sqlglot time."""
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(name)


@functools.cache
def sqlglot_version() -> str:
    return importlib.metadata.version("sqlglot")


def parse(
    sql: str, dialect: str, *, node: str | None = None, path: str | None = None
) -> exp.Expression:
    """Parse one statement, mapping sqlglot's errors to a CompilationError."""
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read=_dialect(dialect)) if s is not None]
    except ParseError as exc:
        detail = exc.errors[0] if exc.errors else {}
        raise CompilationError(
            f"cannot parse the SQL as {dialect}: {detail.get('description', exc)}"
            f" near '{detail.get('highlight', '')}'.",
            path=path,
            line=detail.get("line"),
            node=node,
            hint="Fix the SQL, or set sql_dialect in wml_project.yml to the dialect it is written in.",
        ) from None
    if len(statements) != 1:
        raise CompilationError(
            f"a model must be exactly one SELECT statement, found {len(statements)} statements.",
            path=path,
            node=node,
            hint="Remove the extra ';' or split the model in two.",
        )
    return statements[0]


class TranspileCache:
    """Transpiled SQL keyed by (sqlglot version, dialects, input), kept in ``target/``.

    Parsing is most of ``wml compile``'s time on large projects; an unchanged model's
    SQL is the same on every run, so only changed models pay for sqlglot. Entries not
    used in a run are dropped when it saves, so the file never grows stale.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._old: dict[str, str] = {}
        self._used: dict[str, str] = {}
        self._ahead: t.Any = None  # a transpile_ahead.Ahead while one runs
        # Signed (warehouse_ml.files): its SQL runs, so only this user's wml may write it.
        data = load_cache(path, _KIND) if path is not None else None
        if data is not None:
            try:
                payload = json.loads(data)
                if payload.get("sqlglot") == sqlglot_version():
                    self._old = dict(payload.get("entries", {}))
            except (ValueError, AttributeError, TypeError):
                self._old = {}

    @staticmethod
    def key(sql: str, read: str, write: str) -> str:
        return hashlib.blake2b(f"{read}>{write}\n{sql}".encode(), digest_size=16).hexdigest()

    def get(self, key: str) -> str | None:
        hit = self._used.get(key) or self._old.get(key)
        if hit is None and self._ahead is not None:
            hit = self._ahead.wait_for(key)  # the child got there first, or soon will
        if hit is not None:
            self._used[key] = hit
        return hit

    def has(self, key: str) -> bool:
        return key in self._used or key in self._old

    def while_waiting(self, task: t.Callable[[], None]) -> bool:
        """Have ``task`` run while a lookup waits for the transpiling child; False (not
        queued) when no child runs, so nothing will wait."""
        if self._ahead is None:
            return False
        self._ahead.idle.append(task)
        return True

    @contextlib.contextmanager
    def ahead(self, sqls: list[str], read: str, write: str) -> t.Iterator[None]:
        """Within the block, the ones of ``sqls`` not cached yet are also transpiled by a
        child process, in order, when there are enough of them (transpile_ahead.py)."""
        from warehouse_ml.adapters import transpile_ahead

        jobs = {key: sql for key, sql in ((self.key(s, read, write), s) for s in sqls) if not self.has(key)}
        # One started early (compile_command.py) is used whatever the count: its start is
        # paid, and the loop then need not import sqlglot for the few models it answers.
        child = transpile_ahead.take()
        if self._ahead is not None or (child is None and not transpile_ahead.worth_a_child(len(jobs))):
            if child is not None:
                child.close()
            yield
            return
        child = child or transpile_ahead.start()
        if child is None:
            yield
            return
        self._ahead = child
        self._ahead.submit(jobs.items(), read, write)
        self._ahead.finish()
        try:
            yield
        finally:
            self._ahead.close()
            self._ahead = None

    def put(self, key: str, value: str) -> None:
        self._used[key] = value

    def save(self) -> None:
        if self.path is None or not self._used or self._used == self._old:
            return
        payload = {"sqlglot": sqlglot_version(), "entries": self._used}
        save_cache(self.path, json.dumps(payload).encode("utf-8"), _KIND)


def transpile(
    sql: str,
    read: str,
    write: str,
    *,
    node: str | None = None,
    path: str | None = None,
    pretty: bool = False,
    cache: TranspileCache | None = None,
) -> str:
    """``sql`` from dialect ``read`` to ``write``; the same dialect returns it unchanged."""
    if read == write and not pretty:
        return sql
    key = TranspileCache.key(sql, read, write) if cache is not None and not pretty else None
    if key is not None:
        hit = t.cast(TranspileCache, cache).get(key)
        if hit is not None:
            return hit
    from sqlglot.errors import ErrorLevel, UnsupportedError

    tree = parse(sql, read, node=node, path=path)
    try:
        out = tree.sql(dialect=_dialect(write), unsupported_level=ErrorLevel.RAISE, pretty=pretty, copy=False)
    except UnsupportedError as exc:
        raise CompilationError(
            f"cannot translate to {write}: {exc}.",
            path=path,
            node=node,
            hint=f"Rewrite that construct in SQL that {write} supports.",
        ) from None
    if key is not None and not redaction.contains_secret(out):  # target/ never holds a secret
        t.cast(TranspileCache, cache).put(key, out)
    return out


def called_functions(sql: str, dialect: str, names: set[str]) -> set[str]:
    """Which of ``names`` the statement calls (case-insensitive), found by parsing."""
    lowered = sql.lower()
    if not any(n.lower() in lowered for n in names):
        return set()  # cheap pre-check: most models call none of them
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except ParseError:
        return set()
    wanted = {n.lower(): n for n in names}
    found = set()
    for func in tree.find_all(exp.Anonymous):
        hit = wanted.get(str(func.name).lower())
        if hit:
            found.add(hit)
    return found
