"""`wml init --template`: the plain dbt starter (default) and the ecommerce product tour."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import assert_clean_error

from warehouse_ml.cli.main import main


def _wml(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`wml ...` as a user types it, in `cwd` (no --project-dir)."""
    return subprocess.run([sys.executable, "-m", "warehouse_ml", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    parent = tmp_path_factory.mktemp("init")
    created = _wml(parent, "init", "shop", "--template", "ecommerce")
    assert created.returncode == 0, created.stderr
    started = time.perf_counter()
    built = _wml(parent / "shop", "build")
    assert built.returncode == 0, built.stdout + built.stderr
    return parent / "shop", time.perf_counter() - started


def _results(root: Path) -> dict[str, str]:
    data = json.loads((root / "target/run_results.json").read_text())
    return {".".join(r["unique_id"].split(".")[0:3:2]): r["status"] for r in data["results"]}


def _query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_ecommerce_builds_out_of_the_box_in_seconds(shop: tuple[Path, float]) -> None:
    root, seconds = shop
    assert seconds < 90  # about 5 s alone; generous for a loaded test machine
    results = _results(root)
    assert all(s in ("success", "pass") for s in results.values()), results
    kinds = {uid.split(".")[0] for uid in results}
    assert kinds == {"seed", "model", "test"}


def test_ecommerce_resolves_identities_and_computes_traits(shop: tuple[Path, float]) -> None:
    root, _ = shop
    [(profiles, identifiers)] = _query(root, "select count(distinct profile_id), count(*) from identity_map")
    assert 0 < profiles < identifiers
    [(n, with_orders)] = _query(root, "select count(*), count(*) filter (where orders > 0) from profile_traits")
    assert 0 < n <= profiles and 0 < with_orders < n  # profiles with events before as_of
    # the trait macros read event_at through the project default in wml_project.yml
    assert "timestamp: event_at" in (root / "wml_project.yml").read_text()
    assert "timestamp=" not in (root / "macros/features.sql").read_text()


def test_ecommerce_scoring_model_calls_the_ml_function(shop: tuple[Path, float]) -> None:
    root, _ = shop
    assert "predict_purchase_prob(" in (root / "models_sql/scoring/purchase_scores.sql").read_text()
    assert _results(root)["model.purchase_model"] == "success"
    [(n, low, high, distinct)] = _query(root, "select count(*), min(purchase_probability), "
                                        "max(purchase_probability), count(distinct purchase_probability) "
                                        "from purchase_scores")  # fmt: skip
    assert 0 <= low < high <= 1 and distinct > n // 4


def test_ecommerce_runs_data_tests(shop: tuple[Path, float]) -> None:
    results = _results(shop[0])
    assert results["test.probabilities_are_probabilities"] == "pass"
    assert results["test.unique_purchase_scores_profile_id"] == "pass"


def test_ecommerce_incremental_model_merges_on_rerun(shop: tuple[Path, float]) -> None:
    root, _ = shop
    rerun = _wml(root, "run", "-s", "profile_event_counts")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _query(root, "select count(*) = count(distinct profile_id) from profile_event_counts") == [(True,)]


def test_plain_template_stays_the_default(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["init", str(tmp_path / "p")]).exit_code == 0
    assert (tmp_path / "p/models_sql/marts/customer_value.sql").exists()
    assert not (tmp_path / "p/models_sql/identity").exists()


def test_unknown_template_lists_the_templates(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "x"), "--template", "nope"])
    assert_clean_error(result, 2, "--template nope is not a template", "Templates: plain (", "ecommerce (")
    assert not (tmp_path / "x").exists()
