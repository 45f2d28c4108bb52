"""The model lifecycle under ordinary and hostile use: retrain, deploy, roll back, switch
serving form, drop, crash, and function names that would shadow something.

Every case checks the invariant, not only the message: what ``wml models`` says is
deployed is what the function computes, in this process (``wml sql``), in a new one
(``warehouse_ml.connect``) and, for the SQL form, in a plain duckdb client; a refused
command leaves the registry rows and the deployed flag as they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest
from conftest import assert_clean_error


def line_csv(slope: float, n: int = 200) -> str:
    rows = [f"{i},{i % 50},{slope * (i % 50) + 1:.3f}" for i in range(n)]
    return "id,x,y\n" + "\n".join(rows) + "\n"


def model_sql(deploy: str = "auto", model_type: str = "linear", function: str = "predict_m") -> str:
    return f"""
        {{{{ config(materialized='ml_model', target='y', function='{function}',
                  problem_type='regression', model_type='{model_type}', deploy='{deploy}',
                  exclude=['id']) }}}}
        select * from {{{{ ref('points') }}}}
    """


@pytest.fixture
def lifecycle(project):
    project.write({"seeds/points.csv": line_csv(2.0), "models_sql/m.sql": model_sql()})
    return project


def predicted(project, via: str = "wml") -> float:
    """predict_m(10) as ``via`` sees it: wml sql, a new wml connection, or plain duckdb."""
    sql = "select predict_m(10) as p"
    if via == "wml":
        out = project.wml("sql", sql, "--format", "csv")
        assert out.exit_code == 0, out.output
        return float(out.output.strip().splitlines()[-1])
    if via == "connect":
        return float(project.query_with_functions(sql)[0][0])
    return float(project.scalar(sql))


def deployed(project) -> list[tuple]:
    return project.query("select version, deploy_mode from wml.models where deployed order by 1")


def registry_rows(project) -> list[tuple]:
    return project.query("select name, version, deployed, pinned from wml.models order by 1, 2")


def macros(project, name: str = "predict_m") -> int:
    return project.scalar(
        "select count(*) from duckdb_functions() where function_type = 'macro' "
        f"and function_name = '{name}'"
    )


def retrain_with_slope(project, slope: float) -> None:
    project.write({"seeds/points.csv": line_csv(slope)})
    result = project.wml("build")
    assert result.exit_code == 0, result.output


def assert_serves(project, expected: float, mode: str) -> None:
    for via in ("wml", "connect") + (("duckdb",) if mode == "sql" else ()):
        assert predicted(project, via) == pytest.approx(expected, rel=0.02), via
    if mode == "udf":
        assert macros(project) == 0
        with pytest.raises(duckdb.Error, match="predict_m"):
            project.scalar("select predict_m(10)")  # a plain client has no Python UDF
    else:
        assert macros(project) == 1


# -- retrain, deploy, roll back, switch form: every combination --------------------------
@pytest.mark.parametrize("first", ["udf", "sql"])
@pytest.mark.parametrize("second", ["udf", "sql"])
def test_retrain_and_rollback_across_serving_forms(lifecycle, first, second):
    lifecycle.write({"models_sql/m.sql": model_sql(first)})
    assert lifecycle.wml("build").exit_code == 0
    assert_serves(lifecycle, 21, first)
    lifecycle.write({"models_sql/m.sql": model_sql(second)})
    retrain_with_slope(lifecycle, 5.0)  # new data: version 2
    assert deployed(lifecycle) == [(2, second)]
    assert_serves(lifecycle, 51, second)
    back = lifecycle.wml("deploy", "m", "--version", "1", "--mode", first)
    assert back.exit_code == 0, back.output
    assert deployed(lifecycle) == [(1, first)]
    assert_serves(lifecycle, 21, first)
    forward = lifecycle.wml("deploy", "m", "--version", "2")
    assert forward.exit_code == 0, forward.output
    assert_serves(lifecycle, 51, deployed(lifecycle)[0][1])


def test_full_refresh_of_a_udf_model_retrains_and_serves_the_new_version(lifecycle):
    lifecycle.write({"models_sql/m.sql": model_sql("udf", "random_forest")})
    assert lifecycle.wml("build").exit_code == 0
    again = lifecycle.wml("train", "--full-refresh", "-s", "m")
    assert again.exit_code == 0, again.output
    assert deployed(lifecycle) == [(2, "udf")]
    rolled = lifecycle.wml("deploy", "m", "--version", "1")
    assert rolled.exit_code == 0, rolled.output
    assert deployed(lifecycle) == [(1, "udf")]


def test_create_model_xgboost_twice_then_rollback(lifecycle):
    statement = """
        CREATE MODEL points_xgb FROM (SELECT x, y FROM points) TARGET y FUNCTION predict_xgb
        IAM_ROLE default AUTO OFF MODEL_TYPE XGBOOST OBJECTIVE 'reg:squarederror'
        PREPROCESSORS 'none' HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '60')
        SETTINGS (S3_BUCKET 'b');
    """
    assert lifecycle.wml("seed").exit_code == 0
    for _ in range(2):
        out = lifecycle.wml("sql", statement)
        assert out.exit_code == 0, out.output
    rows = lifecycle.query("select version, deployed from wml.models where name = 'points_xgb'")
    assert sorted(rows) == [(1, False), (2, True)]
    assert lifecycle.wml("deploy", "points_xgb", "--version", "1").exit_code == 0
    out = lifecycle.wml("sql", "select predict_xgb(10) as p", "--format", "csv")
    assert out.exit_code == 0 and float(out.output.split()[-1]) == pytest.approx(21, rel=0.05)


# -- a failed command writes nothing --------------------------------------------------------
def test_deploy_that_cannot_load_moves_nothing(lifecycle):
    retrain_with_slope(lifecycle, 2.0)
    retrain_with_slope(lifecycle, 5.0)
    before = registry_rows(lifecycle)
    con = duckdb.connect(str(lifecycle.root / "warehouse.duckdb"))
    con.execute("update wml.models set onnx = 'garbage'::blob where version = 1")
    con.close()
    failed = lifecycle.wml("deploy", "m", "--version", "1", "--mode", "udf")
    assert failed.exit_code != 0 and "Traceback" not in failed.output
    assert registry_rows(lifecycle) == before
    assert_serves(lifecycle, 51, "sql")


def test_deploy_sql_of_an_uncompilable_model_moves_nothing(lifecycle):
    ordinal = model_sql("udf").replace(
        "exclude=['id']", "exclude=['id'], preprocessors=[{'ColumnSet': ['x'], 'Transformers': ['ImputerWithIndicator']}]"
    )
    lifecycle.write({"models_sql/m.sql": ordinal})
    assert lifecycle.wml("build").exit_code == 0
    before = registry_rows(lifecycle)
    failed = lifecycle.wml("deploy", "m", "--version", "1", "--mode", "sql")
    assert_clean_error(failed, 2)
    assert registry_rows(lifecycle) == before and deployed(lifecycle) == [(1, "udf")]
    assert predicted(lifecycle) == pytest.approx(21, rel=0.02)


CRASH = """
import os, sys
import warehouse_ml
from warehouse_ml.ml import serving
when = sys.argv[2]
original = serving._install
def install(cursor, plan, previous):
    original(cursor, plan, previous)
    if when == "before-commit":
        os._exit(9)
serving._install = install
if when == "after-commit":
    serving._finish = lambda *a, **k: os._exit(9)
con = warehouse_ml.connect(sys.argv[1])
serving.deploy(con, "m", 1, sys.argv[3])
"""


@pytest.mark.parametrize("mode", ["udf", "sql"])
@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
def test_kill_9_during_deploy_leaves_one_truth(lifecycle, tmp_path, when, mode):
    lifecycle.write({"models_sql/m.sql": model_sql("sql" if mode == "udf" else "udf")})
    retrain_with_slope(lifecycle, 2.0)
    retrain_with_slope(lifecycle, 5.0)
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH))
    done = subprocess.run([sys.executable, str(script), str(lifecycle.root), when, mode])
    assert done.returncode == 9
    if when == "before-commit":
        assert deployed(lifecycle)[0][0] == 2
        assert predicted(lifecycle, "connect") == pytest.approx(51, rel=0.02)
    else:
        assert deployed(lifecycle) == [(1, mode)]
        assert_serves(lifecycle, 21, mode)


def test_a_macro_left_by_an_older_wml_is_repaired_on_open(lifecycle):
    """A stale macro (another version's, no owner comment) is replaced on the next open."""
    lifecycle.write({"models_sql/m.sql": model_sql("udf")})
    retrain_with_slope(lifecycle, 2.0)
    con = duckdb.connect(str(lifecycle.root / "warehouse.duckdb"))
    con.execute("create macro predict_m(x) as 999.0")
    con.close()
    assert predicted(lifecycle, "connect") == pytest.approx(21, rel=0.02)
    assert macros(lifecycle) == 0


# -- DROP MODEL drops everything ---------------------------------------------------------
@pytest.mark.parametrize("mode", ["udf", "sql"])
def test_drop_model_drops_registry_macros_and_udfs(lifecycle, mode):
    lifecycle.write({"models_sql/m.sql": model_sql(mode)})
    assert lifecycle.wml("build").exit_code == 0
    view = lifecycle.wml("sql", "create view m_view as select predict_m(x) as p from points")
    assert view.exit_code == 0
    dropped = lifecycle.wml("sql", "DROP MODEL m")
    assert dropped.exit_code == 0, dropped.output
    assert lifecycle.scalar("select count(*) from wml.models") == 0
    assert macros(lifecycle) == 0
    assert_clean_error(lifecycle.wml("sql", "select predict_m(1)"), 1, "predict_m", "model 'm'", "dropped")
    assert_clean_error(lifecycle.wml("sql", "select * from m_view"), 1, "model 'm'", "dropped")
    with pytest.raises(duckdb.Error, match="predict_m"):
        lifecycle.scalar("select predict_m(1)")
    assert lifecycle.scalar("select count(*) from points") == 200  # nothing else is lost


def test_drop_model_then_build_trains_it_again(lifecycle):
    assert lifecycle.wml("build").exit_code == 0
    assert lifecycle.wml("sql", "DROP MODEL m").exit_code == 0
    assert lifecycle.wml("build").exit_code == 0
    assert deployed(lifecycle) == [(1, "sql")]
    assert predicted(lifecycle, "duckdb") == pytest.approx(21, rel=0.02)


# -- function names never shadow anything --------------------------------------------------
BUILTIN = "CREATE MODEL a FROM (SELECT x, y FROM points) TARGET y FUNCTION {fn} IAM_ROLE default SETTINGS (S3_BUCKET 'b')"


@pytest.mark.parametrize(
    "function, fragments",
    [
        ("abs", ["'abs'", "built-in"]),
        ("sum", ["'sum'", "built-in"]),
        ("read_csv", ["'read_csv'", "built-in"]),
        ('"my fn"', ["not allowed", "plain SQL identifier"]),
        ("predict_m", ["belongs to model 'm'"]),
        ("predict_m_prob", ["belongs to model 'm'"]),  # the _prob twin of m's function
    ],
    ids=["abs", "sum", "read_csv", "quoted", "other_models", "other_models_prob_twin"],
)
def test_create_model_refuses_a_function_it_would_shadow(lifecycle, function, fragments):
    assert lifecycle.wml("build").exit_code == 0
    before = registry_rows(lifecycle)
    out = lifecycle.wml("sql", BUILTIN.format(fn=function))
    assert_clean_error(out, 2, *fragments)
    assert registry_rows(lifecycle) == before
    assert lifecycle.scalar("select abs(-5)") == 5 and lifecycle.scalar("select sum(2)") == 2
    assert predicted(lifecycle, "duckdb") == pytest.approx(21, rel=0.02)


def test_config_function_that_is_a_keyword_or_builtin_fails_that_node_only(lifecycle):
    lifecycle.write({"models_sql/other.sql": model_sql(function="order"),
                     "models_sql/third.sql": model_sql(function="lower")})
    out = lifecycle.wml("build")
    assert out.exit_code == 1
    assert "reserved SQL keyword" in out.output and "built-in" in out.output
    assert lifecycle.query("select distinct name from wml.models") == [("m",)]
    assert lifecycle.scalar("select lower('A')") == "a"


def test_a_users_own_macro_is_never_replaced(lifecycle):
    assert lifecycle.wml("seed").exit_code == 0
    assert lifecycle.wml("sql", "create macro predict_m(x) as 42").exit_code == 0
    out = lifecycle.wml("build")
    assert out.exit_code == 1 and "no model created" in out.output
    assert lifecycle.scalar("select predict_m(1)") == 42


def test_two_project_models_declaring_one_function_fail_at_parse_time(lifecycle):
    lifecycle.write({"models_sql/twin.sql": model_sql()})
    assert_clean_error(lifecycle.wml("ls"), 2, "predict_m", "m", "twin")


# -- rollback sticks -------------------------------------------------------------------
def test_a_rollback_stays_until_the_data_change(lifecycle):
    retrain_with_slope(lifecycle, 2.0)
    retrain_with_slope(lifecycle, 5.0)
    assert lifecycle.wml("deploy", "m", "--version", "1").exit_code == 0
    rebuilt = lifecycle.wml("build")
    assert rebuilt.exit_code == 0 and "pinned" in rebuilt.output
    assert deployed(lifecycle) == [(1, "sql")]
    shown = lifecycle.wml("show", "m")
    assert "Pinned" in shown.output and "yes, by wml deploy" in shown.output
    refreshed = lifecycle.wml("train", "--full-refresh", "-s", "m")
    assert refreshed.exit_code == 0 and "stays deployed" in refreshed.output
    assert deployed(lifecycle) == [(1, "sql")]
    retrain_with_slope(lifecycle, 7.0)  # new data: the pin gives way
    rows = lifecycle.query("select version, pinned from wml.models where deployed")
    assert rows == [(4, False)]
    assert predicted(lifecycle, "duckdb") == pytest.approx(71, rel=0.02)


def test_models_command_matches_what_serves(lifecycle):
    retrain_with_slope(lifecycle, 2.0)
    retrain_with_slope(lifecycle, 5.0)
    assert lifecycle.wml("deploy", "m", "--version", "1", "--mode", "udf").exit_code == 0
    listed = json.loads(lifecycle.wml("models", "--format", "json").output)
    assert [r["version"] for r in listed if r["deployed"]] == [1]
    assert predicted(lifecycle, "connect") == pytest.approx(21, rel=0.02)
