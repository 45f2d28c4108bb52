"""dbt model contracts: ``contract: {enforced: true}`` and ``constraints``.

Before anything is replaced, the model query's columns are compared with the YAML
columns' ``data_type``s: names (case-insensitive), types (each YAML type as DuckDB
resolves ``cast(null as <type>)``) and count, as dbt's ``assert_columns_equivalent``
does; a mismatch fails the node with dbt's table of differences. A contracted table
is then created with the YAML's column order, types and constraints and filled with
an INSERT, as dbt-duckdb does (views are only checked; dbt applies no constraints to
views). https://docs.getdbt.com/reference/resource-configs/contract
"""

from __future__ import annotations

import typing as t

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError, ExecutionError
from warehouse_ml.project.nodes import Node

if t.TYPE_CHECKING:
    from warehouse_ml.run.materializations import BuildContext

HEADER = (
    "This model has an enforced contract that failed. Please ensure the name, data_type, "
    "and number of columns in your contract match the columns in your model's definition."
)


def enforced(node: Node) -> bool:
    contract = node.config.get("contract")
    return isinstance(contract, dict) and contract.get("enforced") is True


def _contract_columns(node: Node) -> list[dict[str, t.Any]]:
    columns = list(node.columns.values())
    missing = [c["name"] for c in columns if not c.get("data_type")]
    if not columns or missing:
        raise ConfigError(
            "the model's contract is enforced, but "
            + (f"columns {missing} have no data_type." if missing else "its YAML lists no columns."),
            path=node.fqn_path,
            node=node.name,
            hint="Give every column of the model a data_type in its YAML entry (dbt requires it).",
        )
    return columns


def check(ctx: BuildContext, sql: str) -> list[dict[str, t.Any]]:
    """Raise with dbt's diff when the query's columns break the contract; returns them."""
    a, cur = ctx.adapter, ctx.cursor
    columns = _contract_columns(ctx.node)
    actual = [(str(r[0]), str(r[1])) for r in a.execute(f"describe select * from (\n{sql}\n) as q", cursor=cur)]
    casts = ", ".join(f"cast(null as {c['data_type']}) as {quote(c['name'])}" for c in columns)
    try:
        declared = [(str(r[0]), str(r[1])) for r in a.execute(f"describe select {casts}", cursor=cur)]
    except Exception as exc:
        raise ConfigError(
            f"a contract data_type is not a type DuckDB knows: {ctx.explain(exc)}",
            path=ctx.node.fqn_path, node=ctx.node.name,
        ) from None  # fmt: skip
    rows = _diff(declared, actual)
    if rows:
        raise ExecutionError(
            f"{HEADER}\n\n{_table(rows)}",
            path=ctx.node.fqn_path,
            node=ctx.node.name,
            hint="Nothing was replaced. Fix the model's SQL (cast the column) or its YAML columns.",
        )
    return columns


def _diff(declared: list[tuple[str, str]], actual: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    yaml = {n.lower(): (n, typ) for n, typ in declared}
    sql = {n.lower(): (n, typ) for n, typ in actual}
    rows = []
    for key, (name, typ) in sql.items():
        if key not in yaml:
            rows.append((name, typ, "", "missing in contract"))
        elif yaml[key][1] != typ:
            rows.append((name, typ, yaml[key][1], "data type mismatch"))
    for key, (name, typ) in yaml.items():
        if key not in sql:
            rows.append((name, "", typ, "missing in definition"))
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("column_name", "definition_type", "contract_type", "mismatch_reason")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, rows)])


def _constraint(node: Node, con: dict[str, t.Any], column: str | None, warn: t.Callable[[str], None]) -> str | None:
    kind, expr = str(con.get("type", "")), str(con.get("expression") or "")
    cols = con.get("columns") or []
    target = f" ({', '.join(quote(c) for c in cols)})" if column is None and cols else ""
    if kind == "not_null" and column is not None:
        return f"not null {expr}".strip()
    if kind in ("unique", "primary_key"):
        return f"{kind.replace('_', ' ')}{target} {expr}".strip()
    if kind == "check" and expr:
        return f"check ({expr})"
    if kind == "foreign_key":
        ref = f"{con['to']} ({', '.join(con.get('to_columns') or [])})" if con.get("to") else expr
        if ref:
            return f"foreign key{target} references {ref}" if column is None else f"references {ref}"
    if kind == "custom" and expr:
        return expr
    warn(
        f"{node.fqn_path}: constraint {con!r} on '{node.name}' is not applied: DuckDB takes "
        "not_null, unique, primary_key, check (with expression), foreign_key and custom."
    )
    return None


def create_table_sql(ctx: BuildContext, relation: Relation, sql: str, columns: list[dict[str, t.Any]]) -> list[str]:
    """CREATE TABLE with the contract's columns and constraints, then INSERT the query."""
    node = ctx.node
    session = ctx.extras.get("session")
    warn = getattr(session, "warn", lambda message: None)
    defs = []
    for c in columns:
        parts = [quote(c["name"]), str(c["data_type"])]
        for con in c.get("constraints") or []:
            rendered = _constraint(node, con, c["name"], warn)
            if rendered:
                parts.append(rendered)
        defs.append(" ".join(parts))
    for con in getattr(node, "constraints", None) or []:
        rendered = _constraint(node, con, None, warn)
        if rendered:
            defs.append(rendered)
    names = ", ".join(quote(c["name"]) for c in columns)
    body = ",\n  ".join(d for d in defs if d)
    return [
        f"create table {relation} (\n  {body}\n)",
        f"insert into {relation} ({names}) select {names} from (\n{sql}\n) as model_subq",
    ]


def warn_view_constraints(ctx: BuildContext) -> None:
    node = ctx.node
    has = any(c.get("constraints") for c in node.columns.values()) or getattr(node, "constraints", None)
    session = ctx.extras.get("session")
    if has and session is not None:
        session.warn(
            f"{node.fqn_path}: constraints on view '{node.name}' are not applied: a view holds "
            "no data to constrain (dbt applies them to tables and incremental models only)."
        )
