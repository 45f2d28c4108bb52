"""A fitted tree pipeline as plain float64 arrays: what the native engine compiles.

The ONNX graph keeps thresholds and leaves in float32 (onnxruntime runs tree ensembles in
float32 only, FINDINGS.md), so it cannot score exactly. At export time
:func:`from_pipeline` reads the fitted scikit-learn objects instead (HistGradientBoosting's
``_predictors`` nodes, each forest member's ``tree_``) together with the preprocessing in
front of them, and :func:`encode` stores the result in the ONNX file's metadata
(``wml.native_trees``): ONNX stays the one exchange format and the registry keeps one blob.

Semantics copied from scikit-learn 1.9 (so parity is with ``pipeline.predict``):

- HistGradientBoosting compares float64 features: NaN goes to ``missing_go_to_left``'s side,
  otherwise ``x <= num_threshold`` goes left; raw = baseline, then each tree's leaf added in
  iteration order (one tree per class and iteration for multiclass); the loss's inverse link
  (identity, exp, expit, softmax) turns raw scores into predictions.
- Forest trees see ``X.astype(float32)`` (sklearn's ``DTYPE``), the same NaN rule per node,
  leaf values (classifiers: the class fractions normalized as ``predict_proba`` does)
  summed over members in order and divided by their count.
- Preprocessing is the ColumnTransformer's: passthrough, SimpleImputer (fill NaN),
  StandardScaler (``(x - mean) / scale``) and OneHotEncoder (``handle_unknown='ignore'``).
  Anything else returns a reason instead of a program, and onnxruntime serves the model.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import typing as t

import numpy as np

METADATA_KEY = "wml.native_trees"
FORMAT = 1


class Unsupported(Exception):
    """The pipeline holds a step the native engine does not reproduce exactly."""


@dataclasses.dataclass
class Column:
    """One column of the matrix the trees see, computed from input feature ``feature``."""

    feature: int
    fill: float | None = None  # SimpleImputer's value for NaN
    mean: float | None = None  # StandardScaler: (x - mean) / scale
    scale: float | None = None
    category: str | None = None  # OneHotEncoder: 1.0 where the text equals it, else 0.0


@dataclasses.dataclass
class TreeProgram:
    """Trees in flat arrays (every node of every tree; leaves have ``feature == -1``)."""

    kind: str  # 'boosting' | 'forest'
    columns: list[Column]
    feature: np.ndarray  # int32, -1 at leaves
    threshold: np.ndarray  # float64
    left: np.ndarray  # int32 absolute node index
    right: np.ndarray  # int32
    missing_left: np.ndarray  # uint8
    leaf: np.ndarray  # float64 [nodes, width]
    roots: np.ndarray  # int32 per tree
    outputs: np.ndarray  # int32 per tree: the first raw output its leaf adds to
    n_outputs: int
    base: list[float]
    link: str  # 'identity' | 'exp' | 'expit' | 'softmax' | 'mean'
    classifier: bool
    float32_inputs: bool

    @property
    def width(self) -> int:
        return int(self.leaf.shape[1])


def from_pipeline(pipeline: t.Any) -> TreeProgram:
    """The program for a fitted ``Pipeline([('prep', ColumnTransformer), ('model', est)])``;
    raises :class:`Unsupported` (with the reason) for anything else."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        raise Unsupported("the pipeline is not preprocessing + one estimator")
    columns = _columns(steps[0][1])
    estimator = steps[1][1]
    if hasattr(estimator, "_predictors"):
        program = _boosting(estimator, columns)
    elif hasattr(estimator, "estimators_") and hasattr(estimator.estimators_[0], "tree_"):
        program = _forest(estimator, columns)
    else:
        raise Unsupported(f"{type(estimator).__name__} is not a tree ensemble")
    width = program.feature.max(initial=-1) + 1
    if width > len(columns):
        raise Unsupported("a tree reads a column the preprocessing does not produce")
    return program


# -- preprocessing -----------------------------------------------------------------------
def _columns(prep: t.Any) -> list[Column]:
    from sklearn.compose import ColumnTransformer

    if not isinstance(prep, ColumnTransformer):
        raise Unsupported(f"preprocessing is {type(prep).__name__}, not a ColumnTransformer")
    out: list[Column] = []
    for _, part, cols in prep.transformers_:
        if part == "drop" or len(cols) == 0:
            continue
        out.extend(_part(part, [int(c) for c in cols]))
    return out


def _part(part: t.Any, cols: list[int]) -> list[Column]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    identity = isinstance(part, FunctionTransformer) and part.func is None
    if (isinstance(part, str) and part == "passthrough") or identity:
        return [Column(c) for c in cols]
    if isinstance(part, OneHotEncoder):
        if part.drop_idx_ is not None or getattr(part, "_infrequent_enabled", False):
            raise Unsupported("OneHotEncoder with drop or infrequent categories")
        if part.handle_unknown != "ignore":
            raise Unsupported("OneHotEncoder without handle_unknown='ignore'")
        return [
            Column(c, category=str(v))
            for c, cats in zip(cols, part.categories_, strict=True)
            for v in cats
        ]
    steps = part.steps if isinstance(part, Pipeline) else [("", part)]
    columns = [Column(c) for c in cols]
    for _, step in steps:
        if isinstance(step, SimpleImputer) and _plain_imputer(step):
            if len(step.statistics_) != len(columns) or columns[0].mean is not None:
                raise Unsupported("SimpleImputer after a scaler or dropping columns")
            for col, value in zip(columns, step.statistics_, strict=True):
                col.fill = float(value)
        elif isinstance(step, StandardScaler):
            means = step.mean_ if step.with_mean else np.zeros(len(columns))
            scales = step.scale_ if step.with_std else np.ones(len(columns))
            for col, mean, scale in zip(columns, means, scales, strict=True):
                col.mean, col.scale = float(mean), float(scale)
        else:
            raise Unsupported(f"preprocessing step {type(step).__name__}")
    return columns


def _plain_imputer(step: t.Any) -> bool:
    missing = step.missing_values
    nan = isinstance(missing, float) and np.isnan(missing)
    return nan and not step.add_indicator and step.statistics_.dtype.kind == "f"


# -- trees -------------------------------------------------------------------------------
class _Builder:
    def __init__(self, width: int) -> None:
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in _ARRAYS}
        self.roots: list[int] = []
        self.outputs: list[int] = []
        self.count = 0
        self.width = width

    def add(self, output: int, feature, threshold, left, right, missing, leaf) -> None:
        is_leaf = feature < 0
        offset = self.count
        self.roots.append(offset)
        self.outputs.append(output)
        self.parts["feature"].append(np.where(is_leaf, -1, feature).astype(np.int32))
        self.parts["threshold"].append(np.where(is_leaf, 0.0, threshold).astype(np.float64))
        self.parts["left"].append(np.where(is_leaf, -1, left + offset).astype(np.int32))
        self.parts["right"].append(np.where(is_leaf, -1, right + offset).astype(np.int32))
        self.parts["missing_left"].append(np.asarray(missing, dtype=np.uint8))
        self.parts["leaf"].append(np.asarray(leaf, dtype=np.float64).reshape(len(feature), -1))
        self.count += len(feature)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.parts.items()}
        out["roots"] = np.asarray(self.roots, dtype=np.int32)
        out["outputs"] = np.asarray(self.outputs, dtype=np.int32)
        return out


_ARRAYS = ("feature", "threshold", "left", "right", "missing_left", "leaf")


def _boosting(est: t.Any, columns: list[Column]) -> TreeProgram:
    if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
        raise Unsupported("HistGradientBoosting with categorical features")
    builder = _Builder(1)
    for predictors in est._predictors:
        for k, predictor in enumerate(predictors):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            feature = np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64)
            builder.add(
                k, feature, nodes["num_threshold"], nodes["left"].astype(np.int64),
                nodes["right"].astype(np.int64), nodes["missing_go_to_left"],
                np.where(leaf, nodes["value"], 0.0),
            )  # fmt: skip
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    classifier = hasattr(est, "classes_")
    link = type(getattr(est._loss, "link", None)).__name__
    if classifier:
        link_name = "expit" if len(base) == 1 else "softmax"
    else:
        link_name = {"IdentityLink": "identity", "LogLink": "exp"}.get(link)
        if link_name is None:
            raise Unsupported(f"HistGradientBoosting with a {link} link")
    return TreeProgram(
        "boosting", columns, **builder.arrays(), n_outputs=len(base),
        base=[float(b) for b in base], link=link_name, classifier=classifier,
        float32_inputs=False,
    )  # fmt: skip


def _forest(est: t.Any, columns: list[Column]) -> TreeProgram:
    classifier = hasattr(est, "classes_")
    if getattr(est, "n_outputs_", 1) != 1:
        raise Unsupported("multi-output forests")
    n_out = len(est.classes_) if classifier else 1
    builder = _Builder(n_out)
    for member in est.estimators_:
        tree = member.tree_
        value = tree.value[:, 0, :n_out].astype(np.float64)
        if classifier:  # what DecisionTreeClassifier.predict_proba returns per leaf
            norm = value.sum(axis=1)[:, np.newaxis]
            norm[norm == 0.0] = 1.0
            value = value / norm
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, np.uint8))
        feature = np.where(tree.children_left < 0, -1, tree.feature).astype(np.int64)
        builder.add(
            0, feature, tree.threshold, tree.children_left.astype(np.int64),
            tree.children_right.astype(np.int64), missing, value,
        )  # fmt: skip
    return TreeProgram(
        "forest", columns, **builder.arrays(), n_outputs=n_out, base=[0.0] * n_out,
        link="mean", classifier=classifier, float32_inputs=True,
    )  # fmt: skip


# -- storage in ONNX metadata ------------------------------------------------------------
def encode(program: TreeProgram) -> str:
    """JSON with the arrays as base64 (little-endian), exact to the bit."""
    doc: dict[str, t.Any] = {"format": FORMAT}
    for f in dataclasses.fields(program):
        value = getattr(program, f.name)
        if isinstance(value, np.ndarray):
            doc[f.name] = {
                "dtype": value.dtype.str, "shape": list(value.shape),
                "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode(),
            }  # fmt: skip
        elif f.name == "columns":
            doc[f.name] = [dataclasses.asdict(c) for c in value]
        elif f.name == "base":
            doc[f.name] = [float(b).hex() for b in value]
        else:
            doc[f.name] = value
    return json.dumps(doc, separators=(",", ":"))


def decode(text: str) -> TreeProgram:
    doc = json.loads(text)
    if doc.pop("format", None) != FORMAT:
        raise Unsupported("the stored tree program has another format version")
    kwargs: dict[str, t.Any] = {}
    for f in dataclasses.fields(TreeProgram):
        value = doc[f.name]
        if isinstance(value, dict) and "dtype" in value:
            raw = base64.b64decode(value["data"])
            value = np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        elif f.name == "columns":
            value = [Column(**c) for c in value]
        elif f.name == "base":
            value = [float.fromhex(b) for b in value]
        kwargs[f.name] = value
    return TreeProgram(**kwargs)


def from_onnx(onnx_bytes: bytes) -> TreeProgram | None:
    """The program stored in a model's ONNX metadata, or None (not a tree model, or a model
    exported before the native engine, or imported)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return decode(prop.value)
    return None
