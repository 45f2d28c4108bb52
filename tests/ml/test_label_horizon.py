"""label_horizon (ml/horizon.py): AUTO's temporal folds leave a gap before each validation
cutoff, so no training row's label overlaps the period validated on. Tested on the fold
indices (days of a date column, a numeric column's unit, a count of cutoffs, the one-slice
holdout), on the search record and `wml show`, and on the errors (a failed build writes
nothing)."""

from __future__ import annotations

import datetime as dt
import typing as t

import numpy as np
import pyarrow as pa
import pytest
from conftest import assert_clean_error

from ml.test_auto_search import CUTOFFS, _panel_csv, folds_of, panel, spec_for
from warehouse_ml.errors import CompilationError, TrainingError
from warehouse_ml.ml import horizon
from warehouse_ml.ml.create_model import parse_ml_statement
from warehouse_ml.ml.spec import ModelType, SplitSpec

TABLE = panel()  # 60 customers at five cutoffs 30 days apart
CUT = np.array(TABLE["cutoff"].to_pylist())
TRAIN_ROWS = np.flatnonzero(CUTOFFS[-1] > CUT)  # the evaluation split holds the last one


def split(h: t.Any = None, column: str = "cutoff", fraction: float = 0.2) -> SplitSpec:
    found = SplitSpec("temporal", fraction, column)
    if h is not None:
        found.label_horizon, found.label_horizon_unit = horizon.parse(h)
    return found


def rolling(h: t.Any, table: pa.Table = TABLE, column: str = "cutoff") -> t.Any:
    spec = spec_for(entity_column="customer_id", split=split(h, column))
    return folds_of(table, spec, TRAIN_ROWS)[0]


@pytest.mark.parametrize("h", [45, "45 days", "2 cutoffs"])
def test_folds_drop_training_cutoffs_within_the_horizon(h: t.Any) -> None:
    plain, gapped = rolling(None), rolling(h)
    # The first validation cutoff has nothing 60 days before it: its fold is gone.
    assert len(plain.folds) == 3 and len(gapped.folds) == 2
    assert [f.cutoff for f in gapped.folds] == [f.cutoff for f in plain.folds[1:]]
    dropped = gapped.describe()["label_horizon"]["dropped_train_rows"]
    for before, after, lost in zip(plain.folds[1:], gapped.folds, dropped, strict=True):
        validated = dt.date.fromisoformat(after.cutoff)
        assert np.array_equal(before.validation, after.validation)
        assert set(after.train) < set(before.train)
        # Every training row's label (cutoff + 45 days) ends at or before validation starts:
        # the cutoff 30 days before the validated one is gone, 60 days before stays.
        assert all(c + dt.timedelta(days=45) <= validated for c in CUT[after.train])
        removed = set(before.train) - set(after.train)
        assert {CUT[i] for i in removed} == {validated - dt.timedelta(days=30)}
        assert lost == len(removed) > 0
    assert "a gap of " in gapped.description and "(label_horizon)" in gapped.description


def test_grouped_folds_say_the_horizon_was_not_applied() -> None:
    # Two cutoffs leave no rolling origin (one fold, one group): grouped K-fold holds out
    # customers, not a later period, so there is no gap to leave, and the record says so.
    rows = np.flatnonzero(CUTOFFS[2] > CUT)
    spec = spec_for(entity_column="customer_id", split=split(45))
    folds = folds_of(TABLE, spec, rows)[0]
    assert folds.method == "group_kfold"
    assert folds.describe()["label_horizon"] == {"value": 45.0, "unit": "split", "applied": False}
    assert "label_horizon 45 not applied: too few cutoffs to roll over" in folds.description


def test_a_numeric_split_column_is_in_its_own_unit() -> None:
    month = pa.array([CUTOFFS.index(c) for c in CUT], pa.int64())
    table = TABLE.append_column("month", month)
    gapped = rolling(1.5, table, "month")
    by_date = rolling(45, table)
    assert [list(f.train) for f in gapped.folds] == [list(f.train) for f in by_date.folds]
    assert gapped.describe()["label_horizon"] == {**by_date.describe()["label_horizon"], "value": 1.5}
    with pytest.raises(TrainingError, match="needs a date or timestamp split column"):
        rolling("45 days", table, "month")


def test_the_one_slice_holdout_leaves_the_gap_too() -> None:
    spec = spec_for(split=split(45))
    from warehouse_ml.ml.dataset import prepare_target
    from warehouse_ml.ml.folds import make_folds

    target = prepare_target(TABLE, "y", spec)
    folds = make_folds(TABLE, target, spec, TRAIN_ROWS, None)
    (fold,) = folds.folds
    assert folds.method == "temporal_holdout"
    first = min(CUT[fold.validation])
    assert max(CUT[fold.train]) + dt.timedelta(days=45) <= first
    assert set(CUT[fold.train]) == set(CUTOFFS[: CUTOFFS.index(first) - 1])


def test_the_evaluated_fit_leaves_the_gap_before_the_evaluation_cut_and_the_refit_does_not() -> None:
    from warehouse_ml.ml.trainer import train

    model = train(TABLE, spec_for(split=split(45, fraction=0.15), model_type=ModelType.LINEAR))
    recorded = model.metrics["split"]
    last, before = CUTOFFS[-1], CUTOFFS[-2]  # the evaluated cutoff and the one 30 days earlier
    assert recorded["cut_value"] == str(last)
    assert recorded["rows_dropped_by_label_horizon"] == int(np.sum(before == CUT))
    assert model.rows_train == int(np.sum(before > CUT)) and model.rows_eval == int(np.sum(last == CUT))
    assert model.rows_final == TABLE.num_rows  # the deployed refit sees every row


def test_a_horizon_longer_than_the_history_is_a_clear_error() -> None:
    with pytest.raises(TrainingError, match=r"Model 'm': label_horizon 400 leaves no training rows"):
        rolling(400)


def test_timestamps_are_measured_in_days() -> None:
    stamps = pa.array([dt.datetime(2025, 1, 1, 12), dt.datetime(2025, 1, 3), None], pa.timestamp("us"))
    where = horizon.positions(stamps, "days", "at")
    assert where[1] - where[0] == pytest.approx(1.5) and np.isnan(where[2])
    with pytest.raises(TrainingError, match="'N cutoffs'"):
        horizon.positions(pa.array(["a", "b"]), "split", "label")


@pytest.mark.parametrize("bad", ["soon", -3, "1.5 cutoffs", True])
def test_bad_values_are_refused(bad: t.Any) -> None:
    with pytest.raises(ValueError, match="label_horizon"):
        horizon.parse(bad)


MODEL = """
{{{{ config(materialized='ml_model', target='y', split_column='cutoff',
            entity_column='customer_id', {extra}) }}}}
select * from {{{{ ref('panel') }}}}
"""


def test_a_build_records_and_shows_the_gap_and_a_failed_one_writes_nothing(project: t.Any) -> None:
    project.write({"seeds/panel.csv": _panel_csv(), "models_sql/ltv.sql": MODEL.format(extra="label_horizon=400")})
    assert_clean_error(project.wml("build"), 1, "Model 'ltv'", "label_horizon 400", "Shorten label_horizon")
    assert project.query(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name = 'models'"
    ) == [(0,)]  # not even the registry's table
    project.write({"models_sql/ltv.sql": MODEL.format(extra="label_horizon='45 days', eval_fraction=0.15")})
    assert project.wml("build").exit_code == 0
    shown = project.wml("show", "ltv").output
    assert "a gap of 45 days (label_horizon) before each validation cutoff" in shown
    import json

    record = json.loads(project.wml("show", "ltv", "--format", "json").output)["metrics"]["search"]
    gap = record["validation_method"]["label_horizon"]
    assert gap["value"] == 45 and gap["unit"] == "days" and all(n > 0 for n in gap["dropped_train_rows"])


@pytest.mark.parametrize(
    ("config", "fragment"),
    [("split_column='cutoff', label_horizon='soon'", "label_horizon 'soon' is not understood"),
     ("label_horizon=30", "label_horizon applies to a temporal split")],
)  # fmt: skip
def test_bad_config_is_a_config_error_naming_the_file(project: t.Any, config: str, fragment: str) -> None:
    text = f"{{{{ config(materialized='ml_model', target='y', {config}) }}}}\nselect * from {{{{ ref('panel') }}}}\n"
    project.write({"seeds/panel.csv": _panel_csv(), "models_sql/ltv.sql": text})
    assert_clean_error(project.wml("build"), 1, "ltv.sql", "model 'ltv'", fragment)


def test_create_model_settings_label_horizon() -> None:
    base = "CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default SETTINGS (S3_BUCKET 'b', "
    stmt = parse_ml_statement(base + "SPLIT_COLUMN cutoff, LABEL_HORIZON 90)")
    assert (stmt.spec.split.label_horizon, stmt.spec.split.label_horizon_unit) == (90.0, "split")
    assert any("LABEL_HORIZON 90" in w and "warehouse-ml setting" in w for w in stmt.warnings)
    cutoffs = parse_ml_statement(base + "SPLIT_COLUMN cutoff, LABEL_HORIZON '2 cutoffs')")
    assert (cutoffs.spec.split.label_horizon, cutoffs.spec.split.label_horizon_unit) == (2.0, "cutoffs")
    with pytest.raises(CompilationError, match="LABEL_HORIZON needs SPLIT_COLUMN"):
        parse_ml_statement(base + "LABEL_HORIZON 90)")
    with pytest.raises(CompilationError, match="is not understood"):
        parse_ml_statement(base + "SPLIT_COLUMN cutoff, LABEL_HORIZON 'soon')")


def test_module_doctest() -> None:
    import doctest

    failures, tried = doctest.testmod(horizon)
    assert tried >= 1 and failures == 0


STATEMENT = """{{ config(label_horizon='45 days') }}
CREATE MODEL ltv
FROM (SELECT * FROM {{ ref('panel') }})
TARGET y
FUNCTION predict_ltv
IAM_ROLE default
SETTINGS (S3_BUCKET 'b', SPLIT_COLUMN cutoff, EVAL_FRACTION 0.15, ENTITY_COLUMN 'customer_id');
"""


def test_a_config_horizon_joins_a_create_model_files_split(project: t.Any) -> None:
    project.write({"seeds/panel.csv": _panel_csv(), "models_sql/ltv.sql": STATEMENT})
    built = project.wml("build")
    assert built.exit_code == 0, built.output
    import json

    metrics = json.loads(project.wml("show", "ltv", "--format", "json").output)["metrics"]
    assert metrics["split"]["column"] == "cutoff" and metrics["split"]["eval_fraction"] == 0.15
    assert (metrics["split"]["label_horizon"], metrics["split"]["label_horizon_unit"]) == (45, "days")
    assert metrics["search"]["validation_method"]["label_horizon"]["applied"] is True
