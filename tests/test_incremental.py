"""Incremental models: strategies, NULL-safe keys, schema changes, full refresh."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

EVENTS_V1 = "id,kind,amount\n1,a,10\n2,b,20\n,c,30\n"
EVENTS_V2 = "id,kind,amount\n1,a,11\n2,b,20\n,c,31\n3,d,40\n"


def model(strategy: str, extra: str = "") -> str:
    key = "" if strategy == "append" else ", unique_key='id'"
    return f"""
        {{{{ config(materialized='incremental', incremental_strategy='{strategy}'{key}{extra}) }}}}
        select id, kind, amount from {{{{ ref('events') }}}}
        {{% if is_incremental() %}}
        where amount >= (select min(amount) from {{{{ this }}}} where amount > 10) or id is null or id = 3
        {{% endif %}}
    """


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_upsert_strategies_match_null_keys_and_never_duplicate(project, strategy):
    project.write({"seeds/events.csv": EVENTS_V1, "models_sql/inc.sql": model(strategy)})
    assert project.wml("build").exit_code == 0
    project.write({"seeds/events.csv": EVENTS_V2})
    for _ in range(2):  # an idempotent rerun must not duplicate the NULL-keyed row
        result = project.wml("build")
        assert result.exit_code == 0, result.output
    rows = project.query("select id, kind, amount from main.inc order by id nulls last")
    assert rows == [(1, "a", 10), (2, "b", 20), (3, "d", 40), (None, "c", 31)]


def test_append_adds_rows_and_full_refresh_rebuilds(project):
    project.write({"seeds/events.csv": EVENTS_V1, "models_sql/inc.sql": model("append")})
    assert project.wml("build").exit_code == 0
    project.write({"seeds/events.csv": EVENTS_V2})
    assert project.wml("build").exit_code == 0
    assert project.scalar("select count(*) from main.inc") > 3
    assert project.wml("build", "--full-refresh").exit_code == 0
    assert project.scalar("select count(*) from main.inc") == 4


def schema_model(mode: str, columns: str) -> str:
    return f"""
        {{{{ config(materialized='incremental', unique_key='id', on_schema_change='{mode}') }}}}
        select {columns} from {{{{ ref('events') }}}}
    """


@pytest.mark.parametrize(
    ("mode", "expected_columns"),
    [
        ("ignore", ["id", "kind", "amount"]),
        ("append_new_columns", ["id", "kind", "amount", "doubled"]),
        ("sync_all_columns", ["id", "amount", "doubled"]),
    ],
)
def test_on_schema_change(project, mode, expected_columns):
    project.write({"seeds/events.csv": EVENTS_V1, "models_sql/inc.sql": schema_model(mode, "id, kind, amount")})
    assert project.wml("build").exit_code == 0
    new_cols = "id, amount, amount * 2 as doubled" if mode == "sync_all_columns" else "id, kind, amount, amount * 2 as doubled"
    project.write({"models_sql/inc.sql": schema_model(mode, new_cols)})
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    cols = [r[0] for r in project.query(
        "select column_name from information_schema.columns where table_name = 'inc' order by ordinal_position")]
    assert cols == expected_columns
    assert project.scalar("select count(*) from main.inc") == 3


def test_on_schema_change_fail_keeps_table(project):
    project.write({"seeds/events.csv": EVENTS_V1, "models_sql/inc.sql": schema_model("fail", "id, kind")})
    assert project.wml("build").exit_code == 0
    project.write({"models_sql/inc.sql": schema_model("fail", "id, kind, amount")})
    result = project.wml("run")
    assert_clean_error(result, 1, "models_sql/inc.sql", "inc", "added ['amount']", "--full-refresh")
    cols = [r[0] for r in project.query(
        "select column_name from information_schema.columns where table_name = 'inc'")]
    assert cols == ["id", "kind"]


def test_strategy_without_key_is_a_config_error(project):
    project.write({
        "seeds/events.csv": EVENTS_V1,
        "models_sql/inc.sql": "{{ config(materialized='incremental', incremental_strategy='merge') }}\n"
        "select * from {{ ref('events') }}\n",
    })
    assert project.wml("build").exit_code == 0  # first build is a plain table
    assert_clean_error(project.wml("run"), 1, "needs a unique_key", "inc")


def test_composite_unique_key(project):
    project.write({
        "seeds/events.csv": "a,b,v\n1,x,1\n1,y,2\n",
        "models_sql/inc.sql": "{{ config(materialized='incremental', unique_key=['a', 'b']) }}\n"
        "select * from {{ ref('events') }}\n",
    })
    assert project.wml("build").exit_code == 0
    project.write({"seeds/events.csv": "a,b,v\n1,x,5\n2,x,3\n"})
    assert project.wml("build").exit_code == 0
    assert project.query("select * from main.inc order by a, b") == [(1, "x", 5), (1, "y", 2), (2, "x", 3)]
