"""Score Arrow columns with a compiled tree program: the native twin of ``OnnxScorer``.

Same interface (``features``, ``classes``, ``predict``, ``predict_proba``) and same output
types, but every step is float64: the columns are read as DuckDB hands them (no float32
rounding), preprocessed as the fitted ColumnTransformer does, scored by the C function,
and turned into predictions by the same link functions scikit-learn calls.
"""

from __future__ import annotations

import typing as t

import numpy as np
import pyarrow as pa

from warehouse_ml.errors import ExecutionError
from warehouse_ml.ml.features import ArrowColumn, Feature, column_to_numpy
from warehouse_ml.ml.native.program import TreeProgram


def _expit(x: np.ndarray) -> np.ndarray:
    try:  # the function scikit-learn's LogitLink calls, for bit-equal probabilities
        from sklearn.utils._array_api import _expit as fn
    except ImportError:  # pragma: no cover - another scikit-learn layout
        from scipy.special import expit as fn
    return fn(x)


def _softmax(x: np.ndarray) -> np.ndarray:
    from sklearn.utils.extmath import softmax

    return softmax(x, copy=True)


class NativeScorer:
    engine = "native"

    def __init__(
        self,
        program: TreeProgram,
        trees: t.Callable[..., None],
        features: t.Sequence[Feature],
        *,
        classes: t.Sequence[t.Any] | None,
        label_type: pa.DataType | None,
        key: str,
        library: bytes,
    ) -> None:
        self.program = program
        self.library = library  # the shared library's bytes, to store beside the ONNX
        self.features = list(features)
        self.classes = list(classes) if classes is not None else None
        self.label_type = label_type
        self.key = key
        self._trees = trees
        self._ncol = len(program.columns)
        self._keys: pa.Array | None = None
        if self.classes is not None:
            keys = pa.array(self.classes)
            self._keys = keys.cast(label_type) if label_type is not None else keys

    # -- the float64 pipeline -------------------------------------------------------------
    def matrix(self, columns: t.Sequence[ArrowColumn]) -> np.ndarray:
        """The preprocessed row-major float64 matrix the trees read."""
        if len(columns) != len(self.features):
            listing = ", ".join(f"{f.name} {f.sql_type}" for f in self.features)
            raise ExecutionError(
                f"The model takes {len(self.features)} columns, in this order: {listing}; "
                f"{len(columns)} were given."
            )
        raw: dict[int, np.ndarray] = {}
        n = len(columns[0]) if columns else 0
        X = np.empty((n, max(self._ncol, 1)), dtype=np.float64)
        for j, col in enumerate(self.program.columns):
            values = raw.get(col.feature)
            if values is None:
                f = self.features[col.feature]
                values = column_to_numpy(columns[col.feature], f.sql_type, np.float64).ravel()
                raw[col.feature] = values
            if col.category is not None:
                X[:, j] = values == col.category
                continue
            if col.fill is not None:
                values = np.where(np.isnan(values), col.fill, values)
            if col.mean is not None:
                values = (values - col.mean) / col.scale
            X[:, j] = values
        if self.program.float32_inputs:  # forests: scikit-learn's trees read float32
            X = X.astype(np.float32).astype(np.float64)
        return X

    def raw(self, columns: t.Sequence[ArrowColumn]) -> np.ndarray:
        X = self.matrix(columns)
        n = X.shape[0]
        out = np.empty((n, self.program.n_outputs), dtype=np.float64)
        if n:
            self._trees(X.ctypes.data, n, X.shape[1], out.ctypes.data)
        if self.program.link == "mean":
            out /= len(self.program.roots)
        return out

    def proba(self, columns: t.Sequence[ArrowColumn]) -> np.ndarray:
        raw = self.raw(columns)
        link = self.program.link
        if link == "expit":
            proba = np.empty((raw.shape[0], 2), dtype=np.float64)
            proba[:, 1] = _expit(raw[:, 0])
            proba[:, 0] = 1 - proba[:, 1]
            return proba
        if link == "softmax":
            return _softmax(raw)
        return raw  # a forest's mean of class fractions

    # -- what the SQL functions call --------------------------------------------------------
    def predict(self, columns: t.Sequence[ArrowColumn]) -> pa.Array:
        p = self.program
        if not p.classifier:
            raw = self.raw(columns)[:, 0]
            return pa.array(np.exp(raw) if p.link == "exp" else raw)
        if p.link in ("expit", "softmax"):  # HistGradientBoostingClassifier.predict
            raw = self.raw(columns)
            index = (raw[:, 0] > 0).astype(np.int64) if raw.shape[1] == 1 else raw.argmax(1)
        else:
            index = self.proba(columns).argmax(axis=1)
        return self._labels().take(pa.array(index))

    def predict_proba(self, columns: t.Sequence[ArrowColumn]) -> pa.Array:
        if not self.program.classifier:
            raise ExecutionError("This model has no probability output (it is not a classifier).")
        from warehouse_ml.ml.scoring import proba_array

        proba = self.proba(columns)
        return pa.array(proba[:, 1]) if proba.shape[1] == 2 else proba_array(proba, self._labels())

    def _labels(self) -> pa.Array:
        if self._keys is None:
            return pa.array(np.arange(self.program.n_outputs if self.program.n_outputs > 1 else 2))
        return self._keys
