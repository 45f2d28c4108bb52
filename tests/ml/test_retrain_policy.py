"""retrain: {on_data_change, every, on_drift}: a build trains only when due, and says why."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import Project, assert_clean_error  # noqa: E402

from warehouse_ml.errors import ConfigError  # noqa: E402
from warehouse_ml.ml.monitoring import retrain  # noqa: E402

TRAIN = """\
{{ config(materialized='table') }}
select cast(i % 50 as double) as x, 3.0 * (i % 50) + (i % 7) as y
from range({{ var('rows', 1000) }}) as t(i)
"""
SCORES = """\
{{ config(materialized='table') }}
select x + {{ var('shift', 0) }} as x, predict_m(x + {{ var('shift', 0) }}) as m_score
from {{ ref('train') }}
"""


def _model(policy: str | None, where: str = "") -> str:
    config = "materialized='ml_model', target='y', problem_type='regression', model_type='linear', function='predict_m'"
    if policy:
        config += f", retrain={policy}"
    return f"{{{{ config({config}) }}}}\nselect x, y from {{{{ ref('train') }}}} {where}\n"


def _versions(project: Project) -> list[tuple[int, str]]:
    return project.query("select version, retrain_reason from wml.models where name = 'm' order by version")


def _age(project: Project, days: int) -> None:
    """Make the deployed version `days` old (test setup: the clock cannot be moved)."""
    con = duckdb.connect(str(project.root / "warehouse.duckdb"))
    try:
        when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=days)
        con.execute("update wml.models set created_at = ? where name = 'm'", [when])
    finally:
        con.close()


def test_default_policy_retrains_when_the_data_change(project: Project) -> None:
    project.write({"models_sql/train.sql": TRAIN, "models_sql/m.sql": _model(None)})
    assert project.wml("build").exit_code == 0
    again = project.wml("build")
    assert "up to date: version 1" in again.output
    assert project.wml("build", "--vars", "{rows: 1200}").exit_code == 0
    assert _versions(project) == [(1, "first version"), (2, "the training data changed")]
    shown = project.wml("show", "m")
    assert "Trained Because" in shown.output and "the training data changed" in shown.output


def test_every_retrains_changed_data_only_when_due(project: Project) -> None:
    policy = "{'on_data_change': false, 'every': '30 days'}"
    project.write({"models_sql/train.sql": TRAIN, "models_sql/m.sql": _model(policy)})
    assert project.wml("build").exit_code == 0
    kept = project.wml("build", "--vars", "{rows: 1200}")
    assert kept.exit_code == 0
    assert "kept version 1: the training data changed, but the retrain policy" in kept.output
    assert "next scheduled retrain" in kept.output
    assert _versions(project) == [(1, "first version")]
    _age(project, 40)
    due = project.wml("build", "--vars", "{rows: 1200}")
    assert "trained version 2" in due.output
    assert _versions(project)[1] == (2, "scheduled: version 1 is 40 days old (every 30 days)")
    _age(project, 40)
    assert "up to date" in project.wml("build", "--vars", "{rows: 1200}").output  # same data: never


def test_a_changed_query_retrains_whatever_the_policy(project: Project) -> None:
    policy = "{'on_data_change': false}"
    project.write({"models_sql/train.sql": TRAIN, "models_sql/m.sql": _model(policy)})
    assert project.wml("build").exit_code == 0
    project.write({"models_sql/m.sql": _model(policy, "where x < 45")})
    assert project.wml("build").exit_code == 0
    assert _versions(project)[-1] == (2, "the model's query or settings changed")


def test_on_drift_retrains_when_the_newest_scoring_run_drifts(project: Project) -> None:
    policy = "{'on_data_change': false, 'on_drift': true, 'psi_threshold': 0.2}"
    project.write({
        "models_sql/train.sql": TRAIN, "models_sql/m.sql": _model(policy),
        "models_sql/scores.sql": SCORES,
    })  # fmt: skip
    assert project.wml("build").exit_code == 0
    quiet = project.wml("build", "--vars", "{rows: 1100}")  # data changed, scores as trained
    assert "no column drifts above PSI 0.2 in the newest scoring run" in quiet.output
    assert project.wml("build", "-s", "scores", "--vars", "{shift: 30}").exit_code == 0
    assert project.wml("build", "--vars", "{rows: 1100}").exit_code == 0
    version, reason = _versions(project)[-1]
    assert version == 2 and reason.startswith("drift: main.scores.")
    assert "PSI " in reason and "above 0.2" in reason


def test_bad_policies_name_the_file_and_key(project: Project) -> None:
    project.write({"models_sql/train.sql": TRAIN, "models_sql/m.sql": _model("{'evry': '30 days'}")})
    assert_clean_error(project.wml("build"), 2, "models_sql/m.sql", "unknown retrain key 'evry'", "Did you mean 'every'?")
    project.write({"models_sql/m.sql": _model("{'every': 'soon'}")})
    assert_clean_error(project.wml("build"), 2, "retrain.every must be a duration like '30 days'")
    assert not (project.root / "warehouse.duckdb").exists() or not project.query(
        "select * from information_schema.tables where table_name = 'models'"
    )  # nothing trained


@pytest.mark.parametrize(("text", "days"), [("30 days", 30), ("2 weeks", 14), ("12 hours", 0.5), (7, 7), ("1 day", 1)])
def test_every_reads_durations(text: object, days: float) -> None:
    assert retrain.parse_every(text) == dt.timedelta(days=days)


def test_policy_values_are_checked() -> None:
    with pytest.raises(ConfigError, match="on_drift must be true or false"):
        retrain.parse({"on_drift": "yes"})
    with pytest.raises(ConfigError, match="psi_threshold must be a positive number"):
        retrain.parse({"psi_threshold": 0})
    assert retrain.parse(None) == retrain.Policy()  # no policy: today's behaviour
