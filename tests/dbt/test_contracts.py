"""Model contracts: names, types and count checked before the swap; constraints applied."""

from __future__ import annotations

import pytest

YAML = """
models:
  - name: m
    config:
      contract: {enforced: true}
    constraints:
      - type: check
        expression: "amount >= 0"
    columns:
      - name: id
        data_type: int
        constraints: [{type: not_null}, {type: primary_key}]
      - name: name
        data_type: text
      - name: amount
        data_type: decimal(10,2)
"""


@pytest.fixture
def contracted(project):
    project.write({
        "models_sql/m.yml": YAML,
        "models_sql/m.sql": "{{ config(materialized='table') }}\n"
                            "select 'ada' as name, 1 as id, 2.50::decimal(10,2) as amount",
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    return project


def test_a_table_takes_the_contracts_order_and_constraints(contracted):
    cols = contracted.query(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_name = 'm' order by ordinal_position"
    )
    assert cols == [("id", "INTEGER", "NO"), ("name", "VARCHAR", "YES"), ("amount", "DECIMAL(10,2)", "YES")]
    constraints = {r[0] for r in contracted.query(
        "select constraint_type from duckdb_constraints() where table_name = 'm'")}  # fmt: skip
    assert {"PRIMARY KEY", "NOT NULL", "CHECK"} <= constraints


@pytest.mark.parametrize("sql,row", [
    ("select 'ada' as name, 'x' as id, 2.5::decimal(10,2) as amount", "| id          | VARCHAR         | INTEGER       | data type mismatch"),
    ("select 'ada' as name, 1 as id", "| amount      |                 | DECIMAL(10,2) | missing in definition"),
    ("select 'ada' as name, 1 as id, 2.5::decimal(10,2) as amount, 1 as extra", "| extra       | INTEGER         |               | missing in contract"),
])  # fmt: skip
def test_a_broken_contract_fails_with_dbts_table_and_keeps_the_old_table(contracted, sql, row):
    contracted.write({"models_sql/m.sql": "{{ config(materialized='table') }}\n" + sql})
    result = contracted.wml("run")
    assert result.exit_code == 1
    assert "This model has an enforced contract that failed." in result.output
    assert row in result.output, result.output
    assert contracted.query("select id, name from m") == [(1, "ada")]


def test_a_constraint_the_rows_break_fails_the_build(contracted):
    contracted.write({"models_sql/m.sql": "{{ config(materialized='table') }}\n"
                                          "select 'ada' as name, 1 as id, -1.0::decimal(10,2) as amount"})  # fmt: skip
    result = contracted.wml("run")
    assert result.exit_code == 1
    assert "CHECK" in result.output.upper()
    assert contracted.query("select amount from m")[0][0] == 2.5


def test_a_view_is_checked_and_its_constraints_warned(project):
    project.write({
        "models_sql/m.yml": YAML,
        "models_sql/m.sql": "select 1 as id, 'a' as name, 1.0::decimal(10,2) as amount",
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert "constraints on view 'm' are not applied" in result.output
    project.write({"models_sql/m.sql": "select 1 as id, 'a' as name"})
    assert project.wml("run").exit_code == 1
    assert project.query("select id from m") == [(1,)]


def test_a_column_without_data_type_is_a_config_error(project):
    project.write({
        "models_sql/m.yml": "models:\n  - name: m\n    config: {contract: {enforced: true}}\n    columns: [{name: id}]\n",
        "models_sql/m.sql": "select 1 as id",
    })  # fmt: skip
    result = project.wml("run")
    assert result.exit_code != 0
    assert "have no data_type" in result.output
