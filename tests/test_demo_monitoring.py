"""The demo's drift tests pass on the data as generated (tests/test_readme_monitoring.py
builds the shifted population of `wml demo-data --drift 0.5` and sees them fail)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from warehouse_ml.cli.main import main

DRIFT_TESTS = ("ltv_feature_drift", "ltv_score_drift", "churn_score_drift", "intent_tier_stability")


def _wml(project: Path, *args: str) -> tuple[int, str]:
    command, *rest = args
    env = {"WML_DUCKDB_PATH": str(project / "warehouse.duckdb")}
    where = [] if command == "demo-data" else ["--project-dir", str(project)]
    result = CliRunner().invoke(main, [command, *where, *rest], env=env)
    return result.exit_code, result.output


def test_drift_tests_pass_on_the_demo_as_generated(demo: Path) -> None:
    code, out = _wml(demo, "test", "-s", *DRIFT_TESTS)
    assert code == 0, out
    assert out.count("PASS") == len(DRIFT_TESTS), out


def test_wml_monitor_on_the_demo(demo: Path) -> None:
    code, out = _wml(demo, "monitor", "ltv_model", "--relation", "main.customer_scores", "--fail-on-drift")
    assert code == 0, out
    assert "ltv_model version 1 on main.customer_scores" in out
    for column in ("ltv_score", "recency_days", "frequency", "monetary"):
        assert f"  {column} " in out
