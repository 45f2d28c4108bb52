"""scikit-learn pipelines for each model type, their default settings and the AUTO search list.

Every pipeline starts with the same preprocessing shape, chosen so the exported ONNX graph
takes the raw query columns (one input per feature) and is made of standard ai.onnx.ml ops:

- numeric/boolean columns: median imputation, plus standard scaling for the estimators
  that need it (linear, mlp, kmeans). HistGradientBoosting gets the columns untouched
  because it learns where missing values go (exported as the trees' missing-value branch);
- text columns: one-hot encoding with unseen categories ignored (all-zero row).

The ColumnTransformer selects columns by integer position, so no DataFrame (pandas) is needed.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    TweedieRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import link_guard
from warehouse_ml.ml.features import Feature
from warehouse_ml.ml.losses import Loss
from warehouse_ml.ml.preprocessors import column_parts
from warehouse_ml.ml.spec import ModelType, ProblemType

DEFAULT_K = 5
MLP_EARLY_STOPPING_ROWS = 5000
TREE_MODELS = (ModelType.HIST_GRADIENT_BOOSTING, ModelType.RANDOM_FOREST)
_SCALED = (ModelType.LINEAR, ModelType.MLP, ModelType.KMEANS)
_BALANCEABLE = (ModelType.LINEAR, ModelType.HIST_GRADIENT_BOOSTING, ModelType.RANDOM_FOREST)

# Defaults per model type (problem-independent names). Random forests are depth-capped:
# unbounded trees on big tables make ONNX files (and compiled SQL) of hundreds of MB.
_DEFAULTS: dict[ModelType, dict[str, t.Any]] = {
    ModelType.LINEAR: {"max_iter": 1000},  # LogisticRegression's 100 often stops short
    ModelType.HIST_GRADIENT_BOOSTING: {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31},
    ModelType.RANDOM_FOREST: {"n_estimators": 100, "max_depth": 10, "min_samples_leaf": 5},
    ModelType.MLP: {"hidden_layer_sizes": (64,), "max_iter": 300, "early_stopping": True},
    ModelType.KMEANS: {"n_init": "auto"},
}

# scikit-learn's GLMs penalise the *mean* deviance, so their default alpha=1 shrinks
# standardized coefficients hard (Ridge's alpha=1 is on the sum of squares, tiny per row);
# 1e-4 keeps them about as lightly regularized as the squared-error linear model.
_GLM_DEFAULTS: dict[str, t.Any] = {"max_iter": 1000, "alpha": 1e-4}
_GLMS: dict[str, type[BaseEstimator]] = {
    "poisson": PoissonRegressor,
    "gamma": GammaRegressor,
    "tweedie": TweedieRegressor,
}
# Log-link losses each family can fit (HistGradientBoosting has no Tweedie loss).
_LOG_LINK_MODELS = (ModelType.LINEAR, ModelType.HIST_GRADIENT_BOOSTING)

# Names users bring from Redshift ML (XGBoost, KMEANS) or other libraries.
_ALIASES: dict[ModelType, dict[str, str]] = {
    ModelType.HIST_GRADIENT_BOOSTING: {
        "num_round": "max_iter",
        "n_estimators": "max_iter",
        "eta": "learning_rate",
        "max_leaves": "max_leaf_nodes",
        "lambda": "l2_regularization",
    },
    ModelType.KMEANS: {"k": "n_clusters"},
    ModelType.LINEAR: {"l2": "alpha"},
}


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One AUTO trial. ``cost`` is a relative fit-time weight used to decide, before
    starting it, whether it still fits in the time budget."""

    model_type: ModelType
    params: dict[str, t.Any]
    cost: float


def auto_candidates(problem_type: ProblemType, loss: Loss | None = None) -> list[Candidate]:
    """The AUTO search list for supervised problems, cheapest first: a linear baseline,
    three HistGradientBoosting settings and a small random forest.

    With a log-link loss only the families that fit it take part (a forest's leaf means
    are not fit by deviance); for Tweedie the trees use the Poisson loss (ml/losses.py).
    """
    hgb = ModelType.HIST_GRADIENT_BOOSTING
    if loss is not None and loss.is_log_link:
        tree_loss = {"loss": "poisson"} if loss.name == "tweedie" else {}
        return [
            c if c.model_type is ModelType.LINEAR else Candidate(hgb, {**c.params, **tree_loss}, c.cost)
            for c in auto_candidates(problem_type)
            if c.model_type in _LOG_LINK_MODELS
        ]
    return [
        Candidate(ModelType.LINEAR, {}, 1.0),
        Candidate(hgb, {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31}, 30.0),
        Candidate(hgb, {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15}, 45.0),
        Candidate(
            hgb,
            {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 63, "min_samples_leaf": 40},
            45.0,
        ),
        Candidate(
            ModelType.RANDOM_FOREST,
            {"n_estimators": 50, "max_depth": 10, "min_samples_leaf": 5},
            40.0,
        ),
    ]


def resolve_params(
    model_type: ModelType,
    hyperparameters: dict[str, t.Any],
    k: int | None = None,
    rows: int | None = None,
    loss: Loss | None = None,
) -> dict[str, t.Any]:
    """Defaults overridden by the user's hyperparameters (aliases and string values from
    ``HYPERPARAMETERS DEFAULT EXCEPT (K '5')`` are understood)."""
    if model_type is ModelType.CLV:
        raise TrainingError(
            "model_type 'bg_nbd_gamma_gamma' is AUTO's CLV candidate, not a model to train alone.",
            hint="Use model_type='clv' for a lifetime-value model, or AUTO with clv_horizon=...",
        )
    aliases = _ALIASES.get(model_type, {})
    params = dict(_DEFAULTS[model_type])
    if model_type is ModelType.LINEAR and loss is not None and loss.is_log_link:
        params = dict(_GLM_DEFAULTS)
    if model_type is ModelType.MLP and rows is not None and rows < MLP_EARLY_STOPPING_ROWS:
        # Early stopping holds out 10%: on small tables that stops far too soon
        # (measured: accuracy 0.64 instead of 0.99 on 400 rows).
        params["early_stopping"] = False
    for key, value in hyperparameters.items():
        name = aliases.get(key.lower(), key.lower())
        params[name] = _coerce(value)
    if model_type is ModelType.KMEANS:
        params["n_clusters"] = int(k if k is not None else params.get("n_clusters", DEFAULT_K))
    return params


def make_estimator(
    model_type: ModelType,
    problem_type: ProblemType,
    params: dict[str, t.Any],
    *,
    seed: int,
    class_weight: str | None = None,
    loss: Loss | None = None,
) -> BaseEstimator:
    """A configured, unfitted estimator; unknown parameter names raise TrainingError."""
    loss = loss or Loss()
    cls = _estimator_class(model_type, problem_type)
    base: dict[str, t.Any] = {}
    if loss.is_log_link:
        cls, base = _log_link_estimator(model_type, problem_type, loss, params)
    valid = cls().get_params()
    if "random_state" in valid:
        base["random_state"] = seed
    if class_weight and model_type in _BALANCEABLE and problem_type.is_classification:
        base["class_weight"] = class_weight
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise TrainingError(
            f"Unknown hyperparameter(s) {', '.join(unknown)} for {model_type.value} "
            f"({cls.__name__}). Valid names: {', '.join(sorted(valid))}."
        )
    return cls(**{**base, **params})


def build_pipeline(
    model_type: ModelType,
    problem_type: ProblemType,
    features: t.Sequence[Feature],
    params: dict[str, t.Any],
    *,
    seed: int,
    class_weight: str | None = None,
    preprocessors: t.Sequence[dict[str, list[str]]] | None = None,
    loss: Loss | None = None,
) -> Pipeline:
    """Preprocessing + estimator, taking the matrix from :func:`features.feed_to_matrix`.

    ``preprocessors`` (Redshift ML's PREPROCESSORS column sets) replace the defaults for
    the columns they name.
    """
    if model_type is ModelType.CLV:  # AUTO's BG/NBD + Gamma-Gamma candidate
        from warehouse_ml.ml.clv import candidate

        return candidate.pipeline(params, [f.name for f in features])
    estimator = make_estimator(
        model_type, problem_type, params, seed=seed, class_weight=class_weight, loss=loss
    )
    if loss is not None and loss.log_target:
        from warehouse_ml.ml.log_target_regressor import LogTargetRegressor

        estimator = LogTargetRegressor(estimator, seed=seed)
    prep = _preprocessor(model_type, features, preprocessors or [], seed)
    return Pipeline([("prep", prep), ("model", estimator)])


def _preprocessor(
    model_type: ModelType,
    features: t.Sequence[Feature],
    groups: t.Sequence[dict[str, list[str]]],
    seed: int,
) -> ColumnTransformer:
    parts, covered = column_parts(groups, features, seed)
    # Plain Python ints: skl2onnx maps int positions to graph inputs, and only `int`.
    numeric = [int(i) for i, f in enumerate(features) if not f.is_text and i not in covered]
    text = [int(i) for i, f in enumerate(features) if f.is_text and i not in covered]
    if numeric:
        parts.append(("num", _numeric_steps(model_type), numeric))
    if text:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        parts.append(("text", encoder, text))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def _numeric_steps(model_type: ModelType) -> t.Any:
    if model_type is ModelType.HIST_GRADIENT_BOOSTING:
        return "passthrough"  # native missing-value handling; no scaling needed
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    if model_type in _SCALED:
        return Pipeline([("impute", imputer), ("scale", StandardScaler())])
    return imputer


def _estimator_class(model_type: ModelType, problem_type: ProblemType) -> type[BaseEstimator]:
    if model_type is ModelType.KMEANS or problem_type is ProblemType.CLUSTERING:
        if model_type is not ModelType.KMEANS or problem_type is not ProblemType.CLUSTERING:
            raise TrainingError(
                f"model_type '{model_type.value}' does not fit problem_type "
                f"'{problem_type.value}': clustering is done with model_type='kmeans' and "
                "no target, and k-means cannot predict a target."
            )
        return KMeans
    classify = problem_type.is_classification
    table: dict[ModelType, tuple[type[BaseEstimator], type[BaseEstimator]]] = {
        ModelType.LINEAR: (Ridge, LogisticRegression),
        ModelType.HIST_GRADIENT_BOOSTING: (
            HistGradientBoostingRegressor,
            HistGradientBoostingClassifier,
        ),
        ModelType.RANDOM_FOREST: (RandomForestRegressor, RandomForestClassifier),
        ModelType.MLP: (MLPRegressor, MLPClassifier),
    }
    regressor, classifier = table[model_type]
    return classifier if classify else regressor


def _log_link_estimator(
    model_type: ModelType, problem_type: ProblemType, loss: Loss, params: dict[str, t.Any]
) -> tuple[type[BaseEstimator], dict[str, t.Any]]:
    """(estimator class, fixed parameters) fitting ``loss`` with a log link."""
    if problem_type is not ProblemType.REGRESSION:
        raise TrainingError(
            f"loss='{loss.name}' is a regression loss, but the problem is "
            f"{problem_type.value}. Set problem_type='regression' or drop the loss."
        )
    if model_type not in _LOG_LINK_MODELS:
        raise TrainingError(
            f"model_type '{model_type.value}' cannot fit loss='{loss.name}': use "
            "model_type='linear' (a GLM with a log link), 'hist_gradient_boosting' or 'auto'."
        )
    if model_type is ModelType.LINEAR:
        # Guarded against extrapolating exp(eta) past the training range (ml/link_guard.py)
        # unless link_guard=false.
        glm = _GLMS[loss.name]
        cls = link_guard.GUARDED[glm] if loss.guard else glm
        return cls, ({"power": loss.power, "link": "log"} if loss.name == "tweedie" else {})
    given = params.get("loss")  # AUTO's Poisson trees for a Tweedie loss set it
    if loss.name == "tweedie" and given != "poisson":
        raise TrainingError(
            "HistGradientBoosting has no Tweedie loss: use model_type='linear' (scikit-learn's "
            "TweedieRegressor, log link), hyperparameters={'loss': 'poisson'} for boosted trees "
            "fit with the Poisson loss and judged by Tweedie deviance, or model_type='auto', "
            "which tries both."
        )
    if loss.name != "tweedie" and given not in (None, loss.name):
        raise TrainingError(f"hyperparameter loss='{given}' contradicts loss='{loss.name}'.")
    return HistGradientBoostingRegressor, {"loss": given or loss.name}


def _coerce(value: t.Any) -> t.Any:
    """'5' -> 5, '0.1' -> 0.1, 'true' -> True, '64,32' -> (64, 32); others unchanged."""
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    text = value.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if "," in text:
        return tuple(_coerce(part) for part in text.split(","))
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text
