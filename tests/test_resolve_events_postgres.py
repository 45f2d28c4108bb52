"""wml.resolve_events compiled for PostgreSQL (the Redshift stand-in) runs on a real server
and answers as on DuckDB: both lookups (default and normalized=true) equal the former
three joins there too, row for row, and normalized=true over raw values fails the query.

The graph is built once on DuckDB (test_resolve_events.build); its rows, the events and the
normalizing staging's rows are copied into PostgreSQL with bound values; then the SQL that
`wml compile --dialect postgres` writes for each model runs on the server.
"""

from __future__ import annotations

import typing as t

import pytest
from conftest import Project
from test_resolve_events import build

psycopg = pytest.importorskip("psycopg")

TABLES = {
    "events": "message_id text, \"timestamp\" timestamp, user_id text, email text, anonymous_id text",
    "stg": "message_id text, \"timestamp\" timestamp, user_id text, email text, anonymous_id text",
    "graph": "identifier_type text, identifier_value text, profile_id text, "
    "first_seen_at timestamp, drop_reason text",
}
MODELS = ("resolved", "reference", "resolved_norm", "reference_norm", "resolved_broken")


@pytest.fixture(scope="module")
def loaded(pg: t.Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, str]]:
    project = build(tmp_path_factory.mktemp("resolve_pg") / "p", "redshift")
    result = project.wml("compile", "--dialect", "postgres", "-s", *MODELS)
    assert result.exit_code == 0, result.output
    compiled = project.root / "target" / "compiled" / "models_sql"
    sql = {name: (compiled / f"{name}.sql").read_text() for name in MODELS}
    with pg.cursor() as cur:
        cur.execute("create schema if not exists main")
        for name, columns in TABLES.items():
            cur.execute(f"create table main.{name} ({columns})")
            rows = project.query(f"select * from main.{name}")
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"insert into main.{name} values ({marks})", rows)
    return project, sql


def _rows(pg: t.Any, sql: str) -> list[tuple]:
    with pg.cursor() as cur:
        cur.execute(f"select message_id, profile_id from ({sql}) as x order by 1")
        return cur.fetchall()


@pytest.mark.parametrize("new, old", [("resolved", "reference"), ("resolved_norm", "reference_norm")])
def test_lookups_equal_the_former_joins_on_postgres(
    pg: t.Any, loaded: tuple[Project, dict[str, str]], new: str, old: str
) -> None:
    project, sql = loaded
    on_pg = _rows(pg, sql[new])
    assert on_pg == _rows(pg, sql[old])
    assert on_pg == project.query(f"select message_id, profile_id from main.{new} order by 1")
    assert sum(p is not None for _, p in on_pg) > len(on_pg) // 2


def test_normalized_over_raw_values_fails_on_postgres(
    pg: t.Any, loaded: tuple[Project, dict[str, str]]
) -> None:
    _, sql = loaded
    with pytest.raises(psycopg.Error, match=r"resolve_events\(normalized=true\): a value of"):
        _rows(pg, sql["resolved_broken"])


def test_compiled_sql_names_every_lookup(loaded: tuple[Project, dict[str, str]]) -> None:
    """The default form joins each type twice, normalized=true once (what the speed buys)."""
    _, sql = loaded
    assert sql["resolved"].lower().count("left join") == 6
    assert sql["resolved_norm"].lower().count("left join") == 3
