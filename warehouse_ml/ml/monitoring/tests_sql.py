"""The SQL of the ML generic tests (``wml.score_drift``, ``wml.feature_drift``,
``wml.segment_stability``, ``wml.performance_decay``), called from their test blocks in
``warehouse_ml/macros/monitoring.sql``.

Each returns failing rows, so ``severity``, ``warn_if``/``error_if``, ``where``,
``store_failures`` and ``limit`` behave as for any dbt test: a drift test fails one row
per drifting column (with the model, column, PSI, KS and thresholds, which the test's
message repeats: :func:`warehouse_ml.ml.monitoring.messages.describe`). The tested
relation is read live, so the test judges the data as they are; the reference (the
training profile of the deployed version, or the relation's previous recorded run)
comes from ``wml.monitoring``.
"""

from __future__ import annotations

import difflib
import typing as t

from warehouse_ml.errors import ConfigError
from warehouse_ml.ml.monitoring import sql
from warehouse_ml.ml.monitoring.sql import ident, literal

ARGS = {
    "score_drift": ("ml_model", "score", "compare_to", "psi_threshold", "threshold", "ks_threshold", "categorical"),
    "feature_drift": ("ml_model", "features", "compare_to", "psi_threshold", "threshold", "ks_threshold", "categorical"),
    "segment_stability": ("id_column", "threshold"),
    "performance_decay": ("ml_model", "prediction", "label", "metric", "tolerance", "confidence"),
}  # fmt: skip
Z = {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.96, 0.98: 2.3263, 0.99: 2.5758, 0.999: 3.2905}
DECAY_METRICS = ("auc", "accuracy", "rmse", "mae")
LOWER_IS_BETTER = ("rmse", "mae")


class _Args:
    """A test's arguments, checked: an unknown key or a bad value names the file and test."""

    def __init__(self, kind: str, node: t.Any, values: dict[str, t.Any]):
        self.kind, self.node, self.values = kind, node, values
        for key in values:
            if key not in ARGS[kind]:
                close = difflib.get_close_matches(key, ARGS[kind], n=1)
                self.fail(f"unknown argument '{key}'",
                          (f"Did you mean '{close[0]}'? " if close else "") + f"wml.{kind} takes {', '.join(ARGS[kind])}.")  # fmt: skip

    def fail(self, problem: str, hint: str) -> t.NoReturn:
        raise ConfigError(
            f"test wml.{self.kind} '{self.node.name}': {problem}.",
            path=self.node.path, node=self.node.name, hint=hint,
        )

    def get(self, key: str, default: t.Any = None) -> t.Any:
        value = self.values.get(key)
        return default if value is None else value

    def number(self, key: str, default: float | None, *, low: float = 0.0) -> float | None:
        value = self.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= low:
            self.fail(f"{key} must be a number above {low:g}, got {value!r}", f"e.g. {key}: 0.2")
        return float(value)

    def choice(self, key: str, default: str, choices: t.Sequence[str]) -> str:
        value = str(self.get(key, default))
        if value not in choices:
            self.fail(f"{key} must be one of {', '.join(choices)}, got {value!r}", f"e.g. {key}: {choices[0]}")
        return value

    def required(self, key: str) -> str:
        value = self.get(key)
        if not value or not isinstance(value, str):
            self.fail(f"'{key}' is required", f"Add {key}: <name> to the test.")
        return value


def render(renderer: t.Any, kind: str, model: t.Any, column_name: t.Any, kwargs: dict[str, t.Any]) -> str:
    """The test's SQL; ``renderer`` gives the test node and the relation it is attached to."""
    node = renderer._call().node
    args = _Args(kind, node, dict(kwargs))
    meta = node.test_metadata or {}
    attached = renderer.resolve_relation(meta["model"]) if meta.get("model") else model
    relation = (
        f"{attached.schema}.{attached.identifier}" if hasattr(attached, "identifier") else str(attached)
    )
    column = str(column_name) if column_name else None
    if kind in ("score_drift", "feature_drift"):
        return _drift(args, str(model), relation, column)
    if kind == "segment_stability":
        if not column:
            args.fail("no column", "Declare the test under the segment column (columns: - name: tier).")
        return segment_stability_sql(
            str(model), relation, column, str(args.get("id_column", "profile_id")),
            t.cast(float, args.number("threshold", 0.1)),
        )
    return _decay(args, str(model), relation)


def _drift(args: _Args, source: str, relation: str, column: str | None) -> str:
    model = args.required("ml_model")
    threshold = args.number("psi_threshold", args.number("threshold", 0.2))
    ks = args.number("ks_threshold", None)
    compare = args.choice("compare_to", "training", ("training", "previous_run"))
    if args.kind == "score_drift":
        if not column:
            args.fail("no column", "Declare it under the score column (columns: - name: ...).")
        score = args.choice("score", "auto", ("auto", "prediction", "probability"))
        categorical = bool(args.get("categorical", False))
        expected = [(score, column, categorical)]
    else:
        names = args.get("features") or ([column] if column else [])
        if not isinstance(names, list) or not names:
            args.fail("no features", "List them (features: [recency_days, monetary]) or declare the test under a column.")
        cat = args.get("categorical", [])
        listed = set(cat) if isinstance(cat, list) else (set(names) if cat is True else set())
        expected = [(str(n), str(n), str(n) in listed) for n in names]
    return drift_test_sql(
        model, source, relation, expected, compare,
        t.cast(float, threshold), ks,
    )  # fmt: skip


def drift_test_sql(
    model: str,
    source: str,
    relation: str,
    expected: list[tuple[str, str, bool]],
    compare_to: str,
    psi_threshold: float,
    ks_threshold: float | None,
) -> str:
    """Failing rows of a drift test: one per column that drifts (or cannot be measured).

    ``expected`` lists (model-side feature or 'auto'/'prediction'/'probability', column,
    categorical). Columns: model_name, model_version, relation, column_name, feature,
    reference, psi, psi_threshold, ks, ks_threshold, cur_rows, ref_rows, problem.
    """
    features = sorted({f for f, _, _ in expected} - {"auto"} | (
        {"prediction", "probability"} if any(f == "auto" for f, _, _ in expected) else set()
    ))  # fmt: skip
    if compare_to == "training":
        version = sql.deployed_version_sql(model)
        ref = sql.training_ref_sql(model, features)
        label = "training"
    else:
        run = sql.previous_run_sql(model, relation)
        version = f"(select max(model_version) from wml.monitoring where run_id = {run})"
        ref = sql.run_ref_sql(run, features)
        label = "previous run"
    values: dict[str, tuple[str, str, bool]] = {}
    rows = []
    for feature, column, categorical in expected:
        names = ["prediction", "probability"] if feature == "auto" else [feature]
        for name in names:
            values[name] = (source, column, categorical)
        shown = _auto_feature(model, version) if feature == "auto" else literal(feature)
        kind = "categorical" if categorical else "numeric"
        rows.append(f"select {shown} as feature, {literal(column)} as column_name, {literal(kind)} as declared")
    ks = "cast(null as double precision)" if ks_threshold is None else repr(float(ks_threshold))
    ks_fails = "" if ks_threshold is None else f" or r.ks > {ks}"
    # No training profile is an error; no previous run is the first run: nothing to judge.
    missing = "r.feature is null or r.ref_rows = 0 or " if compare_to == "training" else ""
    found = "" if compare_to == "training" else "r.feature is not null and r.ref_rows > 0 and ("
    return f"""with wml_result as (
{sql.drift_sql(sql.binned_sql(ref, sql.current_values_sql(values)))}
), wml_expected as (
    {(chr(10) + "    union all" + chr(10) + "    ").join(rows)}
)
select {literal(model)} as model_name, {version} as model_version, {literal(relation)} as relation,
       e.column_name, e.feature, {literal(label)} as reference,
       r.psi, {float(psi_threshold)!r} as psi_threshold, r.ks, {ks} as ks_threshold,
       r.cur_rows, r.ref_rows,
       case when r.feature is null or r.ref_rows = 0 then 'no reference profile'
            when r.value_type <> e.declared then 'is ' || r.value_type || ' in the reference profile'
            when r.cur_rows = 0 then 'no values' end as problem
from wml_expected as e
left join wml_result as r on r.feature = e.feature
where {missing}{found}r.value_type <> e.declared or r.psi is null
   or r.psi > {float(psi_threshold)!r}{ks_fails}{"" if compare_to == "training" else ")"}"""


def _auto_feature(model: str, version: str) -> str:
    """A classifier's probability when its profile has one, else the prediction."""
    return (
        "(select case when count(*) > 0 then 'probability' else 'prediction' end "
        f"from wml.monitoring where kind = 'training' and model_name = {literal(model)} "
        f"and model_version = {version} and feature = 'probability')"
    )


def segment_stability_sql(source: str, relation: str, column: str, id_column: str, threshold: float) -> str:
    """One failing row when more than ``threshold`` of the ids found in both this and the
    previous recorded run changed segment (a NULL segment equals a NULL)."""
    runs = (
        "(select run_id from (select run_id, row_number() over (order by run_at desc) as rn "
        f"from (select run_id, max(run_at) as run_at from wml.segment_snapshots "
        f"where relation = {literal(relation)} and column_name = {literal(column)} group by run_id) "
        "as wml_runs) as wml_ranked where rn = 2)"
    )
    same = "(c.segment_value = p.segment_value or (c.segment_value is null and p.segment_value is null))"
    return f"""with wml_prev as (
    select id_value, segment_value from wml.segment_snapshots where run_id = {runs}
), wml_cur as (
    select cast({ident(id_column)} as varchar(1024)) as id_value, cast({ident(column)} as varchar(1024)) as segment_value
    from {source}
), wml_cmp as (
    select count(*) as compared, sum(case when {same} then 0 else 1 end) as changed
    from wml_cur as c join wml_prev as p on p.id_value = c.id_value
)
select {literal(relation)} as relation, {literal(column)} as column_name, compared, changed,
       cast(changed as double precision) / compared as changed_share, {float(threshold)!r} as threshold
from wml_cmp
where compared > 0 and cast(changed as double precision) / compared > {float(threshold)!r}"""


def _decay(args: _Args, source: str, relation: str) -> str:
    model = args.required("ml_model")
    metric = args.choice("metric", "auc", DECAY_METRICS)
    tolerance = args.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        args.fail(f"tolerance must be a number of at least 0, got {tolerance!r}", "e.g. tolerance: 0.02")
    confidence = args.get("confidence", 0.95)
    if confidence not in Z:
        args.fail(f"confidence must be one of {', '.join(map(str, Z))}, got {confidence!r}", "e.g. confidence: 0.95")
    return performance_decay_sql(
        model, source, relation, args.required("prediction"), args.required("label"), metric,
        float(tolerance), Z[confidence],
    )


def performance_decay_sql(
    model: str, source: str, relation: str, prediction: str, label: str, metric: str,
    tolerance: float, z: float,
) -> str:  # fmt: skip
    """One failing row when the metric's interval on the matured rows (label not NULL) is
    entirely worse than the evaluation metric by more than ``tolerance``.

    Intervals: AUC by Hanley & McNeil's standard error, accuracy by Wilson's score
    interval, MAE and RMSE by the normal approximation of the mean (squared) error.
    """
    p, y = ident(prediction), ident(label)
    d = "double precision"
    version = sql.deployed_version_sql(model)
    stats = _metric_stats(metric, p, y, source, z)
    evaluated = (
        f"(select max(metric_value) from wml.monitoring where kind = 'training' and role = 'metric' "
        f"and model_name = {literal(model)} and model_version = {version} and feature = {literal(metric)})"
    )
    worse = (
        f"s.ci_low > e.eval_value + {tolerance!r}" if metric in LOWER_IS_BETTER
        else f"s.ci_high < e.eval_value - {tolerance!r}"
    )  # fmt: skip
    return f"""with {stats}, wml_eval as (select cast({evaluated} as {d}) as eval_value)
select {literal(model)} as model_name, {version} as model_version, {literal(relation)} as relation,
       {literal(metric)} as metric, e.eval_value, s.value, s.ci_low, s.ci_high,
       {tolerance!r} as tolerance, s.n as matured_rows,
       case when e.eval_value is null then 'no evaluation metric' end as problem
from wml_stats as s cross join wml_eval as e
where e.eval_value is null or (s.ci_low is not null and {worse})"""


def _metric_stats(metric: str, p: str, y: str, source: str, z: float) -> str:
    """CTEs ending in wml_stats(n, value, ci_low, ci_high) over the matured rows."""
    d = "double precision"
    rows = f"select {p} as p, {y} as y from {source} where {y} is not null and {p} is not null"
    if metric == "auc":
        return f"""wml_rows as (
    select cast(p as {d}) as p, case when cast(y as integer) = 1 then 1 else 0 end as y from ({rows}) as wml_m
), wml_ranked as (
    select y, cast(rank() over (order by p) as {d}) + (cast(count(*) over (partition by p) as {d}) - 1) / 2 as r
    from wml_rows
), wml_sums as (
    select cast(sum(y) as {d}) as n1, cast(count(*) - sum(y) as {d}) as n0,
           sum(case when y = 1 then r else 0 end) as rank_sum, count(*) as n
    from wml_ranked
), wml_auc as (
    select n, n1, n0, case when n1 > 0 and n0 > 0 then (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0) end as a
    from wml_sums
), wml_stats as (
    select n, a as value, a - {z!r} * se as ci_low, a + {z!r} * se as ci_high from (
        select n, a, sqrt((a * (1 - a) + (n1 - 1) * (a / (2 - a) - a * a)
                           + (n0 - 1) * (2 * a * a / (1 + a) - a * a)) / (n1 * n0)) as se
        from wml_auc) as wml_se
)"""
    if metric == "accuracy":
        hit = "case when cast(p as varchar(1024)) = cast(y as varchar(1024)) then 1.0 else 0.0 end"
        return f"""wml_acc as (
    select count(*) as n, cast(avg({hit}) as {d}) as k from ({rows}) as wml_m
), wml_stats as (
    select n, k as value,
           (k + {z * z!r} / (2 * n) - {z!r} * sqrt(k * (1 - k) / n + {z * z!r} / (4.0 * n * n))) / (1 + {z * z!r} / n) as ci_low,
           (k + {z * z!r} / (2 * n) + {z!r} * sqrt(k * (1 - k) / n + {z * z!r} / (4.0 * n * n))) / (1 + {z * z!r} / n) as ci_high
    from wml_acc where n > 0
)"""
    err = f"(cast(p as {d}) - cast(y as {d})) * (cast(p as {d}) - cast(y as {d}))" if metric == "rmse" \
        else f"abs(cast(p as {d}) - cast(y as {d}))"  # fmt: skip
    mean = f"""wml_err as (
    select count(*) as n, avg({err}) as m, stddev_samp({err}) as s from ({rows}) as wml_m
)"""
    if metric == "mae":
        return mean + f""", wml_stats as (
    select n, m as value, m - {z!r} * s / sqrt(n) as ci_low, m + {z!r} * s / sqrt(n) as ci_high
    from wml_err where n > 1
)"""
    return mean + f""", wml_stats as (
    select n, sqrt(m) as value, sqrt(greatest(m - {z!r} * s / sqrt(n), 0)) as ci_low,
           sqrt(m + {z!r} * s / sqrt(n)) as ci_high
    from wml_err where n > 1
)"""
