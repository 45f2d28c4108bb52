"""What one render of one node records (:class:`Call`), and how the render cache keeps
and restores it: the renderer's per-render state, apart from the renderer itself."""

from __future__ import annotations

import contextvars
import dataclasses
import os
import typing as t

from warehouse_ml import redaction
from warehouse_ml.jinja import render_cache
from warehouse_ml.jinja.macro_calls import MacroCall
from warehouse_ml.project.nodes import Node


@dataclasses.dataclass
class Call:
    """What one render of one node recorded."""

    node: Node
    parse: bool
    incremental: bool
    dialect: str  # what the SQL is compiled for: the target's engine or `wml compile --dialect`
    refs: list[str] = dataclasses.field(default_factory=list)
    sources: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    ephemerals: list[str] = dataclasses.field(default_factory=list)
    # Every relation the SQL names (refs and `this`), to tell whether it is still current.
    relations: list[tuple[Node, str]] = dataclasses.field(default_factory=list)
    record: bool = False  # keep the package macro calls (to explain a database error)
    macro_calls: list[MacroCall] = dataclasses.field(default_factory=list)
    sql: str = ""
    # It read `execute`, queried or read `graph`: render again when it runs (dbt/context.py).
    dynamic: bool = False
    results: dict[str, t.Any] = dataclasses.field(default_factory=dict)  # statement() results
    # A unit test's overrides: {'vars': {...}, 'env_vars': {...}}.
    overrides: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    # What makes a render reusable by the next run (jinja/render_cache.py): it resolved no
    # volatile name, the env vars it read (name -> value or None), what its sources gave.
    volatile: bool = False
    env_reads: dict[str, str | None] = dataclasses.field(default_factory=dict)
    source_texts: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


current: contextvars.ContextVar[Call] = contextvars.ContextVar("wml_render_call")


def cached_call(renderer: t.Any, cache: render_cache.RenderCache, key: str, node: Node) -> Call | None:
    """The last run's render of ``node``, if everything it looked up is as it was."""
    entry = cache.get(key)
    if entry is None:
        return None
    sql, refs, sources, config, ephemerals, relations, source_texts, env, builtin = entry
    if any(cache.env_digest(os.environ.get(name)) != digest for name, digest in env.items()):
        return None
    nodes = renderer.project.nodes
    related = []
    for uid, text in relations:
        other = nodes.get(uid)
        if other is None or renderer._target_text(other) != text:
            return None
        related.append((other, text))
    for source, table, text in source_texts:
        src = renderer.project.sources.get((source, table))
        if src is None or str(renderer._source_value(src)) != text:
            return None
    for name in env:  # masked in what wml writes, as when env_var() read it
        value = os.environ.get(name)
        if value is not None:
            redaction.register(value)
    if builtin is not None and node.test_metadata is not None:
        node.test_metadata["builtin_sql"] = builtin  # what test_blocks.render records
    cache.hits += 1
    return Call(
        node, True, False, renderer.target.dialect, refs=list(refs), sources=list(sources),
        config=dict(config), ephemerals=list(ephemerals), relations=related, sql=sql,
        env_reads={name: os.environ.get(name) for name in env},
        source_texts=list(source_texts),
    )  # fmt: skip


def entry(call: Call, digest: t.Callable[[str | None], str]) -> render_cache.Entry:
    """What the render cache keeps of a parse-time render (env values as keyed hashes)."""
    return (
        call.sql, call.refs, call.sources, call.config, call.ephemerals,
        [(n.unique_id, text) for n, text in call.relations], call.source_texts,
        {name: digest(value) for name, value in call.env_reads.items()}, (call.node.test_metadata or {}).get("builtin_sql"),
    )  # fmt: skip


def recorded(call: Call) -> tuple[t.Any, ...]:
    """What a render has recorded on ``call`` so far (to undo a failed static render)."""
    return (
        len(call.refs), len(call.sources), dict(call.config), len(call.ephemerals),
        len(call.relations), len(call.macro_calls), dict(call.env_reads), len(call.source_texts),
        call.dynamic, call.volatile,
    )  # fmt: skip


def restore(call: Call, before: tuple[t.Any, ...]) -> None:
    """Undo what a render recorded on ``call`` after :func:`recorded` took ``before``."""
    refs, sources, config, ephemerals, relations, macro_calls, env, source_texts, dyn, vol = before
    del call.refs[refs:], call.sources[sources:], call.ephemerals[ephemerals:]
    del call.relations[relations:], call.macro_calls[macro_calls:], call.source_texts[source_texts:]
    call.config, call.env_reads, call.dynamic, call.volatile = config, env, dyn, vol
