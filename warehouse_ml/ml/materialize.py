"""The ``ml_model`` materialization: train from the model's SELECT, version, deploy.

A rerun whose training query, data and settings are unchanged does not retrain (the
registry keeps a fingerprint), so scheduled builds are idempotent; ``--full-refresh``
forces a new version. A failed training writes nothing: the deployed version keeps serving.
"""

from __future__ import annotations

import json
import re
import threading
import typing as t

from warehouse_ml import materializations
from warehouse_ml.errors import ConfigError
from warehouse_ml.materializations import BuildContext, BuildResult
from warehouse_ml.ml import preprocessors, registry
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec
from warehouse_ml.nodes import Node

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGISTRY_LOCK = threading.Lock()
AUTO_DEPLOY = ("most_recent", "best_score", "never")


def spec_from_node(node: Node, query: str) -> TrainingSpec:
    """Read a model file's ``config(materialized='ml_model', ...)`` into a TrainingSpec."""
    c = node.config

    def fail(message: str, hint: str) -> t.NoReturn:
        raise ConfigError(message, path=node.path, node=node.name, hint=hint)

    function = str(c.get("function") or f"predict_{node.name}")
    if not _IDENT.match(function):
        fail(
            f"function '{function}' is not a valid SQL function name.", "Use letters, digits and _."
        )
    problem = _enum(ProblemType, c.get("problem_type"), "problem_type", fail)
    model_type = _enum(ModelType, c.get("model_type") or "auto", "model_type", fail)
    if model_type is ModelType.KMEANS:
        problem = ProblemType.CLUSTERING
    if problem is not ProblemType.CLUSTERING and not c.get("target"):
        fail(
            "an ml_model needs target='column' (or problem_type='clustering').",
            "Add target='<label column>' to the config.",
        )
    split = _split(c, fail)
    spec = TrainingSpec(
        name=node.name,
        function=function,
        query=query,
        target=c.get("target"),
        problem_type=problem,
        model_type=model_type,
        objective=str(c["objective"]).lower() if c.get("objective") else None,
        max_runtime=float(c.get("max_runtime", 5400)),
        hyperparameters=dict(c.get("hyperparameters") or {}),
        exclude=list(c.get("exclude") or []),
        split=split,
        class_weight=c.get("class_weight"),
        k=c.get("k"),
        tags=node.tags,
        refit=_flag(c.get("refit", True), "refit", fail),
        source="config",
    )
    if c.get("min_rows") is not None:
        spec.min_rows = int(c["min_rows"])
    spec.preprocessors = _preprocessors(c.get("preprocessors"), model_type, fail)
    return spec


def _preprocessors(
    value: t.Any, model_type: ModelType, fail: t.Callable[[str, str], t.NoReturn]
) -> list[dict[str, t.Any]] | None:
    """config(preprocessors=[...]): a list (or its JSON text, as in CREATE MODEL), or 'none'."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            fail(f"preprocessors is not valid JSON: {err.msg}.", preprocessors.HINT)
    problem = preprocessors.problem(value, kmeans=model_type is ModelType.KMEANS)
    if problem:
        fail(f"invalid preprocessors: {problem}.", preprocessors.HINT)
    return [dict(group) for group in value]


def _flag(value: t.Any, key: str, fail: t.Callable[[str, str], t.NoReturn]) -> bool:
    """A true/false config value (YAML and Jinja give bools; text 'true'/'false' too)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    fail(f"{key} must be true or false, got {value!r}.", f"Use {key}=false or {key}=true.")


def _enum(kind: t.Any, value: t.Any, key: str, fail: t.Callable[[str, str], t.NoReturn]) -> t.Any:
    if value is None:
        return None
    try:
        return kind(str(value).lower())
    except ValueError:
        fail(f"unknown {key} '{value}'.", f"Use one of: {', '.join(k.value for k in kind)}.")


def _split(c: dict[str, t.Any], fail: t.Callable[[str, str], t.NoReturn]) -> SplitSpec:
    raw = c.get("split")
    values: dict[str, t.Any] = dict(raw) if isinstance(raw, dict) else {}
    if isinstance(raw, str):
        values["method"] = raw
    if c.get("split_column"):
        values.setdefault("method", "temporal")
        values["column"] = c["split_column"]
    if c.get("eval_fraction") is not None:
        values["eval_fraction"] = float(c["eval_fraction"])
    unknown = set(values) - {"method", "eval_fraction", "column", "seed"}
    if unknown:
        fail(
            f"unknown split option(s) {sorted(unknown)}.",
            "Use method, eval_fraction, column, seed.",
        )
    split = SplitSpec(**values)
    if split.method not in ("random", "temporal"):
        fail(
            f"unknown split method '{split.method}'.",
            "Use 'random' or 'temporal' (with split_column).",
        )
    if split.method == "temporal" and not split.column:
        fail("a temporal split needs split_column.", "Add split_column='event_date' to the config.")
    if not 0.0 < split.eval_fraction < 1.0:
        fail(f"eval_fraction must be between 0 and 1, got {split.eval_fraction}.", "Use e.g. 0.2.")
    return split


def fingerprint(ctx_cursor: t.Any, query: str, spec: TrainingSpec) -> str:
    """Order-independent hash of the training rows plus the query and settings."""
    rows, data_hash = ctx_cursor.execute(
        f"select count(*), coalesce(sum(hash(wml_q)::hugeint), 0) from ({query}) as wml_q"
    ).fetchall()[0]
    settings = json.dumps(_settings(spec), sort_keys=True, default=str)
    return registry.query_hash(f"{rows}:{data_hash}:{settings}:{query}")


def _settings(spec: TrainingSpec) -> dict[str, t.Any]:
    import dataclasses

    out = dataclasses.asdict(spec)
    out.pop("query", None)
    return out


def version_from_trained(
    trained: t.Any, *, source: str, data_fingerprint: str | None = None
) -> registry.ModelVersion:
    """The registry row for a trained model (its number is set when it is added)."""
    spec = trained.spec
    return registry.ModelVersion(
        name=spec.name,
        version=0,
        function=spec.function,
        problem_type=trained.problem_type.value,
        model_type=trained.model_type,
        target=trained.target,
        features=[[f.name, f.sql_type] for f in trained.features],
        classes=trained.classes,
        objective=trained.objective,
        metrics=trained.metrics,
        leaderboard=trained.leaderboard,
        feature_importance=trained.feature_importance,
        settings=_settings(spec),
        training_query=spec.query,
        query_hash=registry.query_hash(spec.query),
        data_fingerprint=data_fingerprint,
        rows_train=trained.rows_train,
        rows_eval=trained.rows_eval,
        training_seconds=trained.training_seconds,
        onnx=trained.onnx_bytes,
        source=source,
    )


def train_and_register(
    cursor: t.Any,
    spec: TrainingSpec,
    *,
    source: str,
    deploy_policy: str = "most_recent",
    data_fingerprint: str | None = None,
) -> registry.ModelVersion:
    """Train on the query's result, then add a registry version (deployed per the policy)."""
    from warehouse_ml.ml.trainer import train

    table = cursor.sql(spec.query).to_arrow_table()
    trained = train(table, spec)
    version = version_from_trained(trained, source=source, data_fingerprint=data_fingerprint)
    # Parallel builds train concurrently but write the registry one at a time: DuckDB
    # reports concurrent catalog changes (CREATE SCHEMA ...) as write-write conflicts.
    with _REGISTRY_LOCK:
        registry.ensure(cursor)
        cursor.execute("begin transaction")
        try:
            deploy = _should_deploy(cursor, version, deploy_policy)
            registry.add_version(cursor, version, deploy=deploy)
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
    version.deployed = deploy
    return version


def _should_deploy(cursor: t.Any, new: registry.ModelVersion, policy: str) -> bool:
    """PostgresML's strategies: deploy the newest, or only when the key metric improves."""
    if policy == "never":
        return not registry.list_versions(cursor, new.name)  # the first version always serves
    if policy == "most_recent":
        return True
    current = [v for v in registry.list_versions(cursor, new.name) if v.deployed]
    if not current:
        return True
    key = new.objective or ""
    old_score, new_score = current[0].metrics.get(key), new.metrics.get(key)
    if old_score is None or new_score is None:
        return True
    lower_better = key in ("mse", "rmse", "mae", "log_loss")
    return new_score < old_score if lower_better else new_score > old_score


def after_deploy(
    session: t.Any, version: registry.ModelVersion, requested: str | None = None
) -> str:
    """Serve a newly deployed version: a persistent SQL macro or a Python UDF (see portable)."""
    from warehouse_ml.ml import portable

    requested = requested or (version.settings or {}).get("deploy_requested") or "auto"
    con = session.adapter.connection
    with _REGISTRY_LOCK:
        cursor = con.cursor()
        try:
            return portable.deploy_duckdb(cursor, con, version, requested)
        finally:
            cursor.close()


def build_ml_model(ctx: BuildContext) -> BuildResult:
    node, cursor = ctx.node, ctx.cursor
    session = ctx.extras["session"]
    query = ctx.render(False)
    spec = spec_from_node(node, query)
    policy = str(node.config.get("auto_deploy", "most_recent"))
    if policy not in AUTO_DEPLOY:
        raise ConfigError(
            f"unknown auto_deploy '{policy}'.",
            path=node.path,
            node=node.name,
            hint=f"Use one of: {', '.join(AUTO_DEPLOY)}.",
        )
    print_ = fingerprint(cursor, query, spec)
    requested = str(node.config.get("deploy") or "auto")
    if not ctx.full_refresh and registry.exists(cursor):
        for old in registry.list_versions(cursor, spec.name):
            if old.deployed and old.data_fingerprint == print_:
                if (old.settings or {}).get("deploy_requested") != requested:
                    after_deploy(session, old, requested)  # only the serving form changed
                return BuildResult(
                    old.rows_train,
                    f"up to date: version {old.version} already "
                    "trained on the same data and settings (--full-refresh retrains)",
                )
    version = train_and_register(
        cursor, spec, source="config", deploy_policy=policy, data_fingerprint=print_
    )
    if version.deployed:
        after_deploy(session, version, str(node.config.get("deploy") or "auto"))
    return BuildResult(version.rows_train, describe(version))


def describe(version: registry.ModelVersion) -> str:
    """One line: version, estimator, key metric against the baseline."""
    key = version.objective or ""
    metrics = version.metrics or {}
    score, base = metrics.get(key), (metrics.get("baseline") or {}).get(key)
    scored = f"{key} {score:.4g}" if isinstance(score, (int, float)) else ""
    if scored and isinstance(base, (int, float)):
        scored += f" (baseline {base:.4g})"
    how = {"sql": "as a SQL macro", "udf": "as an Arrow UDF"}.get(version.deploy_mode, "")
    state = f"deployed {how}".strip() if version.deployed else "not deployed"
    return f"trained version {version.version} ({version.model_type}, {scored}), {state}"


materializations.MATERIALIZERS["ml_model"] = build_ml_model
