"""CREATE MODEL's cross-clause rules: what a parsed statement means as a TrainingSpec.

:mod:`create_model` reads the clauses (and points errors at their tokens); this module
decides what they mean together: problem type, objective, hyperparameters, preprocessors,
and the warnings for clauses that only matter on AWS. The mapping table is in
:mod:`create_model`'s docstring.
"""

from __future__ import annotations

import json
import typing as t

from warehouse_ml.ml import horizon, log_target, losses, preprocessors
from warehouse_ml.ml.spec import OBJECTIVES, ModelType, ProblemType, SplitSpec, TrainingSpec

if t.TYPE_CHECKING:
    from warehouse_ml.ml.create_model import _Clauses, _Parser

MODEL_TYPES = {
    "XGBOOST": ModelType.HIST_GRADIENT_BOOSTING,
    "MLP": ModelType.MLP,
    "LINEAR_LEARNER": ModelType.LINEAR,
    "KMEANS": ModelType.KMEANS,
}
PROBLEM_TYPES = {
    "REGRESSION": ProblemType.REGRESSION,
    "BINARY_CLASSIFICATION": ProblemType.BINARY,
    "MULTICLASS_CLASSIFICATION": ProblemType.MULTICLASS,
}
# XGBoost objectives with a faithful local equivalent: (our objective, implied problem).
_XGB_OBJECTIVES = {
    "reg:squarederror": ("mse", ProblemType.REGRESSION),
    "reg:linear": ("mse", ProblemType.REGRESSION),  # XGBoost's old name for it
    "reg:absoluteerror": ("mae", ProblemType.REGRESSION),  # XGBoost's L1; ours, warned
    "binary:logistic": ("log_loss", ProblemType.BINARY),
    "multi:softmax": ("accuracy", ProblemType.MULTICLASS),
    "multi:softprob": ("log_loss", ProblemType.MULTICLASS),
}
_OUR_OBJECTIVES = {name for names in OBJECTIVES.values() for name in names}
# XGBoost hyperparameters -> HistGradientBoostingClassifier/Regressor parameters.
_XGB_HYPERPARAMETERS: dict[str, tuple[str, type]] = {
    "NUM_ROUND": ("max_iter", int),
    "MAX_DEPTH": ("max_depth", int),
    "ETA": ("learning_rate", float),
}
_AWS_ONLY = ("IAM_ROLE", "SAGEMAKER", "S3_BUCKET", "KMS_KEY_ID", "S3_GARBAGE_COLLECT")


def to_spec(p: _Parser, c: _Clauses) -> tuple[TrainingSpec, list[str], bool]:
    """(the TrainingSpec, warnings for the user, whether AUTO is on) for one statement."""
    warnings: list[str] = []
    auto, model_type = c.word("AUTO") != "OFF", c.word("MODEL_TYPE")
    if not auto and model_type is None:
        hint = "Add MODEL_TYPE after AUTO OFF, or drop AUTO OFF to let the search pick."
        raise p.error(
            c.keywords["AUTO"], f"AUTO OFF needs MODEL_TYPE {listed(tuple(MODEL_TYPES))}", hint
        )
    if model_type == "KMEANS" and auto:
        warnings.append("Redshift trains MODEL_TYPE KMEANS only with AUTO OFF; add AUTO OFF.")
    problem = _problem_type(p, c)
    objective, implied = _objective(p, c, problem, warnings, auto)
    hyperparameters, k = _hyperparameters(p, c, warnings, auto)
    power = _tweedie_power(p, c, objective)
    loss = losses.resolve(None, power, objective).loss
    if loss.name == "tweedie" and model_type == "XGBOOST":
        hyperparameters["loss"] = "poisson"
        warnings.append(
            "MODEL_TYPE XGBOOST with OBJECTIVE 'reg:tweedie': scikit-learn's boosted trees have "
            "no Tweedie loss, so they are fit with the Poisson loss (Tweedie power 1, the same "
            f"log link) and evaluated by Tweedie deviance at power {loss.power}; MODEL_TYPE "
            "LINEAR_LEARNER fits the Tweedie loss itself."
        )
    spec = TrainingSpec(
        name=c.name,
        function=c.function,
        query=c.query,
        target=c.target,
        problem_type=problem or implied,
        model_type=MODEL_TYPES[model_type] if model_type else ModelType.AUTO,
        objective=objective,
        loss=loss.name,
        tweedie_power=power,  # None: AUTO chooses it (ml/search_space.py)
        max_runtime=c.max_runtime if c.max_runtime is not None else 5400.0,
        max_runtime_given=c.max_runtime is not None,
        hyperparameters=hyperparameters,
        k=k,
        ignored_settings=dict(c.ignored),
        preprocessors=_preprocessors(p, c, warnings, auto),
        refit=c.refit is not False,
        calibration=c.calibration or "none",
        entity_column=c.entity_column,
        target_transform=c.target_transform,
        source="create_model",
    )
    why = log_target.conflict(c.target_transform, loss.name, spec.problem_type.value if spec.problem_type else None,
                              objective)  # fmt: skip
    if why is not None:
        raise p.error(c.keywords.get("SETTINGS"), why, "Remove TARGET_TRANSFORM or the setting it conflicts with.")
    if c.split_column is not None or c.eval_fraction is not None:
        spec.split = SplitSpec(
            method="temporal" if c.split_column else "random",
            column=c.split_column,
            eval_fraction=c.eval_fraction if c.eval_fraction is not None else 0.2,
        )
    if c.label_horizon is not None:  # ml/horizon.py: the gap needs the cutoffs' column
        if c.split_column is None:
            raise p.error(c.keywords.get("SETTINGS"), "LABEL_HORIZON needs SPLIT_COLUMN (the cutoff column)",
                          "Add SPLIT_COLUMN snapshot_date to SETTINGS, or remove LABEL_HORIZON.")  # fmt: skip
        spec.split.label_horizon, spec.split.label_horizon_unit = c.label_horizon
    ours = [
        text
        for text, given in (
            (f"REFIT {'ON' if c.refit else 'OFF'}", c.refit is not None),
            (f"SPLIT_COLUMN {c.split_column}", c.split_column is not None),
            (f"EVAL_FRACTION {c.eval_fraction}", c.eval_fraction is not None),
            (f"CALIBRATION {c.calibration}", c.calibration is not None),
            (f"ENTITY_COLUMN {c.entity_column}", c.entity_column is not None),
            (f"LABEL_HORIZON {horizon.describe(*c.label_horizon or (0, ''))}", c.label_horizon is not None),
            (f"TARGET_TRANSFORM '{c.target_transform}'", c.target_transform is not None),
        )
        if given
    ]
    if ours:
        what = "is a warehouse-ml setting" if len(ours) == 1 else "are warehouse-ml settings"
        warnings.append(
            f"{', '.join(ours)} {what}: Redshift rejects unknown SETTINGS, so remove "
            f"{'it' if len(ours) == 1 else 'them'} before running this statement on Redshift."
        )
    aws = [name for name in _AWS_ONLY if name in c.ignored]
    if aws:
        warnings.append(
            f"{', '.join(aws)} only matter on AWS and are ignored when training locally "
            "(kept in ignored_settings for SHOW MODEL)."
        )
    if "MAX_CELLS" in c.ignored:
        warnings.append(
            f"MAX_CELLS {c.ignored['MAX_CELLS']} is ignored: Redshift downsamples training data "
            "above MAX_CELLS, we never downsample and train on every row."
        )
    return spec, warnings, auto


def _problem_type(p: _Parser, c: _Clauses) -> ProblemType | None:
    if c.word("MODEL_TYPE") != "KMEANS":
        if c.target is None:
            hint = "Name the column to predict with TARGET <column>, or cluster with KMEANS."
            raise p.error(c.keywords["FUNCTION"], "missing TARGET before FUNCTION", hint)
        return PROBLEM_TYPES[c.word("PROBLEM_TYPE")] if "PROBLEM_TYPE" in c.values else None
    for clause in ("TARGET", "PROBLEM_TYPE"):
        if clause in c.keywords:
            message = f"MODEL_TYPE KMEANS is clustering and takes no {clause}"
            raise p.error(c.keywords[clause], message, f"Remove {clause}.")
    return ProblemType.CLUSTERING


def _objective(
    p: _Parser, c: _Clauses, problem: ProblemType | None, warnings: list[str], auto: bool
) -> tuple[str | None, ProblemType | None]:
    """(our objective, the problem type an XGBoost objective implies)."""
    given = c.text("OBJECTIVE")
    if given is None:
        return None, None
    token, raw = c.values["OBJECTIVE"], given.strip().lower()
    loss = losses.IMPLYING_OBJECTIVES.get(raw)
    if loss is not None:  # a loss for money or counts: selected on its deviance
        if problem not in (None, ProblemType.REGRESSION):
            raise p.error(token, f"OBJECTIVE '{given}' is for regression, not {problem.value}")
        if raw != "reg:tweedie":
            warnings.append(
                f"OBJECTIVE '{given}' is a warehouse-ml (XGBoost) objective that Redshift ML "
                "does not accept; use 'reg:tweedie' for a statement that also runs on Redshift."
            )
        elif auto:
            warnings.append(
                "Redshift accepts OBJECTIVE 'reg:tweedie' only with AUTO OFF MODEL_TYPE XGBOOST; "
                "locally AUTO searches the models that fit the Tweedie loss."
            )
        return losses.DEVIANCE[loss], ProblemType.REGRESSION
    name, implied = _XGB_OBJECTIVES.get(raw, (raw.replace("_", ""), None))
    if name not in _OUR_OBJECTIVES:
        known = "MSE, Accuracy, F1, F1Macro, AUC, " + ", ".join(_XGB_OBJECTIVES)
        known += ", reg:tweedie, count:poisson, reg:gamma, MAE"
        raise p.error(token, f"OBJECTIVE '{given}' has no local equivalent: expected {known}")
    if problem is not None and implied is not None and implied != problem:
        raise p.error(token, f"OBJECTIVE '{given}' is for {implied.value}, not {problem.value}")
    expected = problem or implied
    if expected is not None and name not in OBJECTIVES[expected]:
        fits = ", ".join(OBJECTIVES[expected])
        raise p.error(token, f"OBJECTIVE '{given}' does not fit {expected.value}: use {fits}")
    if name == "mae":  # ml/search_space.py: the absolute error is fit, not only judged
        warnings.append(
            f"OBJECTIVE '{given}' is a warehouse-ml objective that Redshift ML does not accept "
            "(its regression objective is MSE); locally boosted trees fit the absolute error "
            "and AUTO selects on MAE."
        )
    return name, implied


def _hyperparameters(
    p: _Parser, c: _Clauses, warnings: list[str], auto: bool
) -> tuple[dict[str, t.Any], int | None]:
    """HYPERPARAMETERS DEFAULT EXCEPT (...) as scikit-learn parameters, and K."""
    if c.hyperparameters is not None and auto:
        warnings.append("Redshift accepts HYPERPARAMETERS only with AUTO OFF; add AUTO OFF.")
    model_type = c.word("MODEL_TYPE")
    result: dict[str, t.Any] = {}
    k: int | None = None
    for key, token in (c.hyperparameters or {}).items():
        if model_type == "XGBOOST" and key in _XGB_HYPERPARAMETERS:
            name, kind = _XGB_HYPERPARAMETERS[key]
            result[name] = positive(token.text, kind)
            if result[name] is None:
                message = f"{key} must be a positive {kind.__name__}, got '{token.text}'"
                raise p.error(token, message)
        elif model_type == "KMEANS" and key == "K":
            k = positive(token.text, int)
            if k is None or k < 2:
                raise p.error(token, f"K must be a whole number of at least 2, got '{token.text}'")
        elif key == "REFIT":
            hint = f"Write SETTINGS (REFIT {token.text.upper()}) instead."
            raise p.error(token, "REFIT is a setting, not a hyperparameter", hint)
        elif key == "TWEEDIE_VARIANCE_POWER":
            continue  # a loss setting, read by _tweedie_power
        elif key == "NUM_CLASS":
            warnings.append("NUM_CLASS is ignored: the classes are taken from the TARGET column.")
        else:
            result[key] = token.text
            warnings.append(
                f"hyperparameter {key} has no scikit-learn equivalent for MODEL_TYPE "
                f"{model_type or 'AUTO'}; kept raw as {key}='{token.text}'."
            )
    if model_type == "KMEANS" and k is None:
        hint = "Add HYPERPARAMETERS DEFAULT EXCEPT (K '5')."
        raise p.error(c.values["MODEL_TYPE"], "KMEANS needs the number of clusters, K", hint)
    return result, k


def _tweedie_power(p: _Parser, c: _Clauses, objective: str | None) -> float | None:
    """XGBoost's TWEEDIE_VARIANCE_POWER hyperparameter, with OBJECTIVE 'reg:tweedie' only."""
    token = (c.hyperparameters or {}).get("TWEEDIE_VARIANCE_POWER")
    if token is None:
        return None
    if objective != losses.DEVIANCE["tweedie"]:
        hint = "Add OBJECTIVE 'reg:tweedie', or remove TWEEDIE_VARIANCE_POWER."
        raise p.error(token, "TWEEDIE_VARIANCE_POWER applies only to OBJECTIVE 'reg:tweedie'", hint)
    power = losses.check_power(token.text)
    if power is None:
        raise p.error(token, f"TWEEDIE_VARIANCE_POWER '{token.text}' is out of range", losses.POWER_HINT)
    return power


def _preprocessors(
    p: _Parser, c: _Clauses, warnings: list[str], auto: bool
) -> list[dict[str, t.Any]] | None:
    """PREPROCESSORS: absent -> None (automatic), 'none' -> [], JSON -> validated groups."""
    given, xgboost_off = c.text("PREPROCESSORS"), not auto and c.word("MODEL_TYPE") == "XGBOOST"
    if xgboost_off and (given or "").strip().lower() != "none":
        warnings.append("Redshift requires PREPROCESSORS 'none' with AUTO OFF MODEL_TYPE XGBOOST.")
    if given is None or given.strip().lower() == "none":
        return None if given is None else []
    token = c.values["PREPROCESSORS"]
    try:
        value = json.loads(given)
    except json.JSONDecodeError as err:
        # Point into the JSON: the string starts one character after its quote.
        offset = token.start + 1 + err.pos
        raise p.src.error(
            offset, f"PREPROCESSORS is not valid JSON: {err.msg}", preprocessors.HINT
        ) from None
    problem = preprocessors.problem(value, kmeans=c.word("MODEL_TYPE") == "KMEANS")
    if problem:
        raise p.error(token, f"invalid PREPROCESSORS: {problem}", preprocessors.HINT)
    return [dict(group) for group in value]


def listed(options: t.Sequence[str]) -> str:
    return ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]


def positive(text: str, kind: type) -> t.Any:
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if value > 0 else None
