"""dbt's ``pre_hook`` / ``post_hook``: SQL run before and after a node is built.

Each hook is rendered with the model's Jinja context when the node runs (``{{ this }}``
is its final relation), may hold several statements (the one-query rule is for model
bodies), and is transpiled statement by statement from the project's ``sql_dialect`` to
the target's. Materializations run them inside the node's one transaction: pre-hooks
first, post-hooks after the swap, so a failing hook rolls the whole node back
(https://docs.getdbt.com/reference/resource-configs/pre-hook-post-hook).

>>> split_statements("create table a (x int); insert into a values (1);", "duckdb")
['create table a (x int)', 'insert into a values (1)']
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml.adapters import dialects
from warehouse_ml.errors import CompilationError, ExecutionError, Interrupted
from warehouse_ml.project.config import HOOK_KEYS, hook_list
from warehouse_ml.project.nodes import Node

if t.TYPE_CHECKING:
    from warehouse_ml.run.materializations import BuildContext
    from warehouse_ml.run.session import Session

PRE, POST = HOOK_KEYS
# dbt runs no hooks for ephemeral models (they are CTEs); an ML model trains in Python.
IGNORED_FOR = ("ephemeral", "ml_model")


@dataclasses.dataclass(frozen=True)
class Hook:
    """One configured hook, compiled: its statements in the dialect they will run in."""

    phase: str  # PRE or POST
    index: int  # 1-based, in run order
    statements: tuple[str, ...]
    # False: dbt's {"sql": ..., "transaction": false} (before_begin / after_commit): run
    # before the node's transaction begins (pre) or after it commits (post).
    transaction: bool = True

    @property
    def label(self) -> str:
        return f"{self.phase} #{self.index}"


def configured(node: Node, phase: str) -> list[str]:
    """The node's ``phase`` hooks' SQL as written, in run order."""
    return [sql for sql, _ in configured_with_transaction(node, phase)]


def configured_with_transaction(node: Node, phase: str) -> list[tuple[str, bool]]:
    """(SQL, runs inside the transaction) for each ``phase`` hook, in run order."""
    out = []
    for hook in hook_list(node.config.get(phase)):
        if isinstance(hook, dict):
            out.append((str(hook.get("sql", "")), hook.get("transaction", True) is not False))
        else:
            out.append((str(hook), True))
    return out


def has_hooks(node: Node) -> bool:
    return any(configured(node, phase) for phase in HOOK_KEYS)


def runs_hooks(node: Node) -> bool:
    """Whether building ``node`` runs its hooks: models and seeds, not ephemeral or ML."""
    return node.kind.builds_relation and node.materialized not in IGNORED_FOR


def ignored_warning(node: Node) -> str | None:
    """The warning for hooks on a node kind that never runs them, else None."""
    if runs_hooks(node) or not has_hooks(node):
        return None
    if node.kind.builds_relation:
        kind = "an ML model" if node.is_ml_model else "an ephemeral model"
    else:
        kind = f"a {node.kind.value}"
    return (
        f"{node.fqn_path}: pre_hook/post_hook ignored for {kind} '{node.name}': "
        "hooks run only around table, view, incremental and seed builds."
    )


def split_statements(sql: str, dialect: str, *, where: str = "") -> list[str]:
    """``sql`` cut into statements at the ``;`` tokens (not those in strings or comments)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(dialect).tokenizer_class().tokenize(sql)
    except TokenError as exc:
        raise CompilationError(f"{where}cannot read the SQL: {exc}.") from None
    statements: list[str] = []
    current: list[t.Any] = []  # the tokens of the statement being read
    for token in [*tokens, None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            current.append(token)
        elif current:
            statements.append(sql[current[0].start : current[-1].end + 1])
            current = []
    return statements


def compile_hooks(
    session: Session,
    node: Node,
    phase: str,
    *,
    incremental: bool = False,
    dialect: str | None = None,
) -> list[Hook]:
    """Render, split and transpile the node's ``phase`` hooks (empty ones are dropped)."""
    hooks = []
    for index, (raw, inside) in enumerate(configured_with_transaction(node, phase), start=1):
        hook = Hook(phase, index, (), inside)
        sql = session.renderer.render_hook(
            node, raw, hook.label, incremental=incremental, dialect=dialect
        )
        statements = _transpile(session, node, hook, sql, dialect or session.target_dialect)
        if statements:
            hooks.append(dataclasses.replace(hook, statements=tuple(statements)))
    return hooks


def _transpile(session: Session, node: Node, hook: Hook, sql: str, dialect: str) -> list[str]:
    read = session.project.settings.sql_dialect
    where = {"node": node.name, "path": node.fqn_path}
    try:
        return [
            dialects.transpile(stmt, read, dialect, **where, cache=session.transpile_cache)
            for stmt in split_statements(sql, read)
        ]
    except CompilationError as exc:
        exc.message = f"{hook.label}: {exc.message}"
        exc.node, exc.path = exc.node or node.name, exc.path or node.fqn_path
        raise


def run(ctx: BuildContext, phase: str, *, incremental: bool = False) -> None:
    """Run the node's ``phase`` hooks on the build's cursor (inside its transaction)."""
    _run(ctx, phase, incremental, inside=True)


def run_outside(ctx: BuildContext, phase: str, *, incremental: bool = False) -> None:
    """Run the ``transaction: false`` hooks: pre before BEGIN, post after COMMIT (dbt)."""
    _run(ctx, phase, incremental, inside=False)


def _run(ctx: BuildContext, phase: str, incremental: bool, *, inside: bool) -> None:
    if ctx.compiled_hooks is None:
        return
    for hook in ctx.compiled_hooks(phase, incremental):
        if hook.transaction is not inside:
            continue
        for number, statement in enumerate(hook.statements, start=1):
            _execute(ctx, hook, statement, number, committed=not inside and phase == POST)


def _execute(ctx: BuildContext, hook: Hook, statement: str, number: int, *, committed: bool = False) -> None:
    try:
        ctx.adapter.execute(statement, cursor=ctx.cursor)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as exc:
        which = f" (statement {number})" if len(hook.statements) > 1 else ""
        reason = " ".join(ctx.explain(exc).splitlines())  # one paragraph
        raise ExecutionError(
            f"{hook.label}{which} failed: {reason}",
            path=ctx.node.fqn_path,
            node=ctx.node.name,
            hint=(
                "The build itself was committed before this hook ran (transaction: false). "
                if committed
                else "Nothing was written (the build rolled back). "
            )
            + f"The statement: {_clip(statement)}",
        ) from None


def _clip(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
