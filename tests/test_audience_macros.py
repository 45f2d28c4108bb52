"""warehouse_ml/macros/segments.sql through the real CLI in both dialects, against Python."""

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


# id, segment, score (None = NULL): ties, NULLs and two partitions.
SCORES = [(1, "a", 5.0), (2, "a", 1.0), (3, "a", 3.0), (4, "a", 3.0), (5, "a", None), (6, "a", 9.0),
          (7, "a", 7.0), (8, "a", 2.0), (9, "a", 8.0), (10, "a", 4.0), (11, "a", 6.0), (12, "b", 1.0),
          (13, "b", 2.0), (14, "b", None)]  # fmt: skip
PROBS = [None, 0.0, 0.1, 0.39999, 0.4, 0.55, 0.7, 0.70001, 1.0]
# id, seed?, candidate?, features f1, f2, f3 (f3 constant, f2 has a NULL)
PEOPLE = [(1, 1, 0, 10.0, 1.0, 3.0), (2, 1, 0, 12.0, 2.0, 3.0), (3, 0, 1, 11.0, None, 3.0),
          (4, 0, 1, 0.0, 0.0, 3.0), (5, 0, 1, 9.0, 1.5, 3.0), (6, 0, 1, 30.0, 9.0, 3.0),
          (7, 0, 1, 2.0, 2.0, 3.0), (8, 0, 0, 5.0, 4.0, 3.0), (9, 0, 1, 12.0, 2.0, 3.0),
          (10, 0, 1, 4.0, 0.5, 3.0), (11, 0, 1, 8.0, 1.0, 3.0)]  # fmt: skip


def _percent_ranks(rows: list[tuple]) -> dict[int, float | None]:
    """percent_rank() over (partition by segment order by score), NULL scores apart."""
    out: dict[int, float | None] = {}
    for seg in {r[1] for r in rows}:
        scored = [(i, v) for i, g, v in rows if g == seg and v is not None]
        values = sorted(v for _, v in scored)
        for i, v in scored:
            out[i] = values.index(v) / (len(values) - 1) if len(values) > 1 else 0.0
    out.update({i: None for i, _, v in rows if v is None})
    return out


def _python_lookalike(rows: list[tuple], top: float) -> list[tuple[int, float]]:
    import statistics

    cols = list(zip(*[r[3:] for r in rows], strict=True))
    z = []
    for col in cols:
        known = [v for v in col if v is not None]
        mean, sd = statistics.fmean(known), statistics.stdev(known)
        z.append([0.0 if v is None or sd == 0 else (v - mean) / sd for v in col])
    seeds = [k for k, r in enumerate(rows) if r[1]]
    centre = [statistics.fmean(zc[k] for k in seeds) for zc in z]
    dist = sorted((math.dist([zc[k] for zc in z], centre), rows[k][0]) for k, r in enumerate(rows) if r[2])
    n = len(dist)
    return [(i, d) for rank, (d, i) in enumerate(dist) if rank / (n - 1) <= top]


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
    models["models_sql/cohorts.sql"] = """
        select id, {{ wml.percentile('score') }} as pct, {{ wml.percentile('score', partition_by='segment') }} as pct_seg,
               {{ wml.percentile_cohort('score') }} as cohort,
               {{ wml.percentile_cohort('score', buckets=[0.5], labels=['upper half', 'lower half'], partition_by=['segment']) }} as half
        from {{ ref('scores') }}"""
    models["models_sql/tiers.sql"] = """
        select p, {{ wml.intent_tier('p') }} as tier,
               {{ wml.intent_tier('1 - p', thresholds=[0.6, 0.3], missing='prospect') }} as churn_tier,
               {{ wml.intent_tier('p', thresholds=[0.5], labels=['likely', 'unlikely']) }} as two
        from {{ ref('probs') }}"""
    models["models_sql/nearest.sql"] = """
        {{ wml.lookalike(ref('people'), ['f1', 'f2', 'f3'], seeds='is_seed = 1', candidates='is_candidate = 1',
                         id_column='id', top=0.5) }}"""
    models["models_sql/nearest_all.sql"] = """
        {{ wml.lookalike("select * from " ~ ref('people'), ['f1', 'f2 * 2', 'f3'], seeds='is_seed = 1',
                         candidates='is_candidate = 1', id_column='id', top=1) }}"""
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
        "seeds/scores.csv": "id,segment,score\n" + "".join(f"{i},{g},{'' if v is None else v}\n" for i, g, v in SCORES),
        "seeds/probs.csv": "p\n" + "".join(f"{'' if v is None else v}\n" for v in PROBS),
        "seeds/people.csv": "id,is_seed,is_candidate,f1,f2,f3\n" + "".join(
            ",".join("" if v is None else str(v) for v in r) + "\n" for r in PEOPLE),
        "seeds/schema.yml": "seeds:\n  - name: xs\n    config:\n      column_types: {x: DOUBLE}\n"
        "  - name: outcomes\n    config:\n      column_types: {converted: INTEGER, flag: BOOLEAN}\n"
        "  - name: scores\n    config:\n      column_types: {score: DOUBLE}\n"
        "  - name: probs\n    config:\n      column_types: {p: DOUBLE}\n"
        "  - name: people\n    config:\n      column_types: {f1: DOUBLE, f2: DOUBLE, f3: DOUBLE}\n",
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


def _cohort(pct: float | None, buckets: list[float], labels: list[str]) -> str | None:
    if pct is None:
        return None
    return next((lab for b, lab in zip(buckets, labels, strict=False) if pct >= b), labels[-1])


def test_percentiles_and_cohorts_match_python(built):
    overall = _percent_ranks([(i, "x", v) for i, _, v in SCORES])
    by_segment = _percent_ranks(SCORES)
    labels = ["top 10%", "top 25%", "top 50%", "bottom 50%"]
    rows = built.query("select id, pct, pct_seg, cohort, half from cohorts order by id")
    assert len(rows) == len(SCORES)
    for i, pct, pct_seg, cohort, half in rows:
        assert pct == pytest.approx(overall[i]) if overall[i] is not None else pct is None
        assert pct_seg == pytest.approx(by_segment[i]) if by_segment[i] is not None else pct_seg is None
        assert cohort == _cohort(overall[i], [0.9, 0.75, 0.5], labels), i
        assert half == _cohort(by_segment[i], [0.5], ["upper half", "lower half"]), i


def test_intent_tiers_match_python(built):
    rows = built.query("select p, tier, churn_tier, two from tiers")
    assert len(rows) == len(PROBS)
    for p, tier, churn_tier, two in rows:
        if p is None:
            assert (tier, churn_tier, two) == (None, "prospect", None)
            continue
        assert tier == ("high" if p >= 0.7 else "medium" if p >= 0.4 else "low"), p
        assert churn_tier == _cohort(1 - p, [0.6, 0.3], ["high", "medium", "low"]), p
        assert two == ("likely" if p >= 0.5 else "unlikely"), p


def test_lookalike_matches_python(built):
    got = built.query("select id, distance from nearest order by distance, id")
    want = _python_lookalike(PEOPLE, 0.5)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [d for _, d in got] == pytest.approx([d for _, d in want], abs=1e-12)
    every = built.query("select id from nearest_all")  # expressions as features; top=1 keeps all
    assert sorted(i for i, in every) == sorted(r[0] for r in PEOPLE if r[2])


@pytest.mark.parametrize(
    "call, message",
    [
        ("wml.percentile_cohort('s', buckets=[0.5, 0.9])", "highest first"),
        ("wml.percentile_cohort('s', labels=['a'])", "must be a list of 4 names"),
        ("wml.intent_tier('p', thresholds=[1.5])", "probabilities in [0, 1]"),
        ("wml.intent_tier('p', labels=['a', 'b'])", "must be a list of 3 names"),
        ("wml.lookalike('t', 'f1', 'x = 1', 'y = 1')", "non-empty list of columns"),
        ("wml.lookalike('t', ['f1'], 'x = 1', 'y = 1', top=0)", "top=0 must be a share"),
    ],
)
def test_audience_macros_reject_bad_arguments(project, call, message):
    project.write({"models_sql/bad.sql": f"select {{{{ {call} }}}} as x"})
    assert_clean_error(project.wml("compile"), 2, message)
