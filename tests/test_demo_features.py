"""The demo's point-in-time features: exact money sums, and a leakage test that bites."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from conftest import PROFILE, PROJECT_FILES, ROOT, Project

from warehouse_ml.cli.main import main

EVENTS = "profile_id,event_at,event,revenue\n" + "".join(
    f"p1,2026-06-0{i + 1} 10:00:00,Order Completed,{r}\n" for i, r in enumerate(("0.1", "0.2", "0.3"))
)


def test_money_features_are_exact_whatever_the_row_order(tmp_path):
    """Float sums depend on the order rows are added (0.1+0.2+0.3 != 0.3+0.2+0.1), so
    parallel builds disagreed in the last bits; integer cents make every order agree."""
    project = Project(tmp_path / "p")
    project.root.mkdir()
    reverse = EVENTS.splitlines()[0] + "\n" + "\n".join(reversed(EVENTS.splitlines()[1:])) + "\n"
    features = (ROOT / "macros" / "demo_features.sql").read_text()
    project.write({"profiles.yml": PROFILE, "wml_project.yml": "name: t\nsql_dialect: redshift\n"})
    (project.root / "macros").mkdir()
    (project.root / "macros" / "demo_features.sql").write_text(features)
    project.write({
        "seeds/ev_up.csv": EVENTS,
        "seeds/ev_down.csv": reverse,
        "models_sql/f_up.sql": "{{ profile_features('2026-07-01', events=ref('ev_up')) }}",
        "models_sql/f_down.sql": "{{ profile_features('2026-07-01', events=ref('ev_down')) }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    cols = "monetary, avg_order_value, revenue_90d"
    up = project.query(f"select {cols} from f_up")
    down = project.query(f"select {cols} from f_down")
    assert up == down == [(0.6, 0.2, 0.6)]


def _copy_demo(target: Path) -> Path:
    target.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, target / name)
    return target


def test_leakage_test_fails_when_a_feature_reads_past_the_cutoff(tmp_path):
    """Plant a leak (features read one day past their as-of time): the SQL test must fail."""
    project = _copy_demo(tmp_path / "leak")
    macro = project / "macros" / "demo_features.sql"
    text = macro.read_text()
    assert text.count("where e.event_at < {{ t }}") == 1
    macro.write_text(text.replace("where e.event_at < {{ t }}", "where e.event_at < dateadd(day, 1, {{ t }})"))
    env = {"WML_DUCKDB_PATH": str(project / "warehouse.duckdb")}
    args = ["build", "--project-dir", str(project), "-s", "+features_do_not_read_past_cutoff"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0, result.output
    assert "FAIL" in result.output and "features_do_not_read_past_cutoff" in result.output, result.output
