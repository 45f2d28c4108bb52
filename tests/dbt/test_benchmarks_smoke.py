"""The dbt benchmarks' own logic, without dbt: dbt_compare's relation comparison on two
DuckDB files built here, and dbt_side_by_side's generator read by wml."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from warehouse_ml.project.loader import ProjectSettings

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))  # dbt_side_by_side imports its sibling dbt_compare
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


compare = _load("dbt_compare")
side = _load("dbt_side_by_side")


def _db(path: Path, statements: list[str]) -> Path:
    con = duckdb.connect(str(path))
    for sql in statements:
        con.execute(sql)
    con.close()
    return path


COMMON = [
    "create schema marts",
    "create table main.same as select * from (values (1, 'a'), (2, null), (3, 'c')) v(id, name)",
    "create table marts.values_differ as select * from (values (1, 10.0), (2, 20.0)) v(id, amount)",
    "create table main.cols as select 1 as id, 'x' as name",
]


def test_compare_files_finds_each_kind_of_difference(tmp_path):
    dbt_db = _db(tmp_path / "dbt.duckdb", COMMON + [
        "create table main.only_dbt as select 1 as id",
        "create view main.v as select id from main.same",
    ])  # fmt: skip
    wml_db = _db(tmp_path / "wml.duckdb", [
        "create schema marts",
        # same rows in another order and as BIGINT: still equal
        "create table main.same as select id::bigint as id, name from "
        "(values (3, 'c'), (1, 'a'), (2, null)) v(id, name)",
        "create table marts.values_differ as select * from (values (1, 10.0), (2, 21.0)) v(id, amount)",
        "create table main.cols as select 1 as id, 'x' as label",
        "create table main.only_wml as select 1 as id",
        "create view main.v as select id from main.same where id > 1",
    ])  # fmt: skip
    rows = {r.relation: r for r in compare.compare_files(dbt_db, wml_db)}
    assert set(rows) == {"main.same", "marts.values_differ", "main.cols", "main.only_dbt",
                         "main.only_wml", "main.v"}  # fmt: skip
    assert rows["main.same"].equal and rows["main.same"].dbt.rows == 3
    assert "id: INTEGER/BIGINT" in compare.type_notes(rows["main.same"])
    assert rows["marts.values_differ"].why == "checksum differs (values of amount)"
    assert not rows["marts.values_differ"].equal
    assert rows["main.cols"].why.startswith("columns differ")
    assert rows["main.only_dbt"].why == "missing in wml" and rows["main.only_wml"].why == "only in wml"
    assert rows["main.v"].why == "row counts differ"  # views are evaluated, not just listed


def test_rows_paired_differently_count_as_equal_and_say_so(tmp_path):
    # row_number() over ties: each tool may number tied rows in another order
    a = _db(tmp_path / "a.duckdb", ["create table t as select * from (values ('x', 1), ('y', 2)) v(k, n)"])
    b = _db(tmp_path / "b.duckdb", ["create table t as select * from (values ('x', 2), ('y', 1)) v(k, n)"])
    (row,) = compare.compare_files(a, b)
    assert row.equal and row.why == compare.PAIRING


def test_compare_files_equal_and_missing_file(tmp_path):
    (tmp_path / "a").mkdir()
    a = _db(tmp_path / "a/warehouse.duckdb", COMMON)
    b = _db(tmp_path / "b.duckdb", COMMON)
    rows = compare.compare_files(a, b)
    assert len(rows) == 3 and all(r.equal for r in rows)
    missing = compare.compare_files(a, tmp_path / "never_built.duckdb")
    assert [r.why for r in missing] == ["missing in wml"] * 3


def test_copy_project_brings_local_packages(tmp_path):
    repo = tmp_path / "pkg"
    (repo / "integration_tests").mkdir(parents=True)
    (repo / "dbt_project.yml").write_text("name: pkg\n")
    (repo / "integration_tests/dbt_project.yml").write_text("name: it\nprofile: it\n")
    (repo / "integration_tests/packages.yml").write_text("packages:\n  - local: ../\n")
    (repo / "integration_tests/target").mkdir()  # never copied
    copy = compare.copy_project(repo / "integration_tests", tmp_path / "out")
    assert copy == tmp_path / "out/pkg/integration_tests"
    assert (copy.parent / "dbt_project.yml").exists() and not (copy / "target").exists()
    assert compare.profile_name(copy) == "it"


def test_own_profiles_are_used_only_when_plain_duckdb(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")
    assert compare.own_duckdb_path(tmp_path) is None  # no profiles.yml: generate one
    prof = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {}\n"
    (tmp_path / "profiles.yml").write_text(prof.format("'shop.duckdb'"))
    assert compare.own_duckdb_path(tmp_path) == tmp_path.resolve() / "shop.duckdb"
    (tmp_path / "profiles.yml").write_text(prof.format("\"{{ env_var('DB') }}\""))
    assert compare.own_duckdb_path(tmp_path) is None


def test_outcomes_counts_run_results(tmp_path):
    assert compare.outcomes(tmp_path) == "no target/run_results.json"
    (tmp_path / "target").mkdir()
    results = [{"unique_id": "model.p.a", "status": "success"}, {"unique_id": "test.p.t1", "status": "fail"},
               {"unique_id": "test.p.t2", "status": "pass"}, {"unique_id": "test.p.t3", "status": "pass"}]  # fmt: skip
    (tmp_path / "target/run_results.json").write_text(json.dumps({"results": results}))
    assert compare.outcomes(tmp_path) == "model success 1, test fail 1, test pass 2"


def test_dbt_cache_round_trip(tmp_path):
    db = _db(tmp_path / "shop.duckdb", COMMON)
    log = tmp_path / "dbt.log"
    log.write_text("Done. PASS=3\n")
    run = compare.ToolRun("dbt", [("seed", 0), ("build", 1)], 12.5, log, "model success 3")
    compare._save_dbt_run(tmp_path / "cache", db, run)
    cached_db, cached = compare._load_dbt_run(tmp_path / "cache")
    assert cached_db.name == "shop.duckdb"  # the file name is the catalog views refer to
    assert cached.codes == [("seed", 0), ("build", 1)] and cached.seconds == 12.5
    assert all(r.equal for r in compare.compare_files(cached_db, db))


def test_main_skips_cleanly_without_dbt(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WML_DBT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert compare.main(["--dbt", str(tmp_path / "no-dbt")]) == 0
    assert "dbt not found" in capsys.readouterr().out


def test_generator_writes_a_consistent_dbt_project(tmp_path):
    counts = side.generate(tmp_path, 20)
    assert counts["models"] == 20 and counts["tests"] == 40
    models = {p.stem for p in (tmp_path / "models").rglob("*.sql")}
    assert len(models) == 20
    seeds = {p.stem for p in (tmp_path / "seeds").glob("*.csv")}
    refs = set()
    for sql in (tmp_path / "models").rglob("*.sql"):
        refs |= {part.split("'")[0] for part in sql.read_text().split("ref('")[1:]}
    assert refs <= models | seeds and "stg_customers" in models
    declared = []
    for yml in (tmp_path / "models").rglob("*.yml"):
        declared += [m["name"] for m in yaml.safe_load(yml.read_text())["models"]]
    assert sorted(declared) == sorted(models)
    assert yaml.safe_load((tmp_path / "dbt_project.yml").read_text())["profile"] == "bench"


@pytest.mark.skipif(
    "source_file" not in getattr(ProjectSettings, "__dataclass_fields__", {}),
    reason="wml does not read dbt_project.yml yet (helper 'project')",
)
def test_generated_project_is_listed_by_wml(tmp_path):
    counts = side.generate(tmp_path, 20)
    done = subprocess.run(
        [sys.executable, "-m", "warehouse_ml", "ls", "--project-dir", str(tmp_path),
         "--profiles-dir", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    listed = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(listed) == counts["models"] + counts["tests"] + counts["seeds"]
