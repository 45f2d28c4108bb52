"""Validation folds for the AUTO search: how a candidate is scored before selection.

Which folds depend on what the training rows are (all positions are inside the training
rows; the evaluation rows are never seen by the search):

- **rows per entity per cutoff** (``entity_column`` and a temporal ``split_column``):
  rolling-origin cross-validation. For each of the last few cutoffs ``c`` one fold trains on
  the rows at cutoffs before ``c`` and validates on the rows at ``c``, as the model is used:
  fit on the past, score a later snapshot. The entities are dealt into groups (seeded), and
  fold ``i`` validates only group ``i``'s rows at its cutoff and trains only on the other
  groups, so one customer never sits on both sides of a fold (its earlier rows would
  otherwise tell the model its own future);
- **an entity column without cutoffs**: grouped K-fold (each entity in one fold only);
- **otherwise**: one validation slice, split as the evaluation split was (temporal or
  random), falling back to random when a temporal one cannot cut the training rows.

With a ``label_horizon`` (ml/horizon.py) the temporal folds leave a gap: a training row is
kept only when its cutoff plus the horizon is at or before the validation cutoff, so no
training label overlaps the period validated on. The rows dropped per fold are recorded.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import horizon as label_horizon
from warehouse_ml.ml.dataset import Split, Target, split_rows
from warehouse_ml.ml.features import resolve_column
from warehouse_ml.ml.spec import TrainingSpec

VALIDATION_FRACTION = 0.2
ROLLING_FOLDS = 3  # the last cutoffs validated on (fewer when fewer cutoffs have a past)
GROUP_FOLDS = 3
MIN_FOLD_TRAIN = 5
MIN_FOLD_VALIDATION = 2


@dataclasses.dataclass(frozen=True)
class Fold:
    train: np.ndarray  # row positions
    validation: np.ndarray
    cutoff: t.Any = None  # rolling origin: the cutoff validated on (JSON-friendly)


@dataclasses.dataclass(frozen=True)
class Folds:
    """The folds and how they were made, for the search record."""

    method: str  # 'rolling_origin', 'group_kfold', 'temporal_holdout' or 'random_holdout'
    folds: list[Fold]
    description: str  # e.g. "rolling origin over 3 cutoffs of 'snapshot_date', by customer_id"
    entity_column: str | None = None
    gap: dict[str, t.Any] | None = None  # the label horizon's gap, when one was given

    @property
    def validation_rows(self) -> int:
        return int(sum(len(f.validation) for f in self.folds))

    def describe(self) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {
            "method": self.method,
            "folds": len(self.folds),
            "validation_rows": self.validation_rows,
            "description": self.description,
        }
        if self.entity_column:
            out["entity_column"] = self.entity_column
        cutoffs = [f.cutoff for f in self.folds if f.cutoff is not None]
        if cutoffs:
            out["cutoffs"] = cutoffs
        if self.gap is not None:
            out["label_horizon"] = self.gap
        return out


@dataclasses.dataclass(frozen=True)
class _Gap:
    """A label horizon over some rows: which may train for a validation cutoff."""

    horizon: float
    unit: str
    rank: np.ndarray  # each row's cutoff rank among the distinct cutoffs (-1: NULL)
    where: np.ndarray | None  # each row's cutoff on the horizon's scale (None: cutoffs unit)
    cut_where: np.ndarray | None  # each distinct cutoff on that scale

    @classmethod
    def of(cls, spec: TrainingSpec, keys: pa.Array, ordered: pa.Array, rank: np.ndarray,
           name: str) -> _Gap | None:  # fmt: skip
        h, unit = spec.split.label_horizon, spec.split.label_horizon_unit
        if h is None:
            return None
        if unit == "cutoffs":
            return cls(h, unit, rank, None, None)
        where = label_horizon.positions(keys, unit, name)
        return cls(h, unit, rank, where, label_horizon.positions(ordered, unit, name))

    def trainable(self, cut: int) -> np.ndarray:
        at = None if self.cut_where is None else float(self.cut_where[cut])
        return label_horizon.trainable(self.rank, self.where, cut, at, self.horizon, self.unit)

    def record(self, dropped: list[int]) -> dict[str, t.Any]:
        return {"value": self.horizon, "unit": self.unit, "applied": True, "dropped_train_rows": dropped}

    def text(self) -> str:
        shown = label_horizon.describe(self.horizon, self.unit)
        return f", a gap of {shown} (label_horizon) before each validation cutoff"


def _cutoffs(table: pa.Table, name: str, rows: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(the rows' split-column values, the distinct cutoffs in order, each row's rank among
    them: NULL counts as oldest, -1, as in the evaluation split)."""
    keys = table.column(name).combine_chunks().take(pa.array(rows))
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    distinct = pc.unique(keys.filter(pc.is_valid(keys)))
    ordered = distinct.take(pc.array_sort_indices(distinct))
    rank = pc.index_in(keys, value_set=ordered).to_numpy(zero_copy_only=False)
    return keys, ordered, np.where(np.isnan(rank.astype(np.float64)), -1, rank).astype(np.int64)


def entity_codes(table: pa.Table, spec: TrainingSpec) -> tuple[str, np.ndarray] | None:
    """(the entity column's name, one integer code per row), or None without one.

    Raises TrainingError naming the model when the column is not in the query result.
    """
    if not spec.entity_column:
        return None
    try:
        name = resolve_column(table.schema, spec.entity_column, "entity")
    except TrainingError as exc:
        raise TrainingError(
            f"Model '{spec.name}': entity_column='{spec.entity_column}' is not a column of "
            f"the training query ({', '.join(table.schema.names)}). Select the column that "
            "identifies the customer (or other entity) in the query, or fix entity_column; "
            "nothing was trained or saved."
        ) from exc
    column = table.column(name).combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    codes = pc.dictionary_encode(column).indices.to_numpy(zero_copy_only=False)
    # NULL entities share one code: rows that cannot be told apart stay together.
    return name, np.where(np.isnan(codes.astype(np.float64)), -1, codes).astype(np.int64)


def make_folds(
    table: pa.Table,
    target: Target,
    spec: TrainingSpec,
    train_rows: np.ndarray,
    entities: np.ndarray | None,
    entity_name: str | None = None,
) -> Folds:
    """The search's folds over ``train_rows`` (see the module docstring). For classification
    a fold whose training rows hold one class is dropped (nothing to fit there); with none
    left the search falls back to one validation slice."""
    temporal = spec.split.method == "temporal" and spec.split.column
    found: Folds | None = None
    if entities is not None and temporal:
        found = _fittable(rolling_origin(table, spec, train_rows, entities, entity_name), target)
    if found is None and entities is not None:
        found = _fittable(group_kfold(train_rows, entities, spec.split.seed, entity_name), target)
        if found is not None and spec.split.label_horizon is not None:
            # Grouped folds hold out customers, not a later period: there is no cutoff to
            # leave a gap before, and the record says so rather than implying one.
            h, unit = spec.split.label_horizon, spec.split.label_horizon_unit
            note = f"; label_horizon {label_horizon.describe(h, unit)} not applied: too few cutoffs to roll over"
            gap = {"value": h, "unit": unit, "applied": False}
            found = dataclasses.replace(found, description=found.description + note, gap=gap)
    return found or _holdout(table, target, spec, train_rows)


def _fittable(folds: Folds | None, target: Target) -> Folds | None:
    if folds is None or target.y is None or not target.problem_type.is_classification:
        return folds
    kept = [f for f in folds.folds if len(np.unique(target.y[f.train])) >= 2]
    return dataclasses.replace(folds, folds=kept) if kept else None


def rolling_origin(
    table: pa.Table,
    spec: TrainingSpec,
    rows: np.ndarray,
    entities: np.ndarray,
    entity_name: str | None,
) -> Folds | None:
    """Grouped rolling-origin folds over the last cutoffs of the split column, or None when
    fewer than two cutoffs (or too few rows per side) leave nothing to roll over."""
    assert spec.split.column is not None
    name = resolve_column(table.schema, spec.split.column, "temporal split")
    keys, ordered, rank = _cutoffs(table, name, rows)
    n_cut = len(ordered)
    if n_cut < 2:
        return None
    gap = _Gap.of(spec, keys, ordered, rank, name)
    groups = _deal(entities[rows], min(ROLLING_FOLDS, n_cut - 1), spec.split.seed)
    folds: list[Fold] = []
    dropped: list[int] = []
    possible = False  # a fold there would be without the gap
    for i, c in enumerate(range(n_cut - 1, 0, -1)[:ROLLING_FOLDS]):
        group = i % (int(groups.max()) + 1)
        val = rows[(rank == c) & (groups == group)]
        before = rank < c
        allowed = before if gap is None else gap.trainable(c)
        train = rows[allowed & (groups != group)]
        if len(val) >= MIN_FOLD_VALIDATION:
            possible |= int(np.sum(before & (groups != group))) >= MIN_FOLD_TRAIN
        if len(train) < MIN_FOLD_TRAIN or len(val) < MIN_FOLD_VALIDATION:
            continue
        folds.append(Fold(np.sort(train), np.sort(val), _json(ordered[c].as_py())))
        dropped.append(int(np.sum(before & ~allowed & (groups != group))))
    if not folds:
        if gap is not None and possible:  # the horizon, not the data, left no fold
            _no_fold_left(spec, name, gap)
        return None
    folds.reverse()  # oldest cutoff first
    by = f", grouped by {entity_name}" if entity_name else ""
    text = f"rolling origin over the last {len(folds)} cutoffs of '{name}'{by}"
    if gap is None:
        return Folds("rolling_origin", folds, text, entity_name)
    record = gap.record(dropped[::-1])
    return Folds("rolling_origin", folds, text + gap.text(), entity_name, record)


def _no_fold_left(spec: TrainingSpec, column: str, gap: _Gap, where: str = "any validation") -> t.NoReturn:
    shown = label_horizon.describe(gap.horizon, gap.unit)
    raise TrainingError(
        f"Model '{spec.name}': label_horizon {shown} leaves no training rows far enough "
        f"before {where} cutoff of '{column}' (at least {MIN_FOLD_TRAIN} are needed). "
        "Shorten label_horizon, or add earlier cutoffs to the training query; nothing was "
        "trained or saved."
    )


def gapped_evaluation(table: pa.Table, spec: TrainingSpec, split: Split) -> Split:
    """The evaluation split less the training rows within the label horizon of its cut:
    their labels overlap the evaluated period, so held-out metrics would score what the
    fit already saw. The refit on every row still uses them."""
    if spec.split.label_horizon is None or split.column is None:
        return split
    train, gap = _holdout_gap(table, spec, split, "the evaluation")
    return dataclasses.replace(split, train=train, gap_dropped=gap["dropped_train_rows"][0])


def group_kfold(
    rows: np.ndarray, entities: np.ndarray, seed: int, entity_name: str | None
) -> Folds:
    """K folds of whole entities (seeded assignment): each entity validates in one fold."""
    k = min(GROUP_FOLDS, len(np.unique(entities[rows])))
    if k < 2:
        raise TrainingError(
            f"entity_column '{entity_name}' holds a single value in the training rows, so no "
            "validation fold can hold entities unseen in training. Name the column that "
            "identifies each customer, or drop entity_column."
        )
    groups = _deal(entities[rows], k, seed)
    folds = [Fold(np.sort(rows[groups != g]), np.sort(rows[groups == g])) for g in range(k)]
    return Folds("group_kfold", folds, f"{k}-fold grouped by {entity_name}", entity_name)


def _deal(entities: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A group in 0..k-1 per row, the same for every row of an entity (seeded shuffle of
    the distinct entities, dealt round-robin so groups differ by at most one entity)."""
    unique, inverse = np.unique(entities, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    group_of = np.empty(len(unique), dtype=np.int64)
    group_of[order] = np.arange(len(unique)) % max(k, 1)
    return group_of[inverse]


def _holdout(table: pa.Table, target: Target, spec: TrainingSpec, rows: np.ndarray) -> Folds:
    """One validation slice: the training rows split again as the evaluation split was."""
    inner = dataclasses.replace(spec.split, eval_fraction=VALIDATION_FRACTION)
    try:
        found: Split = split_rows(table, target, inner, rows)
    except TrainingError:
        if inner.method != "temporal":
            raise
        inner = dataclasses.replace(inner, method="random")
        found = split_rows(table, target, inner, rows)
        text = "random (the training rows cannot be cut by time)"
        return Folds("random_holdout", [Fold(found.train, found.eval)], text)
    if found.column is None:
        return Folds("random_holdout", [Fold(found.train, found.eval)], "random")
    text = f"temporal, at or after {found.cut!r}"
    train, gap = found.train, None
    if spec.split.label_horizon is not None:
        train, gap = _holdout_gap(table, spec, found)
        text += gap.pop("text")
    return Folds("temporal_holdout", [Fold(train, found.eval, found.cut)], text, gap=gap)


def _holdout_gap(
    table: pa.Table, spec: TrainingSpec, found: Split, where: str = "the validation"
) -> tuple[np.ndarray, dict[str, t.Any]]:
    """The slice's training rows less those within the horizon of its first validation
    cutoff (and the record, with its text under 'text')."""
    assert found.column is not None
    rows = np.sort(np.concatenate([found.train, found.eval]))
    keys, ordered, rank = _cutoffs(table, found.column, rows)
    gap = _Gap.of(spec, keys, ordered, rank, found.column)
    assert gap is not None
    in_eval = np.isin(rows, found.eval)
    cut = int(rank[in_eval].min())
    allowed = gap.trainable(cut) & ~in_eval
    train = rows[allowed]
    if len(train) < MIN_FOLD_TRAIN:
        _no_fold_left(spec, found.column, gap, where)
    return train, {**gap.record([int(len(found.train) - len(train))]), "text": gap.text()}


def _json(value: t.Any) -> t.Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def group_split(rows: np.ndarray, entities: np.ndarray, eval_fraction: float, seed: int) -> Split:
    """The evaluation split of a random split with an entity column: whole entities are
    held out (seeded), the fewest whose rows make at least ``eval_fraction`` of ``rows``, so
    no entity is both trained on and evaluated."""
    unique, counts = np.unique(entities[rows], return_counts=True)
    if len(unique) < 2:
        raise TrainingError(
            "The entity column holds a single value, so no entity can be held out for "
            "evaluation. Name the column that identifies each customer, or drop entity_column."
        )
    order = np.random.default_rng(seed).permutation(len(unique))
    need = max(1, int(np.ceil(len(rows) * eval_fraction)))
    taken = np.cumsum(counts[order])
    n_held = min(int(np.searchsorted(taken, need)) + 1, len(unique) - 1)
    held = np.isin(entities[rows], unique[order[:n_held]])
    return Split(np.sort(rows[~held]), np.sort(rows[held]), stratified=False)
