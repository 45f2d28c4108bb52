"""Export a fitted pipeline to ONNX and prove the export predicts what scikit-learn does.

The graph has one ``[None, 1]`` input per feature, named exactly like the column (float32
for numbers and booleans, string for text), standard ai.onnx / ai.onnx.ml ops, and no
ZipMap. Outputs keep skl2onnx's names: ``variable`` (regression), ``label`` +
``probabilities`` (classification), ``label`` + ``scores`` (k-means); a clash with a
feature name renames the output, so readers should take outputs by position.

Two measured traps are handled here (see shared/FINDINGS.md):

1. skl2onnx 1.20 builds HistGradientBoosting leaves with a Python ``False`` for the integer
   attribute ``nodes_missing_value_tracks_true``; protobuf 7 refuses it ("Expected an int,
   got a boolean"). :func:`_install_tree_attribute_fix` coerces that one argument to int
   (same meaning). With protobuf < 7 the bug does not show and the fix is a no-op.
2. onnxruntime's tree ensembles compare float32 values with float32 thresholds. Models are
   fit on float32-rounded inputs, and :func:`_round_tree_thresholds` replaces every
   BRANCH_LEQ threshold by the largest float32 <= the float64 threshold scikit-learn uses:
   for any float32 x, ``x <= t64`` iff ``x <= t32``, so the same leaf is chosen.
3. ONNX's Scaler and Imputer store offsets as float32. A date feature's mean (~20,000 days)
   then moves by up to 0.001 day, which a steep linear model turns into ~5e-5 of
   prediction: the parity check fails depending on the training rows' exact mean.
   :func:`round_offsets_float32` rounds the fitted means and imputed values to float32
   once after fitting, so scikit-learn and ONNX (and the compiled SQL) use the same model.
4. skl2onnx 1.20 writes a HistGradientBoostingRegressor fit with ``loss='poisson'`` or
   ``'gamma'`` as its raw tree sum, dropping the log link's inverse: predictions off by
   ``log``. :func:`_apply_log_link` appends the ``Exp`` scikit-learn applies. (Its GLMs,
   PoissonRegressor, GammaRegressor and TweedieRegressor(link='log'), already end in Exp.)
"""

from __future__ import annotations

import functools
import json
import threading
import typing as t

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.pipeline import Pipeline

from warehouse_ml.errors import TrainingError
from warehouse_ml.ml import link_guard, log_target, onnx_converters
from warehouse_ml.ml.features import (
    METADATA_PREFIX,
    ArrowColumn,
    Feature,
    feed_to_matrix,
    to_onnx_feed,
)
from warehouse_ml.ml.spec import ProblemType

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
TREE_OPS = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")
# Parity tolerances. Regression: relative to the value plus a tiny absolute term scaled
# by the largest prediction (float32 sums of many terms); probabilities: absolute.
REGRESSION_RTOL = 1e-4
REGRESSION_ATOL = 1e-6
PROBA_ATOL = 1e-5
_PLACEHOLDER = "wml_in_{}_x"  # no name is a prefix of another
_fix_lock = threading.Lock()


def to_onnx(
    pipeline: Pipeline,
    features: t.Sequence[Feature],
    problem_type: ProblemType,
    *,
    classes: t.Sequence[t.Any] | None = None,
    target_type: str | None = None,
    model_type: str | None = None,
) -> bytes:
    """Convert a fitted pipeline to ONNX bytes (see the module docstring for the graph's shape).

    ``classes``, ``target_type`` and ``model_type`` are stored as ``wml.*`` metadata so a
    scorer given only the bytes can return labels in the target's type.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _install_tree_attribute_fix()
    onnx_converters.install()
    # A log target (ml/log_target.py): convert the inner model, then append its back-transform.
    inner, wrapper = log_target.unwrap(pipeline.steps[-1][1])
    if wrapper is not None:
        pipeline = Pipeline([*pipeline.steps[:-1], (pipeline.steps[-1][0], inner)])
    initial_types = [
        (
            _PLACEHOLDER.format(i),
            StringTensorType([None, 1]) if f.is_text else FloatTensorType([None, 1]),
        )
        for i, f in enumerate(features)
    ]
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if problem_type.is_classification else None
    try:
        model = convert_sklearn(
            pipeline, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
        )
    except Exception as exc:  # skl2onnx raises bare RuntimeError/ValueError/NameError
        raise TrainingError(
            f"Could not convert the fitted {type(estimator).__name__} to ONNX: {exc}"
        ) from exc
    _round_tree_thresholds(model.graph, estimator)
    link = _apply_log_link(model.graph, estimator)
    guard = link_guard.append_clip(model.graph, estimator)
    if wrapper is not None:
        log_target.append_back_transform(model.graph, wrapper)
    _drop_column_gathers(model.graph)
    _name_inputs(model.graph, [f.name for f in features])
    metadata = {
        "problem_type": problem_type.value,
        "features": json.dumps([[f.name, f.sql_type] for f in features]),
        "classes": json.dumps(list(classes) if classes is not None else None),
        "target_type": target_type or "",
        "model_type": model_type or "",
        "link": link,
    }
    if guard is not None:
        metadata[link_guard.METADATA_KEY] = json.dumps(guard)
    if wrapper is not None:
        metadata[log_target.METADATA_KEY] = json.dumps(wrapper.describe())
    # ml/native scores the raw ensemble only: a log target's trees are served by onnxruntime.
    native = _native_program(pipeline) if wrapper is None else None
    if native is not None:
        metadata["native_trees"] = native
    for key, value in metadata.items():
        model.metadata_props.add(key=METADATA_PREFIX + key, value=value)
    model.producer_name = "warehouse-ml"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _native_program(pipeline: Pipeline) -> str | None:
    """The float64 tree program ml/native compiles (None for models that are not tree
    ensembles, or whose preprocessing it does not reproduce: onnxruntime serves those)."""
    from warehouse_ml.ml.native import program

    estimator = pipeline.steps[-1][1]
    if not (hasattr(estimator, "_predictors") or hasattr(estimator, "estimators_")):
        return None
    try:
        return program.encode(program.from_pipeline(pipeline))
    except program.Unsupported as exc:
        import logging

        logging.getLogger("warehouse_ml").info(
            "%s: no native tree program (%s); onnxruntime will serve it", type(estimator).__name__, exc
        )
        return None


def check_parity(
    onnx_bytes: bytes,
    pipeline: Pipeline,
    columns: t.Sequence[ArrowColumn],
    features: t.Sequence[Feature],
    problem_type: ProblemType,
    *,
    model_name: str = "model",
) -> dict[str, t.Any]:
    """Score ``columns`` with ONNX and scikit-learn (fed the same float32-rounded values)
    and raise TrainingError naming the worst row unless they agree.

    Regression within 1e-4 relative (+1e-6 x the largest prediction); probabilities within
    1e-5; labels identical except where scikit-learn's two best classes (or clusters) are
    tied within that tolerance. Returns rows checked and the largest differences.
    """
    feed = to_onnx_feed(columns, features)
    X = feed_to_matrix(feed, features)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feed)
    report: dict[str, t.Any] = {"rows": len(X)}
    if len(X) == 0:
        return report | {"max_abs_diff": 0.0, "max_rel_diff": 0.0}

    def fail(row: int, detail: str) -> t.NoReturn:
        values = ", ".join(f"{f.name}={feed[f.name][row, 0]!r}" for f in features)
        raise TrainingError(
            f"The ONNX export of {model_name} does not match scikit-learn: at row {row} of "
            f"the {len(X)}-row parity sample ({values}) {detail}. The model was not saved. "
            "Please report this with the model's definition."
        )

    if problem_type is ProblemType.REGRESSION:
        return report | _regression_parity(pipeline.predict(X), outputs[0], fail)
    if problem_type is ProblemType.CLUSTERING:
        distances = pipeline.transform(X)  # reported, not checked: float32 |x-c| is coarse
        diff = np.abs(np.asarray(outputs[1], dtype=np.float64) - distances)
        report |= {"max_abs_diff": float(diff.max()), "max_rel_diff": 0.0}
        return report | _label_parity(pipeline.predict(X), outputs[0], -distances, fail, 1e-4)
    sk_proba = pipeline.predict_proba(X)
    report |= _proba_parity(sk_proba, outputs[1], fail)
    return report | _label_parity(pipeline.predict(X), outputs[0], sk_proba, fail, 2 * PROBA_ATOL)


def round_offsets_float32(pipeline: t.Any) -> None:
    """Round every fitted StandardScaler mean and numeric SimpleImputer value (the offsets
    ONNX stores as float32) to float32, in place; see trap 3 in the module docstring."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    if isinstance(pipeline, Pipeline):
        for _, step in pipeline.steps:
            round_offsets_float32(step)
    elif isinstance(pipeline, ColumnTransformer):
        for _, part, _ in getattr(pipeline, "transformers_", []):
            round_offsets_float32(part)
    elif isinstance(pipeline, StandardScaler) and getattr(pipeline, "mean_", None) is not None:
        pipeline.mean_ = pipeline.mean_.astype(np.float32).astype(np.float64)
    elif isinstance(pipeline, SimpleImputer) and pipeline.statistics_.dtype.kind == "f":
        pipeline.statistics_ = pipeline.statistics_.astype(np.float32).astype(np.float64)


def round_down_float32(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 value."""
    values = np.asarray(values, dtype=np.float64)
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _regression_parity(sk: np.ndarray, ox: np.ndarray, fail: t.Callable) -> dict[str, float]:
    sk = np.asarray(sk, dtype=np.float64).ravel()
    ox = np.asarray(ox, dtype=np.float64).ravel()
    diff = np.abs(ox - sk)
    allowed = REGRESSION_RTOL * np.abs(sk) + REGRESSION_ATOL * max(1.0, float(np.abs(sk).max()))
    rel = diff / np.maximum(np.abs(sk), 1e-12)
    excess = diff - allowed
    worst = int(np.argmax(excess))
    if excess[worst] > 0 or not np.isfinite(ox).all():
        worst = worst if np.isfinite(ox).all() else int(np.argmin(np.isfinite(ox)))
        fail(worst, f"ONNX predicts {ox[worst]!r} and scikit-learn {sk[worst]!r}")
    return {"max_abs_diff": float(diff.max()), "max_rel_diff": float(rel.max())}


def _proba_parity(sk: np.ndarray, ox: np.ndarray, fail: t.Callable) -> dict[str, float]:
    ox = np.asarray(ox, dtype=np.float64)
    if ox.shape != sk.shape:
        fail(0, f"ONNX gives probabilities of shape {ox.shape}, scikit-learn {sk.shape}")
    diff = np.abs(ox - sk)
    row_diff = diff.max(axis=1)
    worst = int(np.argmax(row_diff))
    if row_diff[worst] > PROBA_ATOL:
        fail(worst, f"ONNX gives probabilities {ox[worst]} and scikit-learn {sk[worst]}")
    rel = diff / np.maximum(np.abs(sk), 1e-3)  # relative above 0.001; tiny p are noise
    return {"max_abs_diff": float(diff.max()), "max_rel_diff": float(rel.max())}


def _label_parity(
    sk: np.ndarray, ox: np.ndarray, scores: np.ndarray, fail: t.Callable, tie: float
) -> dict[str, t.Any]:
    """Labels must be equal unless the two best ``scores`` (higher is better) are within
    ``tie`` of each other (relative for distances), where float32 may legitimately flip."""
    ox = np.asarray(ox).ravel()
    differ = np.flatnonzero(ox != np.asarray(sk).ravel())
    report: dict[str, t.Any] = {"label_ties": int(len(differ))}
    if len(differ) == 0:
        return report
    top = np.sort(scores[differ], axis=1)
    margin = top[:, -1] - top[:, -2]
    limit = tie * (1.0 + np.abs(top[:, -1]))
    bad = differ[margin > limit]
    if len(bad):
        row = int(bad[0])
        fail(row, f"ONNX predicts label {ox[row]!r} and scikit-learn {sk[row]!r}")
    return report


def _install_tree_attribute_fix() -> None:
    """Make skl2onnx pass an int, not a bool, for ``nodes_missing_value_tracks_true``.

    skl2onnx 1.20 ``add_tree_to_attribute_pairs_hist_gradient_boosting`` sets ``missing =
    False`` for leaves; protobuf >= 7 refuses a bool in a repeated int field. Wrapping the
    module-level ``add_node`` it calls is the narrowest fix: only that argument changes,
    and ``int(False) == 0`` is what the attribute means. Idempotent and thread-safe.
    """
    from skl2onnx.common import tree_ensemble

    with _fix_lock:
        original = tree_ensemble.add_node
        if getattr(original, "_wml_int_fix", False):
            return

        @functools.wraps(original)
        def add_node(*args: t.Any, nodes_missing_value_tracks_true: t.Any = 0, **kwargs: t.Any):
            return original(
                *args,
                nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true),
                **kwargs,
            )

        add_node._wml_int_fix = True  # type: ignore[attr-defined]
        tree_ensemble.add_node = add_node


def _sklearn_thresholds(estimator: t.Any) -> np.ndarray | None:
    """Rows of (tree id, node id, feature, float64 threshold) for every split node,
    numbered as skl2onnx numbers trees: one per forest estimator; per boosting
    iteration (times the number of classes when there are several)."""
    parts: list[np.ndarray] = []

    def add(tree_id: int, nodes: np.ndarray, feature: np.ndarray, threshold: np.ndarray) -> None:
        tree = np.full(len(nodes), tree_id, dtype=np.float64)
        parts.append(np.column_stack([tree, nodes, feature[nodes], threshold[nodes]]))

    if hasattr(estimator, "estimators_"):  # random forest
        for tree_id, member in enumerate(estimator.estimators_):
            tree = member.tree_
            add(tree_id, np.flatnonzero(tree.children_left >= 0), tree.feature, tree.threshold)
    elif hasattr(estimator, "_predictors"):  # HistGradientBoosting
        for iteration, predictors in enumerate(estimator._predictors):
            for cls, predictor in enumerate(predictors):
                nodes = predictor.nodes
                tree_id = iteration * len(predictors) + cls
                split = np.flatnonzero(nodes["is_leaf"] == 0)
                add(tree_id, split, nodes["feature_idx"], nodes["num_threshold"])
    else:
        return None
    return np.vstack(parts) if parts else np.empty((0, 4))


def _round_tree_thresholds(graph: onnx.GraphProto, estimator: t.Any) -> None:
    """Set every BRANCH_LEQ threshold to round_down_float32(scikit-learn's threshold),
    after checking each ONNX node maps to the scikit-learn node it came from."""
    tree_nodes = [n for n in graph.node if n.op_type in TREE_OPS]
    if not tree_nodes:
        return
    table = _sklearn_thresholds(estimator)
    if table is None or len(tree_nodes) != 1:
        raise TrainingError(
            f"Cannot verify the tree thresholds of {type(estimator).__name__} in ONNX; "
            "this exporter supports random forests and HistGradientBoosting."
        )
    attrs = {a.name: a for a in tree_nodes[0].attribute}
    modes = np.array([m.decode() for m in attrs["nodes_modes"].strings])
    values = np.array(attrs["nodes_values"].floats, dtype=np.float32)
    branch = np.flatnonzero(modes != "LEAF")
    tree_ids = np.array(attrs["nodes_treeids"].ints, dtype=np.int64)[branch]
    node_ids = np.array(attrs["nodes_nodeids"].ints, dtype=np.int64)[branch]
    features = np.array(attrs["nodes_featureids"].ints, dtype=np.int64)[branch]
    # Match ONNX nodes to scikit-learn nodes by (tree, node) key.
    width = int(max(node_ids.max(initial=0), table[:, 1].max(initial=0))) + 1
    sk_keys = table[:, 0].astype(np.int64) * width + table[:, 1].astype(np.int64)
    order = np.argsort(sk_keys)
    keys = tree_ids * width + node_ids
    pos = np.clip(np.searchsorted(sk_keys[order], keys), 0, max(len(order) - 1, 0))
    matched = table[order][pos] if len(order) else np.full((len(keys), 4), np.nan)
    exact = round_down_float32(matched[:, 3])
    ok = (
        (modes[branch] == "BRANCH_LEQ")
        & (len(table) == len(branch))
        & (sk_keys[order][pos] == keys if len(order) else False)
        & (matched[:, 2].astype(np.int64) == features)
        & _close(values[branch], exact)
    )
    if not ok.all():
        bad = int(np.argmin(ok))
        raise TrainingError(
            f"ONNX tree node (tree {tree_ids[bad]}, node {node_ids[bad]}, "
            f"{modes[branch][bad]}) does not match scikit-learn's tree; the skl2onnx "
            "version in use lays out trees differently than this exporter expects."
        )
    values[branch] = exact
    del attrs["nodes_values"].floats[:]
    attrs["nodes_values"].floats.extend(values.tolist())


def _apply_log_link(graph: onnx.GraphProto, estimator: t.Any) -> str:
    """Append ``Exp`` after a log-link tree ensemble's raw score (trap 4); returns the
    link the graph's output is on: 'log' (exp applied) or 'identity'."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    # scikit-learn's fitted loss object (GLMs: _base_loss, boosting: _loss) knows its link.
    fitted = getattr(estimator, "_base_loss", None) or getattr(estimator, "_loss", None)
    if type(getattr(fitted, "link", None)).__name__ != "LogLink":
        return "identity"
    if not isinstance(estimator, HistGradientBoostingRegressor):
        return "log"  # the GLM converters end in Exp already
    output = graph.output[0].name
    producer = next(n for n in graph.node if output in n.output)
    if producer.op_type == "Exp":  # a skl2onnx that applies the link itself
        return "log"
    raw = output + "_raw_score"
    producer.output[list(producer.output).index(output)] = raw
    graph.node.append(onnx.helper.make_node("Exp", [raw], [output], name="wml_log_link"))
    return "log"


def _close(stored: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Within a float32 rounding step (thresholds may be +-inf: all-left splits)."""
    with np.errstate(invalid="ignore"):
        near = np.abs(stored.astype(np.float64) - exact) <= np.abs(exact) * 1e-6 + 1e-30
    return near | (stored == exact)


def _drop_column_gathers(graph: onnx.GraphProto) -> None:
    """Remove ``Gather(input, [0], axis=1)`` on a ``[None, 1]`` graph input: an identity
    skl2onnx adds before the one-hot encoder of a lone text column. Fewer op types for the
    ONNX -> SQL compiler to know."""
    inputs = {i.name for i in graph.input}
    zero_index = {
        init.name
        for init in graph.initializer
        if init.data_type == onnx.TensorProto.INT64
        and list(onnx.numpy_helper.to_array(init).ravel()) == [0]
    }
    replace: dict[str, str] = {}
    for node in list(graph.node):
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if (
            node.op_type == "Gather"
            and axis == 1
            and node.input[0] in inputs
            and node.input[1] in zero_index
        ):
            replace[node.output[0]] = node.input[0]
            graph.node.remove(node)
    for node in graph.node:
        for i, value in enumerate(node.input):
            node.input[i] = replace.get(value, value)
    used = {value for node in graph.node for value in node.input}
    for init in list(graph.initializer):
        if init.name in zero_index and init.name not in used:
            graph.initializer.remove(init)


def _name_inputs(graph: onnx.GraphProto, names: t.Sequence[str]) -> None:
    """Rename placeholder inputs to the feature names, first moving any graph value that
    already uses such a name (e.g. a feature called 'label') out of the way."""
    taken = {o for n in graph.node for o in n.output} | {i.name for i in graph.initializer}
    taken |= {o.name for o in graph.output}
    mapping: dict[str, str] = {}
    for name in set(names) & taken:
        new = name + "_out"
        while new in taken or new in names:
            new += "_"
        mapping[name] = new
    mapping.update({_PLACEHOLDER.format(i): name for i, name in enumerate(names)})
    for node in graph.node:
        for i, value in enumerate(node.input):
            node.input[i] = mapping.get(value, value)
        for i, value in enumerate(node.output):
            node.output[i] = mapping.get(value, value)
    for info in [*graph.input, *graph.output, *graph.value_info]:
        info.name = mapping.get(info.name, info.name)
    for init in graph.initializer:
        init.name = mapping.get(init.name, init.name)
