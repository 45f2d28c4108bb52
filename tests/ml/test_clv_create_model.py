"""CREATE MODEL ... MODEL_TYPE CLV (our extension): parsing, warnings, errors, end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow.csv as pacsv
import pytest
from conftest import PROFILE, Project, assert_clean_error

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml.clv import synthetic
from warehouse_ml.ml.clv.spec import ClvSpec
from warehouse_ml.ml.create_model import parse_ml_statement

TRUE = dict(r=0.5, alpha=6.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)
STATEMENT = """\
CREATE MODEL ltv
FROM (SELECT frequency, recency, "T" AS age, monetary_value FROM rfm)
TARGET future_spend
FUNCTION predict_ltv
MODEL_TYPE CLV
SETTINGS (HORIZON 26, T_COLUMN 'age', PENALIZER 0.0005, MAX_RUNTIME 60)"""


def test_parses_to_a_clv_spec_and_warns_it_is_ours():
    stmt = parse_ml_statement(STATEMENT)
    spec = stmt.spec
    assert isinstance(spec, ClvSpec)
    assert (spec.name, spec.function, spec.horizon, spec.t_column, spec.penalizer) == (
        "ltv", "predict_ltv", 26.0, "age", 0.0005)
    assert spec.frequency_column == "frequency" and spec.source == "create_model"
    assert spec.query.startswith("SELECT frequency")
    said = " ".join(stmt.warnings)
    assert "MODEL_TYPE CLV is a warehouse-ml extension" in said and "rejects this statement" in said
    assert "TARGET future_spend is ignored" in said and "MAX_RUNTIME ignored" in said
    unquoted = parse_ml_statement(STATEMENT.replace("T_COLUMN 'age'", "T_COLUMN Age")).spec
    assert unquoted.t_column == "age"  # unquoted names fold, as Redshift's do
    no_target = parse_ml_statement(STATEMENT.replace("TARGET future_spend\n", "")).spec
    assert isinstance(no_target, ClvSpec)


@pytest.mark.parametrize("change, fragment", [
    (("SETTINGS (HORIZON 26, T_COLUMN 'age', PENALIZER 0.0005, MAX_RUNTIME 60)", ""),
     "CREATE MODEL ltv: MODEL_TYPE CLV needs SETTINGS (HORIZON <periods>)"),
    (("HORIZON 26", "HORIZON 0"), "HORIZON must be a number more than 0"),
    (("PENALIZER 0.0005", "PENALIZER 'lots'"), "PENALIZER must be a number at least 0"),
    (("T_COLUMN 'age'", "T_COLUMN 12"), "T_COLUMN must be a column name"),
    (("MODEL_TYPE CLV", "MODEL_TYPE CLV\nOBJECTIVE 'mse'"), "MODEL_TYPE CLV (BG/NBD + Gamma-Gamma"),
    (("MODEL_TYPE CLV", "MODEL_TYPE XGBOOST"), "HORIZON is a MODEL_TYPE CLV setting"),
    (("MODEL_TYPE CLV", "MODEL_TYPE CLVV"), "CLV"),
])  # fmt: skip
def test_errors_name_the_statement_and_what_to_add(change, fragment):
    with pytest.raises(CompilationError) as err:
        parse_ml_statement(STATEMENT.replace(*change))
    assert fragment in str(err.value), str(err.value)


def make(root) -> Project:
    p = Project(root)
    p.root.mkdir(parents=True, exist_ok=True)
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n"})
    (p.root / "seeds").mkdir(exist_ok=True)
    pacsv.write_csv(synthetic.rfm(400, seed=4, **TRUE), p.root / "seeds" / "rfm.csv")
    assert p.wml("seed").exit_code == 0
    return p


def test_end_to_end_in_wml_sql_and_as_a_model_file(tmp_path):
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    p = make(tmp_path / "proj")
    created = p.wml("sql", STATEMENT)
    assert created.exit_code == 0, created.output + created.stderr
    assert "READY" in created.output and "warehouse-ml extension" in created.stderr
    f, r, T, m, spend, alive = (np.array(c, dtype=float) for c in zip(*p.query(
        'select frequency, recency, "T", monetary_value, predict_ltv(frequency, recency, "T", monetary_value), '
        'predict_ltv_prob(frequency, recency, "T") from rfm order by customer_id'), strict=True))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoFitter(penalizer_coef=0.0005).fit(f, r, T)
        gg = GammaGammaFitter(penalizer_coef=0.0005).fit(f[f > 0], m[f > 0])
        want = bg.conditional_expected_number_of_purchases_up_to_time(26, f, r, T) * \
            gg.conditional_expected_average_profit(f, m)
    np.testing.assert_allclose(spend, want, rtol=1e-4)
    np.testing.assert_allclose(alive, bg.conditional_probability_alive(f, r, T), rtol=1e-4)
    shown = p.wml("sql", "SHOW MODEL ltv", "--format", "csv").output
    assert "bg_nbd_gamma_gamma" in shown
    # Declared argument types must be the four RFM ones; nothing is written otherwise.
    bad = STATEMENT.replace("CREATE MODEL ltv", "CREATE MODEL ltv2").replace(
        "FUNCTION predict_ltv", "FUNCTION predict_ltv2 (int, float8)")
    assert_clean_error(p.wml("sql", bad), 1, "declares 2 argument types", "takes 4")
    assert p.query("select count(*) from wml.models where name = 'ltv2'") == [(0,)]
    assert p.wml("sql", "DROP MODEL ltv").exit_code == 0
    assert p.query("select count(*) from duckdb_functions() where function_name like 'predict_ltv%'") == [(0,)]
    # The same statement as a model file, built in DAG order after the seed.
    p.write({"models_sql/ltv.sql": STATEMENT.replace("FROM rfm", "FROM {{ ref('rfm') }}")})
    built = p.wml("build")
    assert built.exit_code == 0, built.output
    assert "warehouse-ml extension" in built.output + built.stderr
    assert p.scalar('select predict_ltv(2, 10, 20, 30)') == pytest.approx(
        float(bg.conditional_expected_number_of_purchases_up_to_time(26, 2, 10, 20)
              * gg.conditional_expected_average_profit(2, 30)), rel=1e-4)
