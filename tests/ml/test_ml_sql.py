"""ML inside SQL, end to end: train in a build, call predict_* in SQL, version, deploy."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from conftest import assert_clean_error


def customers_csv(n: int = 400, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["id,recency,frequency,plan,active,ltv,churned"]
    for i in range(n):
        recency = int(rng.integers(0, 365))
        freq = int(rng.poisson(3))
        plan = ["free", "pro", "team"][int(rng.integers(0, 3))]
        active = bool(rng.random() < 0.6)
        ltv = 50 + 10 * freq - 0.1 * recency + (30 if plan == "pro" else 0) + 5 * active + rng.normal(0, 2)
        churned = (recency > 200) != (rng.random() < 0.05)
        rec = "" if i % 37 == 0 else str(recency)  # some NULLs
        lines.append(f"{i},{rec},{freq},{plan},{str(active).lower()},{ltv:.2f},{str(churned).lower()}")
    return "\n".join(lines) + "\n"


LTV_MODEL = """
    {{ config(materialized='ml_model', target='ltv', function='predict_ltv',
              problem_type='regression', model_type='linear', exclude=['id', 'churned']) }}
    select * from {{ ref('customers') }}
"""
CHURN_MODEL = """
    {{ config(materialized='ml_model', target='churned', model_type='linear', exclude=['id', 'ltv']) }}
    select * from {{ ref('customers') }}
"""
SCORES = """
    {{ config(materialized='table') }}
    select id, predict_ltv(recency, frequency, plan, active) as ltv_hat,
           predict_churn_model(recency, frequency, plan, active) as churn,
           predict_churn_model_prob(recency, frequency, plan, active) as churn_p
    from {{ ref('customers') }}
"""


@pytest.fixture
def ml_project(project):
    project.write({
        "seeds/customers.csv": customers_csv(),
        "models_sql/ltv_model.sql": LTV_MODEL,
        "models_sql/churn_model.sql": CHURN_MODEL,
        "models_sql/scores.sql": SCORES,
    })
    return project


def test_build_trains_then_uses_functions_downstream(ml_project):
    result = ml_project.wml("build")
    assert result.exit_code == 0, result.output
    # The SQL model depends on the ML models it calls (found by parsing its SQL).
    order = ml_project.wml("ls", "-s", "+scores").output.split()
    assert order.index("ltv_model") < order.index("scores") and order.index("churn_model") < order.index("scores")
    rows = ml_project.query("select count(*), avg(abs(ltv_hat - ltv)), count(ltv_hat), "
                            "min(churn_p), max(churn_p) from main.scores join main.customers using (id)")
    n, mae, non_null, pmin, pmax = rows[0]
    assert n == 400 and non_null == 400  # NULL recency is imputed, not dropped
    assert mae < 5
    assert 0 <= pmin < 0.5 < pmax <= 1
    shown = json.loads(ml_project.wml("show", "ltv_model", "--format", "json").output)
    for key in ("name", "version", "function", "problem_type", "model_type", "features", "target", "metrics"):
        assert key in shown
    assert [f["name"] for f in shown["features"]] == ["recency", "frequency", "plan", "active"]
    assert shown["metrics"]["r2"] > 0.9 and "baseline" in shown["metrics"]


def test_rerun_is_idempotent_and_full_refresh_adds_version(ml_project):
    assert ml_project.wml("build").exit_code == 0
    again = ml_project.wml("build")
    assert "up to date: version 1" in again.output
    assert ml_project.scalar("select count(*) from wml.models where name = 'ltv_model'") == 1
    assert ml_project.wml("train", "-s", "ltv_model", "--full-refresh").exit_code == 0
    assert ml_project.query("select version, deployed from wml.models where name = 'ltv_model' order by 1") == [
        (1, False), (2, True)]
    # Rollback moves the deployed flag only; versions are never overwritten.
    assert ml_project.wml("deploy", "ltv_model", "--version", "1").exit_code == 0
    assert ml_project.query("select version, deployed from wml.models where name = 'ltv_model' order by 1") == [
        (1, True), (2, False)]


def test_training_failure_keeps_previous_version_serving(ml_project):
    assert ml_project.wml("build").exit_code == 0
    ml_project.write({"models_sql/ltv_model.sql": LTV_MODEL.replace("target='ltv'", "target='nope'")})
    result = ml_project.wml("build")
    assert_clean_error(result, 1, "ltv_model", "nope")
    assert ml_project.query("select version, deployed from wml.models where name = 'ltv_model'") == [(1, True)]
    assert "SKIPPED" in result.output  # scores depends on it
    out = ml_project.wml("sql", "select round(predict_ltv(100, 3, 'pro', true)) as v")
    assert out.exit_code == 0 and "v" in out.output


def test_wrong_arity_names_expected_features(ml_project):
    assert ml_project.wml("build").exit_code == 0
    result = ml_project.wml("sql", "select predict_ltv(1, 2) from customers")
    assert_clean_error(result, 1, "predict_ltv() takes 4 arguments, in this order: recency DOUBLE, "
                                  "frequency DOUBLE, plan VARCHAR, active BOOLEAN")


def test_redshift_create_model_show_and_select(ml_project):
    script = """
        CREATE MODEL customer_churn
        FROM (SELECT recency, frequency, plan, active, churned FROM customers)
        TARGET churned
        FUNCTION predict_customer_churn
        IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftML'
        AUTO OFF
        MODEL_TYPE XGBOOST
        OBJECTIVE 'binary:logistic'
        PREPROCESSORS 'none'
        HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '20')
        SETTINGS (S3_BUCKET 'my-bucket', MAX_RUNTIME 600);
    """
    assert ml_project.wml("seed").exit_code == 0
    created = ml_project.wml("sql", script)
    assert created.exit_code == 0, created.output + created.stderr
    assert "IAM_ROLE" in created.stderr and "READY" in created.output
    shown = ml_project.wml("sql", "SHOW MODEL customer_churn", "--format", "json").output
    fields = {row["Key"]: row["Value"] for row in map(json.loads, shown.strip().splitlines())}
    assert fields["Model Type"] == "hist_gradient_boosting"
    assert fields["Function Name"] == "predict_customer_churn"
    assert fields["Function Parameters"] == "recency frequency plan active"
    assert "S3_BUCKET (ignored locally)" in fields
    scored = ml_project.wml("sql", "select predict_customer_churn(recency, frequency, plan, active) as c, "
                                   "count(*) as n from customers group by 1 order by 1", "--format", "csv")
    assert scored.exit_code == 0 and scored.output.startswith("c,n\n")
    listed = ml_project.wml("sql", "SHOW MODEL ALL", "--format", "csv").output
    assert "customer_churn" in listed
    assert ml_project.wml("sql", "DROP MODEL customer_churn").exit_code == 0
    assert_clean_error(ml_project.wml("sql", "SHOW MODEL customer_churn"), 2, "customer_churn", "does not exist")


def test_invalid_create_model_points_at_token(ml_project):
    result = ml_project.wml("sql", "CREATE MODEL m FROM customers\nTARGET ltv\nFUNCTON f")
    assert_clean_error(result, 2, "line 3", "FUNCTON")


@pytest.mark.parametrize("command", [["show", "ghost"], ["deploy", "ghost", "--version", "1"],
                                     ["sql", "DROP MODEL ghost"]])
def test_unknown_model_is_a_clear_error(ml_project, command):
    assert ml_project.wml("build", "-s", "customers ltv_model").exit_code == 0
    assert_clean_error(ml_project.wml(*command), 2, "ghost", "does not exist")


def test_unknown_version_lists_versions(ml_project):
    assert ml_project.wml("build", "-s", "customers ltv_model").exit_code == 0
    assert_clean_error(ml_project.wml("deploy", "ltv_model", "--version", "9"), 2, "no version 9", "[1]")


def test_corrupted_onnx_row_fails_that_model_only(ml_project):
    # Python UDFs load ONNX bytes at connect time (SQL macros do not need them).
    ml_project.write({"models_sql/ltv_model.sql": LTV_MODEL.replace("exclude=", "deploy='udf', exclude=")})
    assert ml_project.wml("build").exit_code == 0
    import duckdb

    con = duckdb.connect(str(ml_project.root / "warehouse.duckdb"))
    con.execute("update wml.models set onnx = 'garbage'::blob where name = 'ltv_model'")
    con.close()
    result = ml_project.wml("sql", "select predict_churn_model(100, 3, 'pro', true) as c")
    assert result.exit_code == 0, result.output + result.stderr
    assert "ltv_model" in result.stderr and "could not be loaded" in result.stderr


def test_export_runs_in_onnxruntime_and_import_registers_function(ml_project, tmp_path):
    assert ml_project.wml("build", "-s", "customers ltv_model").exit_code == 0
    path = tmp_path / "ltv.onnx"
    assert ml_project.wml("export", "ltv_model", "--output", str(path)).exit_code == 0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"recency": np.array([[100.0]], np.float32), "frequency": np.array([[3.0]], np.float32),
            "plan": np.array([["pro"]], object), "active": np.array([[1.0]], np.float32)}
    exported = float(np.ravel(session.run(None, feed)[0])[0])
    assert ml_project.wml("import", str(path), "--name", "byo", "--function", "predict_byo").exit_code == 0
    sql = "select predict_byo(100, 3, 'pro', true) as a, predict_ltv(100, 3, 'pro', true) as b"
    a, b = ml_project.query_with_functions(sql)[0]
    assert a == pytest.approx(exported, rel=1e-6) and a == pytest.approx(b, rel=1e-6)


def test_batch_predict_writes_scored_table(ml_project):
    assert ml_project.wml("build").exit_code == 0
    result = ml_project.wml("predict", "churn_model", "--input", "customers", "--output", "scored.churn",
                            "--id", "id")
    assert result.exit_code == 0, result.output
    cols = [r[0] for r in ml_project.query(
        "select column_name from information_schema.columns where table_name = 'churn' order by ordinal_position")]
    assert cols == ["id", "predicted_churned", "predicted_churned_prob"]
    agree = ml_project.scalar("select avg((abs(s.churn_p - c.predicted_churned_prob) < 1e-6)::int) from main.scores s "
                              "join scored.churn c using (id)")
    assert agree == 1.0


def test_python_connect_registers_functions(ml_project):
    import warehouse_ml

    assert ml_project.wml("build").exit_code == 0
    con = warehouse_ml.connect(str(ml_project.root))
    try:
        n = con.execute("select count(predict_ltv(recency, frequency, plan, active)) from customers").fetchone()[0]
    finally:
        con.close()
    assert n == 400


def test_sql_deploy_persists_a_macro_usable_by_any_duckdb_client(ml_project):
    import duckdb

    assert ml_project.wml("build").exit_code == 0
    shown = json.loads(ml_project.wml("show", "ltv_model", "--format", "json").output)
    assert shown["deploy_mode"] == "sql" and "expression nodes" in shown["settings"]["deploy_note"]
    # A view over the function, then a plain duckdb connection (no wml, no Python UDFs).
    assert ml_project.wml("sql", "create view ltv_view as select id, predict_ltv(recency, frequency, "
                                 "plan, active) as v from customers").exit_code == 0
    con = duckdb.connect(str(ml_project.root / "warehouse.duckdb"), read_only=True)
    try:
        from_view = dict(con.execute("select id, v from ltv_view").fetchall())
    finally:
        con.close()
    from_udf = dict(ml_project.query("select id, ltv_hat from main.scores"))
    assert from_view.keys() == from_udf.keys()
    assert all(abs(from_view[k] - from_udf[k]) <= 1e-4 * max(1.0, abs(from_udf[k])) for k in from_udf)


def test_deploy_udf_mode_and_rollback_switch_serving_form(ml_project):
    ml_project.write({"models_sql/ltv_model.sql": LTV_MODEL.replace("exclude=", "deploy='udf', exclude=")})
    assert ml_project.wml("build").exit_code == 0
    macros = "select count(*) from duckdb_functions() where function_name = 'predict_ltv' and function_type = 'macro'"
    assert ml_project.scalar(macros) == 0
    assert ml_project.query("select deploy_mode from wml.models where name = 'ltv_model'") == [("udf",)]
    ml_project.write({"models_sql/ltv_model.sql": LTV_MODEL.replace("exclude=", "deploy='sql', exclude=")})
    assert ml_project.wml("train", "-s", "ltv_model").exit_code == 0  # same data: redeploys only
    assert ml_project.scalar(macros) == 1
    assert ml_project.wml("train", "-s", "ltv_model", "--full-refresh").exit_code == 0
    assert ml_project.scalar(macros) == 1
    rolled = ml_project.wml("deploy", "ltv_model", "--version", "1", "--mode", "udf")
    assert rolled.exit_code == 0 and "Arrow UDF" in rolled.output
    assert ml_project.scalar(macros) == 0
    out = ml_project.wml("sql", "select predict_ltv(100, 3, 'pro', true) is not null as ok", "--format", "csv")
    assert out.output.strip().endswith("true")


def test_retraining_a_udf_served_model_replaces_its_udf(ml_project):
    """The build's connection has the deployed UDF registered: redeploying as a UDF must
    not try to DROP MACRO over it (DuckDB: 'Cannot drop internal catalog entry')."""
    ml_project.write({"models_sql/ltv_model.sql": LTV_MODEL.replace("exclude=", "deploy='udf', exclude=")})
    assert ml_project.wml("build").exit_code == 0
    result = ml_project.wml("build", "--full-refresh")
    assert result.exit_code == 0, result.output
    assert ml_project.query("select version, deploy_mode from wml.models where name = 'ltv_model' "
                            "and deployed") == [(2, "udf")]
    out = ml_project.wml("sql", "select predict_ltv(100, 3, 'pro', true) is not null as ok", "--format", "csv")
    assert out.output.strip().endswith("true")
