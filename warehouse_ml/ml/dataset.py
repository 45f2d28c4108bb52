"""From a query result to training data: the target, the problem type, the split.

Everything here is column-wise Arrow / numpy work; no Python loop runs per row.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import train_test_split

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml.features import resolve_column
from warehouse_ml.ml.spec import ModelType, ProblemType, SplitSpec, TrainingSpec

# A whole-number target with at most this many distinct values is read as classes.
MAX_INFERRED_CLASSES = 20
MIN_EVAL_ROWS = 2
MIN_TRAIN_ROWS = 5


@dataclasses.dataclass
class Target:
    """The target column ready for scikit-learn.

    ``y`` holds float64 (regression), int64 or str objects (classification); ``classes_fit``
    is ``np.unique(y)`` for classification and ``classes`` the same labels as Python values
    of the target's own type (``False``/``True`` for a boolean target, etc.).
    """

    name: str | None
    arrow_type: pa.DataType | None
    problem_type: ProblemType
    y: np.ndarray | None
    classes_fit: np.ndarray | None = None
    classes: list[t.Any] | None = None


@dataclasses.dataclass
class Split:
    """Row positions of the training and evaluation parts.

    A temporal split also says where it cut: ``column`` and ``cut``, the first value of
    the split column evaluated on (JSON-friendly: dates become ISO text).
    """

    train: np.ndarray
    eval: np.ndarray
    stratified: bool
    column: str | None = None
    cut: t.Any = None
    gap_dropped: int = 0  # training rows within the label horizon of the cut (ml/folds.py)

    def describe(self) -> dict[str, t.Any]:
        """Where the cut fell, for the registry's metrics (empty for a random split)."""
        if self.column is None:
            return {}
        out = {
            "cut_value": self.cut,
            "rows_before_cut": len(self.train),
            "rows_at_or_after_cut": len(self.eval),
        }
        if self.gap_dropped:
            out["rows_dropped_by_label_horizon"] = self.gap_dropped
        return out


def canonical_order(table: pa.Table) -> pa.Table:
    """The rows sorted by every column, so the same data trains the same model.

    A query without ORDER BY comes back in an order that changes between runs on a
    parallel engine, and splits (ties in a temporal split column), early-stopping holdouts
    and forest bootstraps all pick rows by position. Columns Arrow cannot sort are skipped.
    """
    keys = [
        (f.name, "ascending", "at_end") for f in table.schema if not pa.types.is_dictionary(f.type)
    ]
    if not keys or table.num_rows < 2:
        return table
    try:
        order = pc.sort_indices(table, sort_keys=keys)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return table
    return table.take(order)


def drop_null_target(table: pa.Table, spec: TrainingSpec) -> tuple[pa.Table, str | None, int]:
    """Resolve the target, drop rows whose target is NULL; return (table, target, dropped)."""
    if spec.target is None:
        return table, None, 0
    target = resolve_column(table.schema, spec.target, "target")
    column = table.column(target)
    if column.null_count == len(column):
        raise TrainingError(
            f"The target column '{target}' is NULL in all {len(column)} rows; "
            "check the query's joins and filters."
        )
    if column.null_count == 0:
        return table, target, 0
    return table.filter(pc.is_valid(column)), target, column.null_count


def prepare_target(table: pa.Table, target: str | None, spec: TrainingSpec) -> Target:
    """Decide the problem type (given or inferred) and encode the target column."""
    if target is None:
        return _no_target(spec)
    if spec.problem_type is ProblemType.CLUSTERING or spec.model_type is ModelType.KMEANS:
        raise TrainingError(
            f"k-means clustering takes no target, but target='{target}' is set. Remove the "
            "target for clustering, or choose another model_type to predict it."
        )
    column = table.column(target)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    problem = spec.problem_type or infer_problem_type(column)
    if problem is ProblemType.REGRESSION:
        return Target(target, column.type, problem, _regression_y(column, target))
    y = _class_labels(column, target)
    classes_fit = np.unique(y)
    if len(classes_fit) < 2:
        raise TrainingError(
            f"The target '{target}' has a single value ({_python_classes(classes_fit, column.type)[0]!r}) "
            "in every row with a non-NULL target: there is nothing to classify. Check the "
            "query's filters."
        )
    if problem is ProblemType.BINARY and len(classes_fit) > 2:
        raise TrainingError(
            f"problem_type is binary_classification but the target '{target}' has "
            f"{len(classes_fit)} distinct values; use multiclass_classification."
        )
    classes = _python_classes(classes_fit, column.type)
    return Target(target, column.type, problem, y, classes_fit, classes)


def infer_problem_type(column: pa.ChunkedArray) -> ProblemType:
    """Text/boolean -> classification; numbers: non-whole or many values -> regression,
    2 values -> binary, up to MAX_INFERRED_CLASSES whole values -> multiclass."""
    kind = column.type
    distinct = int(pc.count_distinct(column).as_py())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return ProblemType.BINARY if distinct <= 2 else ProblemType.MULTICLASS
    if pa.types.is_string_view(kind):
        return ProblemType.BINARY if distinct <= 2 else ProblemType.MULTICLASS
    values = _numeric(column, "target")
    if not np.all(values == np.round(values)) or distinct > MAX_INFERRED_CLASSES:
        return ProblemType.REGRESSION
    return ProblemType.BINARY if distinct <= 2 else ProblemType.MULTICLASS


def check_rows(rows: int, dropped: int, spec: TrainingSpec) -> None:
    """Enough rows to satisfy min_rows and to hold out an evaluation set?"""
    fraction = spec.split.eval_fraction
    if not 0.0 < fraction < 1.0:
        raise TrainingError(
            f"split eval_fraction must be between 0 and 1 (exclusive), not {fraction}."
        )
    for_split = max(
        math.ceil(MIN_EVAL_ROWS / fraction), math.ceil(MIN_TRAIN_ROWS / (1.0 - fraction))
    )
    needed = max(spec.min_rows, for_split)
    if rows < needed:
        why = (
            f"min_rows={spec.min_rows}"
            if needed == spec.min_rows
            else (
                f"at least {MIN_EVAL_ROWS} to evaluate and {MIN_TRAIN_ROWS} to train "
                f"with eval_fraction={fraction}"
            )
        )
        nulls = f" ({dropped} more had a NULL target and were dropped)" if dropped else ""
        raise TrainingError(
            f"The query returned {rows} usable rows{nulls}, but training needs at least "
            f"{needed} ({why}). Widen the query or lower min_rows."
        )


def split_rows(
    table: pa.Table, target: Target, split: SplitSpec, positions: np.ndarray | None = None
) -> Split:
    """Hold out ``split.eval_fraction`` of ``positions`` (default: all rows).

    'temporal' evaluates on the latest rows by ``split.column``, like BigQuery ML's SEQ,
    and never cuts between equal values (see :func:`temporal_split`); 'random' is seeded
    and stratified for classification when every class has at least two rows.
    """
    rows = np.arange(table.num_rows) if positions is None else positions
    if split.method == "temporal":
        return temporal_split(table, split, rows)
    if split.method != "random":
        raise TrainingError(f"Unknown split method '{split.method}'; use 'random' or 'temporal'.")
    n_eval = max(1, math.ceil(len(rows) * split.eval_fraction))
    stratify = None
    if target.problem_type.is_classification and target.y is not None:
        labels = target.y[rows]
        _, counts = np.unique(labels, return_counts=True)
        fits = n_eval >= len(counts) and len(rows) - n_eval >= len(counts)
        if counts.min() >= 2 and fits:
            stratify = labels
    train, held = train_test_split(
        rows, test_size=n_eval, random_state=split.seed, shuffle=True, stratify=stratify
    )
    return Split(np.sort(train), np.sort(held), stratified=stratify is not None)


def temporal_split(table: pa.Table, split: SplitSpec, rows: np.ndarray) -> Split:
    """Evaluate on every row at or after the cut value, train on every row before it.

    The cut is the latest value of ``split.column`` whose rows, with all later ones, make
    at least ``eval_fraction`` of ``rows``: rows sharing a value (a snapshot, a day) fall
    on one side only, so three equal snapshots with eval_fraction 0.2 evaluate on exactly
    the latest. NULLs count as oldest and train.
    """
    if not split.column:
        raise TrainingError("A temporal split needs split column=... (a date or time).")
    name = resolve_column(table.schema, split.column, "temporal split")
    keys = table.column(name).combine_chunks().take(pa.array(rows))
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    # Stable over the canonical row order, so equal times always come out the same way.
    order = pc.array_sort_indices(keys, order="ascending", null_placement="at_start").to_numpy()
    ordered, sorted_keys = rows[order], keys.take(pa.array(order))
    n_eval = max(1, math.ceil(len(rows) * split.eval_fraction))
    cut = sorted_keys[len(rows) - n_eval]
    if not cut.is_valid:
        _fail_nulls(name, split, len(rows), keys.null_count)
    first = int(pc.index(sorted_keys, cut).as_py())  # ties with the cut go to evaluation
    _check_sides(name, split, keys, cut.as_py(), first, len(rows))
    return Split(
        ordered[:first], ordered[first:], stratified=False, column=name, cut=_json(cut.as_py())
    )


def _fail_nulls(name: str, split: SplitSpec, rows: int, nulls: int) -> t.NoReturn:
    what = (
        f"'{name}' is NULL in all {rows} rows"
        if nulls == rows
        else f"only {rows - nulls} of {rows} rows have a '{name}' value"
    )
    raise TrainingError(
        f"Cannot split by time: {what}, fewer than eval_fraction={split.eval_fraction} of them. "
        "NULL split values count as oldest and are trained on, so nothing is left to evaluate. "
        f"Fill '{name}' in the query (or filter its NULL rows), lower eval_fraction, or use a "
        "random split."
    )


def _check_sides(
    name: str, split: SplitSpec, keys: pa.Array, cut: t.Any, first: int, rows: int
) -> None:
    """Both sides of a temporal cut must be big enough to train and to evaluate."""
    distinct = int(pc.count_distinct(keys, mode="all").as_py())
    if distinct == 1:
        raise TrainingError(
            f"Cannot split by time: the split column '{name}' holds a single value ({cut!r}) "
            f"in all {rows} rows, so there are no earlier rows to train on or no later rows "
            "to evaluate on. Split on a column with several dates or snapshots, or use a "
            "random split (split_column=none)."
        )
    if first >= MIN_TRAIN_ROWS and rows - first >= MIN_EVAL_ROWS:
        return
    raise TrainingError(
        f"Cannot split by time: evaluating on the latest eval_fraction={split.eval_fraction} "
        f"of {rows} rows means every row with '{name}' at or after {cut!r}, which leaves "
        f"{first} rows before it to train on and {rows - first} to evaluate (at least "
        f"{MIN_TRAIN_ROWS} and {MIN_EVAL_ROWS} are needed; rows sharing a value are never "
        "split). Lower eval_fraction, add earlier data, or split on a finer column."
    )


def _json(value: t.Any) -> t.Any:
    """A split value as JSON keeps it: numbers, text and booleans as they are, others as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # dates: '2026-04-02'; timestamps: '2026-04-02 00:00:00'


def _no_target(spec: TrainingSpec) -> Target:
    if spec.problem_type not in (None, ProblemType.CLUSTERING) or spec.model_type not in (
        ModelType.AUTO,
        ModelType.KMEANS,
    ):
        what = spec.problem_type.value if spec.problem_type else spec.model_type.value
        raise TrainingError(
            f"No target column is set, but {what} needs one. Set target=... (Redshift ML: "
            "TARGET col), or use model_type='kmeans' for clustering."
        )
    return Target(None, None, ProblemType.CLUSTERING, None)


def _numeric(column: pa.ChunkedArray, name: str) -> np.ndarray:
    kind = column.type
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    ):
        raise TrainingError(
            f"The target '{name}' has type {kind}; regression needs a numeric target "
            "(classification takes text, boolean or whole-number targets)."
        )
    return pc.cast(column, pa.float64()).to_numpy()


def _regression_y(column: pa.ChunkedArray, name: str) -> np.ndarray:
    values = _numeric(column, name)
    if not np.isfinite(values).all():
        raise TrainingError(
            f"The target '{name}' holds NaN or infinite values; filter them in SQL."
        )
    return values


def _class_labels(column: pa.ChunkedArray, name: str) -> np.ndarray:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(column, pa.string()).to_numpy(zero_copy_only=False).astype(object)
    values = _numeric(column, name)
    if not np.all(values == np.round(values)):
        raise TrainingError(
            f"The target '{name}' has fractional values; classification needs text, boolean "
            "or whole-number labels. Cast it to VARCHAR in SQL, or use regression."
        )
    return values.astype(np.int64)


def _python_classes(classes_fit: np.ndarray, arrow_type: pa.DataType) -> list[t.Any]:
    """Labels as Python values of the target's type (0/1 -> False/True for booleans)."""
    if classes_fit.dtype == object:
        return [str(c) for c in classes_fit]
    if pa.types.is_decimal(arrow_type):
        arrow_type = pa.float64()  # Decimal objects do not survive JSON (metadata, registry)
    return pa.array(classes_fit).cast(arrow_type).to_pylist()
