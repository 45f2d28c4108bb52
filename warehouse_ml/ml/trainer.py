"""Train one model version from a query result: split, search or fit, evaluate, refit, export.

:func:`train` takes a pyarrow Table and a :class:`TrainingSpec` and returns a
:class:`TrainedModel` holding everything the registry stores: held-out metrics next to a
naive baseline's, the AUTO leaderboard, permutation importance, and ONNX bytes whose
predictions were checked against scikit-learn's.

AUTO (Redshift ML's ``AUTO ON``) searches hyperparameters of each family within
``max_runtime`` (ml/search.py), scoring every config on validation folds made inside the
training rows (ml/folds.py: rolling origin over cutoffs grouped by ``entity_column``,
grouped K-fold, or one slice), and refits the winner on all training rows. The evaluation
rows are never seen before the final evaluation.

After evaluation the chosen model is fit once more on every row, training and evaluation
alike, and that fit is exported and deployed (``spec.refit``, on by default), as BigQuery
ML and Redshift ML deploy. Metrics and permutation importance stay those of the evaluated
fit on the held-out rows: the refit has seen every row, so nothing is left to score it on.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
import warnings

import numpy as np
import pyarrow as pa
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import (
    calibration,
    eval_record,
    guards,
    link_guard,
    log_target,
    losses,
    onnx_calibration,
    search,
    search_space,
)
from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml.clv import candidate as clv_candidate
from warehouse_ml.ml.dataset import (
    Split,
    Target,
    canonical_order,
    check_rows,
    drop_null_target,
    prepare_target,
    split_rows,
)
from warehouse_ml.ml.estimators import Candidate, auto_candidates, build_pipeline, resolve_params
from warehouse_ml.ml.features import Feature, check_text_cardinality, infer_features, table_matrix
from warehouse_ml.ml.folds import entity_codes, gapped_evaluation, group_split, make_folds
from warehouse_ml.ml.monitoring import training as monitoring_training
from warehouse_ml.ml.onnx_export import check_parity, round_offsets_float32, to_onnx
from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec

NATIVE_THREADS = 1
PARITY_ROWS = 10_000
IMPORTANCE_ROWS = 2_000


@dataclasses.dataclass
class TrainedModel:
    """A trained, evaluated, exported model version."""

    spec: TrainingSpec
    problem_type: ProblemType
    model_type: str  # the estimator actually used, e.g. 'hist_gradient_boosting'
    estimator_params: dict[str, t.Any]
    features: list[Feature]
    target: str | None
    target_type: str | None  # Arrow type of the target, e.g. 'int64', 'string', 'bool'
    classes: list[t.Any] | None  # labels as Python values of the target's type
    objective: str
    metrics: dict[str, t.Any]  # held-out metrics, with the baseline's under 'baseline'
    leaderboard: list[dict[str, t.Any]]
    feature_importance: dict[str, float]
    rows_train: int  # rows the evaluated model was fit on
    rows_eval: int  # held-out rows the metrics come from
    rows_final: int  # rows the exported (deployed) model was fit on: all of them when refit
    training_seconds: float
    onnx_bytes: bytes = dataclasses.field(repr=False)
    parity: dict[str, t.Any]
    pipeline: Pipeline | None = dataclasses.field(default=None, repr=False, compare=False)
    # The deployed fit's predictions on the held-out rows (ml/monitoring/training.py).
    eval_scores: dict[str, t.Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """What training is doing now, for a terminal's status line (``train(progress=...)``).

    ``step`` is 'candidate' (an AUTO trial: ``index`` of ``total``, ``name``), 'fit',
    'evaluate', 'refit' or 'export'; ``seconds_left`` is what remains of max_runtime.
    """

    step: str
    index: int = 0
    total: int = 0
    name: str = ""
    seconds_left: float | None = None

    @property
    def _of(self) -> str:
        return f" of {self.total}" if self.total else ""  # 0: no config limit

    def describe(self) -> str:
        head = {
            "candidate": f"AUTO candidate {self.index}{self._of}: {self.name}",
            "fit": f"fitting {self.name}",
            "evaluate": "evaluating on the held-out rows",
            "refit": f"refitting {self.name} on every row",
            "export": "exporting to ONNX and checking parity",
        }.get(self.step, self.step)
        if self.seconds_left is None:
            return head
        return f"{head} ({max(self.seconds_left, 0.0):.0f}s left of max_runtime)"


Progress = t.Callable[[TrainingProgress], None]


def _no_progress(_: TrainingProgress) -> None:
    return None


@dataclasses.dataclass
class _Data:
    table: pa.Table
    X: np.ndarray
    target: Target
    features: list[Feature]
    objective: str
    seed: int
    progress: Progress = _no_progress
    loss: losses.Loss = dataclasses.field(default_factory=losses.Loss)
    entity: str | None = None  # the entity column (ml/folds.py), one code per row below
    entities: np.ndarray | None = None


def train(table: pa.Table, spec: TrainingSpec, progress: Progress | None = None) -> TrainedModel:
    """Train, evaluate and export one model from ``table`` as ``spec`` says.

    ``progress`` is called (in the training thread) as each step starts: every AUTO
    candidate in order, then the fit, evaluation, refit and export.

    Raises TrainingError with a clear message for unusable input (missing or all-NULL
    target, one class, too few rows, unsupported columns) or an export that does not
    reproduce scikit-learn's predictions.
    """
    # One native thread: with OpenMP's 2 threads on a busy 2-core host, HistGradientBoosting
    # fits measured 10-150x slower (spinning barriers), and warehouse hosts are busy.
    with threadpool_limits(limits=NATIVE_THREADS):
        return _train(table, spec, progress or _no_progress)


def _train(table: pa.Table, spec: TrainingSpec, progress: Progress) -> TrainedModel:
    start = time.perf_counter()
    loss, spec = _loss(spec)
    data, dropped = _load(table, spec, loss)
    data.progress = progress
    split = _split(data, spec)
    calibration.check_problem(spec.calibration, data.target.problem_type.value, spec.name)
    rails = guards.check(data.table, data.X, data.features, data.target, split.train)
    left = _seconds_left(start, spec.max_runtime)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        winner, leaderboard, search = _choose(data, split, spec, start)
        progress(TrainingProgress("fit", name=winner.model_type.value, seconds_left=left()))
        pipeline, fit_seconds = _fit(winner, data, split.train, spec)
        progress(TrainingProgress("evaluate", seconds_left=left()))
        pipeline, calibrated = calibration.calibrate(
            spec, lambda rows: _fit(winner, data, rows, spec)[0], pipeline, data.X, data.target,
            split, data.table,
        )  # fmt: skip
        metrics = _evaluate(pipeline, data, split)
        if spec.refit:
            progress(TrainingProgress("refit", name=winner.model_type.value, seconds_left=left()))
        final, final_rows, final_seconds = _refit(winner, pipeline, data, split, spec)
        final = calibration.wrap(final, calibration.unwrap(pipeline)[1])
    # The deployed fit's scores on the held-out rows: what its SQL function gives there.
    scored = monitoring_training.eval_scores(final, data.X[split.eval], data.target)
    if not leaderboard:  # one explicit model: its row is the held-out evaluation itself
        on = Scored("held-out", data.objective, len(split.eval), "the evaluation rows")
        leaderboard = [_board_row(winner, metrics.get(data.objective), fit_seconds, on)]
    if data.target.y is None:  # serving assigns clusters with the deployed model
        metrics["cluster_sizes"] = _cluster_sizes(final, data)
    metrics |= _record(pipeline, final, data, split)
    if data.target.problem_type is ProblemType.REGRESSION:
        metrics["loss"] = data.loss.describe()
        guard = link_guard.record(final, pipeline, data.X[split.eval], data.loss, winner.model_type)
        if guard is not None:
            metrics["link_guard"] = guard
        wrapper = log_target.unwrap(final.steps[-1][1])[1]
        if wrapper is not None:
            metrics["target_transform"] = wrapper.describe()
    ignored = link_guard.ignored(spec.link_guard, data.loss, winner.model_type)
    if ignored:
        metrics["ignored_settings"] = [ignored]
    metrics |= {
        "objective": data.objective,
        "rows_dropped_null_target": dropped,
        "split": {
            **dataclasses.asdict(spec.split),
            "stratified": split.stratified,
            **split.describe(),
        },
        "search": search,
        "deployed_fit": {
            "refit": spec.refit,
            "rows": final_rows,
            "fit_seconds": round(final_seconds, 4),
        },
    }
    notes = sorted(
        {str(w.message).splitlines()[0] for w in caught if w.category is ConvergenceWarning}
    )
    if notes:
        metrics["warnings"] = notes
    if calibrated:
        metrics["calibration"] = calibrated
    metrics["guard_rails"] = rails
    importance = _importance(pipeline, data, split.eval)  # the evaluated fit, held-out rows
    progress(TrainingProgress("export", seconds_left=left()))
    onnx_bytes, parity = _export(final, data, split, winner, spec)
    return TrainedModel(
        spec=spec,
        problem_type=data.target.problem_type,
        model_type=winner.model_type.value,
        estimator_params=_json_params(log_target.unwrap(final.steps[-1][1])[0]),
        features=data.features,
        target=data.target.name,
        target_type=str(data.target.arrow_type) if data.target.arrow_type is not None else None,
        classes=data.target.classes,
        objective=data.objective,
        metrics=metrics,
        leaderboard=leaderboard,
        feature_importance=importance,
        rows_train=len(split.train),
        rows_eval=len(split.eval),
        rows_final=final_rows,
        training_seconds=time.perf_counter() - start,
        onnx_bytes=onnx_bytes,
        parity=parity,
        pipeline=final,
        eval_scores=scored,
    )


def _load(table: pa.Table, spec: TrainingSpec, loss: losses.Loss) -> tuple[_Data, int]:
    """Validate the input and build the feature matrix (column-wise, once)."""
    table, target_name, dropped = drop_null_target(canonical_order(table), spec)
    found = entity_codes(table, spec)  # before the features: a wrong name fails first
    features = infer_features(table.schema, spec)
    target = prepare_target(table, target_name, spec)
    check_rows(table.num_rows, dropped, spec)
    if target.y is not None and loss.is_log_link:
        losses.check_target(target.y, loss, spec.name, target.name or "target", table)
    for feature in features:
        column = table.column(feature.name)
        if column.null_count == len(column):
            raise TrainingError(
                f"Feature column '{feature.name}' is NULL in every row, so it cannot teach "
                f"the model anything. Add exclude=['{feature.name}'] or fix the query."
            )
        if feature.is_text:
            check_text_cardinality(column, feature.name)
    objective = ev.resolve_objective(target.problem_type, spec.objective, loss)
    X = table_matrix(table, features)
    data = _Data(table, X, target, features, objective, spec.split.seed, loss=loss)
    if found is not None:
        data.entity, data.entities = found
    return data, dropped


def _loss(spec: TrainingSpec) -> tuple[losses.Loss, TrainingSpec]:
    """The spec's loss, and the spec as the rest of training reads it: a log-link loss is
    regression (a count target would otherwise be inferred as classes)."""
    found = losses.resolve(spec.loss, spec.tweedie_power, spec.objective, spec.hyperparameters)
    found = dataclasses.replace(found, loss=dataclasses.replace(
        found.loss, guard=spec.link_guard, log_target=spec.target_transform == "log"))
    problem = spec.problem_type.value if spec.problem_type else None
    why = log_target.conflict(spec.target_transform, found.loss.name, problem, found.objective)
    if why is not None:
        raise TrainingError(f"Model '{spec.name}': {why}.")
    spec = dataclasses.replace(
        spec, objective=found.objective, hyperparameters=found.hyperparameters
    )
    if found.loss.is_log_link:
        if spec.problem_type not in (None, ProblemType.REGRESSION):
            raise TrainingError(
                f"Model '{spec.name}': loss='{found.loss.name}' is a regression loss, but "
                f"problem_type is {spec.problem_type.value}. Set problem_type='regression' "
                "or drop the loss."
            )
        spec = dataclasses.replace(spec, problem_type=ProblemType.REGRESSION)
    return found.loss, spec


def _split(data: _Data, spec: TrainingSpec) -> Split:
    """The evaluation split; a random one holds out whole entities when there is an entity
    column (a temporal one already trains on the past of the entities it evaluates)."""
    if data.entities is not None and spec.split.method == "random":
        rows = np.arange(data.table.num_rows)
        return group_split(rows, data.entities, spec.split.eval_fraction, spec.split.seed)
    return gapped_evaluation(data.table, spec, split_rows(data.table, data.target, spec.split))


def _seconds_left(start: float, max_runtime: float) -> t.Callable[[], float]:
    return lambda: max_runtime - (time.perf_counter() - start)


def _choose(
    data: _Data, split: Split, spec: TrainingSpec, start: float
) -> tuple[Candidate, list[dict[str, t.Any]], dict[str, t.Any]]:
    """The candidate to refit on all training rows (AUTO: searched), with its leaderboard."""
    if spec.model_type is ModelType.AUTO:
        return _search(data, split, spec, start)
    params = resolve_params(
        spec.model_type, spec.hyperparameters, spec.k, rows=len(split.train), loss=data.loss
    )
    # Boosted trees named with objective 'mae' fit it, as XGBoost's objective is its loss.
    l1 = search_space.fits_mae(data.target.problem_type, data.loss, data.objective)
    if spec.model_type is ModelType.HIST_GRADIENT_BOOSTING and l1 and "loss" not in params:
        params["loss"] = search_space.MAE_TREE_LOSS
    search = {"candidates": 1, "run": 1, "skipped": [], "stopped_by": "explicit"}
    return Candidate(spec.model_type, params, 1.0), [], search


def _search(
    data: _Data, split: Split, spec: TrainingSpec, start: float
) -> tuple[Candidate, list[dict[str, t.Any]], dict[str, t.Any]]:
    """AUTO: the search of ml/search.py on the folds of ml/folds.py (training rows only)."""
    problem = data.target.problem_type
    if problem is ProblemType.CLUSTERING:  # one candidate; K may come as a hyperparameter
        params = resolve_params(ModelType.KMEANS, spec.hyperparameters, spec.k)
        record = {"candidates": 1, "run": 1, "skipped": [], "stopped_by": "exhausted"}
        return Candidate(ModelType.KMEANS, params, 1.0), [], record
    free_power = data.loss.name == "tweedie" and spec.tweedie_power is None
    base = search_space.for_objective(auto_candidates(problem, data.loss), problem, data.loss, data.objective)
    first = search_space.start_list(base, problem, data.loss, free_power)
    # AUTO's CLV candidate (config clv_horizon), first: cheap, and checked before any fold.
    first = clv_candidate.start(spec, [f.name for f in data.features], data.X, problem) + first
    proposer = search_space.Proposer(base, problem, data.loss, free_power, data.seed)
    folds = make_folds(data.table, data.target, spec, split.train, data.entities, data.entity)
    fold_rows = float(np.mean([len(f.train) for f in folds.folds]))
    total = data.table.num_rows if spec.refit else 0
    factor = search.refit_factor(fold_rows, len(split.train), total)
    budget = search.Budget(start, spec.max_runtime, factor)
    scorer = search.Scorer(
        data.X, data.target.y, problem, data.target.classes_fit, data.loss, data.objective,
        free_power,
    )  # fmt: skip
    limit = search.config_limit(len(split.train), len(first), spec.max_runtime_given)

    def announce(i: int, n: int, c: Candidate, left: float) -> None:
        data.progress(TrainingProgress("candidate", i, n, c.model_type.value, left))

    def fit(c: Candidate, rows: np.ndarray) -> tuple[Pipeline, float]:
        return _fit(c, data, rows, spec)

    outcome = search.run(first, proposer, folds, fit, scorer, budget, limit, announce)
    on = Scored(
        "validation", scorer.metric, folds.validation_rows, f"{folds.description}, inside the training rows"
    )
    board = [_board_row(tr.candidate, tr.value, tr.seconds, on, tr.fold_values) for tr in outcome.trials]
    record: dict[str, t.Any] = {
        "candidates": len(outcome.trials) + len(outcome.skipped),
        "run": len(outcome.trials),
        "config_limit": outcome.limit,
        "skipped": [f"{c.model_type.value} {c.params}" for c in outcome.skipped],
        "stopped_by": outcome.stopped_by,
        "validation_rows": folds.validation_rows,
        "validation": folds.description,
        "validation_method": folds.describe(),
        "metric": scorer.metric,
        "best": {"model_type": outcome.best.candidate.model_type.value,
                 "params": dict(outcome.best.candidate.params), "score": outcome.best.value},
    }  # fmt: skip
    power = search.chosen_power(outcome) if free_power else None
    if power is not None:
        data.loss = dataclasses.replace(data.loss, power=power)
        record["tweedie_power"] = {
            "chosen": power,
            "tried": list(search_space.TWEEDIE_POWERS),
            "by": f"{search.POWER_FREE_METRIC} of the linear Tweedie configs",
        }
    if spec.hyperparameters:
        record["ignored_hyperparameters"] = dict(spec.hyperparameters)  # AUTO picks its own
    return outcome.best.candidate, board, record


def _refit(
    winner: Candidate, evaluated: Pipeline, data: _Data, split: Split, spec: TrainingSpec
) -> tuple[Pipeline, int, float]:
    """(the pipeline to export, its rows, seconds): the winner refit on every row (in the
    canonical order, so deterministic), or the evaluated fit itself when refit is off."""
    if not spec.refit:
        return evaluated, len(split.train), 0.0
    rows = np.arange(data.table.num_rows)
    pipeline, seconds = _fit(winner, data, rows, spec)
    return pipeline, len(rows), seconds


def _cluster_sizes(pipeline: Pipeline, data: _Data) -> list[int]:
    k = int(pipeline.steps[-1][1].n_clusters)
    return [int(s) for s in np.bincount(pipeline.predict(data.X).astype(np.int64), minlength=k)]


def _fit(
    candidate: Candidate, data: _Data, rows: np.ndarray, spec: TrainingSpec
) -> tuple[Pipeline, float]:
    """Build and fit one pipeline on ``rows``; wrap scikit-learn's complaints."""
    pipeline = build_pipeline(
        candidate.model_type,
        data.target.problem_type,
        data.features,
        candidate.params,
        seed=data.seed,
        class_weight=spec.class_weight,
        preprocessors=spec.preprocessors,
        loss=data.loss,
    )
    began = time.perf_counter()
    X = data.X[rows]
    try:
        if data.target.y is None:
            pipeline.fit(X)
        else:
            y = data.target.y[rows]
            if data.target.problem_type.is_classification and len(np.unique(y)) < 2:
                raise TrainingError(
                    f"The training rows hold a single class of '{data.target.name}'; with a "
                    "temporal split every class must occur before the evaluation period."
                )
            pipeline.fit(X, y)
        round_offsets_float32(pipeline)  # what ONNX stores, so every check sees one model
    except (ValueError, TypeError) as exc:
        hint = ""
        if "NaN" in str(exc) and spec.preprocessors:
            hint = (
                " KMEANS preprocessors do not impute: coalesce or filter the NULLs in the query."
                if candidate.model_type is ModelType.KMEANS
                else " Add an Imputer to the PREPROCESSORS column sets whose columns hold NULLs."
            )
        raise TrainingError(
            f"Fitting {candidate.model_type.value} with {candidate.params} failed: {exc}{hint}"
        ) from exc
    return pipeline, time.perf_counter() - began


def _evaluate(pipeline: Pipeline, data: _Data, split: Split) -> dict[str, t.Any]:
    """Held-out metrics (and the baseline's) on the evaluation rows."""
    X_eval = data.X[split.eval]
    target = data.target
    if target.y is None:
        model = pipeline.steps[-1][1]
        found = ev.clustering_metrics(
            pipeline[:-1].transform(X_eval),
            pipeline.predict(X_eval),
            pipeline.predict(data.X),
            int(model.n_clusters),
            data.seed,
        )
        return found | {"inertia": float(model.inertia_)}
    y_train, y_eval = target.y[split.train], target.y[split.eval]
    found = ev.supervised_metrics(
        pipeline, X_eval, y_eval, target.problem_type, target.classes_fit, data.loss
    )
    found["baseline"] = ev.baseline_metrics(
        y_train, y_eval, target.problem_type, target.classes_fit, data.loss
    )
    return found


def _record(evaluated: Pipeline, final: Pipeline, data: _Data, split: Split) -> dict[str, t.Any]:
    """The model card's intervals and plot data (ml/eval_record.py): the evaluated fit on
    the held-out rows, or for clustering the deployed fit's assignments of every row."""
    target = data.target
    if target.y is None:
        labels = final.predict(data.X).astype(np.int64)
        k = int(final.steps[-1][1].n_clusters)
        return {"plots": eval_record.clustering(labels, data.table, data.features, k)}
    X_eval = data.X[split.eval]
    if target.problem_type is ProblemType.REGRESSION:
        scores = evaluated.predict(X_eval)
    else:
        scores = ev.aligned_proba(evaluated, X_eval, target.classes_fit)
    return eval_record.supervised(
        scores, target.y[split.eval], target.y[split.train], target.problem_type.value,
        target.classes_fit, seed=data.seed, loss=data.loss,
    )  # fmt: skip


def _importance(pipeline: Pipeline, data: _Data, rows: np.ndarray) -> dict[str, float]:
    """Permutation importance on (a sample of) the evaluation rows, every shuffled copy
    predicted in one call (evaluate.StackedPredictions)."""
    rng = np.random.default_rng(data.seed)
    if len(rows) > IMPORTANCE_ROWS:
        rows = np.sort(rng.choice(rows, size=IMPORTANCE_ROWS, replace=False))
    X = data.X[rows]
    names = [f.name for f in data.features]
    target = data.target
    if target.y is None:
        base_labels = pipeline.predict(X)

        def agree(blocks: list[np.ndarray]) -> list[float]:
            stacked = ev.StackedPredictions(pipeline, blocks)
            return [float(np.mean(stacked.for_block(i).predict(b) == base_labels)) for i, b in enumerate(blocks)]

        return ev.permutation_importance(None, X, names, seed=data.seed, score_all=agree)
    y = target.y[rows]
    problem = target.problem_type
    metric = data.objective
    loss = data.loss
    if not np.isfinite(ev.objective_score(metric, pipeline, X, y, problem, target.classes_fit, loss)):
        metric = "r2" if problem is ProblemType.REGRESSION else "accuracy"

    def score_all(blocks: list[np.ndarray]) -> list[float]:
        stacked = ev.StackedPredictions(pipeline, blocks)
        return [
            ev.objective_score(metric, stacked.for_block(i), b, y, problem, target.classes_fit, loss)
            for i, b in enumerate(blocks)
        ]

    return ev.permutation_importance(None, X, names, seed=data.seed, score_all=score_all)


def _export(
    pipeline: Pipeline, data: _Data, split: Split, winner: Candidate, spec: TrainingSpec
) -> tuple[bytes, dict[str, t.Any]]:
    """ONNX bytes, checked against scikit-learn on evaluation rows (topped up with training
    rows) up to PARITY_ROWS."""
    target = data.target
    rows = np.concatenate([split.eval, split.train])[:PARITY_ROWS]
    if winner.model_type is ModelType.CLV:  # served by its SQL, no ONNX (ml/clv/supervised_sql.py)
        from warehouse_ml.ml.clv import supervised_sql

        names = [f.name for f in data.features]
        sample = data.table.select(names).take(pa.array(rows))
        return b"", supervised_sql.parity(pipeline.steps[-1][1], sample, names, spec.name)
    calibrated = pipeline
    pipeline, calibrator = calibration.unwrap(calibrated)
    onnx_bytes = to_onnx(
        pipeline,
        data.features,
        target.problem_type,
        classes=target.classes,
        target_type=str(target.arrow_type) if target.arrow_type is not None else None,
        model_type=winner.model_type.value,
    )
    sample = data.table.take(pa.array(rows))
    columns = [sample.column(f.name) for f in data.features]
    parity = check_parity(
        onnx_bytes,
        pipeline,
        columns,
        data.features,
        target.problem_type,
        model_name=f"'{spec.name}' ({winner.model_type.value})",
    )
    if calibrator is not None:
        onnx_bytes, parity["calibration"] = onnx_calibration.export(
            onnx_bytes, calibrated, columns, data.features, f"'{spec.name}'"
        )
    return onnx_bytes, parity


@dataclasses.dataclass(frozen=True)
class Scored:
    """What a leaderboard score was computed with: the metric, how many rows, which rows."""

    kind: str  # 'validation' (AUTO, inside the training rows) or 'held-out'
    metric: str
    rows: int
    on: str  # e.g. "temporal, at or after '2026-01-02', inside the training rows"

    def describe(self) -> str:
        return f"{self.kind} {self.metric} on {self.rows} rows ({self.on})"


def _board_row(
    candidate: Candidate,
    score: t.Any,
    seconds: float,
    scored: Scored,
    fold_scores: list[t.Any] | None = None,
) -> dict[str, t.Any]:
    row = {
        "model_type": candidate.model_type.value,
        "params": dict(candidate.params),
        "score": score,
        "metric": scored.metric,
        "rows": scored.rows,
        "scored_on": scored.describe(),
        "fit_seconds": round(seconds, 4),
    }
    if fold_scores is not None and len(fold_scores) > 1:
        row["fold_scores"] = list(fold_scores)
    return row


def _json_params(estimator: t.Any) -> dict[str, t.Any]:
    """The estimator's settings as JSON-friendly values."""
    out: dict[str, t.Any] = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, tuple):
            value = list(value)
        if value is None or isinstance(value, (bool, int, float, str, list, dict)):
            out[key] = value
        else:
            out[key] = repr(value)
    return out
