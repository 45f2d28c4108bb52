"""Guard rails (leaky features, constant targets), calibration through a build and `wml show`,
and CREATE MODEL's SETTINGS (SPLIT_COLUMN, EVAL_FRACTION, CALIBRATION) extension."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.create_model import parse_ml_statement
from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec
from warehouse_ml.ml.trainer import train


def leaky_table(n: int = 600, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    recency = rng.integers(0, 365, n).astype(float)
    churned = (recency > 200) != (rng.random(n) < 0.15)
    flips = np.arange(n) % 300 == 7  # a copy of the label, wrong on 1 row in 300
    return pa.table({
        "recency": recency,
        "visits": rng.poisson(3, n).astype(float),
        "churned_flag": (churned != flips).astype(np.int64),  # named like it, and equal to it
        "refund_days": np.where(churned, 30.0, 0.0) + rng.random(n),  # AUC 1 on its own
        "churned": churned,
    })  # fmt: skip


def spec(target: str, **kw) -> TrainingSpec:
    return TrainingSpec(name="m", function="predict_m", query="", target=target,
                        model_type=ModelType.LINEAR, **kw)  # fmt: skip


def by_check(rails: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rail in rails:
        out.setdefault(rail["check"], set()).add(rail["feature"])
    return out


def test_leaky_features_are_named_and_honest_ones_are_not() -> None:
    rails = train(leaky_table(), spec("churned")).metrics["guard_rails"]
    found = by_check(rails)
    assert found["name"] == {"churned_flag"}
    assert found["values"] == {"churned_flag"}
    assert found["single_feature"] == {"churned_flag", "refund_days"}
    assert not {"recency", "visits"} & set().union(*found.values())
    refund = next(r for r in rails if r["feature"] == "refund_days")
    assert "'refund_days' alone predicts the target 'churned'" in refund["message"]
    assert "exclude=['refund_days']" in refund["message"] and refund["value"] > 0.99


def test_regression_leaks_linear_and_monotone() -> None:
    rng = np.random.default_rng(1)
    ltv = rng.gamma(2.0, 50.0, 800)
    table = pa.table({
        "spend_total": 2.0 * ltv + 3.0,  # R^2 1 by correlation
        "spend_rank": np.exp(ltv / 60.0),  # monotone, not linear: caught by the binned R^2
        "tenure": rng.random(800) * 100,
        "ltv": ltv,
    })  # fmt: skip
    found = by_check(train(table, spec("ltv", problem_type=ProblemType.REGRESSION)).metrics["guard_rails"])
    assert found == {"single_feature": {"spend_total", "spend_rank"}}


def test_constant_targets() -> None:
    table = leaky_table().drop_columns(["churned_flag", "refund_days"])
    at = table.schema.get_field_index("churned")
    constant = table.set_column(at, "churned", pa.array([True] * table.num_rows))
    with pytest.raises(TrainingError, match="single value .* nothing to classify"):
        train(constant, spec("churned"))
    flat = table.append_column("ltv", pa.array([42.0] * table.num_rows)).drop_columns(["churned"])
    rails = train(flat, spec("ltv", problem_type=ProblemType.REGRESSION)).metrics["guard_rails"]
    assert [r["check"] for r in rails] == ["constant_target"]
    assert "'ltv' is 42.0 in every training row" in rails[0]["message"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("SPLIT_COLUMN signup_date, EVAL_FRACTION 0.25",
         {"method": "temporal", "column": "signup_date", "eval_fraction": 0.25}),
        ('SPLIT_COLUMN "Signup Date"', {"method": "temporal", "column": "Signup Date"}),
        ("EVAL_FRACTION 0.3", {"method": "random", "column": None, "eval_fraction": 0.3}),
    ],
)  # fmt: skip
def test_settings_split_column_and_eval_fraction(settings, expected) -> None:
    stmt = parse_ml_statement(
        f"CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default SETTINGS ({settings})"
    )
    for key, value in expected.items():
        assert getattr(stmt.spec.split, key) == value
    assert any("warehouse-ml setting" in w and "Redshift rejects" in w for w in stmt.warnings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("SPLIT_COLUM d", "unknown setting 'SPLIT_COLUM'"),
        ("EVAL_FRACTION 1.5", "EVAL_FRACTION must be a number between 0 and 1"),
        ("EVAL_FRACTION '0.2'", "EVAL_FRACTION must be a number between 0 and 1"),
        ("CALIBRATION platt", "CALIBRATION must be none, auto, sigmoid or isotonic"),
        ("SPLIT_COLUMN 12", "SPLIT_COLUMN must be a column name"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message) -> None:
    from warehouse_ml.errors import CompilationError

    with pytest.raises(CompilationError, match=message):
        parse_ml_statement(f"CREATE MODEL m FROM t TARGET y FUNCTION f SETTINGS ({settings})")


def customers_csv(n: int = 500) -> str:
    rng = np.random.default_rng(3)
    rows = ["id,signup_date,recency,visits,plan,churned_flag,churned"]
    for i in range(n):
        recency = int(rng.integers(0, 365))
        churned = (recency > 200) != (rng.random() < 0.2)
        day = f"2026-{1 + i * 12 // n:02d}-{1 + i % 28:02d}"
        plan = ["free", "pro"][int(rng.integers(0, 2))]
        rows.append(f"{i},{day},{recency},{int(rng.poisson(3))},{plan},{int(churned)},{str(churned).lower()}")
    return "\n".join(rows) + "\n"


CHURN = """
    {{ config(materialized='ml_model', target='churned', model_type='linear',
              calibration='auto', split_column='signup_date', exclude=['id']) }}
    select * from {{ ref('customers') }}
"""


@pytest.fixture
def churn_project(project):
    project.write({"seeds/customers.csv": customers_csv(), "models_sql/churn.sql": CHURN})
    return project


def test_build_warns_records_and_shows_guard_rails_and_calibration(churn_project):
    result = churn_project.wml("build")
    assert result.exit_code == 0, result.output
    log = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "model 'churn': feature 'churned_flag' is named like the target 'churned'" in log
    shown = churn_project.wml("show", "churn").output
    assert "Guard rails (warnings)" in shown and "'churned_flag' equals the target" in shown
    assert "Calibration: " in shown and "(requested auto)" in shown
    assert "95% bootstrap interval" in shown
    ece = next(line for line in shown.splitlines() if line.strip().startswith("ece "))
    assert "[" in ece and "]" in ece  # the held-out ECE carries its interval
    data = json.loads(churn_project.wml("show", "churn", "--format", "json").output)
    assert data["metrics"]["split"]["method"] == "temporal"
    assert data["metrics"]["calibration"]["requested"] == "auto"
    assert {r["feature"] for r in data["metrics"]["guard_rails"]} == {"churned_flag"}
    path = churn_project.root / "card.html"
    card = churn_project.wml("show", "churn", "--html", "--output", str(path))
    assert card.exit_code == 0, card.output
    html = path.read_text()
    assert "Calibration and guard rails" in html and "churned_flag" in html


def test_failed_calibration_registers_nothing(churn_project):
    churn_project.write({"models_sql/churn.sql": CHURN.replace("target='churned'", "target='plan'")
                         .replace("calibration='auto'", "calibration='isotonic'")
                         .replace("split_column='signup_date', ", "")})  # fmt: skip
    # 20 'team' customers of 500: about 3 among the 80 calibration rows, too few for its map
    churn_project.write({"seeds/customers.csv": customers_csv().replace(",free,", ",team,", 20)})
    result = churn_project.wml("build")
    assert_clean_error(result, 1, "churn", "calibration='isotonic'", "fewer than 10")
    assert churn_project.query(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name = 'models'"
    ) == [(0,)] or churn_project.scalar("select count(*) from wml.models") == 0


def test_a_bad_calibration_value_names_the_file_and_key(churn_project):
    churn_project.write({"models_sql/churn.sql": CHURN.replace("'auto'", "'platt'")})
    result = churn_project.wml("build")  # the node fails before its query runs
    assert_clean_error(result, 1, "models_sql/churn.sql", "calibration must be one of", "'platt'")


def test_create_model_settings_evaluate_temporally(churn_project):
    assert churn_project.wml("seed").exit_code == 0
    created = churn_project.wml("sql", """
        CREATE MODEL churn_sql
        FROM (SELECT signup_date, recency, visits, plan, churned FROM customers)
        TARGET churned FUNCTION predict_churn_sql IAM_ROLE default
        AUTO OFF MODEL_TYPE LINEAR_LEARNER
        SETTINGS (SPLIT_COLUMN signup_date, EVAL_FRACTION 0.25, CALIBRATION sigmoid)
    """)  # fmt: skip
    assert created.exit_code == 0, created.output + created.stderr
    assert "SPLIT_COLUMN signup_date, EVAL_FRACTION 0.25, CALIBRATION sigmoid are warehouse-ml" in (
        created.stderr
    )
    data = json.loads(churn_project.wml("show", "churn_sql", "--format", "json").output)
    split = data["metrics"]["split"]
    assert split["method"] == "temporal" and split["column"] == "signup_date"
    latest = churn_project.scalar(
        f"select count(*) from customers where signup_date >= '{split['cut_value']}'"
    )
    assert split["rows_at_or_after_cut"] == latest == data["rows_eval"]  # the latest rows
    assert latest >= 0.25 * 500 and split["rows_before_cut"] == 500 - latest
    assert data["metrics"]["calibration"]["method"] == "sigmoid"
    assert "temporal" in data["metrics"]["calibration"]["fit_on"]
    shown = churn_project.wml("sql", "SHOW MODEL churn_sql", "--format", "json").output
    fields = {row["Key"]: row["Value"] for row in map(json.loads, shown.strip().splitlines())}
    assert fields["Calibration"] == "sigmoid (requested sigmoid)"


def test_a_calibration_that_cannot_be_fit_keeps_the_previous_version(churn_project):
    assert churn_project.wml("build").exit_code == 0
    lines = customers_csv().splitlines()
    rare = [lines[0]] + [
        line if i % 40 == 0 else line.rsplit(",", 2)[0] + ",0,false"  # 13 churners of 500
        for i, line in enumerate(lines[1:])
    ]
    churn_project.write({
        "seeds/customers.csv": "\n".join(rare) + "\n",
        "models_sql/churn.sql": CHURN.replace("'auto'", "'sigmoid'").replace(
            "split_column='signup_date', ", ""),
    })  # fmt: skip
    result = churn_project.wml("build")
    assert_clean_error(result, 1, "churn", "calibration='sigmoid' cannot be fit", "fewer than 10")
    assert churn_project.query("select version, deployed from wml.models where name = 'churn'") == [
        (1, True)
    ]
    scored = churn_project.wml("sql", "select predict_churn_prob(30, 2, 'pro', 0) as p")
    assert scored.exit_code == 0, scored.output


def test_the_readme_create_model_settings_example_as_written(project):
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(-- models_sql/churn_calibrated\.sql\n.*?)```", readme, re.S)
    assert block, "the README's SETTINGS example moved"
    rng = np.random.default_rng(11)
    rows = ["snapshot_date,recency_days,frequency,monetary,churned"]
    for i in range(600):
        recency, frequency = int(rng.integers(0, 300)), int(rng.poisson(4))
        churned = rng.random() < 1 / (1 + np.exp(-(recency - 150) / 40))
        rows.append(f"2026-0{1 + i % 3}-01,{recency},{frequency},{frequency * 20.5},{str(churned).lower()}")
    project.write({"seeds/training_ltv.csv": "\n".join(rows) + "\n",
                   "models_sql/churn_calibrated.sql": block.group(1)})  # fmt: skip
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    data = json.loads(project.wml("show", "churn_calibrated", "--format", "json").output)
    split = data["metrics"]["split"]
    assert split["method"] == "temporal" and split["cut_value"] == "2026-03-01"
    assert data["metrics"]["calibration"]["requested"] == "auto"
    assert data["metrics"]["calibration"]["method"] in ("none", "sigmoid", "isotonic")
    assert [f["name"] for f in data["features"]] == ["recency_days", "frequency", "monetary"]
