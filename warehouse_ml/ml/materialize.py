"""The ``ml_model`` materialization: train from the model's SELECT, version, deploy.

A rerun whose training query, data and settings are unchanged does not retrain (the
registry keeps a fingerprint), so scheduled builds are idempotent; ``--full-refresh``
forces a new version. A failed training writes nothing: the deployed version keeps serving.
"""

from __future__ import annotations

import json
import re
import typing as t

from warehouse_ml import redaction
from warehouse_ml.errors import ConfigError, TrainingError
from warehouse_ml.ml import calibration, horizon, losses, preprocessors, registry, serving
from warehouse_ml.ml.monitoring import retrain
from warehouse_ml.ml.monitoring import training as monitoring_training
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec
from warehouse_ml.project.nodes import Node
from warehouse_ml.run import materializations
from warehouse_ml.run.materializations import BuildContext, BuildResult

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
    if model_type is ModelType.CLV:
        fail(
            f"model_type '{model_type.value}' is AUTO's CLV candidate, not a model type to choose.",
            "Use model_type='clv' for a lifetime-value model, or AUTO with clv_horizon=... to "
            "let the CLV candidate compete on the target.",
        )
    if model_type is ModelType.KMEANS:
        problem = ProblemType.CLUSTERING
    if problem is not ProblemType.CLUSTERING and not c.get("target"):
        fail(
            "an ml_model needs target='column' (or problem_type='clustering').",
            "Add target='<label column>' to the config.",
        )
    split = _split(c, fail)
    loss = _loss(c, fail)
    spec = TrainingSpec(
        name=node.name,
        function=function,
        query=query,
        target=c.get("target"),
        problem_type=problem,
        model_type=model_type,
        objective=loss.objective.lower() if loss.objective else None,
        loss=loss.loss.name,
        # None when not given: AUTO then chooses the power (ml/search_space.py).
        tweedie_power=loss.loss.power if c.get("tweedie_power") is not None else None,
        max_runtime=float(c.get("max_runtime", 5400)),
        max_runtime_given=c.get("max_runtime") is not None,
        hyperparameters=loss.hyperparameters,
        exclude=list(c.get("exclude") or []),
        split=split,
        class_weight=c.get("class_weight"),
        k=c.get("k"),
        tags=node.tags,
        refit=_flag(c.get("refit", True), "refit", fail),
        calibration=_calibration(c.get("calibration"), fail),
        link_guard=_flag(c.get("link_guard", True), "link_guard", fail),
        target_transform=_target_transform(c, loss, fail),


        entity_column=_entity_column(c, fail),
        clv=_clv_candidate(node, c, loss.loss.name),
        source="config",
    )
    if c.get("min_rows") is not None:
        spec.min_rows = int(c["min_rows"])
    spec.preprocessors = _preprocessors(c.get("preprocessors"), model_type, fail)
    return spec


def spec_from_statement(
    stmt: t.Any, node: Node, query: str, warn: t.Callable[[str], None]
) -> TrainingSpec:
    """A model file's CREATE MODEL, with what only config() can say (split, exclude)."""
    import dataclasses

    c = node.config

    def fail(message: str, hint: str) -> t.NoReturn:
        raise ConfigError(message, path=node.path, node=node.name, hint=hint)

    spec = dataclasses.replace(stmt.spec, query=query, tags=node.tags)
    if any(c.get(k) is not None for k in ("split", "split_column", "eval_fraction")):
        spec.split = _split(c, fail)
    elif c.get("label_horizon") is not None:  # the statement's SPLIT_COLUMN, with a horizon
        given = spec.split  # SPLIT_COLUMN and EVAL_FRACTION stay the statement's
        column = {"split_column": given.column} if given.method == "temporal" else {}
        found = _split({**c, **column, "eval_fraction": given.eval_fraction}, fail)
        spec.split = dataclasses.replace(found, seed=given.seed)
    spec.exclude = list(c.get("exclude") or spec.exclude)
    if c.get("entity_column") is not None:
        spec.entity_column = _entity_column(c, fail)
    if c.get("min_rows") is not None:
        spec.min_rows = int(c["min_rows"])
    if c.get("class_weight") is not None:
        spec.class_weight = c["class_weight"]
    if c.get("calibration") is not None:
        spec.calibration = _calibration(c["calibration"], fail)
    if c.get("link_guard") is not None:
        spec.link_guard = _flag(c["link_guard"], "link_guard", fail)
    if isinstance(spec, TrainingSpec):  # CREATE MODEL's AUTO takes the CLV candidate too
        given = {**c, "model_type": spec.model_type.value,
                 "problem_type": spec.problem_type.value if spec.problem_type else None}
        spec.clv = _clv_candidate(node, given, spec.loss) or spec.clv
    for warning in stmt.warnings:
        warn(f"{node.fqn_path}: {warning}")
    return spec


def _clv_candidate(node: Node, c: dict[str, t.Any], loss: str | None) -> dict[str, t.Any] | None:
    from warehouse_ml.ml.clv import candidate

    return candidate.from_config(node.name, c, loss=loss, path=node.path)


def _loss(c: dict[str, t.Any], fail: t.Callable[[str, str], t.NoReturn]) -> losses.Resolved:
    """loss=, tweedie_power=, an objective naming a loss, a 'loss' hyperparameter: checked
    here so a typo fails before the query runs, naming the file."""
    hyperparameters = c.get("hyperparameters") or {}
    if not isinstance(hyperparameters, dict):
        fail("hyperparameters must be a mapping of name to value.", "Use hyperparameters={...}.")
    objective = str(c["objective"]) if c.get("objective") else None
    try:
        found = losses.resolve(c.get("loss"), c.get("tweedie_power"), objective, hyperparameters)
    except TrainingError as exc:
        fail(exc.message, losses.POWER_HINT if "power" in exc.message else LOSS_HINT)
    problem = str(c.get("problem_type") or "regression").lower()
    if found.loss.is_log_link and problem != ProblemType.REGRESSION.value:
        fail(
            f"loss='{found.loss.name}' is a regression loss, but problem_type is '{problem}'.",
            "Remove problem_type (a log-link loss trains a regression) or the loss.",
        )
    return found


def _target_transform(
    c: dict[str, t.Any], loss: losses.Resolved, fail: t.Callable[[str, str], t.NoReturn]
) -> str | None:
    """target_transform='log' (ml/log_target.py), checked against the loss, problem and
    objective here so the file is named before any query runs."""
    from warehouse_ml.ml import log_target

    try:
        transform = log_target.check(c.get("target_transform"))
    except ValueError as exc:
        fail(f"{exc}.", "Use target_transform='log', or remove the key.")
    problem = str(c["problem_type"]).lower() if c.get("problem_type") else None
    why = log_target.conflict(transform, loss.loss.name, problem, loss.objective)
    if why is not None:
        fail(f"{why}.", "Remove target_transform or the setting it conflicts with.")
    return transform


LOSS_HINT = "Use loss='poisson' (counts), 'gamma' (positive amounts) or 'tweedie' (spend with zeros)."


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


def _calibration(value: t.Any, fail: t.Callable[[str, str], t.NoReturn]) -> str:
    """config(calibration=...): none (default), auto, sigmoid or isotonic."""
    if value is None:
        return "none"
    problem = calibration.check_method(value)
    if problem:
        fail(f"{problem}.", "Use calibration='auto' to let validation log-loss choose.")
    return calibration.normalise(value)


def _entity_column(c: dict[str, t.Any], fail: t.Callable[[str, str], t.NoReturn]) -> str | None:
    value = c.get("entity_column")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        fail(
            f"entity_column must be a column name, got {value!r}.",
            "Use entity_column='customer_id' (the column naming who each row is about).",
        )
    return value.strip()


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
    if c.get("label_horizon") is not None:
        values["label_horizon"] = c["label_horizon"]
    unknown = set(values) - {"method", "eval_fraction", "column", "seed", "label_horizon"}
    if unknown:
        fail(
            f"unknown split option(s) {sorted(unknown)}.",
            "Use method, eval_fraction, column, seed, label_horizon.",
        )
    if values.get("label_horizon") is not None:
        try:
            values["label_horizon"], values["label_horizon_unit"] = horizon.parse(values["label_horizon"])
        except ValueError as exc:
            fail(str(exc), "Use e.g. label_horizon=90 (days after a date cutoff) or '2 cutoffs'.")
    split = SplitSpec(**values)
    if split.method not in ("random", "temporal"):
        fail(
            f"unknown split method '{split.method}'.",
            "Use 'random' or 'temporal' (with split_column).",
        )
    if split.method == "temporal" and not split.column:
        fail("a temporal split needs split_column.", "Add split_column='event_date' to the config.")
    if split.label_horizon is not None and split.method != "temporal":
        fail(
            "label_horizon applies to a temporal split: it is how far past its cutoff a row's "
            "label looks, and a random split has no cutoffs.",
            "Add split_column='snapshot_date' (the cutoff column), or remove label_horizon.",
        )
    if not 0.0 < split.eval_fraction < 1.0:
        fail(f"eval_fraction must be between 0 and 1, got {split.eval_fraction}.", "Use e.g. 0.2.")
    return split


def fingerprint(ctx_cursor: t.Any, query: str, spec: TrainingSpec) -> str:
    """Order-independent hash of the training rows plus the query and settings."""
    rows, data_hash = ctx_cursor.execute(
        f"select count(*), coalesce(sum(hash(wml_q)::hugeint), 0) from ({query}) as wml_q"
    ).fetchall()[0]
    settings = json.dumps(_settings(spec), sort_keys=True, default=str)
    catalog = getattr(spec, "catalog", None)
    if catalog:  # a recommender's content fallback: a new catalog item retrains it too
        from warehouse_ml.ml.recs.content import source

        (catalog_hash,) = ctx_cursor.execute(
            f"select coalesce(sum(hash(wml_c)::hugeint), 0) from {source(catalog)} as wml_c"
        ).fetchall()[0]
        settings += f":{catalog_hash}"
    return registry.query_hash(f"{rows}:{data_hash}:{settings}:{query}")


def _settings(spec: TrainingSpec) -> dict[str, t.Any]:
    import dataclasses

    out = dataclasses.asdict(spec)
    out.pop("query", None)
    if out.get("clv", 0) is None:  # no CLV candidate: fingerprints of existing models unchanged
        out.pop("clv")
    return out


def version_from_trained(
    trained: t.Any, *, source: str, data_fingerprint: str | None = None
) -> registry.ModelVersion:
    """The registry row for a trained model (its number is set when it is added)."""
    spec = trained.spec
    settings = _settings(spec)
    if trained.model_type == ModelType.CLV.value:  # the fit its SQL is built from
        from warehouse_ml.ml.clv import supervised_sql

        settings[supervised_sql.KEY] = trained.pipeline.steps[-1][1].settings()
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
        settings=settings,
        training_query=redaction.mask(spec.query),  # shown by wml show: no secrets
        query_hash=registry.query_hash(spec.query),
        data_fingerprint=data_fingerprint,
        rows_train=trained.rows_train,
        rows_eval=trained.rows_eval,
        training_seconds=trained.training_seconds,
        onnx=trained.onnx_bytes,
        source=source,
    )


def train_and_register(
    session: t.Any,
    spec: TrainingSpec,
    *,
    source: str,
    deploy_policy: str = "most_recent",
    data_fingerprint: str | None = None,
    requested: str | None = None,
    check: t.Callable[[registry.ModelVersion], None] | None = None,
    keep_pin: bool = False,
    progress: t.Callable[[str], None] | None = None,
    reason: str | None = None,
) -> registry.ModelVersion:
    """Train on the query's result, then add a registry version (deployed per the policy).

    ``check`` may refuse the trained version before anything is written; ``keep_pin``
    keeps a version pinned by ``wml deploy`` serving (a forced retrain on unchanged data).
    ``progress`` hears what training does as each step starts (a terminal's status line).

    The new row, the deployed flag and the serving form change in one transaction
    (serving.add): a failure anywhere leaves the previous version serving.
    """
    from warehouse_ml.ml.clv.spec import ClvSpec
    from warehouse_ml.ml.recs.spec import RecSpec

    if isinstance(spec, (RecSpec, ClvSpec)):
        if isinstance(spec, ClvSpec):
            from warehouse_ml.ml.clv import register
        else:
            from warehouse_ml.ml.recs import register  # type: ignore[no-redef]

        return register.train_and_register(
            session, spec, source=source, data_fingerprint=data_fingerprint,
            should_deploy=_deploy_rule(spec.name, deploy_policy, keep_pin), progress=progress,
            reason=reason,
        )  # fmt: skip
    from warehouse_ml.ml.trainer import train

    con = session.adapter.connection
    table = serving.checked_then(
        con, spec.name, spec.function, lambda cur: cur.sql(spec.query).to_arrow_table()
    )
    if table.num_rows == 0:
        raise TrainingError(
            f"model '{spec.name}': the training query returned 0 usable rows, so there is "
            "nothing to learn from; the deployed version (if any) keeps serving.",
            hint="Check the query's joins and filters, or build its upstream models first.",
        )
    trained = train(table, spec, (lambda p: progress(p.describe())) if progress else None)
    warn = getattr(session, "warn", None) or (lambda message: None)
    for note in trained.metrics.get("ignored_settings") or []:
        warn(f"model '{spec.name}': {note}")
    for rail in trained.metrics.get("guard_rails") or []:
        warn(f"model '{spec.name}': {rail['message']}")  # also recorded on the version
    version = version_from_trained(trained, source=source, data_fingerprint=data_fingerprint)
    if "clv_fit" in version.settings and requested == "udf":
        warn(f"model '{spec.name}': deploy='udf' is ignored: AUTO chose its CLV candidate, which "
             "has no ONNX graph and serves as a SQL macro.")
    version.settings["deploy_requested"] = requested or "auto"
    version.retrain_reason = reason
    if check is not None:
        check(version)
    profile_rows = monitoring_training.rows(
        con, table, [f.name for f in trained.features], trained.eval_scores, trained.metrics,
        categorical_scores=trained.problem_type is not ProblemType.REGRESSION,
    )  # before the transaction: its SQL never holds the registry lock

    rule = _deploy_rule(spec.name, deploy_policy, keep_pin)
    return serving.add(
        con, version, should_deploy=lambda cur: rule(cur, version), requested=requested,
        before_commit=session.adapter.check_cancelled,  # Ctrl-C during training: nothing lands
        write=monitoring_training.writer(profile_rows),  # the profile lands with the version
    )


DeployRule = t.Callable[[t.Any, registry.ModelVersion], bool]


def _deploy_rule(name: str, policy: str, keep_pin: bool) -> DeployRule:
    """Whether a new version of model ``name`` deploys, asked inside the registering
    transaction: per ``policy``, unless ``keep_pin`` and a version chosen with `wml deploy`
    is pinned (it keeps serving)."""

    def rule(cur: t.Any, new: registry.ModelVersion) -> bool:
        if keep_pin and _pinned(cur, name):
            return False
        return _should_deploy(cur, new, policy)

    return rule


def _pinned(cursor: t.Any, name: str) -> registry.ModelVersion | None:
    pinned = [v for v in registry.list_versions(cursor, name) if v.deployed and v.pinned]
    return pinned[0] if pinned else None


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
    lower_better = key in ("mse", "rmse", "mae", "log_loss", *losses.DEVIANCE_METRICS)
    return new_score < old_score if lower_better else new_score > old_score


def build_ml_model(ctx: BuildContext) -> BuildResult:
    node, cursor = ctx.node, ctx.cursor
    session = ctx.extras["session"]
    query = ctx.render(False)
    stmt = session.create_models.get(node.unique_id)
    spec = _spec(session, node, stmt, query)
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
    reason = "--full-refresh"
    if not ctx.full_refresh:
        current = _up_to_date(session, spec.name, print_, requested)
        if current is not None:
            return current
        decision = retrain.for_build(
            session.adapter.connection, node, spec.name, registry.query_hash(spec.query),
            _settings(spec),
        )
        if not decision.train:  # the retrain policy keeps the deployed version serving
            return BuildResult(None, decision.reason)
        reason = decision.reason
    version = train_and_register(
        session, spec, source="config", deploy_policy=policy, data_fingerprint=print_,
        requested=requested, keep_pin=_trained_on(session, spec.name, print_),
        progress=_progress(ctx, node.name), reason=reason,
    )
    message = describe(version)
    pinned = None if version.deployed else _pinned(cursor, spec.name)
    if pinned is not None:
        message += (
            f"; version {pinned.version} stays deployed (pinned by wml deploy; "
            f"wml deploy {spec.name} --version {version.version} serves the new one)"
        )
    return BuildResult(version.rows_train, message)


def _spec(session: t.Any, node: Node, stmt: t.Any, query: str) -> t.Any:
    """The node's TrainingSpec, or a RecSpec for a recommender (either declaration)."""
    from warehouse_ml.ml.clv import spec as clv
    from warehouse_ml.ml.recs import spec as recs

    if stmt is not None and isinstance(stmt.spec, (recs.RecSpec, clv.ClvSpec)):
        import dataclasses

        for warning in stmt.warnings:
            session.warn(f"{node.fqn_path}: {warning}")
        extra = {"path": str(node.path)} if isinstance(stmt.spec, clv.ClvSpec) else {}
        return dataclasses.replace(stmt.spec, query=query, tags=node.tags, **extra)
    if stmt is None and recs.is_recommender(node.config):
        return recs.from_config(node.name, query, node.config, path=node.path, tags=node.tags,
                                warn=session.warn)  # fmt: skip

    if stmt is None and clv.is_clv(node.config):
        return clv.from_config(node.name, query, node.config, path=node.path, tags=node.tags,
                               warn=session.warn)  # fmt: skip
    clv.refuse_elsewhere(node.name, node.config, node.path)
    return spec_from_statement(stmt, node, query, session.warn) if stmt else spec_from_node(node, query)


def _progress(ctx: BuildContext, name: str) -> t.Callable[[str], None] | None:
    reporter = ctx.extras.get("reporter")
    if reporter is None:
        return None
    return lambda doing: reporter.progress(name, doing)


def _trained_on(session: t.Any, name: str, print_: str) -> bool:
    """Whether some version was trained on exactly this data and these settings."""
    cursor = session.adapter.connection.cursor()
    try:
        return any(v.data_fingerprint == print_ for v in registry.list_versions(cursor, name))
    finally:
        cursor.close()


def _up_to_date(session: t.Any, name: str, print_: str, requested: str) -> BuildResult | None:
    """A result when nothing needs training: same data and settings, or a pin that holds."""
    con = session.adapter.connection
    cursor = con.cursor()
    try:
        versions = registry.list_versions(cursor, name) if registry.exists(cursor) else []
    finally:
        cursor.close()
    deployed = next((v for v in versions if v.deployed), None)
    if deployed is None:
        return None
    if deployed.pinned and any(v.data_fingerprint == print_ for v in versions):
        return BuildResult(
            deployed.rows_train,
            f"up to date: version {deployed.version} is pinned by wml deploy and the training "
            "data and settings have not changed since (wml deploy moves it)",
        )
    if deployed.data_fingerprint != print_:
        return None
    if (deployed.settings or {}).get("deploy_requested") != requested:
        # Only the serving form changed: redeploy the same version in the new form.
        serving.deploy(con, name, deployed.version, requested, pin=deployed.pinned)
    return BuildResult(
        deployed.rows_train,
        f"up to date: version {deployed.version} already "
        "trained on the same data and settings (--full-refresh retrains)",
    )


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
