"""Feature columns: which query columns a model reads, and how Arrow columns become ONNX inputs.

One conversion (:func:`column_to_numpy`, wrapped by :func:`to_onnx_feed`) serves training,
the parity check and scoring, so NULLs mean the same thing everywhere:

- numeric (integer, decimal, float) -> float32, NULL -> NaN (the model imputes or routes it);
- boolean -> float32 1.0 / 0.0, NULL -> NaN;
- text -> Python ``str`` objects, NULL -> :data:`NULL_SENTINEL`, a category of its own.

Numbers are rounded to float32 *before* training too, because the exported ONNX graph sees
float32 inputs: training on the same rounded values is what lets tree thresholds match exactly.
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse_ml.errors import TrainingError

if t.TYPE_CHECKING:
    from warehouse_ml.ml.spec import TrainingSpec

ArrowColumn = pa.Array | pa.ChunkedArray

# Prefix of the ONNX metadata keys our exporter writes (features, classes, target type).
# It lives here, not in onnx_export, so scoring never imports scikit-learn or skl2onnx.
METADATA_PREFIX = "wml."

# Stands for NULL in text columns; one-hot encodes as an ordinary category.
NULL_SENTINEL = "__wml_null__"
SQL_TYPES = ("DOUBLE", "VARCHAR", "BOOLEAN", "TIMESTAMP")
# DATE and TIMESTAMP features enter the model as fractional days since 1970-01-01 (UTC).
_MICROS_PER_DAY = 86_400_000_000
# Text columns with more distinct values than this are identifiers, not categories.
MAX_TEXT_DISTINCT = 1000
# ... as are text columns where more than this share of the rows is unique (once past
# MIN_DISTINCT_FOR_RATIO distinct values, so tiny tables are not refused).
MAX_TEXT_UNIQUE_RATIO = 0.5
MIN_DISTINCT_FOR_RATIO = 20


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input: a query column, fed to ONNX as a ``[None, 1]`` tensor of that name."""

    name: str
    sql_type: str  # 'DOUBLE' | 'VARCHAR' | 'BOOLEAN'

    def __post_init__(self) -> None:
        if self.sql_type not in SQL_TYPES:
            raise ValueError(f"sql_type must be one of {SQL_TYPES}, not {self.sql_type!r}")

    @property
    def is_text(self) -> bool:
        return self.sql_type == "VARCHAR"


def resolve_column(schema: pa.Schema, name: str, what: str) -> str:
    """Return the schema's spelling of ``name`` (exact, else case-insensitive) or raise."""
    if name in schema.names:
        return name
    folded = [n for n in schema.names if n.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise TrainingError(
        f"The {what} column '{name}' is not in the query result. "
        f"Available columns: {', '.join(schema.names)}."
    )


def sql_type_of(arrow_type: pa.DataType, column: str) -> str:
    """Map an Arrow type to the feature's SQL type, or explain why it cannot be a feature."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    ):
        return "DOUBLE"
    if _is_text(arrow_type):
        return "VARCHAR"
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_temporal(arrow_type):
        raise TrainingError(
            f"Column '{column}' is a {arrow_type}, which cannot be a model feature (dates "
            "and timestamps can). Turn it into a number in SQL (for example "
            f"extract('hour' FROM {column})), or add '{column}' to exclude=[...]."
        )
    if pa.types.is_null(arrow_type):
        raise TrainingError(
            f"Column '{column}' is NULL in every row and has no type; "
            f"add '{column}' to exclude=[...] or cast it in SQL."
        )
    raise TrainingError(
        f"Column '{column}' has type {arrow_type}, which cannot be a model feature "
        "(numbers, booleans and text can). Convert it in SQL or add it to exclude=[...]."
    )


def infer_features(schema: pa.Schema, spec: TrainingSpec) -> list[Feature]:
    """The model's features: every column but the target, ``spec.exclude`` and the
    temporal split column, in SELECT order, each typed DOUBLE, VARCHAR, BOOLEAN or
    TIMESTAMP (dates too; the model sees days since 1970-01-01)."""
    skip = {resolve_column(schema, name, "exclude") for name in spec.exclude}
    if spec.target is not None:
        skip.add(resolve_column(schema, spec.target, "target"))
    if spec.split.method == "temporal" and spec.split.column:
        skip.add(resolve_column(schema, spec.split.column, "temporal split"))
    if spec.entity_column:  # an identifier: it groups the folds, it predicts nothing
        skip.add(resolve_column(schema, spec.entity_column, "entity"))
    features = [
        Feature(field.name, sql_type_of(field.type, field.name))
        for field in schema
        if field.name not in skip
    ]
    if not features:
        raise TrainingError(
            "No feature columns are left after removing the target, exclude=[...], "
            f"the split column and the entity column; the query returns only: {', '.join(schema.names)}."
        )
    return features


def check_text_cardinality(column: ArrowColumn, name: str) -> int:
    """Refuse a text column that looks like an identifier; return its distinct count."""
    distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    rows = len(column)
    too_many = distinct > MAX_TEXT_DISTINCT
    mostly_unique = distinct > MIN_DISTINCT_FOR_RATIO and distinct > MAX_TEXT_UNIQUE_RATIO * rows
    if too_many or mostly_unique:
        raise TrainingError(
            f"Text column '{name}' has {distinct} distinct values in {rows} rows, too many "
            "to one-hot encode (it looks like an identifier or free text). Add "
            f"exclude=['{name}'] or bucket it in SQL (e.g. keep the top categories and map "
            "the rest to 'other')."
        )
    return distinct


def column_to_numpy(column: ArrowColumn, sql_type: str, dtype: t.Any = np.float32) -> np.ndarray:
    """Convert one Arrow column to an ONNX input tensor of shape ``[n, 1]``.

    Text becomes an object array with NULL as :data:`NULL_SENTINEL`; anything else a
    ``dtype`` (float32 unless an imported model asks for double) array with NULL as NaN.
    Dates and timestamps become fractional days since 1970-01-01 (UTC for zoned ones).
    """
    if sql_type == "VARCHAR":
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())  # dictionary, string_view, BYO numbers
        if column.null_count:
            column = pc.fill_null(column, NULL_SENTINEL)
        return column.to_numpy(zero_copy_only=False).reshape(-1, 1)
    kind = column.type
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        column = _epoch_days(column)
        kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        # numpy's cast rounds like Arrow's (to nearest) and is ~5x cheaper per 2,048-row
        # UDF chunk; integers with NULLs arrive as float64 with NaN.
        values = _one_chunk(column).to_numpy(zero_copy_only=False)
        return values.astype(dtype, copy=False).reshape(-1, 1)
    target = pa.from_numpy_dtype(np.dtype(dtype))
    if pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.float64())  # decimal -> float32 directly is not universal
    if column.type != target:
        # safe=False: rounding big integers or doubles to float32 is the point, not an error.
        column = pc.cast(column, target, safe=False)
    values = column.to_numpy(zero_copy_only=False)  # NULL -> NaN for floating types
    return values.reshape(-1, 1)


def _epoch_days(column: ArrowColumn) -> pa.Array:
    """Dates and timestamps as float64 days since 1970-01-01 (a zoned one's UTC instant)."""
    array = _one_chunk(column)
    tz = array.type.tz if pa.types.is_timestamp(array.type) else None
    micros = pc.cast(pc.cast(array, pa.timestamp("us", tz)), pa.int64())
    return t.cast(pa.Array, pc.divide(pc.cast(micros, pa.float64()), float(_MICROS_PER_DAY)))


def to_onnx_feed(
    columns: t.Sequence[ArrowColumn], features: t.Sequence[Feature]
) -> dict[str, np.ndarray]:
    """The ONNX input dict for ``columns`` (one per feature, in feature order)."""
    if len(columns) != len(features):
        expected = ", ".join(f"{f.name} {f.sql_type}" for f in features)
        raise TrainingError(
            f"Expected {len(features)} columns ({expected}) but got {len(columns)}."
        )
    return {
        f.name: column_to_numpy(col, f.sql_type) for f, col in zip(features, columns, strict=True)
    }


def feed_to_matrix(feed: dict[str, np.ndarray], features: t.Sequence[Feature]) -> np.ndarray:
    """Stack a feed dict into the matrix the scikit-learn pipeline takes.

    All-numeric: a float64 matrix of the float32-rounded values. With text: an object matrix
    whose column positions match the features (the ColumnTransformer selects by position).
    """
    blocks = [feed[f.name] for f in features]
    if not any(f.is_text for f in features):
        return np.hstack(blocks).astype(np.float64)
    matrix = np.empty((blocks[0].shape[0], len(blocks)), dtype=object)
    for j, block in enumerate(blocks):
        matrix[:, j] = block[:, 0]
    return matrix


def table_matrix(table: pa.Table, features: t.Sequence[Feature]) -> np.ndarray:
    """The scikit-learn matrix for ``table``'s feature columns (column-wise, no row loop)."""
    feed = to_onnx_feed([table.column(f.name) for f in features], features)
    for f in features:
        values = feed[f.name]
        if not f.is_text and np.isinf(values).any():
            raise TrainingError(
                f"Column '{f.name}' holds infinite values (or values beyond float32 range, "
                "about 3.4e38). Replace them in SQL, e.g. with NULL or a capped value."
            )
    return feed_to_matrix(feed, features)


def _one_chunk(column: ArrowColumn) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _is_text(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )
