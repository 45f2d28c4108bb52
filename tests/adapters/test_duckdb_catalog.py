"""The DuckDB adapter's catalog lookups: a bind by name where it can, the catalog where
a bind cannot tell, and a swap that still finds a scratch relation an older run left."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse_ml.adapters import make_adapter
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.project.profiles import Target


@pytest.fixture()
def adapter(tmp_path: Path):
    target = Target("dev", "duckdb", "main", 1, {"path": str(tmp_path / "w.duckdb")}, tmp_path)
    a = make_adapter(target)
    a.open()
    a.execute(
        "create schema other; create table other.src as select 1 as x; "
        "create table main.t as select 1 as x; create view main.v as select * from main.t; "
        "create view main.broken as select * from other.src; drop table other.src; "
        'create table main."Odd ""name" as select 1 as x'
    )
    yield a
    a.close()


@pytest.mark.parametrize(
    ("name", "kind"),
    [("t", "table"), ("v", "view"), ("broken", "view"), ("missing", None), ('Odd "name', "table"),
     ("T", "table")],  # DuckDB matches names case-insensitively, so T is t
)
def test_relation_type(adapter, name, kind):
    assert adapter.relation_type(Relation("main", name)) == kind


def test_a_missing_relation_leaves_the_transaction_usable(adapter):
    cur = adapter.cursor()
    with adapter.transaction(cur):
        adapter.execute("create table main.inside as select 2 as x", cursor=cur)
        assert adapter.relation_type(Relation("main", "nowhere"), cur) is None
        assert adapter.relation_type(Relation("main", "inside"), cur) == "table"
    assert adapter.execute("select x from main.inside") == [(2,)]


def test_swap_lookup_finds_a_leftover_scratch_relation(adapter):
    adapter.execute("create view main.t__wml_tmp as select 1 as x")  # a crash's leftover
    assert adapter.swap_lookup(Relation("main", "t__wml_tmp"), Relation("main", "t")) == (
        "view", "table",
    )
    assert adapter.swap_lookup(Relation("main", "n__wml_tmp"), Relation("main", "n")) == (None, None)
    assert adapter.swap_lookup(Relation("other", "n__wml_tmp"), Relation("other", "n")) == (None, None)
