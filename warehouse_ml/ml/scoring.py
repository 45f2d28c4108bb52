"""Fast ONNX scoring from Arrow columns (what the SQL functions call).

:class:`OnnxScorer` wraps one onnxruntime session (one thread each for intra- and inter-op
work: inside DuckDB's Arrow UDFs calls already overlap, and more threads oversubscribe the
cores). Columns are converted by the same function training used (:mod:`features`), so
NULLs score as they did in the parity check; no Python code runs per row.

Outputs: regression -> float64; classification -> the label in the target's Arrow type;
clustering -> int64 cluster id. ``predict_proba``: binary -> float64 probability of
``classes[1]`` (the second label in sorted order, e.g. ``True`` or ``'yes'``); multiclass ->
``map<label, double>`` (a pyarrow MapArray, one entry per class, in class order).

Models trained here carry ``wml.*`` metadata (features, classes, target type); for any other
ONNX model ("bring your own"), features come from the graph's inputs (:func:`describe_onnx`).
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa

from warehouse_ml.errors import ExecutionError
from warehouse_ml.ml.features import METADATA_PREFIX, ArrowColumn, Feature, column_to_numpy

_ELEMENT_TYPES: dict[int, tuple[str, t.Any]] = {
    onnx.TensorProto.FLOAT: ("DOUBLE", np.float32),
    onnx.TensorProto.DOUBLE: ("DOUBLE", np.float64),
    onnx.TensorProto.INT64: ("DOUBLE", np.int64),
    onnx.TensorProto.INT32: ("DOUBLE", np.int32),
    onnx.TensorProto.BOOL: ("BOOLEAN", np.bool_),
    onnx.TensorProto.STRING: ("VARCHAR", object),
}
_ARROW_TYPES = {
    str(kind): kind
    for kind in (
        pa.bool_(),
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float32(),
        pa.float64(),
        pa.string(),
        pa.large_string(),
    )
}


def arrow_type(name: str) -> pa.DataType | None:
    """The Arrow type stored as ``wml.target_type`` (None when unknown)."""
    return _ARROW_TYPES.get(name)


_CLASS_LABEL_ATTRS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One graph input: its name, numpy dtype, and how many feature columns it takes."""

    name: str
    sql_type: str
    dtype: t.Any
    width: int
    rank: int = 2  # 1 for inputs declared as [None]


def describe_onnx(onnx_bytes: bytes) -> list[Feature]:
    """The features an ONNX model takes, from its graph inputs (initializers excluded).

    A ``[None, 1]`` (or ``[None]``) input is one feature of the same name; a ``[None, k]``
    input is k features named ``<input>_0 .. <input>_{k-1}``.
    """
    return [f for slot in _slots(onnx.load_from_string(onnx_bytes)) for f in _slot_features(slot)]


def output_names(onnx_bytes: bytes) -> list[str]:
    """The model's output names, in order."""
    return [o.name for o in onnx.load_from_string(onnx_bytes).graph.output]


class OnnxScorer:
    """Scores Arrow columns with one ONNX model.

    Args:
        onnx_bytes: the serialized model.
        features: the columns it takes, in order; default: the ``wml.features`` metadata,
            else :func:`describe_onnx`.
        classes: class labels (default: ``wml.classes`` metadata, else the classifier
            node's class labels).
        label_type: Arrow type of predicted labels (default: ``wml.target_type``).
    """

    def __init__(
        self,
        onnx_bytes: bytes,
        features: t.Sequence[Feature] | None = None,
        *,
        classes: t.Sequence[t.Any] | None = None,
        label_type: pa.DataType | None = None,
    ) -> None:
        model = onnx.load_from_string(onnx_bytes)
        meta = {
            p.key[len(METADATA_PREFIX) :]: p.value
            for p in model.metadata_props
            if p.key.startswith(METADATA_PREFIX)
        }
        self.slots = _slots(model)
        described = [f for slot in self.slots for f in _slot_features(slot)]
        if features is None and meta.get("features"):
            features = [Feature(name, kind) for name, kind in json.loads(meta["features"])]
        self.features = list(features) if features is not None else described
        if len(self.features) != len(described):
            raise ExecutionError(
                f"The ONNX model takes {len(described)} feature columns "
                f"({_listing(described)}) but {len(self.features)} were declared."
            )
        self.problem_type = meta.get("problem_type") or None
        if classes is None and meta.get("classes") not in (None, "", "null"):
            classes = json.loads(meta["classes"])
        self.classes = list(classes) if classes is not None else _graph_classes(model)
        self.label_type = label_type or _ARROW_TYPES.get(meta.get("target_type", ""))
        self.output_names = [o.name for o in model.graph.output]
        self._class_keys = pa.array(self.classes) if self.classes is not None else None
        if self._class_keys is not None and self.label_type is not None:
            self._class_keys = self._class_keys.cast(self.label_type)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def feed(self, columns: t.Sequence[ArrowColumn]) -> dict[str, np.ndarray]:
        """The ONNX input dict for ``columns`` (one per feature, in order)."""
        if len(columns) != len(self.features):
            raise ExecutionError(
                f"The model takes {len(self.features)} columns, in this order: "
                f"{_listing(self.features)}; {len(columns)} were given."
            )
        feed: dict[str, np.ndarray] = {}
        position = 0
        for slot in self.slots:
            parts = [
                column_to_numpy(columns[position + i], slot.sql_type, _float_dtype(slot.dtype))
                for i in range(slot.width)
            ]
            position += slot.width
            block = parts[0] if slot.width == 1 else np.hstack(parts)
            block = block if block.dtype == slot.dtype else _cast(block, slot)
            feed[slot.name] = block if slot.rank == 2 else block.ravel()
        return feed

    def predict(self, columns: t.Sequence[ArrowColumn]) -> pa.Array:
        """First output per row: float64 for regression, the label (in the target's type)
        for classification, int64 cluster id for clustering."""
        (out,) = self.session.run(self.output_names[:1], self.feed(columns))
        out = np.asarray(out)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.dtype == np.float32:
            return pa.array(out.astype(np.float64))
        labels = pa.array(out, type=pa.string()) if out.dtype == object else pa.array(out)
        if self.label_type is not None and labels.type != self.label_type:
            labels = labels.cast(self.label_type)
        return labels

    def predict_proba(self, columns: t.Sequence[ArrowColumn]) -> pa.Array:
        """Binary: float64 probability of ``classes[1]``; multiclass: map<label, double>."""
        if len(self.output_names) < 2:
            raise ExecutionError(
                "This ONNX model has no probability output (it is not a classifier)."
            )
        (proba,) = self.session.run(self.output_names[1:2], self.feed(columns))
        if not isinstance(proba, np.ndarray) or proba.ndim != 2:
            raise ExecutionError(
                f"Output '{self.output_names[1]}' is not a [rows, classes] tensor (a ZipMap "
                "output?); export the model with zipmap disabled."
            )
        proba = proba.astype(np.float64)
        if proba.shape[1] == 2:
            return pa.array(proba[:, 1])
        keys = (
            self._class_keys
            if self._class_keys is not None
            else pa.array(np.arange(proba.shape[1]))
        )
        return proba_array(proba, keys)


def proba_array(proba: np.ndarray, keys: pa.Array) -> pa.MapArray:
    """Multiclass probabilities ``[rows, classes]`` as ``map<label, double>``."""
    if len(keys) != proba.shape[1]:
        raise ExecutionError(
            f"The model gives {proba.shape[1]} probabilities for {len(keys)} classes."
        )
    rows, width = proba.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    tiled = keys.take(pa.array(np.tile(np.arange(width), rows)))
    return pa.MapArray.from_arrays(offsets, tiled, pa.array(proba.ravel()))


def _slots(model: onnx.ModelProto) -> list[_Slot]:
    initializers = {i.name for i in model.graph.initializer}
    slots = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if tensor.elem_type not in _ELEMENT_TYPES:
            raise ExecutionError(
                f"ONNX input '{value.name}' has element type "
                f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}; only float, double, "
                "int32, int64, bool and string inputs can be fed from SQL columns."
            )
        sql_type, dtype = _ELEMENT_TYPES[tensor.elem_type]
        dims = tensor.shape.dim
        width = 1
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            width = int(dims[1].dim_value)
        slots.append(_Slot(value.name, sql_type, dtype, width, rank=2 if len(dims) != 1 else 1))
    return slots


def _slot_features(slot: _Slot) -> list[Feature]:
    if slot.width == 1:
        return [Feature(slot.name, slot.sql_type)]
    return [Feature(f"{slot.name}_{i}", slot.sql_type) for i in range(slot.width)]


def _graph_classes(model: onnx.ModelProto) -> list[t.Any] | None:
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in _CLASS_LABEL_ATTRS:
                if attr.strings:
                    return [s.decode() for s in attr.strings]
                return list(attr.ints)
    return None


def _float_dtype(dtype: t.Any) -> t.Any:
    return dtype if dtype in (np.float32, np.float64) else np.float64


def _cast(block: np.ndarray, slot: _Slot) -> np.ndarray:
    """Integer / boolean inputs of imported models: NULL has no value there."""
    if np.isnan(block).any():
        raise ExecutionError(
            f"ONNX input '{slot.name}' is {np.dtype(slot.dtype).name} and cannot take NULL; "
            "filter or coalesce NULLs in SQL."
        )
    return block.astype(slot.dtype)


def _listing(features: t.Sequence[Feature]) -> str:
    return ", ".join(f"{f.name} {f.sql_type}" for f in features)
