"""Run one data test as dbt does: count the failing rows, judge them, store them if asked.

The test's SQL returns failing rows. dbt's test query wraps it (``limit`` applied inside)
and computes ``fail_calc`` (default ``count(*)``) and the ``warn_if`` / ``error_if``
conditions (default ``!=0``) in SQL, so any comparison dbt accepts works here. With
``store_failures`` (or ``store_failures_as: table|view``) the failing rows replace the
relation ``<target schema>_dbt_test__audit.<test name>`` (``+schema`` on tests changes the
suffix, ``alias`` the name), in one transaction.
"""

from __future__ import annotations

import dataclasses
import typing as t

from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import ConfigError
from warehouse_ml.ml.monitoring import messages
from warehouse_ml.project.nodes import Node, NodeKind

if t.TYPE_CHECKING:
    from warehouse_ml.run.session import Session

AUDIT_SCHEMA = "dbt_test__audit"  # dbt's default schema suffix for stored failures


@dataclasses.dataclass
class Outcome:
    status: str  # pass | warn | fail
    failures: int
    message: str


def run(session: Session, node: Node, cursor: t.Any) -> Outcome:
    sql = session.compiled_sql(node)
    config = node.config
    stored = None
    if stores_failures(node, session.store_failures):
        stored = store_failures(session, node, sql, cursor)
    limit = config.get("limit")
    inner = f"{sql}\nlimit {_int(limit, 'limit', node)}" if limit is not None else sql
    fail_calc = str(config.get("fail_calc") or "count(*)")
    warn_if = str(config.get("warn_if") or "!=0")
    error_if = str(config.get("error_if") or "!=0")
    row = session.adapter.execute(
        f"select {fail_calc} as failures, ({fail_calc}) {warn_if} as should_warn, "
        f"({fail_calc}) {error_if} as should_error from (\n{inner}\n) as wml_test",
        cursor=cursor,
    )[0]
    failures = int(row[0] or 0)
    should_warn, should_error = bool(row[1]), bool(row[2])
    severity = str(config.get("severity") or "error").lower()
    where = f"; failing rows in {stored}" if stored is not None and failures else ""
    if failures and (should_error or should_warn) and messages.is_monitoring_test(node):
        where = f": {_findings(session, node, inner, cursor)}{where}"
    if severity == "error" and should_error:
        return Outcome("fail", failures, f"got {failures} failing rows{where}")
    if should_warn:
        return Outcome("warn", failures, f"got {failures} failing rows{where}")
    return Outcome("pass", failures, "")


def _findings(session: Session, node: Node, sql: str, cursor: t.Any) -> str:
    """An ML test's failing rows told in words (model, column, PSI/KS, threshold)."""
    rows = session.adapter.fetch_arrow(
        f"select * from (\n{sql}\n) as wml_test limit {messages.MAX_SHOWN + 1}", cursor
    ).to_pylist()
    return messages.describe(node, rows)


def _int(value: t.Any, key: str, node: Node) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{key} must be a whole number, got {value!r}.", path=node.path, node=node.name
        ) from None


def stores_failures(node: Node, flag: bool = False) -> bool:
    """dbt: ``store_failures_as`` (table, view) wins over ``store_failures``, which wins
    over the ``--store-failures`` flag; ``store_failures_as: ephemeral`` stores none."""
    kind = node.config.get("store_failures_as")
    if kind is not None:
        return str(kind) in ("table", "view")
    configured = node.config.get("store_failures")
    return flag if configured is None else bool(configured)


def audit_relation(session: Session, node: Node) -> Relation:
    """Where the test's failing rows go, named as dbt names it."""
    custom = node.config.get("schema")
    probe = dataclasses.replace(node, config={**node.config, "schema": custom or AUDIT_SCHEMA})
    relation = session.relation(probe)
    if not custom and relation.schema == AUDIT_SCHEMA:
        # wml's own verbatim schema naming: dbt's default is the target schema plus the suffix.
        relation = dataclasses.replace(relation, schema=f"{session.target.schema}_{AUDIT_SCHEMA}")
    return relation


def audit_schemas(session: Session, nodes: t.Iterable[Node]) -> set[tuple[str, str]]:
    """(database or '', schema) of where the tests among ``nodes`` store failures (created
    before the run starts: two threads creating one schema conflict)."""
    return {
        (rel.database or "", rel.schema)
        for node in nodes
        if node.kind is NodeKind.TEST
        and node.unit_test is None
        and stores_failures(node, session.store_failures)
        for rel in [audit_relation(session, node)]
    }


def store_failures(session: Session, node: Node, sql: str, cursor: t.Any) -> Relation:
    """Replace the audit relation with the test's failing rows (all of them: ``limit``
    only caps the count, as in dbt)."""
    adapter = session.adapter
    relation = audit_relation(session, node)
    kind = "view" if str(node.config.get("store_failures_as")) == "view" else "table"
    adapter.ensure_schema(relation.schema, cursor, relation.database)
    with adapter.transaction(cursor):
        existing = adapter.relation_type(relation, cursor)
        if existing:
            adapter.execute(adapter.drop_sql(relation, existing), cursor=cursor)
        create = adapter.create_view_sql if kind == "view" else adapter.create_table_as_sql
        adapter.execute(create(relation, sql), cursor=cursor)
    return relation
