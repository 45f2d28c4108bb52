"""Run a dbt unit test: the model's SQL over mock inputs, compared with the expected rows.

As dbt runs them (https://docs.getdbt.com/docs/build/unit-tests): each input the model
reads (``ref``, ``source``, ``this``) becomes a CTE of the given rows, every value cast to
the type of that column in the real input relation (columns left out are NULL); a seed not
given reads the seed itself. The model's result, restricted to the columns ``expect``
names, must equal the expected rows as a multiset (order ignored, duplicates counted);
the expected values are cast to the result's column types first. A failure shows the
rows that differ.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import typing as t

from warehouse_ml.adapters import dialects
from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import CompilationError, ExecutionError
from warehouse_ml.jinja.renderer import inject_ctes
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.project.unit_test_specs import Fixture, Given, UnitTestSpec
from warehouse_ml.run.statements import one_query

if t.TYPE_CHECKING:
    from warehouse_ml.run.session import Session

CTE_PREFIX = "__wml_unit_"
MAX_DIFF_ROWS = 20


@dataclasses.dataclass
class Outcome:
    status: str  # pass | fail
    failures: int
    message: str


def run(session: Session, node: Node, cursor: t.Any) -> Outcome:
    spec: UnitTestSpec = node.unit_test
    model = session.nodes[f"model.{spec.model}"]
    sql = _test_sql(session, node, spec, model, cursor)
    read, write = session.project.settings.sql_dialect, session.target_dialect
    where = {"node": node.name, "path": node.fqn_path}
    if read != write:
        sql = dialects.transpile(sql, read, write, **where)
    columns = _result_columns(session, sql, spec, node, cursor)
    actual = session.adapter.execute(
        f"select {', '.join(quote(c) for c, _ in columns)} from (\n{sql}\n) as wml_actual",
        cursor=cursor,
    )
    expected = _expected_rows(session, spec.expect, columns, node, cursor)
    return _compare([c for c, _ in columns], actual, expected)


def _test_sql(session: Session, node: Node, spec: UnitTestSpec, model: Node, cursor: t.Any) -> str:
    """The model's SQL (project dialect) with every input replaced by its mock rows."""
    renderer = session.renderer
    sql = one_query(renderer.render(node), session.project.settings.sql_dialect, node=node.name)
    given = {tuple(g.input): g for g in spec.given}
    ctes: list[tuple[str, str]] = []
    inputs = _inputs(session, node, model)
    for i, (reference, relation) in enumerate(inputs.items()):
        fixture = given.pop(reference, None)
        if fixture is None:
            if reference[0] == "ref" and f"seed.{reference[1]}" in session.nodes:
                continue  # dbt: a seed not given is read as it is
            if reference == ("this",):
                continue  # an incremental model's own table, only read when is_incremental
            raise CompilationError(
                f"unit test '{node.name}' gives no rows for {_label(reference)}, which model "
                f"'{model.name}' reads.",
                path=node.path,
                node=node.name,
                hint=f"Add `- input: {_label(reference)}` with rows (rows: [] for none) under given.",
            )
        name = f"{CTE_PREFIX}{i}"
        ctes.append((name, _fixture_sql(session, fixture, relation, node, cursor)))
        sql = _replace(sql, str(relation), quote(name))
    if given:
        extra = ", ".join(_label(r) for r in given)
        raise CompilationError(
            f"unit test '{node.name}' gives rows for {extra}, which model '{model.name}' does not read.",
            path=node.path,
            node=node.name,
            hint="Remove that input, or check the model's ref() and source() calls.",
        )
    return inject_ctes(sql, ctes) if ctes else sql


def _inputs(session: Session, node: Node, model: Node) -> dict[tuple[str, ...], Relation | str]:
    """Each input the model reads (as a unit test names it) and the relation it renders to."""
    nodes = session.nodes
    inputs: dict[tuple[str, ...], Relation | str] = {}
    for uid in node.depends_on:
        dep = nodes[uid]
        if dep.kind in (NodeKind.MODEL, NodeKind.SEED) or dep.kind.value == "snapshot":
            if dep.materialized == "ephemeral":
                raise CompilationError(
                    f"unit test '{node.name}': input ref('{dep.name}') is an ephemeral model.",
                    path=node.path,
                    node=node.name,
                    hint="dbt needs format: sql for ephemeral inputs; wml does not inline them "
                    "yet: make the input a view while testing, or test the model it feeds.",
                )
            inputs[("ref", dep.name)] = _as_rendered(session, dep)
    for source, table in (node.source_info or {}).get("sources", []):
        text, _ = session.renderer.render_inline(
            f"{{{{ source('{source}', '{table}') }}}}", node.name
        )
        inputs[("source", source, table)] = text
    inputs[("this",)] = _as_rendered(session, model)
    return inputs


def _as_rendered(session: Session, dep: Node) -> str:
    """The text ``ref()``/``this`` put in the SQL: dbt-duckdb names relations with their
    database too (``"db"."main"."orders"``)."""
    return str(session.renderer.jinja_relation(dep))


def _label(reference: tuple[str, ...]) -> str:
    kind, *names = reference
    return "this" if kind == "this" else f"{kind}({', '.join(repr(n) for n in names)})"


def _replace(sql: str, relation: str, cte: str) -> str:
    """Every reference to ``relation`` in ``sql`` (not as the tail of a longer name)."""
    out, start = [], 0
    while (at := sql.find(relation, start)) >= 0:
        if at > 0 and sql[at - 1] == ".":
            out.append(sql[start : at + len(relation)])
        else:
            out.append(sql[start:at] + cte)
        start = at + len(relation)
    return "".join(out) + sql[start:]


def _fixture_sql(
    session: Session, fixture: Given, relation: Relation | str, node: Node, cursor: t.Any
) -> str:
    if fixture.format == "sql":
        return str(fixture.sql)
    types = _relation_columns(session, relation, cursor)
    rows = fixture.rows or []
    if not types:  # the input is not built yet: the rows' own columns, values untyped
        names = list(dict.fromkeys(k for row in rows for k in row))
        if not names:
            raise ExecutionError(
                f"unit test '{node.name}': {relation} does not exist, so the columns of an "
                "input without rows are unknown.",
                path=node.path,
                node=node.name,
                hint="Build the model's parents first (wml build runs them in order), or give a row.",
            )
        types = [(n, None) for n in names]
    known = {c.lower() for c, _ in types}
    unknown = sorted({k for row in rows for k in row if k.lower() not in known})
    if unknown:
        raise ExecutionError(
            f"unit test '{node.name}': {relation} has no column {', '.join(unknown)}.",
            path=node.path,
            node=node.name,
            hint=f"Its columns: {', '.join(c for c, _ in types)}.",
        )
    return _rows_sql(rows, types)


def _rows_sql(rows: list[dict[str, t.Any]], types: list[tuple[str, str | None]]) -> str:
    """``select cast(v as type) as col, ...`` per row, joined by UNION ALL."""
    if not rows:
        cols = ", ".join(_cast(None, typ) + f" as {quote(c)}" for c, typ in types)
        return f"select {cols} where false"
    selects = []
    for row in rows:
        lowered = {k.lower(): v for k, v in row.items()}
        cols = ", ".join(_cast(lowered.get(c.lower()), typ) + f" as {quote(c)}" for c, typ in types)
        selects.append(f"select {cols}")
    return "\nunion all\n".join(selects)


def _cast(value: t.Any, typ: str | None) -> str:
    literal = _literal(value)
    return f"cast({literal} as {typ})" if typ else literal


def _literal(value: t.Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _relation_columns(
    session: Session, relation: Relation | str, cursor: t.Any
) -> list[tuple[str, str | None]]:
    if isinstance(relation, Relation):
        return list(session.adapter.columns(relation, cursor))
    try:
        return _query_columns(session, f"select * from {relation}", cursor)
    except Exception:  # not there (yet): the rows' own values decide, as for a missing ref
        return []


def _query_columns(session: Session, sql: str, cursor: t.Any) -> list[tuple[str, str | None]]:
    """A query's column names and types, without running it."""
    if session.adapter.dialect == "duckdb":
        return [
            (str(r[0]), str(r[1]))
            for r in session.adapter.execute(f"describe {sql}", cursor=cursor)
        ]
    table = session.adapter.fetch_arrow(f"select * from ({sql}) as wml_probe limit 0", cursor)
    return [(f.name, session.adapter.column_type(f, table)) for f in table.schema]


def _result_columns(
    session: Session, sql: str, spec: UnitTestSpec, node: Node, cursor: t.Any
) -> list[tuple[str, str | None]]:
    """The model's columns that ``expect`` names (all of them for format sql), typed."""
    columns = _query_columns(session, sql, cursor)
    if spec.expect.format == "sql":
        return columns
    wanted = list(dict.fromkeys(k for row in spec.expect.rows or [] for k in row))
    if not wanted:
        return columns  # rows: []: the model must return no rows
    by_name = {c.lower(): (c, typ) for c, typ in columns}
    missing = [w for w in wanted if w.lower() not in by_name]
    if missing:
        raise ExecutionError(
            f"unit test '{node.name}': model '{spec.model}' returns no column "
            f"{', '.join(missing)}.",
            path=node.path,
            node=node.name,
            hint=f"Its columns: {', '.join(c for c, _ in columns)}.",
        )
    return [by_name[w.lower()] for w in wanted]


def _expected_rows(
    session: Session,
    expect: Fixture,
    columns: list[tuple[str, str | None]],
    node: Node,
    cursor: t.Any,
) -> list[tuple]:
    if expect.format == "sql":
        sql = f"select * from (\n{expect.sql}\n) as wml_expected"
    elif not expect.rows:
        return []
    else:
        sql = _rows_sql(expect.rows, columns)
    return session.adapter.execute(sql, cursor=cursor)


def _compare(names: list[str], actual: list[tuple], expected: list[tuple]) -> Outcome:
    got, want = collections.Counter(map(tuple, actual)), collections.Counter(map(tuple, expected))
    extra, missing = got - want, want - got
    if not extra and not missing:
        return Outcome("pass", 0, "")
    lines = [
        f"actual differs from expected ({sum(extra.values())} unexpected rows, "
        f"{sum(missing.values())} missing):",
        _table(names, extra, missing),
    ]
    return Outcome("fail", sum(extra.values()) + sum(missing.values()), "\n".join(lines))


def _table(names: list[str], extra: collections.Counter, missing: collections.Counter) -> str:
    """dbt's diff: ``+++`` rows the model returned, ``---`` rows it should have."""
    rows = [("", *names)]
    for marker, counter in (("+++", extra), ("---", missing)):
        for row, n in sorted(counter.items(), key=lambda kv: repr(kv[0])):
            rows += [(marker, *("NULL" if v is None else str(v) for v in row))] * n
    shown = rows[: MAX_DIFF_ROWS + 1]
    widths = [max(len(r[i]) for r in shown) for i in range(len(shown[0]))]
    text = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in shown
    ]
    if len(rows) > len(shown):
        text.append(f"... and {len(rows) - len(shown)} more rows")
    return "\n".join(text)
