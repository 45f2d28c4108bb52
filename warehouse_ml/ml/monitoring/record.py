"""Scoring runs: profile a relation that holds a model's scores (or features) as it builds.

A model whose SQL calls ``predict_x(...)`` (or ``predict_x_prob``) writes scores: each
select-list alias whose value is such a call (cast, or in a CASE that scores some rows
only) is a score column of that model, and the model's features that are columns of the
relation are profiled beside it, over the rows the model scored (its score not NULL). Columns that
``wml.score_drift`` / ``wml.feature_drift`` tests on the relation name are profiled too
(a feature table such as ``profile_traits`` then has runs of its own), and a
``wml.segment_stability`` test's column is snapshot per id. Everything is binned on the
training bins of the version that serves, in SQL, inside the node's transaction (after
the swap), so a failed build records nothing. ``wml predict`` records the same way.
"""

from __future__ import annotations

import dataclasses
import threading
import typing as t

from warehouse_ml.ml.monitoring import sql, store

DRIFT_TESTS = ("score_drift", "feature_drift")
_LOCK = threading.Lock()


@dataclasses.dataclass
class Watch:
    """What to profile for one model: model-side name -> (source relation, column)."""

    model: str
    columns: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    roles: dict[str, str] = dataclasses.field(default_factory=dict)
    auto_score: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # score='auto'


@dataclasses.dataclass
class Plan:
    """A node's monitoring: score columns by alias, tests' columns, segment columns."""

    scores: dict[str, tuple[str, str]]  # alias (lower) -> (model, 'prediction'|'probability')
    tested: list[dict[str, t.Any]]  # kwargs of the drift tests on the node
    segments: list[tuple[str, str]]  # (column, id column)

    @property
    def empty(self) -> bool:
        return not (self.scores or self.tested or self.segments)


def model_functions(session: t.Any) -> dict[str, tuple[str, str]]:
    """Function name (lower) -> (ML model, 'prediction' | 'probability'); recommenders excluded."""
    cached = getattr(session, "_wml_model_functions", None)
    if cached is not None:
        return cached
    out = {}
    for fn, node in session.ml_functions().items():
        if str(node.config.get("model_type") or "").lower() in ("recommender", "matrix_factorization", "clv", "bg_nbd"):
            continue
        base = str(node.config.get("function") or f"predict_{node.name}").lower()
        out[fn] = (node.name, "probability" if fn == f"{base}_prob" else "prediction")
    session._wml_model_functions = out
    return out


def score_columns(sql_text: str, dialect: str, functions: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Select-list aliases whose expression calls exactly one model function."""
    lowered = sql_text.lower()
    if not any(fn in lowered for fn in functions):
        return {}
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(sql_text, read=dialect)
    except ParseError:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for alias in tree.find_all(exp.Alias):
        called = _score_call(alias.this, functions)
        if called and alias.alias:
            out.setdefault(alias.alias.lower(), functions[called])
    return out


def _score_call(node: t.Any, functions: dict[str, tuple[str, str]]) -> str | None:
    """The function whose value ``node`` is, as is: the call itself, cast, or a CASE whose
    every non-NULL branch is that call (scored for some rows only). A derived value such
    as ``greatest(predict_x(...), 0)`` is not a score: its distribution is not the model's."""
    from sqlglot import exp

    if isinstance(node, (exp.Cast, exp.TryCast, exp.Paren)):
        return _score_call(node.this, functions)
    if isinstance(node, exp.Anonymous):
        return node.name.lower() if node.name.lower() in functions else None
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        if node.args.get("default") is not None:
            branches.append(node.args["default"])
        found = {_score_call(b, functions) for b in branches if not isinstance(b, exp.Null)}
        return found.pop() if len(found) == 1 else None
    return None


def _index(session: t.Any) -> dict[str, list[t.Any]]:
    """Attached node id -> its wml monitoring tests (computed once per session)."""
    with _LOCK:
        found = getattr(session, "_wml_monitoring_tests", None)
        if found is None:
            found = {}
            for node in session.nodes.values():
                meta = node.test_metadata or {}
                if meta.get("namespace") == "wml" and node.attached_to and (
                    meta.get("name") in DRIFT_TESTS or meta.get("name") == "segment_stability"
                ):
                    found.setdefault(node.attached_to, []).append(node)
            session._wml_monitoring_tests = found
        return found


def add_model_dependencies(nodes: dict[str, t.Any]) -> None:
    """An ML test waits for the ML model it names (``ml_model``), so it compares with the
    version this build deploys, and (in ``wml build``) gates what is downstream of both."""
    models = {n.name: n.unique_id for n in nodes.values() if n.is_ml_model}
    for node in nodes.values():
        meta = node.test_metadata or {}
        if meta.get("namespace") != "wml" or meta.get("name") not in (*DRIFT_TESTS, "performance_decay"):
            continue
        uid = models.get(str(meta["kwargs"].get("ml_model")))
        if uid is not None and uid not in node.depends_on:  # else: a model from `wml sql`
            node.depends_on.append(uid)


def plan_for(session: t.Any, node: t.Any) -> Plan:
    functions = model_functions(session)
    called = bool(functions) and bool(node.compiled_sql)
    scores = (
        score_columns(node.compiled_sql, session.project.settings.sql_dialect, functions)
        if called else {}
    )  # fmt: skip
    tested, segments = [], []
    for test in _index(session).get(node.unique_id, []):
        meta = test.test_metadata
        kwargs = dict(meta["kwargs"])
        if meta["name"] == "segment_stability":
            segments.append((str(kwargs["column_name"]), str(kwargs.get("id_column") or "profile_id")))
        elif kwargs.get("ml_model"):
            tested.append({**kwargs, "_test": meta["name"]})
    return Plan(scores, tested, segments)


def hook_for(session: t.Any, node: t.Any) -> t.Callable[[t.Any], None] | None:
    """The after-swap callback that records ``node``'s scoring run, or None."""
    if node is None or node.kind.value != "model" or node.is_ml_model:
        return None
    plan = plan_for(session, node)
    if plan.empty:
        return None
    return lambda ctx: record_build(session, ctx, plan)


def prepare(session: t.Any) -> None:
    """Create the monitoring tables before parallel workers start (one catalog writer)."""
    if not model_functions(session):
        return
    adapter = session.adapter
    execute = lambda text, params: adapter.execute(text, params)  # noqa: E731
    if not store.exists(execute):
        store.ensure(execute)


def record_build(session: t.Any, ctx: t.Any, plan: Plan) -> None:
    adapter, cursor = ctx.adapter, ctx.cursor
    execute = lambda text, params: adapter.execute(text, params, cursor=cursor)  # noqa: E731
    rel = ctx.relation
    key = f"{rel.schema}.{rel.identifier}"
    present = {name.lower(): name for name, _ in adapter.columns(rel, cursor)}
    watches: dict[str, Watch] = {}
    scored: dict[str, str] = {}  # model -> the rows it scored (its score column not NULL)
    for alias, (model, kind) in plan.scores.items():
        if alias in present:
            watch = watches.setdefault(model, Watch(model))
            watch.columns.setdefault(kind, (str(rel), present[alias]))
            watch.roles[kind] = "score"
            scored.setdefault(
                model, f"(select * from {rel} where {sql.ident(present[alias])} is not null) as wml_scored"
            )
    for kwargs in plan.tested:
        _add_tested(watches.setdefault(str(kwargs["ml_model"]), Watch(str(kwargs["ml_model"]))),
                    kwargs, str(rel), present)  # fmt: skip
    for watch in watches.values():
        version = _deployed(execute, watch.model)
        if version is None:
            continue
        rows = scored.get(watch.model, str(rel))
        for name, _ in version[1]:
            if name.lower() in present:
                watch.columns.setdefault(name, (rows, present[name.lower()]))
                watch.roles.setdefault(name, "feature")
        record(execute, key, watch, version[0], session.warn)
    for column, id_column in plan.segments:
        snapshot_segments(execute, key, str(rel), present, column, id_column)


def _add_tested(watch: Watch, kwargs: dict[str, t.Any], rel: str, present: dict[str, str]) -> None:
    names = kwargs.get("features") or [kwargs.get("column_name")]
    for name in [str(n) for n in names if n]:
        if name.lower() not in present:
            continue
        if kwargs["_test"] == "score_drift":
            score = str(kwargs.get("score") or "auto")
            if score == "auto":
                watch.auto_score.append((rel, present[name.lower()]))
            else:
                watch.columns.setdefault(score, (rel, present[name.lower()]))
                watch.roles[score] = "score"
        else:
            watch.columns.setdefault(name, (rel, present[name.lower()]))
            watch.roles.setdefault(name, "feature")


def _deployed(execute: store.Execute, model: str) -> tuple[int, list[list[str]]] | None:
    import json

    known = execute(
        "select count(*) from information_schema.tables where table_schema = 'wml' "
        "and table_name = 'models'", None,
    )  # fmt: skip
    if not known[0][0]:
        return None  # nothing trained yet: the first build scores after training
    rows = execute(
        "select version, features from wml.models where name = ? and deployed", [model]
    )
    return (int(rows[0][0]), json.loads(rows[0][1] or "[]")) if rows else None


def record(
    execute: store.Execute,
    relation: str,
    watch: Watch,
    version: int,
    warn: t.Callable[[str], None],
) -> int:
    """Insert one scoring run of ``watch.model`` on ``relation``; returns rows written."""
    types = dict(execute(
        "select feature, max(value_type) from wml.monitoring where kind = 'training' "
        "and model_name = ? and model_version = ? and role in ('feature', 'score') group by feature",
        [watch.model, version],
    )) if store.exists(execute) else {}  # fmt: skip
    if not types:
        warn(
            f"model '{watch.model}' version {version} has no training profile (trained by an "
            f"older wml), so {relation} is not monitored for it; retrain it once with "
            f"`wml build -s {watch.model} --full-refresh`."
        )
        return 0
    for source, column in watch.auto_score:  # a classifier's probability, else the prediction
        kind = "probability" if "probability" in types else "prediction"
        watch.columns.setdefault(kind, (source, column))
        watch.roles[kind] = "score"
    columns = {f: (src, col, types[f] == "categorical") for f, (src, col) in watch.columns.items() if f in types}
    if not columns:
        return 0
    counted = execute(
        sql.binned_sql(sql.training_ref_sql(watch.model, list(columns), version),
                       sql.current_values_sql(columns)),
        None,
    )  # fmt: skip
    totals = _totals(execute, columns)
    run_id, run_at = store.new_run()
    rows = [
        {"run_id": run_id, "run_at": run_at, "kind": "scoring", "model_name": watch.model,
         "model_version": version, "relation": relation, "column_name": columns[f][1],
         "feature": f, "role": watch.roles.get(f, "feature"), "value_type": kind,
         "rows_total": totals[f][0], "rows_null": totals[f][1], "bin_index": index,
         "psi_bin": psi_bin, "lower_edge": low, "upper_edge": high, "category": category,
         "bin_count": int(count)}
        for f, kind, index, psi_bin, low, high, category, _, count in counted
    ]  # fmt: skip
    store.insert(execute, rows)
    return len(rows)


def _totals(execute: store.Execute, columns: dict[str, tuple[str, str, bool]]) -> dict[str, tuple[int, int]]:
    out = {}
    by_source: dict[str, list[str]] = {}
    for feature, (src, _, _) in columns.items():
        by_source.setdefault(src, []).append(feature)
    for src, features in by_source.items():
        row = execute(sql.counts_sql(src, [columns[f][1] for f in features]), None)[0]
        for feature, nulls in zip(features, row[1:], strict=True):
            out[feature] = (int(row[0]), int(nulls))
    return out


def snapshot_segments(
    execute: store.Execute, key: str, source: str, present: dict[str, str], column: str, id_column: str
) -> None:
    """Keep each id's segment value of this run (and the previous run's) for stability."""
    if column.lower() not in present or id_column.lower() not in present:
        return  # the test itself reports the missing column
    col, ident = sql.ident(present[column.lower()]), sql.ident(present[id_column.lower()])
    run_id, run_at = store.new_run()
    if not store.exists(execute):
        store.ensure(execute)
    execute(
        f"insert into {store.SEGMENTS} select ?, ?, ?, ?, cast({ident} as varchar(1024)), "
        f"cast({col} as varchar(1024)) from {source}",
        [run_id, run_at, key, present[column.lower()]],
    )
    store.prune_segments(execute, key, present[column.lower()])


def predict_hook(
    session: t.Any, version: t.Any, source: str, scores: dict[str, str]
) -> t.Callable[[t.Any], None]:
    """``wml predict``'s after-swap callback: features from the input relation, scores
    (``{'prediction': column, 'probability': column}``) from the output table."""

    def hook(ctx: t.Any) -> None:
        execute = lambda text, params: ctx.adapter.execute(text, params, cursor=ctx.cursor)  # noqa: E731
        watch = Watch(version.name)
        for kind, column in scores.items():
            watch.columns[kind] = (str(ctx.relation), column)
            watch.roles[kind] = "score"
        for name, _ in version.features:
            watch.columns[name] = (source, name)
            watch.roles[name] = "feature"
        key = f"{ctx.relation.schema}.{ctx.relation.identifier}"
        record(execute, key, watch, version.version, session.warn)

    return hook
