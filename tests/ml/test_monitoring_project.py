"""Monitoring in a project, through the CLI: profiles, drift tests, wml monitor, predict.

One small project is built once for the module (two linear models, a scoring table that
calls both, drift, stability and decay tests in YAML); `shift` (a var) moves the scored
population, `flip` inverts the matured labels. Everything runs on a real DuckDB file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import PROFILE, Project, assert_clean_error  # noqa: E402

TRAIN = """\
{{ config(materialized='table') }}
select i, cast(i % 100 as double) as x,
       case when i % 3 = 0 then 'free' when i % 3 = 1 then 'pro' else 'team' end as plan,
       2.0 * (i % 100) + (i % 7) as y,
       case when (i % 100) + 20 * (i % 3) > 70 then 1 else 0 end as label
from range(3000) as t(i)
"""
POPULATION = """\
{{ config(materialized='table') }}
select i, x + {{ var('shift', 0) }} as x,
       case when {{ var('shift', 0) }} > 0 and i % 4 = 1 then 'team' else plan end as plan,
       case when {{ var('flip', 0) }} = 1 then 1 - label else label end as label
from {{ ref('train') }} where i % 2 = 1
"""
SCORES = """\
{{ config(materialized='table') }}
select i, x, plan, label,
       predict_m(x, plan) as m_score,
       predict_c_prob(x, plan) as c_prob,
       case when predict_m(x, plan) > 100 then 'high' else 'low' end as tier
from {{ ref('population') }}
"""
SCHEMA = """\
models:
  - name: scores
    data_tests:
      - wml.feature_drift: {name: x_plan_drift, ml_model: m, features: [x, plan], categorical: [plan]}
    columns:
      - name: m_score
        data_tests:
          - wml.score_drift: {name: m_score_drift, ml_model: m, ks_threshold: 0.2}
          - wml.score_drift: {name: m_score_vs_previous, ml_model: m, compare_to: previous_run}
          - wml.score_drift: {name: m_score_warn, ml_model: m, threshold: 0.15, config: {severity: warn}}
      - name: c_prob
        data_tests:
          - wml.performance_decay: {name: c_decay, ml_model: c, label: label, metric: auc, tolerance: 0.02}
      - name: tier
        data_tests:
          - wml.segment_stability: {name: tier_stability, id_column: i, threshold: 0.1}
"""


def _files() -> dict[str, str]:
    return {
        "profiles.yml": PROFILE,
        "wml_project.yml": "name: watched\n",
        "models_sql/train.sql": TRAIN,
        "models_sql/population.sql": POPULATION,
        "models_sql/scores.sql": SCORES,
        "models_sql/m.sql": "{{ config(materialized='ml_model', target='y', problem_type='regression', "
        "model_type='linear', function='predict_m') }}\nselect x, plan, y from {{ ref('train') }}\n",
        "models_sql/c.sql": "{{ config(materialized='ml_model', target='label', "
        "problem_type='binary_classification', model_type='linear', function='predict_c') }}\n"
        "select x, plan, label from {{ ref('train') }}\n",
        "models_sql/schema.yml": SCHEMA,
    }


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("watched"))
    project.write(_files())
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


def _results(project: Project) -> dict[str, tuple[str, str]]:
    data = json.loads((project.root / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: (r["status"], r["message"] or "") for r in data["results"]}


def test_training_writes_a_profile_with_the_version(watched: Project) -> None:
    rows = dict(watched.query(
        "select feature || ':' || role, sum(bin_count) from wml.monitoring "
        "where kind = 'training' and model_name = 'm' and model_version = 1 group by all"
    ))  # fmt: skip
    assert rows["x:feature"] == 3000 and rows["plan:feature"] == 3000  # every training row
    assert 0 < rows["prediction:score"] < 3000  # the evaluation rows
    classifier = {r[0] for r in watched.query(
        "select feature from wml.monitoring where model_name = 'c' and kind = 'training'"
    )}  # fmt: skip
    assert {"probability", "prediction", "auc", "accuracy"} <= classifier


def test_drift_tests_pass_on_the_population_trained_on(watched: Project) -> None:
    results = _results(watched)
    for name in ("x_plan_drift", "m_score_drift", "m_score_vs_previous", "m_score_warn", "c_decay",
                 "tier_stability"):
        assert results[name][0] == "pass", (name, results[name])
    runs = watched.query(
        "select model_name, relation, count(distinct feature) from wml.monitoring "
        "where kind = 'scoring' group by all order by 1"
    )
    assert runs == [("c", "main.scores", 3), ("m", "main.scores", 3)]  # x, plan and the score


def test_wml_monitor_prints_the_table_and_writes_json(watched: Project) -> None:
    result = watched.wml("monitor", "m")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("m version 1 on main.scores, scored ")
    assert "against training (version 1)" in lines[0]
    row = next(line for line in lines if line.strip().startswith("m_score"))
    assert row.split()[1] == "prediction" and row.split()[-1] == "ok"
    payload = json.loads((watched.root / "target" / "monitoring" / "m.json").read_text())
    psi = {r["column"]: r["value"] for r in payload["rows"] if r["metric"] == "psi"}
    assert set(psi) == {"x", "plan", "m_score"} and max(psi.values()) < 0.1
    assert_clean_error(watched.wml("monitor", "nope"), 2, "model 'nope' does not exist")
    as_json = json.loads(watched.wml("monitor", "c", "--format", "json").output)
    assert {r["column"] for r in as_json} == {"x", "plan", "c_prob"}


def test_drift_table_from_python(watched: Project) -> None:
    import warehouse_ml
    from warehouse_ml.ml.monitoring import drift_table

    con = warehouse_ml.connect(str(watched.root))
    try:
        rows = drift_table(con, "m", psi_threshold=0.5, ks_threshold=0.3)
    finally:
        con.close()
    score = {r.metric: r for r in rows if r.column == "m_score"}
    assert set(score) == {"psi", "ks"} and score["psi"].threshold == 0.5 and score["ks"].threshold == 0.3
    assert score["psi"].status == "ok" and score["psi"].feature == "prediction"
    assert score["psi"].relation == "main.scores" and score["psi"].run_at is not None
    assert not [r for r in rows if r.column == "plan" and r.metric == "ks"]  # categorical: PSI only


def test_shifted_population_fails_naming_column_psi_and_threshold(watched: Project) -> None:
    before = watched.scalar("select count(distinct run_id) from wml.monitoring where kind = 'scoring'")
    result = watched.wml("build", "--vars", "{shift: 40}")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "model m v1, column x on main.scores: PSI " in out and " above 0.2 " in out
    assert "column m_score (prediction) on main.scores: PSI" in out
    results = _results(watched)
    assert results["x_plan_drift"][0] == "fail" and "column plan on main.scores" in results["x_plan_drift"][1]
    assert results["m_score_drift"][0] == "fail" and "KS " in results["m_score_drift"][1]
    assert results["m_score_vs_previous"][0] == "fail"  # the run before this one was unshifted
    assert results["m_score_warn"][0] == "warn" and "above 0.15 " in results["m_score_warn"][1]
    assert results["tier_stability"][0] == "fail"
    assert "profiles changed since the previous run (threshold 10.0%)" in results["tier_stability"][1]
    after = watched.scalar("select count(distinct run_id) from wml.monitoring where kind = 'scoring'")
    assert after == before + 2  # the shifted run is recorded (one per model)

    monitored = watched.wml("monitor", "m", "--fail-on-drift")
    assert monitored.exit_code == 1
    assert "drift above the threshold in 3 column(s): main.scores.m_score" in monitored.output
    assert watched.wml("monitor", "m").exit_code == 0  # without the flag it only reports
    previous = watched.wml("monitor", "m", "--previous")
    assert "against previous run " in previous.output

    # Back to the trained-on population: against training it passes again.
    assert watched.wml("build").exit_code == 1  # ... but the tiers moved back: unstable
    results = _results(watched)
    assert results["m_score_drift"][0] == "pass" and results["tier_stability"][0] == "fail"


def test_matured_labels_worse_than_evaluation_fail_performance_decay(watched: Project) -> None:
    result = watched.wml("build", "-s", "population+", "--vars", "{flip: 1}")
    assert result.exit_code == 1
    message = _results(watched)["c_decay"][1]
    assert "model c v1 on main.scores: auc " in message
    assert "worse than the evaluation auc " in message and "by more than 0.02" in message
    assert watched.wml("build", "-s", "population+").exit_code == 0  # labels as trained on


def test_wml_predict_records_a_scoring_run(watched: Project) -> None:
    result = watched.wml("predict", "c", "--input", "population", "--output", "scored_c", "--id", "i")
    assert result.exit_code == 0, result.output
    rows = dict(watched.query(
        "select feature, max(rows_total) from wml.monitoring where relation = 'main.scored_c' group by 1"
    ))  # fmt: skip
    assert rows == {"x": 1500, "plan": 1500, "prediction": 1500, "probability": 1500}


def test_a_failed_build_records_no_scoring_run(watched: Project) -> None:
    before = watched.query("select count(*) from wml.monitoring")
    watched.write({"models_sql/scores.sql": SCORES.replace(
        "materialized='table'", "materialized='table', post_hook='select * from no_such_table'"
    )})  # fmt: skip
    try:
        assert watched.wml("build", "-s", "scores").exit_code == 1
    finally:
        watched.write({"models_sql/scores.sql": SCORES})
    assert watched.query("select count(*) from wml.monitoring") == before


def test_unknown_test_argument_names_the_file_and_key(project: Project) -> None:
    project.write({k: v for k, v in _files().items() if k != "models_sql/schema.yml"})
    project.write({"models_sql/schema.yml": (
        "models:\n  - name: scores\n    columns:\n      - name: m_score\n        data_tests:\n"
        "          - wml.score_drift: {ml_model: m, psi_treshold: 0.3}\n"
    )})  # fmt: skip
    result = project.wml("build")
    assert "models_sql/schema.yml" in result.output
    assert "unknown argument 'psi_treshold'" in result.output and "Did you mean 'psi_threshold'?" in result.output
    assert "Traceback" not in result.output


def test_drop_model_removes_its_profiles(project: Project) -> None:
    project.write({k: v for k, v in _files().items() if k != "models_sql/schema.yml"})
    assert project.wml("build").exit_code == 0
    assert project.scalar("select count(*) from wml.monitoring where model_name = 'c'") > 0
    assert project.wml("sql", "DROP MODEL c").exit_code == 0
    assert project.scalar("select count(*) from wml.monitoring where model_name = 'c'") == 0
    assert project.scalar("select count(*) from wml.monitoring where model_name = 'm'") > 0


def test_a_refused_training_writes_no_profile(project: Project) -> None:
    project.write({k: v for k, v in _files().items() if k in ("models_sql/train.sql",)})
    assert project.wml("build").exit_code == 0
    refused = project.wml(
        "sql", "CREATE MODEL bad FROM (select x, plan, y from train) TARGET y "
        "FUNCTION predict_bad(float) IAM_ROLE default AUTO OFF MODEL_TYPE LINEAR_LEARNER "
        "SETTINGS (S3_BUCKET 'x')",
    )  # two features, one declared type: refused after training, before anything is written
    assert refused.exit_code != 0 and "declares 1 argument types" in refused.output
    tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "monitoring" not in tables or project.scalar(
        "select count(*) from wml.monitoring where model_name = 'bad'"
    ) == 0
