"""The one training specification both declaration styles lead to.

A model file's ``config(materialized='ml_model', ...)`` and Redshift ML's
``CREATE MODEL`` statement are both parsed into a :class:`TrainingSpec`; everything
downstream (trainer, exporter, registry) reads only this.
"""

from __future__ import annotations

import dataclasses
import enum
import typing as t


class ProblemType(str, enum.Enum):
    REGRESSION = "regression"
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    CLUSTERING = "clustering"

    @property
    def is_classification(self) -> bool:
        return self in (ProblemType.BINARY, ProblemType.MULTICLASS)


class ModelType(str, enum.Enum):
    AUTO = "auto"
    LINEAR = "linear"
    HIST_GRADIENT_BOOSTING = "hist_gradient_boosting"
    RANDOM_FOREST = "random_forest"
    KMEANS = "kmeans"
    MLP = "mlp"
    # BG/NBD + Gamma-Gamma as an AUTO candidate for a spend or purchase-count target
    # (ml/clv/candidate.py); never chosen explicitly (model_type='clv' is its own family).
    CLV = "bg_nbd_gamma_gamma"


# Objectives users know from Redshift ML / BigQuery ML, lower-cased; the first of
# each list is the default (Redshift: MSE for regression, F1 binary, Accuracy multiclass).
OBJECTIVES: dict[ProblemType, tuple[str, ...]] = {
    # The deviances come last: they are the default only for their own loss (ml/losses.py).
    ProblemType.REGRESSION: (
        "mse", "rmse", "mae", "r2", "poisson_deviance", "gamma_deviance", "tweedie_deviance",
    ),
    ProblemType.BINARY: ("f1", "auc", "accuracy", "log_loss", "precision", "recall"),
    ProblemType.MULTICLASS: ("accuracy", "f1macro", "log_loss"),
    ProblemType.CLUSTERING: ("silhouette",),
}


@dataclasses.dataclass
class SplitSpec:
    """How rows are held out for evaluation.

    ``method='random'`` holds out ``eval_fraction`` at random (seeded);
    ``method='temporal'`` sorts by ``column`` and evaluates on the latest rows,
    as BigQuery ML's ``data_split_method='SEQ'`` does: every row at or after the latest
    value that still leaves at least ``eval_fraction`` of the rows in evaluation, so rows
    sharing a value (a snapshot) are never split; NULLs count as oldest and train.
    """

    method: str = "random"
    eval_fraction: float = 0.2
    column: str | None = None
    seed: int = 42
    # How far past its cutoff a row's label looks (ml/horizon.py, ours): the search's folds
    # leave that gap before each validation cutoff. Unit: 'split', 'days' or 'cutoffs'.
    label_horizon: float | None = None
    label_horizon_unit: str = "split"


@dataclasses.dataclass
class TrainingSpec:
    """Everything needed to train one model version from a query result."""

    name: str
    function: str
    query: str
    target: str | None = None
    problem_type: ProblemType | None = None  # None: inferred from the target
    model_type: ModelType = ModelType.AUTO
    objective: str | None = None  # None: the problem type's default (or the loss's deviance)
    # Regression loss (ml/losses.py): squared_error, poisson, gamma or tweedie (log link).
    loss: str | None = None  # None: squared_error, unless the objective names a loss
    tweedie_power: float | None = None  # None: AUTO chooses it, an explicit model 1.5
    max_runtime: float = 5400.0  # seconds, Redshift ML's default MAX_RUNTIME
    # max_runtime was given by the user: AUTO has no data-size config limit (ml/search.py).
    max_runtime_given: bool = False
    hyperparameters: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    exclude: list[str] = dataclasses.field(default_factory=list)
    split: SplitSpec = dataclasses.field(default_factory=SplitSpec)
    class_weight: str | None = None  # None or 'balanced'
    k: int | None = None  # clusters, for KMEANS
    min_rows: int = 50
    tags: list[str] = dataclasses.field(default_factory=list)
    # Redshift ML clauses that mean nothing locally (IAM_ROLE, S3_BUCKET, ...), kept
    # so SHOW MODEL can report them and the user is told they were ignored.
    ignored_settings: dict[str, str] = dataclasses.field(default_factory=dict)
    preprocessors: list[dict[str, t.Any]] | None = None
    # After evaluation, refit the chosen model on every row (train + eval) and deploy that,
    # as BigQuery ML and Redshift ML do; False deploys the evaluated fit itself.
    refit: bool = True
    # Binary classifiers: 'none', 'auto', 'sigmoid' or 'isotonic' (ml/calibration.py).
    calibration: str = "none"
    # A log-link linear model's score clipped to its training range (ml/link_guard.py).
    link_guard: bool = True
    # 'log': fit on log1p(target), predict its mean by smearing (ml/log_target.py).
    target_transform: str | None = None
    # The column naming the customer (or other entity) each row is about: AUTO validates
    # by grouped (rolling-origin, with a temporal split) folds, never a customer on both
    # sides (ml/folds.py); a random evaluation split holds out whole entities. Not a feature.
    entity_column: str | None = None
    # AUTO's CLV candidate (ml/clv/candidate.py): {'horizon', 'columns', 'predicts',
    # 'penalizer'} from config(clv_horizon=..., clv_columns={...}); None: no such candidate.
    clv: dict[str, t.Any] | None = None
    source: str = "config"  # 'config' (model file) or 'create_model' (Redshift ML SQL)
