"""Models written in Redshift SQL run on DuckDB; compile writes any dialect or fails loudly."""

from __future__ import annotations

import pytest
import sqlglot
from conftest import assert_clean_error

from warehouse_ml.adapters import dialects
from warehouse_ml.errors import CompilationError

REDSHIFT_MODEL = """
    {{ config(materialized='table') }}
    select
        user_id,
        dateadd(day, 30, max(ts::date)) as renew_on,  -- Redshift: DATEADD returns a TIMESTAMP
        datediff(day, min(ts), max(ts)) as span_days,
        nvl(sum(amount), 0) as revenue,
        listagg(item, ',') within group (order by item) as items,
        count(*)::varchar as n_text,
        getdate() >= max(ts) as in_past
    from {{ ref('orders') }}
    group by user_id
"""


def test_redshift_sql_runs_on_duckdb(project):
    project.write({
        "wml_project.yml": "name: test\nsql_dialect: redshift\n",
        "seeds/orders.csv": "user_id,ts,amount,item\n1,2026-01-01 10:00:00,5,b\n1,2026-01-11 10:00:00,,a\n2,2026-02-01 00:00:00,7,c\n",
        "models_sql/user_orders.sql": REDSHIFT_MODEL,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    rows = project.query("select user_id, renew_on::varchar, span_days, revenue, items, n_text, in_past "
                         "from main.user_orders order by 1")
    assert rows == [(1, "2026-02-10 00:00:00", 10, 5, "a,b", "2", True), (2, "2026-03-03 00:00:00", 0, 7, "c", "1", True)]


@pytest.mark.parametrize("dialect", ["redshift", "postgres", "snowflake", "bigquery", "duckdb"])
def test_compile_writes_each_dialect_that_parses_back(project, dialect):
    project.write({
        "wml_project.yml": "name: test\nsql_dialect: redshift\n",
        "seeds/orders.csv": "user_id,ts,amount,item\n1,2026-01-01 10:00:00,5,b\n",
        "models_sql/user_orders.sql": REDSHIFT_MODEL.replace(
            "listagg(item, ',') within group (order by item)", "max(item)"),
    })
    result = project.wml("compile", "--dialect", dialect)
    assert result.exit_code == 0, result.output
    compiled = (project.root / "target/compiled/models_sql/user_orders.sql").read_text()
    assert '"main"."orders"' in compiled or "`main`.`orders`" in compiled
    sqlglot.parse_one(compiled, read=dialect)  # valid in the target dialect


def test_untranslatable_construct_fails_naming_model(project):
    project.write({
        "seeds/t.csv": "x,y\n1,2\n",
        "models_sql/agg.sql": "select array_agg(x order by y) as xs from {{ ref('t') }}\n",
    })
    result = project.wml("compile", "--dialect", "bigquery")
    assert_clean_error(result, 2, "models_sql/agg.sql", "agg", "cannot translate to bigquery")


def test_parse_error_names_line():
    with pytest.raises(CompilationError) as info:
        dialects.transpile("select (1 +\n  from t", "redshift", "duckdb", node="m", path="models_sql/m.sql")
    assert info.value.line == 2 and "models_sql/m.sql:2" in str(info.value)


def test_called_functions_found_by_parsing():
    sql = "select predict_ltv(a, b), predict_ltv_prob(a) from t where 'predict_churn(' <> c"
    assert dialects.called_functions(sql, "duckdb", {"predict_ltv", "predict_ltv_prob", "predict_churn"}) == {
        "predict_ltv", "predict_ltv_prob"}


def test_model_must_be_one_statement(project):
    project.write({"models_sql/two.sql": "select 1;\nselect 2\n"})
    assert_clean_error(project.wml("compile", "--dialect", "redshift"), 2, "exactly one SELECT", "two")


def test_generic_tests_skip_sqlglot_only_where_sql_is_ours(project):
    """Tests are our own portable SQL, but a `where` is the user's Redshift SQL."""
    project.write({
        "wml_project.yml": "name: test\nsql_dialect: redshift\n",
        "seeds/orders.csv": "user_id,ts,item\n1,2026-01-01 10:00:00,it's\n2,2016-01-01 00:00:00,x\n",
        "seeds/schema.yml": """
            seeds:
              - name: orders
                columns:
                  - name: user_id
                    tests: [not_null, unique]
                  - name: item
                    tests:
                      - accepted_values:
                          values: ["it's"]
                          config: {where: "datediff(day, ts, getdate()) < 2000"}
        """,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert "3 pass" in result.output  # the 2016 row is outside the where
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    compiled = project.root / "target/compiled/seeds"
    with_where = next(compiled.glob("accepted_values_*.sql")).read_text()
    assert "datediff(day" not in with_where.lower()  # transpiled for DuckDB
    result = project.wml("compile", "--dialect", "bigquery")
    assert result.exit_code == 0, result.output
    for path in compiled.glob("*.sql"):
        assert "`orders`" in path.read_text(), path.name  # BigQuery quoting everywhere
