"""Redshift ML's PREPROCESSORS as scikit-learn steps.

``PREPROCESSORS '[{"ColumnSet": ["age", "income"], "Transformers": ["Imputer", "StandardScaler"]}]'``
(or ``config(preprocessors=[...])``) applies the listed transformers, in order, to the
named feature columns; columns in no column set get the model type's default
preprocessing (see :mod:`estimators`). ``'none'`` means the defaults for every column.

What each name trains (all of them export to ONNX; the SQL compiler covers the encoders'
one-hot form and the scalers, others are served by the Arrow UDF under deploy='auto'):

==================== ================================================================
OneHotEncoder        OneHotEncoder, unseen categories ignored (all-zero row)
OrdinalEncoder       OrdinalEncoder, unseen categories -> -1
NumericPassthrough   the values as they are (NULL stays missing: HistGradientBoosting
                     learns where it goes; other estimators need an Imputer)
Imputer              SimpleImputer(strategy='median')
ImputerWithIndicator the same, plus a 0/1 missing-indicator column per column
Normalizer           Normalizer (each row of the column set scaled to unit L2 norm)
PCA                  PCA keeping the components that explain 95% of the variance
StandardScaler       StandardScaler
MinMax               MinMaxScaler (to [0, 1])
DateTimeVectorizer   refused: a DATE/TIMESTAMP column is already a feature (days since
                     1970-01-01); calendar parts are columns computed in SQL
==================== ================================================================

Text columns are encoded first (OneHotEncoder or OrdinalEncoder); a text NULL is already a
category of its own, so imputers apply to numeric column sets only. ``"*"`` in a column
set means every column no other set names (the text ones if the set starts with an
encoder, else the numeric ones), as in AWS's ``[{"ColumnSet": ["*"], "Transformers":
["NumericPassthrough"]}]``.
"""

from __future__ import annotations

import difflib
import typing as t

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.features import Feature

TRANSFORMERS = (
    "OneHotEncoder",
    "OrdinalEncoder",
    "NumericPassthrough",
    "Imputer",
    "ImputerWithIndicator",
    "Normalizer",
    "DateTimeVectorizer",
    "PCA",
    "StandardScaler",
    "MinMax",
)
KMEANS_TRANSFORMERS = ("StandardScaler", "MinMax", "NumericPassthrough")
ENCODERS = ("OneHotEncoder", "OrdinalEncoder")
PCA_VARIANCE = 0.95
HINT = (
    'Expected \'none\' or a JSON list such as [{"ColumnSet": ["age"], '
    '"Transformers": ["StandardScaler"]}].'
)

Group = dict[str, list[str]]


def problem(value: t.Any, *, kmeans: bool = False) -> str | None:
    """What is wrong with the shape of a PREPROCESSORS value, or None. KMEANS takes only
    the transformers Redshift allows it."""
    allowed = KMEANS_TRANSFORMERS if kmeans else TRANSFORMERS
    if not isinstance(value, list):
        return f"expected a JSON list, got {type(value).__name__}"
    for n, group in enumerate(value, 1):
        if not isinstance(group, dict) or set(group) != {"ColumnSet", "Transformers"}:
            got = sorted(group) if isinstance(group, dict) else type(group).__name__
            return f'item {n} must have exactly the keys "ColumnSet" and "Transformers", got {got}'
        for key, names in group.items():
            if (
                not isinstance(names, list)
                or not names
                or not all(isinstance(x, str) and x for x in names)
            ):
                return f'item {n}: "{key}" must be a non-empty list of names'
        unknown = [name for name in group["Transformers"] if name not in allowed]
        if unknown:
            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            listed = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
            return f"item {n}: unknown transformer {unknown[0]!r}{hint}; expected {listed}"
    return None


def column_parts(
    groups: t.Sequence[Group], features: t.Sequence[Feature], seed: int
) -> tuple[list[tuple[str, t.Any, list[int]]], set[int]]:
    """ColumnTransformer parts for the column sets, and the feature positions they cover.

    ``"*"`` in a column set stands for every feature no other set names that suits its
    transformers: the text columns when they start with an encoder, else the numeric ones.
    """
    position = {f.name.lower(): i for i, f in enumerate(features)}
    covered: dict[int, int] = {}
    chosen: list[list[int]] = []
    for n, group in enumerate(groups, 1):
        columns: list[int] = []
        for name in group["ColumnSet"]:
            if name == "*":
                continue
            i = position.get(name.lower())
            if i is None:
                raise TrainingError(
                    f"PREPROCESSORS item {n} names column '{name}', which is not a feature "
                    f"of the training query (features: {', '.join(f.name for f in features)}). "
                    "Fix the name, or add the column to the SELECT."
                )
            if i in covered:
                raise TrainingError(
                    f"PREPROCESSORS items {covered[i]} and {n} both name column '{name}': "
                    "give each column one column set."
                )
            covered[i] = n
            columns.append(i)
        chosen.append(columns)
    for n, group in enumerate(groups, 1):
        if "*" in group["ColumnSet"]:
            text = group["Transformers"][0] in ENCODERS
            rest = [i for i, f in enumerate(features) if i not in covered and f.is_text == text]
            covered |= dict.fromkeys(rest, n)
            chosen[n - 1] += rest
    parts: list[tuple[str, t.Any, list[int]]] = []
    for n, (group, columns) in enumerate(zip(groups, chosen, strict=True), 1):
        if not columns:
            continue  # a "*" with nothing left over
        texts = {features[i].is_text for i in columns}
        if len(texts) > 1:
            raise TrainingError(
                f"PREPROCESSORS item {n} mixes text and numeric columns: put them in separate "
                "column sets (text columns need an encoder, numeric ones must not)."
            )
        steps = _steps(group["Transformers"], texts.pop(), n, seed)
        # Plain ints: skl2onnx maps only `int` positions to graph inputs.
        parts.append((f"set{n}", steps, [int(i) for i in sorted(columns)]))
    return parts, set(covered)


def _steps(names: t.Sequence[str], text: bool, n: int, seed: int) -> t.Any:
    if "DateTimeVectorizer" in names:
        raise TrainingError(
            f"PREPROCESSORS item {n}: DateTimeVectorizer is not supported. A DATE or "
            "TIMESTAMP column is a feature as it is (days since 1970-01-01); add calendar "
            "parts as columns in SQL (for example extract(dow from ts) as weekday, "
            "datediff(day, signup_at, '2026-07-01') as tenure_days)."
        )
    if text:
        if names[0] not in ENCODERS or any(name in ENCODERS for name in names[1:]):
            raise TrainingError(
                f"PREPROCESSORS item {n} holds text columns: its first transformer must be "
                "OneHotEncoder or OrdinalEncoder, and only that one (a text NULL is already "
                "a category of its own, so no Imputer is needed)."
            )
    elif any(name in ENCODERS for name in names[1:]):
        raise TrainingError(
            f"PREPROCESSORS item {n}: an encoder must be the first transformer of its set."
        )
    from sklearn.pipeline import Pipeline

    steps = [
        (f"{i}_{name.lower()}", _make(name, seed))
        for i, name in enumerate(names)
        if name != "NumericPassthrough"
    ]
    return Pipeline(steps) if steps else "passthrough"


def _make(name: str, seed: int) -> t.Any:
    # scikit-learn is imported here: CREATE MODEL parsing validates names without it.
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import (
        MinMaxScaler,
        Normalizer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    if name == "OneHotEncoder":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    if name == "OrdinalEncoder":
        return OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64
        )
    if name == "Imputer":
        return SimpleImputer(strategy="median", keep_empty_features=True)
    if name == "ImputerWithIndicator":
        # Not SimpleImputer(add_indicator=True): skl2onnx ignores that flag (see onnx_converters).
        return FeatureUnion([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("indicator", MissingIndicator(features="all")),
        ])  # fmt: skip
    if name == "Normalizer":
        return Normalizer()
    if name == "PCA":
        return PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)
    if name == "StandardScaler":
        return StandardScaler()
    if name == "MinMax":
        return MinMaxScaler()
    raise TrainingError(f"unknown transformer {name!r}.")  # problem() refuses it earlier
