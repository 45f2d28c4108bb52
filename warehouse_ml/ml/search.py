"""AUTO's search: configs of every family, scored on the validation folds, within max_runtime.

The search runs the starting list (ml/estimators.py ``auto_candidates``), then rounds of
proposed configs (ml/search_space.py), each config fit and scored on every fold of
ml/folds.py, its score the mean over the folds of the user's objective. It stops for one of
three reasons, recorded as ``stopped_by``:

- ``converged``: the last PATIENCE configs did not beat the best by more than its noise
  (0.1% of the best, or half the standard error of its fold scores when there are several);
- ``max_runtime``: the next configs' estimated fit time (seconds per unit of ``cost``,
  measured per family, times the folds) plus the fits after the search would overrun;
- ``exhausted``: the number of configs allowed for the data's size ran out. Small data gets
  few configs (5, plus one per 2,500 training rows, at most MAX_CONFIGS): a search on a few
  hundred rows cannot tell configs apart beyond noise, and the demo and the tests train many
  such models (under 2,500 training rows AUTO runs its 5 starting configs, as it always did).

That limit is only for a search whose budget nobody chose: when ``max_runtime`` is given
explicitly (config ``max_runtime``, CREATE MODEL ``SETTINGS (MAX_RUNTIME n)``), the user has
said how long the search may take, so there is no config limit and it runs until it
converges or the budget ends (``exhausted`` then means the proposals ran out).

Everything but the time budget is deterministic for a seed: the proposals come from a
seeded generator and the scores of what was already fit.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t

import numpy as np
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from warehouse_ml.ml import evaluate as ev
from warehouse_ml.ml import search_space
from warehouse_ml.ml.estimators import Candidate
from warehouse_ml.ml.folds import Fold, Folds
from warehouse_ml.ml.losses import Loss
from warehouse_ml.ml.spec import ModelType, ProblemType

BASE_CONFIGS = 5
ROWS_PER_CONFIG = 2500
MAX_CONFIGS = 60
PATIENCE = 8
RELATIVE_TOL = 1e-3
# With a free Tweedie power, deviances at different powers are not on one scale: configs
# are compared by the fraction of deviance explained (D^2, scikit-learn's d2_tweedie_score),
# averaged over the searched powers, so no power is judged on its own ruler.
POWER_FREE_METRIC = "mean_d2_tweedie"


def config_limit(train_rows: int, start: int, budget_given: bool = False) -> int | None:
    """How many configs the data's size allows (never fewer than the starting list); None
    (no limit) when the user gave ``max_runtime``: the budget and convergence decide."""
    if budget_given:
        return None
    return max(start, min(MAX_CONFIGS, BASE_CONFIGS + train_rows // ROWS_PER_CONFIG))


@dataclasses.dataclass
class Scorer:
    """Scores a fitted pipeline on rows, oriented higher-is-better, on the search metric."""

    X: np.ndarray
    y: np.ndarray
    problem: ProblemType
    classes_fit: np.ndarray | None
    loss: Loss
    objective: str
    free_power: bool = False

    @property
    def metric(self) -> str:
        return POWER_FREE_METRIC if self.power_free_metric else self.objective

    @property
    def power_free_metric(self) -> bool:
        return self.free_power and self.objective == "tweedie_deviance"

    def score(self, pipeline: Pipeline, rows: np.ndarray) -> tuple[float, float | None]:
        """(oriented score, the metric's value as reported) on ``rows``."""
        X, y = self.X[rows], self.y[rows]
        if self.power_free_metric:
            pred = pipeline.predict(X)
            if not np.all(np.isfinite(pred)) or np.any(pred <= 0):
                return float("-inf"), None
            d2 = [skm.d2_tweedie_score(y, pred, power=p) for p in search_space.TWEEDIE_POWERS]
            value = float(np.mean(d2))
            return value, value
        loss = self.loss
        power = _power(pipeline)
        if power is not None:  # a linear Tweedie config is judged at its own power
            loss = dataclasses.replace(loss, power=power)
        found = ev.supervised_metrics(pipeline, X, y, self.problem, self.classes_fit, loss)
        value = found.get(self.objective)
        return ev.higher_is_better(self.objective, found), value


def _power(pipeline: Pipeline) -> float | None:
    model = pipeline.steps[-1][1]
    power = getattr(model, "power", None)
    return float(power) if power is not None and type(model).__name__ == "TweedieRegressor" else None


def refit_factor(search_rows: float, train_rows: int, all_rows: int) -> float:
    """Rows of the fits after the search (the winner on the training rows, then on every
    row when refitting; ``all_rows`` 0 otherwise) per row of a search fit: fit time is
    taken as proportional to rows."""
    return (train_rows + all_rows) / max(search_rows, 1.0)


class Budget:
    """Decides whether the next config still fits in ``max_runtime``.

    Seconds per unit of a config's ``cost`` are measured from the fits done so far (per
    family, the slowest fit's) and scaled to the next one, times the folds; a family not
    yet timed gets its first config while half the budget is left. ``refit_factor`` scales a search fit's time to the fits that follow the
    search (the winner on the training rows, then on every row when refitting).
    """

    def __init__(self, start: float, max_runtime: float, refit_factor: float) -> None:
        self.start = start
        self.max_runtime = max_runtime
        self.refit_factor = refit_factor
        self.per_unit: dict[ModelType, float] = {}

    def record(self, candidate: Candidate, seconds: float) -> None:
        rate = seconds / candidate.cost
        self.per_unit[candidate.model_type] = max(self.per_unit.get(candidate.model_type, 0.0), rate)

    def estimate(self, candidate: Candidate) -> float:
        rate = self.per_unit.get(candidate.model_type, max(self.per_unit.values(), default=0.0))
        return rate * candidate.cost

    def seconds_left(self) -> float:
        return self.max_runtime - (time.perf_counter() - self.start)

    def allows(self, candidate: Candidate, folds: int, best_fit_seconds: float) -> bool:
        elapsed = time.perf_counter() - self.start
        if candidate.model_type not in self.per_unit and self.per_unit:
            # A family not yet timed: another family's seconds per unit of cost misjudge it
            # (a slow first GLM fit once kept every boosted tree out), so each family gets
            # its first try while half the budget is left.
            return elapsed <= self.max_runtime / 2
        estimate = self.estimate(candidate)
        refit = self.refit_factor * max(estimate, best_fit_seconds)
        return elapsed + folds * estimate + refit <= self.max_runtime


@dataclasses.dataclass
class Trial:
    candidate: Candidate
    score: float  # mean oriented score over the folds
    value: float | None  # mean reported metric value
    fold_values: list[float | None]
    seconds: float  # mean fit seconds per fold


@dataclasses.dataclass
class Outcome:
    trials: list[Trial]
    best: Trial
    skipped: list[Candidate]
    stopped_by: str  # converged | max_runtime | exhausted
    limit: int | None  # None: no config limit (max_runtime given)


Fit = t.Callable[[Candidate, np.ndarray], tuple[Pipeline, float]]
Announce = t.Callable[[int, int, Candidate, float], None]


def run(
    start: list[Candidate],
    proposer: search_space.Proposer,
    folds: Folds,
    fit: Fit,
    scorer: Scorer,
    budget: Budget,
    limit: int | None,
    announce: Announce,
) -> Outcome:
    """The search loop (see the module docstring)."""
    trials: list[Trial] = []
    skipped: list[Candidate] = []
    best: Trial | None = None
    since_best = 0
    queue = list(start)
    for c in queue:
        proposer.mark(c)
    n_folds = len(folds.folds)
    stopped_by = "exhausted"  # the data's config limit (or every proposal) used up
    fresh = False  # the queue is a round just proposed, none of it tried yet
    while limit is None or len(trials) < limit:
        if not queue:
            assert best is not None
            queue, fresh = proposer.round(best.candidate), True
            if not queue:
                break
        candidate = queue.pop(0)
        in_start = len(trials) + len(skipped) < len(start)
        if best is not None and not budget.allows(candidate, n_folds, best.seconds):
            skipped.append(candidate)
            # A round is cheapest first: when none of a fresh round fits, no later one will.
            if not in_start and fresh and not any(budget.allows(c, n_folds, 0.0) for c in queue):
                skipped += queue
                stopped_by = "max_runtime"
                break
            continue
        fresh = False  # this round has run a config: its refusals are not the end
        announce(len(trials) + 1, limit or 0, candidate, budget.seconds_left())
        trial = _trial(candidate, folds.folds, fit, scorer, budget)
        trials.append(trial)
        if best is None or trial.score > best.score + _tolerance(best, in_start):
            best, since_best = trial, 0
            continue
        if trial.score > best.score:
            best = trial  # better only within noise: the best, but not progress
        since_best += 0 if in_start else 1
        if since_best >= PATIENCE:
            stopped_by = "converged"
            break
    assert best is not None
    return Outcome(trials, best, skipped, stopped_by, limit)


def _trial(
    candidate: Candidate, folds: list[Fold], fit: Fit, scorer: Scorer, budget: Budget
) -> Trial:
    scores, values, seconds = [], [], []
    for fold in folds:
        pipeline, took = fit(candidate, fold.train)
        budget.record(candidate, took)
        score, value = scorer.score(pipeline, fold.validation)
        scores.append(score)
        values.append(value)
        seconds.append(took)
    finite = [v for v in values if v is not None and np.isfinite(v)]
    mean_value = float(np.mean(finite)) if len(finite) == len(values) else None
    return Trial(candidate, float(np.mean(scores)), mean_value, values, float(np.mean(seconds)))


def _tolerance(best: Trial, in_start: bool) -> float:
    """How much a config must beat the best by to count as progress (0 in the start list)."""
    if in_start or not np.isfinite(best.score):
        return 0.0
    tol = RELATIVE_TOL * abs(best.score)
    finite = [v for v in best.fold_values if v is not None]
    if len(finite) > 1:
        tol = max(tol, 0.5 * float(np.std(finite, ddof=1)) / np.sqrt(len(finite)))
    return tol


def chosen_power(outcome: Outcome) -> float | None:
    """With a free Tweedie power: the winner's, else the best linear (Tweedie) config's."""
    if "power" in outcome.best.candidate.params:
        return float(outcome.best.candidate.params["power"])
    powered = [tr for tr in outcome.trials if "power" in tr.candidate.params]
    if not powered:
        return None
    return float(max(powered, key=lambda tr: tr.score).candidate.params["power"])


_WHY = {
    "converged": f"no config in the last {PATIENCE} beat the best by more than its noise",
    "max_runtime": "the next configs would not fit in max_runtime",
    "exhausted": "every config the data's size allows was run",
}


_UNLIMITED = "no config limit: max_runtime was given"
_NO_MORE = "no new config was left to propose"


def describe_record(record: t.Mapping[str, t.Any]) -> str | None:
    """One line on how AUTO searched, for ``wml show`` and the model card beside the
    leaderboard's title (which names the validation): configs run, why it stopped, a chosen
    Tweedie power. None when the model was not searched."""
    stopped = record.get("stopped_by")
    if stopped not in _WHY or "config_limit" not in record:
        return None  # an explicit model, clustering, or a version trained before the search
    limit = record["config_limit"]
    why = _WHY[stopped] if limit is not None or stopped != "exhausted" else _NO_MORE
    bound = f"at most {limit} for this data" if limit is not None else _UNLIMITED
    text = f"AUTO search: {record.get('run')} configs run ({bound}), stopped by {stopped}: {why}"
    power = record.get("tweedie_power")
    if power:
        tried = ", ".join(str(p) for p in power.get("tried", []))
        text += f"; Tweedie power {power['chosen']} chosen of {tried}"
    return text
