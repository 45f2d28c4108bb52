"""What AUTO searches: hyperparameter ranges per model family and the order configs come in.

The search starts from the fixed starting list in :func:`estimators.auto_candidates`
(cheapest first: a linear model, three gradient-boosting settings, a small forest), then
proposes rounds of new configs, each round sorted cheapest first (cost-aware, in the
spirit of FLAML's low-cost-first search): half drawn at random from the ranges below, half
neighbours of the best config so far (each numeric setting moved by a random step in log
space), so the search both explores and refines. Proposals are made by a seeded generator
from what was already scored, so the same data, seed and budget give the same search.

A Tweedie loss without a given power makes the power a setting of the linear family (the
family that fits the Tweedie loss; boosted trees fit the Poisson loss, ml/losses.py).

Selected on MAE (``objective='mae'``), a squared-error regression's boosted trees fit the
absolute error instead (:func:`for_objective`): MAE is minimised by the conditional median,
and for zero-inflated targets such as spend the mean that squared error fits is far from it
(CDNOW holdout spend: MAE 36.7 squared-error trees, 28.9 absolute-error trees). One
squared-error boosted config stays in the starting list so the mean's trees are judged too.
scikit-learn's linear ``QuantileRegressor`` (a linear program) is not searched: it took
10-14 s per fit on 11,785 CDNOW rows, against 1.6 s for absolute-error trees of as good a MAE.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

import numpy as np

from warehouse_ml.ml.estimators import Candidate
from warehouse_ml.ml.losses import Loss
from warehouse_ml.ml.spec import ModelType, ProblemType

ROUND = 6  # configs proposed per round (half random, half around the best)
MAE_OBJECTIVE = "mae"
MAE_TREE_LOSS = "absolute_error"  # HistGradientBoosting's L1 loss (identity link, median start)
TWEEDIE_POWERS = (1.2, 1.35, 1.5, 1.65, 1.8)


@dataclasses.dataclass(frozen=True)
class Range:
    """One hyperparameter: ``low``..``high``, drawn log-uniformly when ``log``."""

    low: float
    high: float
    log: bool = True
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        return self._value(rng.uniform(*self._bounds()))

    def near(self, value: float, rng: np.random.Generator, step: float = 0.35) -> float | int:
        """A neighbour of ``value``: a normal step of ``step`` of the (log) range's width."""
        lo, hi = self._bounds()
        x = math.log(max(value, 1e-12)) if self.log else float(value)
        return self._value(float(np.clip(x + rng.normal(0.0, step * (hi - lo)), lo, hi)))

    def _bounds(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        return self.low, self.high

    def _value(self, x: float) -> float | int:
        value = math.exp(x) if self.log else x
        if self.integer:
            return int(round(value))
        return float(f"{value:.3g}")  # readable in the leaderboard; ranges are coarse anyway


_HGB = {
    "learning_rate": Range(0.02, 0.3),
    "max_iter": Range(50, 400, integer=True),
    "max_leaf_nodes": Range(7, 127, integer=True),
    "min_samples_leaf": Range(5, 200, integer=True),
    "l2_regularization": Range(1e-3, 10.0),
}
_FOREST = {
    "n_estimators": Range(30, 150, integer=True),
    "max_depth": Range(4, 14, log=False, integer=True),
    "min_samples_leaf": Range(1, 50, integer=True),
    "max_features": Range(0.3, 1.0, log=False),
}


def ranges(
    model_type: ModelType, problem: ProblemType, loss: Loss, free_power: bool
) -> dict[str, Range | tuple[float, ...]]:
    """The searched settings of one family (a tuple: a choice among those values)."""
    if model_type is ModelType.CLV:
        return {}  # AUTO's CLV candidate (ml/clv/candidate.py): one config, fit by likelihood
    if model_type is ModelType.HIST_GRADIENT_BOOSTING:
        return dict(_HGB)
    if model_type is ModelType.RANDOM_FOREST:
        return dict(_FOREST)
    if problem.is_classification:
        return {"C": Range(1e-3, 1e3)}  # LogisticRegression's inverse penalty
    if loss.is_log_link:
        out: dict[str, Range | tuple[float, ...]] = {"alpha": Range(1e-6, 1.0)}
        if free_power:
            out["power"] = TWEEDIE_POWERS
        return out
    return {"alpha": Range(1e-3, 1e3)}  # Ridge


def cost(candidate: Candidate) -> float:
    """A relative fit-time weight (the linear model is 1): boosting grows with iterations
    times leaves, a forest with trees times depth. Used to order a round and, scaled by the
    measured seconds per unit, to decide whether a config still fits in max_runtime."""
    p = candidate.params
    if candidate.model_type is ModelType.HIST_GRADIENT_BOOSTING:
        iters, leaves = float(p.get("max_iter", 100)), float(p.get("max_leaf_nodes", 31))
        return 30.0 * (iters / 100.0) * (0.5 + 0.5 * leaves / 31.0)
    if candidate.model_type is ModelType.RANDOM_FOREST:
        trees, depth = float(p.get("n_estimators", 100)), float(p.get("max_depth", 10) or 14)
        return 40.0 * (trees / 50.0) * (depth / 10.0) * float(p.get("max_features", 1.0))
    return 1.0


class Proposer:
    """Seeded proposals of new configs, given the scored ones (see the module docstring)."""

    def __init__(
        self,
        families: t.Sequence[Candidate],
        problem: ProblemType,
        loss: Loss,
        free_power: bool,
        seed: int,
    ) -> None:
        # One template per family: its fixed settings (e.g. loss='poisson' trees) carry over.
        self.templates: dict[ModelType, Candidate] = {}
        for c in families:
            self.templates.setdefault(c.model_type, c)
        self.problem, self.loss, self.free_power = problem, loss, free_power
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def mark(self, candidate: Candidate) -> bool:
        """Remember ``candidate``; False when an equal config was already proposed."""
        key = repr(sorted(candidate.params.items())) + candidate.model_type.value
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def round(self, best: Candidate) -> list[Candidate]:
        """ROUND new configs, cheapest first: random draws, then neighbours of ``best``."""
        families = list(self.templates)
        out: list[Candidate] = []
        for i in range(ROUND * 3):  # a few spare tries for duplicates
            if len(out) == ROUND:
                break
            if i % 2 == 0:
                family = families[int(self.rng.integers(len(families)))]
                found = self._draw(self.templates[family])
            else:
                found = self._near(best)
            if self.mark(found):
                out.append(found)
        return sorted(out, key=cost)

    def _space(self, model_type: ModelType) -> dict[str, Range | tuple[float, ...]]:
        return ranges(model_type, self.problem, self.loss, self.free_power)

    def _draw(self, template: Candidate) -> Candidate:
        params = dict(template.params)
        for name, spec in self._space(template.model_type).items():
            params[name] = self._pick(spec) if isinstance(spec, tuple) else spec.draw(self.rng)
        return _candidate(template.model_type, params)

    def _near(self, best: Candidate) -> Candidate:
        params = dict(best.params)
        for name, spec in self._space(best.model_type).items():
            if isinstance(spec, tuple):
                params[name] = self._step_choice(spec, params.get(name))
            elif name in params:
                params[name] = spec.near(float(params[name]), self.rng)
            else:
                params[name] = spec.draw(self.rng)
        return _candidate(best.model_type, params)

    def _pick(self, values: tuple[float, ...]) -> float:
        return float(values[int(self.rng.integers(len(values)))])

    def _step_choice(self, values: tuple[float, ...], current: t.Any) -> float:
        """A neighbouring value of an ordered choice (or any, when unset)."""
        if current not in values:
            return self._pick(values)
        i = values.index(current) + int(self.rng.choice((-1, 1)))
        return float(values[min(max(i, 0), len(values) - 1)])


def _candidate(model_type: ModelType, params: dict[str, t.Any]) -> Candidate:
    found = Candidate(model_type, params, 1.0)
    return dataclasses.replace(found, cost=cost(found))


def start_list(
    base: t.Sequence[Candidate], problem: ProblemType, loss: Loss, free_power: bool
) -> list[Candidate]:
    """The fixed starting configs; with a free Tweedie power the linear model comes once
    per power (cheap), so the power is always compared."""
    out: list[Candidate] = []
    for c in base:
        if free_power and c.model_type is ModelType.LINEAR:
            out += [Candidate(c.model_type, {**c.params, "power": p}, c.cost) for p in TWEEDIE_POWERS]
        else:
            out.append(c)
    return out


def fits_mae(problem: ProblemType, loss: Loss, objective: str | None) -> bool:
    """Whether the search should fit the absolute error: a squared-error regression (no
    log-link loss named) selected on MAE."""
    return problem is ProblemType.REGRESSION and not loss.is_log_link and objective == MAE_OBJECTIVE


def for_objective(
    base: t.Sequence[Candidate], problem: ProblemType, loss: Loss, objective: str | None
) -> list[Candidate]:
    """The starting configs for the objective: selected on MAE, the boosted trees fit the
    absolute error (they come first among the trees, so the proposals' template is one of
    them), and the first squared-error boosted config stays after them."""
    if not fits_mae(problem, loss, objective):
        return list(base)
    hgb = ModelType.HIST_GRADIENT_BOOSTING
    trees = [c for c in base if c.model_type is hgb]
    l1 = [Candidate(hgb, {"loss": MAE_TREE_LOSS, **c.params}, c.cost) for c in trees]
    out: list[Candidate] = []
    for c in base:
        if c.model_type is not hgb:
            out.append(c)
        elif c is trees[0]:
            out += [*l1, c]
    return out
