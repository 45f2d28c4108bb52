"""More of the model lifecycle, table-driven: each case is a command that must fail with a
clear message and write nothing (the registry rows are compared before and after), or a
change of shape between versions that deploy and rollback must follow."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

from adversarial.test_model_lifecycle import line_csv, model_sql, predicted

ZERO_ROWS = (
    "CREATE MODEL empty FROM (SELECT x, y FROM points WHERE false) TARGET y "
    "FUNCTION predict_empty IAM_ROLE default SETTINGS (S3_BUCKET 'b')"
)
MISSING = (
    "CREATE MODEL ghost FROM (SELECT x, y FROM nowhere) TARGET y "
    "FUNCTION predict_ghost IAM_ROLE default SETTINGS (S3_BUCKET 'b')"
)


@pytest.fixture
def trained(project):
    project.write({"seeds/points.csv": line_csv(2.0), "models_sql/m.sql": model_sql()})
    assert project.wml("build").exit_code == 0
    return project


def state(project) -> list[tuple]:
    return project.query("select name, version, deployed, pinned, deploy_mode from wml.models order by 1, 2")


REFUSED = [
    ("deploy_unknown_version", ["deploy", "m", "--version", "99"], 2, ["no version 99", "[1]"]),
    ("deploy_unknown_model", ["deploy", "nope", "--version", "1"], 2, ["'nope' does not exist"]),
    ("deploy_bad_mode", ["deploy", "m", "--version", "1", "--mode", "gpu"], 2, ["gpu"]),
    ("show_unknown_version", ["show", "m", "--version", "0"], 2, ["no version 0"]),
    ("drop_unknown_model", ["sql", "DROP MODEL nope"], 2, ["'nope' does not exist"]),
    ("create_model_zero_rows", ["sql", ZERO_ROWS], 1, ["0 usable rows"]),
    ("create_model_missing_table", ["sql", MISSING], 1, ["nowhere"]),
    ("predict_unknown_model", ["predict", "nope", "--input", "points", "--output", "o"], 2, ["'nope'"]),
]


@pytest.mark.parametrize("args, code, fragments", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_commands_write_nothing(trained, args, code, fragments):
    before = state(trained)
    assert_clean_error(trained.wml(*args), code, *fragments)
    assert state(trained) == before
    assert predicted(trained, "duckdb") == pytest.approx(21, rel=0.02)


def test_drop_model_if_exists_of_nothing_is_fine(trained):
    out = trained.wml("sql", "DROP MODEL IF EXISTS nope")
    assert out.exit_code == 0 and state(trained)


def test_import_refuses_a_builtin_function_name(trained, tmp_path):
    onnx = tmp_path / "m.onnx"
    assert trained.wml("export", "m", "--output", str(onnx)).exit_code == 0
    before = state(trained)
    out = trained.wml("import", str(onnx), "--name", "imp", "--function", "abs")
    assert_clean_error(out, 2, "'abs'", "built-in")
    assert state(trained) == before and trained.scalar("select abs(-3)") == 3


def test_a_new_feature_changes_the_arity_and_rollback_restores_it(trained):
    with_z = line_csv(2.0).replace("id,x,y", "id,x,y,z").splitlines()
    rows = [with_z[0]] + [f"{line},{i % 7}" for i, line in enumerate(with_z[1:])]
    trained.write({"seeds/points.csv": "\n".join(rows) + "\n"})
    assert trained.wml("build").exit_code == 0
    assert_clean_error(trained.wml("sql", "select predict_m(10)"), 1, "predict_m", "2 arguments", "x DOUBLE, z DOUBLE")
    out = trained.wml("sql", "select predict_m(10, 3) as p", "--format", "csv")
    assert out.exit_code == 0 and float(out.output.split()[-1]) == pytest.approx(21, rel=0.05)
    assert trained.wml("deploy", "m", "--version", "1").exit_code == 0
    assert predicted(trained, "duckdb") == pytest.approx(21, rel=0.02)


@pytest.mark.parametrize("mode", ["sql", "udf"])
def test_a_renamed_function_follows_deploy_and_rollback(trained, mode):
    trained.write({"models_sql/m.sql": model_sql(mode, function="predict_m2")})
    assert trained.wml("build").exit_code == 0  # the function changed: version 2
    assert_clean_error(trained.wml("sql", "select predict_m(10)"), 1, "predict_m")
    out = trained.wml("sql", "select predict_m2(10) as p", "--format", "csv")
    assert out.exit_code == 0 and float(out.output.split()[-1]) == pytest.approx(21, rel=0.02)
    assert trained.wml("deploy", "m", "--version", "1").exit_code == 0
    assert predicted(trained) == pytest.approx(21, rel=0.02)
    assert_clean_error(trained.wml("sql", "select predict_m2(10)"), 1, "predict_m2")
    assert trained.scalar(
        "select count(*) from duckdb_functions() where function_name = 'predict_m2'"
    ) == 0
