"""onnxruntime's semantics, case by case: float32 splits, NaN routing, the special
cases of binary tree classifiers and one-row linear classifiers, and the errors."""

from __future__ import annotations

import typing as t

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from warehouse_ml.errors import CompilationError
from warehouse_ml.sqlcompile import compile_model, ddl
from warehouse_ml.sqlcompile.symbolic import Kind, Monotone, Scalar
from warehouse_ml.sqlcompile.trees import _cuts, _monotone_cuts, leq_cut

# --- float32 splits as double comparisons ------------------------------------------------


def _probe_values(t32: np.float32) -> list[float]:
    """Doubles around t: neighbours, exact midpoints and one double ulp either side."""
    values = []
    for v in (np.nextafter(t32, -np.float32(np.inf)), t32, np.nextafter(t32, np.float32(np.inf))):
        if not np.isfinite(v):
            continue
        for w in (np.nextafter(v, -np.float32(np.inf)), np.nextafter(v, np.float32(np.inf))):
            if np.isfinite(w):
                mid = (float(v) + float(w)) / 2
                values += [mid, np.nextafter(mid, -np.inf), np.nextafter(mid, np.inf)]
        values.append(float(v))
    return values


THRESHOLDS = [0.0, -0.0, 0.5, 1.0, -1.0, 0.1, -2.7, 1e-40, -1e-40, 3.4e38, -3.4e38, 12345.678]

OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}
MODES = {
    "BRANCH_LEQ": np.less_equal,
    "BRANCH_LT": np.less,
    "BRANCH_GTE": np.greater_equal,
    "BRANCH_GT": np.greater,
    "BRANCH_EQ": np.equal,
}


@pytest.mark.parametrize("mode", MODES)
def test_float32_split_equals_double_cut(mode: str) -> None:
    rng = np.random.default_rng(0)
    thresholds = THRESHOLDS + list(
        rng.normal(size=200).astype(np.float32) * 10.0 ** rng.integers(-8, 8, 200)
    )
    for threshold in thresholds:
        t32 = np.float32(threshold)
        x = np.array(
            _probe_values(t32) + list(rng.normal(float(t32), abs(float(t32)) * 1e-6 + 1e-30, 50))
        )
        with np.errstate(over="ignore"):
            expected = MODES[mode](x.astype(np.float32), t32)
        got = np.ones_like(expected)
        for op, bound in _cuts(mode, float(t32)):
            got &= OPS[op](x, bound)
        assert np.array_equal(got, expected), (mode, float(t32))


def test_leq_cut_ties_follow_round_half_to_even() -> None:
    op, bound = leq_cut(1.0)  # 1.0 has an even mantissa: the midpoint rounds down to 1.0
    assert (op, bound) == ("<=", 1.0 + 2.0**-24)
    odd = float(np.nextafter(np.float32(1.0), np.float32(2.0)))
    op, bound = leq_cut(odd)  # an odd mantissa: the midpoint above rounds up, away from t
    assert op == "<" and np.float32(bound) != np.float32(odd)


@pytest.mark.parametrize("scale", [0.37, -2.5, 1e-3])
def test_monotone_chain_split_matches_float32_scaling(scale: float) -> None:
    """A split on (x - offset) * scale in float32 becomes one cut on x itself."""
    rng = np.random.default_rng(1)
    source = Scalar(helper_column("x"), kind=Kind.ROUND32)
    chain = Monotone(source, (("sub", 3.25), ("mul", scale)))
    scaled = Scalar(helper_column("y"), kind=Kind.APPROX, monotone=chain)
    for threshold in rng.normal(size=40).astype(np.float32):
        for mode in ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE"):
            x = rng.normal(3.25, 2.0, 400)
            guess = float(threshold) / scale + 3.25
            x = np.concatenate([x, [np.nextafter(guess, d) for d in (-np.inf, np.inf)], [guess]])
            x = np.concatenate([x, x.astype(np.float32).astype(np.float64)])
            expected = MODES[mode](chain.apply(x.astype(np.float32)), threshold)
            _, cuts = _monotone_cuts(scaled, mode, float(threshold))
            got = np.full(x.shape, bool(cuts)) if isinstance(cuts, bool) else np.ones(x.shape, bool)
            for op, bound in cuts if not isinstance(cuts, bool) else []:
                got &= OPS[op](x, bound)
            assert np.array_equal(got, expected), (scale, float(threshold), mode)


def helper_column(name: str) -> t.Any:
    from sqlglot import exp

    return exp.column(name)


# --- hand-built graphs against onnxruntime -----------------------------------------------

Tree = tuple  # ("leaf", {output: weight}) or ("split", feature, mode, threshold, missing, yes, no)


def tree_attributes(trees: list[Tree], prefix: str) -> dict[str, list]:
    """Flatten nested tuples into TreeEnsemble attribute lists."""
    a: dict[str, list] = {k: [] for k in ("treeids", "nodeids", "featureids", "modes", "values")}
    a.update({k: [] for k in ("truenodeids", "falsenodeids", "missing")})
    votes: dict[str, list] = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    for tid, tree in enumerate(trees):
        counter = [0]

        def visit(node: Tree, tid: int = tid, counter: list = counter) -> int:
            nid = counter[0]
            counter[0] += 1
            a["treeids"].append(tid)
            a["nodeids"].append(nid)
            slot = len(a["nodeids"]) - 1
            if node[0] == "leaf":
                for key, value in (("featureids", 0), ("modes", "LEAF"), ("values", 0.0)):
                    a[key].append(value)
                for key in ("truenodeids", "falsenodeids", "missing"):
                    a[key].append(0)
                for output, weight in node[1].items():
                    for key, value in (
                        ("treeids", tid),
                        ("nodeids", nid),
                        ("ids", output),
                        ("weights", weight),
                    ):
                        votes[key].append(value)
                return nid
            _, feature, mode, threshold, missing, yes, no = node
            a["featureids"].append(feature)
            a["modes"].append(mode)
            a["values"].append(threshold)
            a["missing"].append(int(missing))
            a["truenodeids"].append(0)
            a["falsenodeids"].append(0)
            a["truenodeids"][slot] = visit(yes)
            a["falsenodeids"][slot] = visit(no)
            return nid

        visit(tree)
    attributes = {f"nodes_{k}": v for k, v in a.items() if k != "missing"}
    attributes["nodes_missing_value_tracks_true"] = a["missing"]
    attributes.update({f"{prefix}_{k}": v for k, v in votes.items()})
    return attributes


def two_feature_graph(op: onnx.NodeProto, outputs: list[onnx.ValueInfoProto]) -> bytes:
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in ("x", "y")]
    concat = helper.make_node("Concat", ["x", "y"], ["xy"], axis=1)
    graph = helper.make_graph([concat, op], "g", inputs, outputs)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def classifier_outputs(labels: list) -> list[onnx.ValueInfoProto]:
    label_type = TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64
    return [
        helper.make_tensor_value_info("label", label_type, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(labels)]),
    ]


@pytest.fixture(scope="module")
def points() -> t.Iterator[tuple[duckdb.DuckDBPyConnection, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    y = rng.normal(size=2000)
    x[::17] = np.nan
    y[::23] = np.nan
    x[5:40] = 0.5  # exactly on a threshold
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE p AS SELECT i, x, y FROM (SELECT unnest(range(2000)) AS i, "
        "unnest($1) AS x, unnest($2) AS y)",
        [
            [None if np.isnan(v) else float(v) for v in x],
            [None if np.isnan(v) else float(v) for v in y],
        ],
    )
    yield con, x, y
    con.close()


def compare(points, model: bytes, output: int, outputs: str, classes: t.Any = None) -> None:
    con, x, y = points
    session = ort.InferenceSession(model)
    feeds = {"x": x.astype(np.float32).reshape(-1, 1), "y": y.astype(np.float32).reshape(-1, 1)}
    expected = session.run(None, feeds)[output]
    compiled = compile_model(model, outputs=outputs, classes=classes)
    con.execute(ddl(compiled, "f", "duckdb"))
    got = np.array([r[0] for r in con.execute("SELECT f(x, y) FROM p ORDER BY i").fetchall()])
    if outputs == "predict":
        assert list(got) == list(np.ravel(expected))
    else:
        column = expected[:, list(compiled.class_labels).index(compiled.probability_of)]
        np.testing.assert_allclose(got.astype(float), column, rtol=1e-5, atol=1e-6)


SPLITS: Tree = (
    "split", 0, "BRANCH_LEQ", 0.5, False,
    ("split", 1, "BRANCH_LT", -0.3, True, ("leaf", {0: 0.25}), ("leaf", {0: -0.5, 1: 0.1})),
    ("split", 1, "BRANCH_GTE", 0.2, False, ("leaf", {0: 0.75, 1: 0.2}), ("leaf", {0: 0.125})),
)  # fmt: skip
SECOND: Tree = (
    "split", 1, "BRANCH_NEQ", 0.0, False,
    ("split", 0, "BRANCH_GT", -1.0, True, ("leaf", {0: 0.5, 1: 0.3}), ("leaf", {0: -0.25})),
    ("leaf", {0: 0.0625, 1: -0.4}),
)  # fmt: skip


def _only(tree: Tree, keep: int) -> Tree:
    if tree[0] == "leaf":
        return ("leaf", {k: v for k, v in tree[1].items() if k == keep})
    return (*tree[:5], _only(tree[5], keep), _only(tree[6], keep))


def _both(tree: Tree) -> Tree:
    """Every leaf votes for classes 0 and 1 (as RandomForest exports do)."""
    if tree[0] == "leaf":
        return ("leaf", {0: tree[1].get(0, 0.0), 1: tree[1].get(1, -0.125)})
    return (*tree[:5], _both(tree[5]), _both(tree[6]))


def _positive(tree: Tree) -> Tree:
    if tree[0] == "leaf":
        return ("leaf", {k: abs(v) for k, v in tree[1].items()})
    return (*tree[:5], _positive(tree[5]), _positive(tree[6]))


BINARY_CASES = {
    "both_classes_no_base": ([_both(SPLITS), _both(SECOND)], {}, "NONE", [0, 1]),
    "both_classes_two_bases": (
        [_both(SPLITS), _both(SECOND)],
        {"base_values": [0.1, 0.3]},
        "LOGISTIC",
        [0, 1],
    ),
    "class0_two_bases": (
        [_only(SPLITS, 0), _only(SECOND, 0)],
        {"base_values": [0.2, -0.1]},
        "NONE",
        [0, 1],
    ),
    "class0_one_base_logistic": (
        [_only(SPLITS, 0), _only(SECOND, 0)],
        {"base_values": [0.05]},
        "LOGISTIC",
        [4, 9],
    ),
    "class0_positive": (
        [_positive(_only(SPLITS, 0)), _positive(_only(SECOND, 0))],
        {},
        "NONE",
        [0, 1],
    ),
    "string_labels": ([_both(SPLITS), _both(SECOND)], {}, "NONE", ["no", "yes"]),
    "three_classes": (
        [_only(SPLITS, 0), _only(SECOND, 0), _only(_both(SECOND), 1), _only(SPLITS, 2)],
        {"base_values": [0.1, 0.0, -0.2]},
        "SOFTMAX",
        [0, 1, 2],
    ),
}


@pytest.mark.parametrize("case", BINARY_CASES)
def test_tree_classifier_special_cases(points, case: str) -> None:
    trees, extra, transform, labels = BINARY_CASES[case]
    key = "classlabels_strings" if isinstance(labels[0], str) else "classlabels_int64s"
    op = helper.make_node(
        "TreeEnsembleClassifier",
        ["xy"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        post_transform=transform,
        **{key: labels},
        **tree_attributes(trees, "class"),
        **extra,
    )
    model = two_feature_graph(op, classifier_outputs(labels))
    compare(points, model, 0, "predict")
    for label in labels[1:] if len(labels) == 2 else labels:
        compare(points, model, 1, "proba", classes=label)


def test_partial_votes_are_refused() -> None:
    """Leaves voting for class 1 in only part of a tree: onnxruntime decides per row."""
    op = helper.make_node(
        "TreeEnsembleClassifier",
        ["xy"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        classlabels_int64s=[0, 1],
        base_values=[0.1, 0.3],
        **tree_attributes([SPLITS, SECOND], "class"),
    )
    model = two_feature_graph(op, classifier_outputs([0, 1]))
    with pytest.raises(CompilationError, match=r"classes \[1\] get votes from only some leaves"):
        compile_model(model)


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE"])
def test_tree_regressor_targets_and_average(points, aggregate: str) -> None:
    op = helper.make_node(
        "TreeEnsembleRegressor",
        ["xy"],
        ["variable"],
        domain="ai.onnx.ml",
        n_targets=2,
        aggregate_function=aggregate,
        base_values=[0.5, -1.5],
        **tree_attributes([_both(SPLITS), _both(SECOND)], "target"),
    )
    out = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 2])]
    model = two_feature_graph(op, out)
    con, x, y = points
    expected = ort.InferenceSession(model).run(
        None, {"x": x.astype(np.float32).reshape(-1, 1), "y": y.astype(np.float32).reshape(-1, 1)}
    )[0]
    with pytest.raises(CompilationError, match="2 columns"):
        compile_model(model)
    # Select each target with a Gather, as a trainer exporting two targets would.
    for k in range(2):
        index = helper.make_tensor("k", TensorProto.INT64, [1], [k])
        gather = helper.make_node("Gather", ["variable", "k"], ["picked"], axis=1)
        proto = onnx.load_from_string(model)
        proto.graph.initializer.append(index)
        proto.graph.node.append(gather)
        del proto.graph.output[:]
        proto.graph.output.append(
            helper.make_tensor_value_info("picked", TensorProto.FLOAT, [None, 1])
        )
        compiled = compile_model(proto)
        con.execute(ddl(compiled, "g", "duckdb"))
        got = np.array([r[0] for r in con.execute("SELECT g(x, y) FROM p ORDER BY i").fetchall()])
        assert np.array_equal(got, expected[:, k].astype(np.float64))


@pytest.mark.parametrize("transform", ["NONE", "LOGISTIC", "SOFTMAX"])
@pytest.mark.parametrize("rows", [1, 3])
def test_linear_classifier_score_rows(points, transform: str, rows: int) -> None:
    labels = [3, 7] if rows == 1 else [3, 7, 9]
    coefficients = [0.5, -1.0, 1.0, 2.0, -1.0, 0.3][: 2 * rows]
    op = helper.make_node(
        "LinearClassifier",
        ["xy"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        coefficients=coefficients,
        intercepts=[0.1, 0.2, -0.3][:rows],
        classlabels_ints=labels,
        post_transform=transform,
    )
    model = two_feature_graph(op, classifier_outputs(labels))
    compare(points, model, 0, "predict")
    compare(points, model, 1, "proba", classes=labels[-1])


# --- NULL text and the sentinel ------------------------------------------------------------


def text_model(categories: list[str], coefficients: list[float]) -> bytes:
    inputs = [helper.make_tensor_value_info("plan", TensorProto.STRING, [None, 1])]
    nodes = [
        helper.make_node(
            "OneHotEncoder",
            ["plan"],
            ["hot"],
            domain="ai.onnx.ml",
            cats_strings=categories,
            zeros=1,
        ),
        helper.make_node("Reshape", ["hot", "shape"], ["flat"]),
        helper.make_node(
            "LinearRegressor",
            ["flat"],
            ["value"],
            domain="ai.onnx.ml",
            coefficients=coefficients,
            intercepts=[1.0],
        ),
    ]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, len(categories)])
    out = [helper.make_tensor_value_info("value", TensorProto.FLOAT, [None, 1])]
    graph = helper.make_graph(nodes, "g", inputs, out, initializer=[shape])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


@pytest.mark.parametrize("sentinel", ["__wml_null__", "<missing>"])
def test_null_text_takes_the_sentinel_category(sentinel: str) -> None:
    model = text_model(["a", sentinel, "it's"], [2.0, 5.0, 7.0])
    compiled = compile_model(model, null_sentinel=sentinel)
    con = duckdb.connect()
    con.execute(ddl(compiled, "f", "duckdb"))
    got = [
        r[0]
        for r in con.execute(
            "SELECT f(v) FROM (VALUES ('a'), (NULL), ('it''s'), ('b')) t(v)"
        ).fetchall()
    ]
    assert got == [3.0, 6.0, 8.0, 1.0]  # unseen 'b': all zeros, the intercept only


# --- errors ---------------------------------------------------------------------------------


def test_unsupported_operator_names_op_and_node() -> None:
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])]
    node = helper.make_node("Tanh", ["x"], ["y"], name="squash")
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])]
    model = helper.make_model(helper.make_graph([node], "g", inputs, out))
    with pytest.raises(CompilationError, match=r"Tanh \(node 'squash'\)"):
        compile_model(model)


def test_output_selection_errors() -> None:
    regression = text_model(["a"], [1.0])
    with pytest.raises(CompilationError, match="probabilities output"):
        compile_model(regression, outputs="proba")
    with pytest.raises(CompilationError, match="'predict' or 'proba'"):
        compile_model(regression, outputs="probability")
    op = helper.make_node(
        "LinearClassifier",
        ["xy"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        coefficients=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        intercepts=[0.0, 0.0, 0.0],
        classlabels_ints=[0, 1, 2],
    )
    model = two_feature_graph(op, classifier_outputs([0, 1, 2]))
    with pytest.raises(CompilationError, match="needs classes="):
        compile_model(model, outputs="proba")
    with pytest.raises(CompilationError, match="not one of the model's labels"):
        compile_model(model, outputs="proba", classes=5)
    assert compile_model(model, outputs="proba", classes=2).probability_of == 2
