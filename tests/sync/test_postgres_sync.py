"""The postgres destination against a real PostgreSQL server (tests/pg_server.py)."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error
from pg_server import pg_bin, postgres_server

from sync.helpers import PEOPLE, set_people, write_project

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def dsn():
    with postgres_server() as found:
        yield found


def pg_yaml(table: str, extra: str = "") -> str:
    return f"""
    syncs:
      - name: scores_pg
        source: scores
        key: id
        fields: {{full_name: name, score: score}}
        destination:
          type: postgres
          dsn: "{{{{ env_var('PG_DSN') }}}}"
          schema: ops
          table: {table}
          batch_size: 2
          {extra}
    """


def rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        cur = con.execute(sql)
        return cur.fetchall() if cur.description else []


def test_creates_upserts_and_deletes(project, dsn):
    write_project(project, pg_yaml("scores"))
    assert project.wml("build").exit_code == 0
    first = project.wml("sync", env={"PG_DSN": dsn})
    assert first.exit_code == 0, first.output
    assert rows(dsn, "select id, full_name, score from ops.scores order by id") == [
        (1, "ada", 0.5), (2, "bob", 0.7), (3, "cy", 0.1), (4, "di", 0.9), (5, "ed", 0.3)]  # fmt: skip
    types = dict(rows(dsn, "select column_name, data_type from information_schema.columns "
                           "where table_name = 'scores'"))  # fmt: skip
    assert types == {"id": "bigint", "full_name": "text", "score": "double precision"}
    # Rows changed by hand in PostgreSQL are left alone unless their source row changes.
    rows(dsn, "update ops.scores set full_name = 'ADA' where id = 1")
    set_people(project, PEOPLE.replace("0.7", "0.75").replace("5,ed,0.3,e@x.io\n", ""))
    second = project.wml("sync", env={"PG_DSN": dsn})
    assert second.exit_code == 0, second.output
    assert "0 added, 1 changed, 1 removed" in second.output
    assert rows(dsn, "select id, full_name, score from ops.scores order by id") == [
        (1, "ADA", 0.5), (2, "bob", 0.75), (3, "cy", 0.1), (4, "di", 0.9)]  # fmt: skip


def test_keeps_removed_rows_when_told(project, dsn):
    write_project(project, pg_yaml("kept", "delete_removed: false"))
    assert project.wml("build").exit_code == 0
    assert project.wml("sync", env={"PG_DSN": dsn}).exit_code == 0
    set_people(project, PEOPLE.replace("5,ed,0.3,e@x.io\n", ""))
    assert project.wml("sync", env={"PG_DSN": dsn}).exit_code == 0
    assert rows(dsn, "select count(*) from ops.kept") == [(5,)]


def test_a_table_without_a_key_index_is_refused(project, dsn):
    rows(dsn, "create schema if not exists ops; create table ops.nokey (id bigint, full_name text, score float8)")
    write_project(project, pg_yaml("nokey"))
    assert project.wml("build").exit_code == 0
    result = project.wml("sync", env={"PG_DSN": dsn})
    assert_clean_error(result, 2, "models_sql/syncs.yml", "no primary key or unique index on (id)")
    assert rows(dsn, "select count(*) from ops.nokey") == [(0,)]


def test_an_unreachable_server_fails_and_records_nothing(project, dsn):
    write_project(project, pg_yaml("scores2"))
    assert project.wml("build").exit_code == 0
    bad = dsn.replace("port=", "port=1") if "port=1" not in dsn else dsn.replace("port=1", "port=2")
    result = project.wml("sync", env={"PG_DSN": bad + " connect_timeout=2"})
    assert_clean_error(result, 1, "destination unavailable")
    assert project.scalar("select count(*) from wml.sync_state") == 0
