"""warehouse_ml/macros/audiences.sql through the real CLI in both dialects, against Python."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import pytest
from conftest import PROFILE, Project, assert_clean_error

DIALECTS = ["duckdb", "redshift"]
XS = [-8.0, -5.0, -3.1, -1.96, -1.0, -0.3, 0.0, 1e-9, 0.25, 1.0, 1.6448536269514722, 2.5, 4.0, 7.5]

# name -> {group: (members, conversions)}; 'holdout' is the control unless absent.
LIFT_CASES: dict[str, dict[str, tuple[int, int]]] = {
    "two_arms": {"holdout": (120, 18), "email": (240, 50), "discount": (230, 80)},
    "no_effect": {"holdout": (500, 100), "a": (500, 100)},
    "negative": {"holdout": (300, 90), "a": (310, 60)},
    "zero_control_rate": {"holdout": (50, 0), "a": (60, 6)},
    "nobody_converts": {"holdout": (40, 0), "a": (40, 0)},
    "no_control": {"a": (10, 5), "b": (10, 2)},
}


def _python_lift(n1: int, x1: int, n0: int, x0: int, z_crit: float = 1.959963984540054) -> dict:
    p1, p0, pooled = x1 / n1, x0 / n0, (x1 + x0) / (n1 + n0)
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (p1 - p0) / se0 if se0 > 0 else None
    return {
        "lift": p1 - p0, "relative": p1 / p0 - 1 if p0 > 0 else None,
        "lo": p1 - p0 - z_crit * se, "hi": p1 - p0 + z_crit * se,
        "z": z, "p": None if z is None else 2 * (1 - NormalDist().cdf(abs(z))),
    }  # fmt: skip


def _outcomes_csv() -> str:
    lines = ["case_name,arm,converted,flag"]
    for case, groups in LIFT_CASES.items():
        for arm, (n, x) in groups.items():
            lines += [f"{case},{arm},{int(i < x)},{'true' if i < x else 'false'}" for i in range(n)]
    return "\n".join(lines) + "\n"


def _models() -> dict[str, str]:
    models = {
        "models_sql/normal.sql": "select x, {{ wml.normal_cdf('x') }} as phi, {{ wml.normal_p_value('x') }} as p from {{ ref('xs') }}",
        "models_sql/lift_bool.sql": "{{ wml.proportion_lift(\"select arm, flag from \" ~ ref('outcomes') ~ \" where case_name = 'two_arms'\", 'arm', 'flag') }}",
        "models_sql/lift_99.sql": "{{ wml.proportion_lift(\"select arm, converted from \" ~ ref('outcomes') ~ \" where case_name = 'two_arms'\", 'arm', 'converted', confidence=0.99) }}",
    }  # fmt: skip
    for case in LIFT_CASES:
        models[f"models_sql/lift_{case}.sql"] = (
            f"{{{{ wml.proportion_lift(\"(select arm, converted from \" ~ ref('outcomes') ~ \" where case_name = '{case}')\", 'arm', 'converted') }}}}"
        )
    return models


@pytest.fixture(scope="module", params=DIALECTS)
def built(request, tmp_path_factory) -> Project:
    root: Path = tmp_path_factory.mktemp(f"aud_{request.param}")
    project = Project(root)
    seeds = {
        "seeds/xs.csv": "x\n" + "\n".join(repr(x) for x in XS) + "\n",
        "seeds/outcomes.csv": _outcomes_csv(),
        "seeds/schema.yml": "seeds:\n  - name: xs\n    config:\n      column_types: {x: DOUBLE}\n"
        "  - name: outcomes\n    config:\n      column_types: {converted: INTEGER, flag: BOOLEAN}\n",
    }
    project.write({"profiles.yml": PROFILE, "wml_project.yml": f"name: t\nsql_dialect: {request.param}\n",
                   **seeds, **_models()})  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


def test_normal_cdf_and_p_value_match_python(built):
    for x, phi, p in built.query("select x, phi, p from normal order by x"):
        assert abs(phi - NormalDist().cdf(x)) < 1e-7, x
        assert abs(p - 2 * (1 - NormalDist().cdf(abs(x)))) < 1.5e-7, x


@pytest.mark.parametrize("case", sorted(LIFT_CASES))
def test_proportion_lift_matches_python(built, case):
    groups = LIFT_CASES[case]
    rows = built.query(
        "select variant, members, conversions, control_members, control_conversions, absolute_lift, "
        f"relative_lift, ci_low, ci_high, z_score, p_value from lift_{case} order by variant"
    )
    if "holdout" not in groups:
        assert rows == []
        return
    assert [r[0] for r in rows] == sorted(g for g in groups if g != "holdout")
    n0, x0 = groups["holdout"]
    for variant, n1, x1, cn, cx, lift, rel, lo, hi, z, p in rows:
        assert (n1, x1, cn, cx) == (*groups[variant], n0, x0)
        want = _python_lift(n1, x1, n0, x0)
        assert lift == pytest.approx(want["lift"], abs=1e-12)
        assert (rel is None) == (want["relative"] is None) and (rel is None or rel == pytest.approx(want["relative"]))
        assert lo == pytest.approx(want["lo"], abs=1e-12) and hi == pytest.approx(want["hi"], abs=1e-12)
        assert (z is None) == (want["z"] is None) and (p is None) == (want["p"] is None)
        if z is not None:
            assert z == pytest.approx(want["z"], abs=1e-12) and abs(p - want["p"]) < 1.5e-7


def test_proportion_lift_takes_boolean_outcomes_and_other_confidence(built):
    assert built.query("select variant, z_score from lift_bool order by 1") == built.query(
        "select variant, z_score from lift_two_arms order by 1")
    (lo, hi), = built.query("select ci_low, ci_high from lift_99 where variant = 'email'")
    want = _python_lift(240, 50, 120, 18, z_crit=2.5758293035489004)
    assert lo == pytest.approx(want["lo"], abs=1e-12) and hi == pytest.approx(want["hi"], abs=1e-12)


def test_proportion_lift_rejects_an_unknown_confidence(project):
    project.write({"models_sql/bad.sql": "{{ wml.proportion_lift('t', 'arm', 'y', confidence=0.97) }}"})
    assert_clean_error(project.wml("compile"), 2, "confidence=0.97 must be one of")
