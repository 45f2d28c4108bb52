"""Seeds and models on a Redshift target, with a real PostgreSQL server standing in.

Without a cluster only SQL can be tested, so the parity tests' throwaway PostgreSQL server
stands in: Redshift speaks PostgreSQL's protocol, and the statements a build sends here
(CREATE SCHEMA/TABLE, multi-row INSERT with bound parameters, information_schema, ALTER
TABLE RENAME, CREATE TABLE AS) mean the same on both. ``redshift_connector`` is replaced
by a module whose ``connect`` opens a psycopg connection with the same arguments.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import types
import typing as t

import pytest
from conftest import assert_clean_error
from pg_server import pg_bin, postgres_server

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed")

ORDERS = """\
id,customer,placed_on,amount,gift
1,it's me,2026-01-02,10.50,true
2,"comma, inside",2026-02-03,,false
3,,2026-03-04,7.25,
"""


@pytest.fixture(scope="module")
def dsn() -> t.Iterator[str]:
    with postgres_server() as found:
        yield found


@pytest.fixture
def redshift_project(project, dsn, monkeypatch):
    params = dict(part.split("=", 1) for part in dsn.split())

    def connect(host, port, database, user, password):
        return psycopg.connect(host=host, port=port, dbname=database, user=user)

    monkeypatch.setitem(sys.modules, "redshift_connector", types.SimpleNamespace(connect=connect))
    project.write({
        "profiles.yml": f"""
            test:
              target: prod
              outputs:
                prod:
                  type: redshift
                  host: {params["host"]}
                  port: {params["port"]}
                  dbname: {params["dbname"]}
                  user: {params["user"]}
                  password: "{{{{ env_var('WML_TEST_PG_PASSWORD', 'unused') }}}}"
                  schema: analytics
                  threads: 1
        """,
        "wml_project.yml": "name: test\nprofile: test\n",
        "seeds/orders.csv": ORDERS,
        "seeds/schema.yml": """
            seeds:
              - name: orders
                config: {column_types: {amount: 'DECIMAL(10, 2)'}}
                columns:
                  - name: id
                    tests: [unique, not_null]
        """,
        "models_sql/revenue.sql": """
            {{ config(materialized='table') }}
            select count(*) as n, sum(amount) as revenue from {{ ref('orders') }}
        """,
    })  # fmt: skip
    return project


def _query(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("values_per_insert", [20_000, 12])  # one INSERT, or one per 2 rows
def test_seed_rows_types_and_downstream_model(
    redshift_project, dsn, monkeypatch, values_per_insert
) -> None:
    monkeypatch.setattr("warehouse_ml.adapters.base.INSERT_VALUES", values_per_insert)
    result = redshift_project.wml("build")
    assert result.exit_code == 0, result.output
    assert _query(dsn, "select * from analytics.orders order by id") == [
        (1, "it's me", dt.date(2026, 1, 2), decimal.Decimal("10.50"), True),
        (2, "comma, inside", dt.date(2026, 2, 3), None, False),
        (3, None, dt.date(2026, 3, 4), decimal.Decimal("7.25"), None),
    ]
    types_ = _query(dsn, "select column_name, data_type from information_schema.columns "
                         "where table_name = 'orders' order by ordinal_position")  # fmt: skip
    assert [t for _, t in types_] == ["bigint", "character varying", "date", "numeric", "boolean"]
    assert _query(dsn, "select n, revenue from analytics.revenue") == [(3, decimal.Decimal("17.75"))]


def test_bad_seed_row_names_line_and_keeps_the_table(redshift_project, dsn) -> None:
    assert redshift_project.wml("seed").exit_code == 0
    redshift_project.write({"seeds/orders.csv": ORDERS + "4,too,many,columns,here,!\n"})
    assert_clean_error(redshift_project.wml("seed"), 1, "seeds/orders.csv:5", "orders", "Line: 5")
    assert _query(dsn, "select count(*) from analytics.orders") == [(3,)]
