"""Sources as DAG nodes: the source: selector, wml ls, and wml source freshness."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from conftest import PROFILE, Project, assert_clean_error

from warehouse_ml.cli.main import main

SOURCES = """
version: 2
sources:
  - name: raw
    schema: main
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 1, period: hour}
    tables:
      - name: orders
        freshness:
          error_after: {count: 1, period: day}
        columns: [{name: id, tests: [not_null]}]
      - name: customers
        freshness:
          error_after: {count: 12, period: hour}
      - name: fresh
      - name: filtered
        identifier: customers
        freshness:
          warn_after: {count: 2, period: day}
          filter: "id > 1"
      - name: empty
      - name: unchecked
        identifier: orders
        freshness: null
  - name: other
    schema: main
    freshness: {warn_after: {count: 1, period: hour}}
    tables: [{name: no_field, identifier: orders}]
"""


def freshness(p: Project, *args: str) -> Result:
    return CliRunner().invoke(main, ["source", "freshness", "--project-dir", str(p.root), *args])


@pytest.fixture
def shop(tmp_path: Path) -> Project:
    p = Project(tmp_path / "shop")
    p.root.mkdir()
    p.write(
        {
            "profiles.yml": PROFILE.replace("test:", "shop:", 1),
            "dbt_project.yml": "name: shop\nprofile: shop\n",
            "models/sources.yml": SOURCES,
            "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
            "models/order_count.sql": "select count(*) as n from {{ ref('stg_orders') }}",
            "models/people.sql": "select * from {{ source('raw', 'customers') }}",
        }
    )
    con = duckdb.connect(str(p.root / "warehouse.duckdb"))
    utc_now = "(now() at time zone 'UTC')"
    con.execute(f"create table orders as select 1 as id, {utc_now} - interval 2 hour as loaded_at")
    con.execute(
        f"create table customers as select * from (values (1, {utc_now} - interval 1 day),"
        f" (2, {utc_now} - interval 3 day)) v(id, loaded_at)"
    )
    con.execute(f"create table fresh as select {utc_now} as loaded_at")
    con.execute("create table empty (loaded_at timestamp)")
    con.close()
    return p


def test_sources_are_listed_and_selectable(shop: Project) -> None:
    listed = shop.wml("ls").output.split()
    assert "source:raw.orders" in listed and "source:other.no_field" in listed
    assert listed.index("source:raw.orders") < listed.index("stg_orders")
    downstream = shop.wml("ls", "-s", "source:raw.orders+").output.split()
    tests = [n for n in downstream if "not_null" in n and n.endswith("orders_id")]
    assert len(tests) == 1  # the source's test, whatever its generated name
    assert sorted(downstream) == sorted(["source:raw.orders", "stg_orders", "order_count", *tests])
    whole = shop.wml("ls", "-s", "source:raw", "--resource-type", "source").output.split()
    assert len(whole) == 6 and "source:other.no_field" not in whole
    result = shop.wml("run", "-s", "source:raw.orders+")
    assert result.exit_code == 0, result.output
    assert shop.scalar("select n from order_count") == 1
    assert "people" not in result.output


def test_freshness_statuses_and_sources_json(shop: Project) -> None:
    result = freshness(shop)
    assert result.exit_code == 1, result.output + result.stderr
    assert "no_field" in result.stderr and "no loaded_at_field" in result.stderr
    doc = json.loads((shop.root / "target" / "sources.json").read_text())
    assert doc["metadata"]["dbt_schema_version"].endswith("/sources/v3.json")
    by_id = {r["unique_id"]: r for r in doc["results"]}
    assert set(by_id) == {
        f"source.shop.raw.{t}" for t in ("orders", "customers", "fresh", "filtered", "empty")
    }
    assert by_id["source.shop.raw.orders"]["status"] == "warn"
    assert by_id["source.shop.raw.customers"]["status"] == "error"
    assert by_id["source.shop.raw.fresh"]["status"] == "pass"
    # Without the filter the newest row is 1 day old (pass); id 2 alone is 3 days old.
    assert by_id["source.shop.raw.filtered"]["status"] == "warn"
    assert by_id["source.shop.raw.filtered"]["criteria"]["filter"] == "id > 1"
    empty = by_id["source.shop.raw.empty"]
    assert empty["status"] == "runtime error" and "NULL" in empty["error"]
    assert set(empty) == {"unique_id", "error", "status"}
    orders = by_id["source.shop.raw.orders"]
    assert orders["criteria"] == {
        "warn_after": {"count": 1, "period": "hour"},
        "error_after": {"count": 1, "period": "day"},
        "filter": None,
    }
    assert 7000 < orders["max_loaded_at_time_ago_in_s"] < 7400


def test_freshness_of_selected_sources_only(shop: Project, tmp_path: Path) -> None:
    out = tmp_path / "fresh.json"
    result = freshness(shop, "-s", "source:raw.orders", "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr  # a warning is not a failure
    assert [r["status"] for r in json.loads(out.read_text())["results"]] == ["warn"]


def test_a_bad_freshness_block_is_a_clear_error(shop: Project) -> None:
    shop.write({"models/sources.yml": SOURCES.replace("period: day}", "period: week}", 1)})
    assert_clean_error(freshness(shop), 2, "raw.orders", "period")
