"""dbt's cross-database macros (``dbt.*``) rendered by wml and run on DuckDB: call -> value.

Each case is rendered through the session's renderer (as a model would be) and executed
on a real DuckDB file; the expected values are what dbt-duckdb gives for the same call.
"""

from __future__ import annotations

import datetime as dt
import decimal
import textwrap
import typing as t

import pytest

from warehouse_ml.run.session import open_session

PROFILE = """\
test:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
"""

D = dt.date
TS = dt.datetime
LETTERS = "(values ('a', 1, true), ('b', 2, false), ('c', 3, false)) as t(x, n, flag)"

# (macro call as written in a model, the value DuckDB returns for `select <call>`)
SCALARS: list[tuple[str, t.Any]] = [
    ("dbt.date_trunc('month', \"date '2020-03-17'\")", TS(2020, 3, 1)),
    ("dbt.dateadd('day', 1, \"date '2020-01-31'\")", TS(2020, 2, 1)),
    ("dbt.dateadd('month', 1, \"date '2020-01-31'\")", TS(2020, 2, 29)),
    ("dbt.dateadd('quarter', 1, \"date '2020-01-15'\")", TS(2020, 4, 15)),
    ("dbt.dateadd('week', -1, \"date '2020-01-15'\")", TS(2020, 1, 8)),
    ("dbt.dateadd('year', '1 + 1', \"date '2020-02-29'\")", TS(2022, 2, 28)),
    ("dbt.dateadd('hour', 3, \"timestamp '2020-01-01 22:00:00'\")", TS(2020, 1, 2, 1)),
    ("dbt.datediff(\"date '2020-01-01'\", \"date '2020-03-01'\", 'day')", 60),
    ("dbt.datediff(\"date '2020-01-31'\", \"date '2020-02-01'\", 'month')", 1),
    ("dbt.datediff(\"date '2019-12-31'\", \"date '2020-01-01'\", 'year')", 1),
    ("dbt.datediff(\"timestamp '2020-01-01 10:00'\", \"timestamp '2020-01-01 12:30'\", 'hour')", 2),
    # weeks are Sunday-started boundaries crossed: Saturday -> Sunday is one week
    ("dbt.datediff(\"date '2018-01-06'\", \"date '2018-01-07'\", 'week')", 1),
    ("dbt.datediff(\"date '2018-01-07'\", \"date '2018-01-13'\", 'week')", 0),
    ("dbt.datediff(\"date '2018-01-14'\", \"date '2018-01-01'\", 'week')", -2),
    ("dbt.last_day(\"date '2020-02-10'\", 'month')", D(2020, 2, 29)),
    ("dbt.last_day(\"date '2020-02-10'\", 'quarter')", D(2020, 3, 31)),
    ("dbt.last_day(\"date '2020-02-10'\", 'year')", D(2020, 12, 31)),
    ("dbt.date(2023, 9, 7)", D(2023, 9, 7)),
    ("dbt.string_literal('it') ~ ' || ' ~ dbt.string_literal(dbt.escape_single_quotes(\"'s\"))", "it's"),
    ("'cast(1 as ' ~ dbt.type_string() ~ ')'", "1"),
    ("'cast(2.5 as ' ~ dbt.type_int() ~ ')'", 3),  # DuckDB rounds
    ("'cast(2 as ' ~ dbt.type_bigint() ~ ')'", 2),
    ("'cast(0.5 as ' ~ dbt.type_float() ~ ')'", 0.5),
    ("'cast(1.5 as ' ~ dbt.type_numeric() ~ ')'", decimal.Decimal("1.500000")),
    ("'cast(\\'2020-01-02 03:04:05\\' as ' ~ dbt.type_timestamp() ~ ')'", TS(2020, 1, 2, 3, 4, 5)),
    ("'cast(1 as ' ~ dbt.type_boolean() ~ ')'", True),
    ("dbt.concat([\"'a'\", \"'b'\", \"'c'\"])", "abc"),
    ("dbt.hash(\"'a'\")", "0cc175b9c0f1b6a831c399e269772661"),
    ("dbt.safe_cast(\"'42'\", dbt.type_int())", 42),
    ("dbt.cast(\"'7'\", 'integer')", 7),
    ("dbt.split_part(\"'a,b,c'\", \"','\", 2)", "b"),
    ("dbt.split_part(\"'a,b,c'\", \"','\", -1)", "c"),
    ("dbt.cast_bool_to_text('true')", "true"),
    ("dbt.replace(\"'banana'\", \"'a'\", \"'o'\")", "bonono"),
    ("dbt.length(\"'hello'\")", 5),
    ("dbt.position(\"'l'\", \"'hello'\")", 3),
    ("dbt.right(\"'hello'\", 3)", "llo"),
    ("dbt.array_construct([1, 2])", [1, 2]),
    ("dbt.array_construct([])", []),
    ("dbt.array_append(dbt.array_construct([1]), 5)", [1, 5]),
    ("dbt.array_concat(dbt.array_construct([1]), dbt.array_construct([2, 3]))", [1, 2, 3]),
    ("dbt.equals('1', '1')", True),
    # bare names work as in dbt (no project macro overrides them here)
    ("dateadd('day', 2, \"date '2020-01-01'\")", TS(2020, 1, 3)),
    ("'cast(3 as ' ~ type_int() ~ ')'", 3),
]

AGGREGATES: list[tuple[str, t.Any]] = [
    ("dbt.listagg('x')", None),  # order not guaranteed: checked as a set below
    ("dbt.listagg('x', \"'|'\", 'order by x desc')", "c|b|a"),
    ("dbt.listagg('x', \"','\", 'order by n', 2)", "a,b"),
    ("dbt.any_value('n') ~ ' in (1, 2, 3)'", True),
    ("dbt.bool_or('flag')", True),
    ("dbt.bool_or('not flag and n > 5')", False),
]

QUERIES: list[tuple[str, t.Any]] = [
    ("select count(*), min(generated_number), max(generated_number) from ({{ dbt.generate_series(10) }})", (10, 1, 10)),
    ("select count(*), min(date_day), max(date_day) from ({{ dbt.date_spine('day', \"cast('2020-01-01' as date)\", \"cast('2020-01-10' as date)\") }})",
     (9, TS(2020, 1, 1), TS(2020, 1, 9))),
    ("select count(*) from ({{ dbt.date_spine('month', \"cast('2020-01-01' as date)\", \"cast('2021-01-01' as date)\") }})", (12,)),
    ("select count(*) from (select 1 union all select 2 {{ dbt.except() }} select 2)", (1,)),
    ("select count(*) from (select * from (select 1 union all select 2) {{ dbt.intersect() }} select 2)", (1,)),
    ("select {{ dbt.current_timestamp() }} is not null, typeof({{ dbt.current_timestamp_backcompat() }})", (True, "TIMESTAMP")),
]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("crossdb")
    (root / "profiles.yml").write_text(PROFILE)
    (root / "wml_project.yml").write_text("name: crossdb\n")
    s = open_session(root)
    s.renderer.parse()
    yield s
    s.close()


def run(session: t.Any, template: str) -> list[tuple[t.Any, ...]]:
    sql, _ = session.renderer.render_inline(textwrap.dedent(template), "<case>")
    return session.adapter.execute(sql)


@pytest.mark.parametrize(("call", "expected"), SCALARS, ids=[c for c, _ in SCALARS])
def test_scalar_macro(session, call, expected):
    value = run(session, f"select {{{{ {call} }}}}")[0][0]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("call", "expected"), AGGREGATES, ids=[c for c, _ in AGGREGATES])
def test_aggregate_macro(session, call, expected):
    value = run(session, f"select {{{{ {call} }}}} from {LETTERS}")[0][0]
    if expected is None:
        assert sorted(value.split(",")) == ["a", "b", "c"]
    else:
        assert value == expected


@pytest.mark.parametrize(("template", "expected"), QUERIES, ids=[q[:60] for q, _ in QUERIES])
def test_query_macro(session, template, expected):
    assert run(session, template)[0] == expected


def test_default_implementations_are_dispatch_candidates(session):
    """Every public macro dispatches to a default__ (or duckdb__) implementation that a
    project can override: the candidates exist under dbt's names."""
    internal = session.renderer.dbt.macros.internal
    for name in ("dateadd", "datediff", "date_trunc", "last_day", "concat", "hash", "listagg",
                 "split_part", "type_string", "generate_series", "date_spine", "get_where_subquery"):
        assert f"default__{name}" in internal or f"duckdb__{name}" in internal, name
