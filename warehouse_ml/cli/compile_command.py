"""``wml compile``: render and transpile the selected nodes into ``target/compiled/``.

A rerun over unchanged inputs replays the last compile (run/compile_state.py); otherwise
every node compiles, reusing what the caches in ``target/`` hold (rendered nodes,
transpiled SQL, compiled templates), and files whose text is unchanged are left alone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import sys
import typing as t
from pathlib import Path

import click

from warehouse_ml.cli.app import Options, main, project_options

_BATCH = 128  # files per hand-off to the writer threads


@main.command()
@project_options()
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "redshift", "postgres", "snowflake", "bigquery"]),
    default=None,
    help="Dialect to write (default: the target's).",
)
def compile(opts: Options, dialect: str | None) -> None:
    """Render and transpile the selected nodes into target/compiled/."""
    from warehouse_ml.run import compile_state

    state = _state(opts, dialect)
    saved = state.replay() if state is not None else None
    if saved is not None:
        sys.stderr.write(saved["warnings"])
        opts.reporter().info(saved["message"])
        return
    from warehouse_ml.adapters import transpile_ahead

    if state is not None and state.many_models():
        transpile_ahead.start_early()  # a second process, for the SQL sqlglot will transpile
    tee = compile_state.StderrTee(sys.stderr)
    try:
        with contextlib.redirect_stderr(tee):  # type: ignore[type-var]
            session = opts.session(read_only=True)
            try:
                chosen = opts.choose(session)
                opts.apply_defer(session, chosen, opts.reporter())
                written, outputs = _compile_nodes(session, chosen, dialect)
            finally:
                session.close()
    except BaseException:
        if state is not None:
            state.forget()
        raise
    finally:
        transpile_ahead.stop_early()  # not handed over (the compile failed first): stopped
    target_dir = session.project.target_dir
    message = f"Compiled {written} nodes to {target_dir / 'compiled'}."
    if state is not None:
        state.record(session, outputs, message, tee.kept.getvalue(), target_dir / "manifest.json")
    opts.reporter().info(message)


def _state(opts: Options, dialect: str | None) -> t.Any:
    """The fingerprint of this command line, or None when the run depends on another
    run's artifacts (``--state``, ``--defer``)."""
    from warehouse_ml.run.compile_state import CompileState

    if opts.state or opts.defer or opts.defer_state:
        return None
    options = (
        os.getcwd(), opts.profiles_dir and str(Path(opts.profiles_dir).resolve()), opts.target, opts.profile,
        repr(opts.vars), opts.select, opts.exclude, dialect, opts.log_format, opts.threads,
    )  # fmt: skip
    return CompileState(Path(opts.project_dir).resolve(), options)


def _compile_nodes(session: t.Any, chosen: set[str], dialect: str | None) -> tuple[int, list[Path]]:
    """Compile ``chosen`` in DAG order; how many nodes, and the files that hold them."""
    from warehouse_ml.project.nodes import NodeKind
    from warehouse_ml.run import artifacts
    from warehouse_ml.run.compiled_files import CompiledFiles
    from warehouse_ml.run.manifest_writer import FragmentsAhead

    target_dir = session.project.target_dir
    compiled: dict[str, str] = {}
    files = CompiledFiles(target_dir)
    manifest = FragmentsAhead(session, compiled)
    prepare = session.transpile_cache.while_waiting  # idle work: there is a child to wait for
    order = tests_early(session.graph.topological_order(chosen), session.graph)
    todo = [
        session.nodes[uid] for uid in order
        if session.nodes[uid].kind not in (NodeKind.SEED, NodeKind.SOURCE, NodeKind.SYNC)
        and session.nodes[uid].unit_test is None
    ]  # fmt: skip
    try:
        with _Writer() as writer, session.transpile_ahead(todo, dialect):
            for uid in order:
                node = session.nodes[uid]
                _compile_hooks(session, node, dialect, writer, files)
                if node.kind in (NodeKind.SEED, NodeKind.SOURCE, NodeKind.SYNC) or node.unit_test is not None:
                    continue  # a unit test's SQL needs its inputs' column types from the database
                sql = session.compiled_sql(node, dialect=dialect)
                writer.add(artifacts.write_compiled, target_dir, node, sql, files)
                compiled[uid] = sql
                prepare(functools.partial(manifest.prepare, uid))  # its manifest entry, meanwhile
    finally:  # what was written is on disk, failed run or not
        files.save()
    artifacts.write_manifest(session, compiled, manifest)
    return len(compiled), writer.paths


def tests_early(order: list[str], graph: t.Any) -> list[str]:
    """``order`` with each data test moved to just after the last of its parents.

    The topological order puts every test after every model (ids sort ``model.`` before
    ``test.``), so a cold compile rendered 2,000 tests and wrote their files only after the
    last model's SQL came back from the transpiling child, while the loop had sat idle
    waiting for each model. Right after its parents, a test is compiled during those waits.
    Tests have no children, so the models keep their order; a test whose parent is not in
    ``order`` (a path through unselected nodes) keeps its place.

    >>> from warehouse_ml.graph.dag import Graph
    >>> from warehouse_ml.project.nodes import Node, NodeKind
    >>> nodes = {"model.a": Node("a", NodeKind.MODEL, None),
    ...          "model.b": Node("b", NodeKind.MODEL, None, depends_on=["model.a"]),
    ...          "test.t_a": Node("t_a", NodeKind.TEST, None, depends_on=["model.a"]),
    ...          "test.t_ab": Node("t_ab", NodeKind.TEST, None, depends_on=["model.a", "model.b"])}
    >>> graph = Graph(nodes)
    >>> tests_early(graph.topological_order(), graph)
    ['model.a', 'test.t_a', 'model.b', 'test.t_ab']
    """
    from warehouse_ml.project.nodes import NodeKind

    position = {uid: i for i, uid in enumerate(order)}
    after: dict[str, list[str]] = {}
    kept: list[str] = []
    for uid in order:
        parents = graph.upstream(uid)
        if (
            graph.nodes[uid].kind is NodeKind.TEST and parents
            and all(p in position and graph.nodes[p].kind is not NodeKind.TEST for p in parents)
        ):  # fmt: skip
            after.setdefault(max(parents, key=position.__getitem__), []).append(uid)
        else:
            kept.append(uid)
    moved: list[str] = []
    for uid in kept:  # every parent a test waits for is kept (tests never wait for tests)
        moved.append(uid)
        moved += after.get(uid, ())
    return moved


def _compile_hooks(
    session: t.Any, node: t.Any, dialect: str | None, writer: _Writer | None = None, files: t.Any = None
) -> None:
    """Write the pre- and post-hooks that would run around ``node``, so users can see them
    (through ``writer`` when given)."""
    from warehouse_ml.run import artifacts, hooks

    if not node.kind.builds_relation:
        return  # tests have no hooks file (a generic test's path is its YAML file's)
    compiled: list[hooks.Hook] = []
    if hooks.runs_hooks(node):
        for phase in (hooks.PRE, hooks.POST):
            compiled += hooks.compile_hooks(session, node, phase, dialect=dialect)
    if writer is None:
        artifacts.write_compiled_hooks(session.project.target_dir, node, compiled)
    else:
        writer.add(artifacts.write_compiled_hooks, session.project.target_dir, node, compiled, files)


class _Writer:
    """Files written by two threads while the next nodes render, handed over in batches.

    Creating thousands of small files is mostly waiting on the filesystem, which releases
    the GIL; one hand-off per file cost more than the write (a future, a lock and a wake-up
    each), so a batch of files goes at once. The first failure is raised on exit.
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self._batch: list[tuple[t.Callable[..., Path], tuple[t.Any, ...]]] = []
        self._futures: list[concurrent.futures.Future[list[Path]]] = []
        self.paths: list[Path] = []

    def add(self, write: t.Callable[..., Path], *args: t.Any) -> None:
        self._batch.append((write, args))
        if len(self._batch) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._futures.append(self._pool.submit(_write_all, self._batch))
            self._batch = []

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, kind: t.Any, *_: t.Any) -> None:
        if kind is None:
            self._flush()
        self._pool.shutdown(wait=True)
        if kind is None:
            for future in self._futures:
                self.paths += future.result()


def _write_all(batch: list[tuple[t.Callable[..., Path], tuple[t.Any, ...]]]) -> list[Path]:
    return [write(*args) for write, args in batch]
