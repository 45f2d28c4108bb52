"""Function DDL per dialect: the documented forms, parsed back with sqlglot, evaluated
through DuckDB, with DOUBLE literals everywhere and the statement size limits."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import onnx
import pytest
import sqlglot
from onnx import TensorProto, helper
from sqlglot import exp

from warehouse_ml.errors import CompilationError
from warehouse_ml.sqlcompile import DIALECTS, compile_model, ddl, render, sql_size
from warehouse_ml.sqlcompile import sqlexpr as sx
from warehouse_ml.sqlcompile.ddl import Redshift
from warehouse_ml.sqlcompile.sqlexpr import deep_recursion

NUMERIC = ["age", "Total Spend", "order"]  # a space, capitals and a reserved word


def scoring_model(categories: tuple[str, ...] = ("free", "pro", "it's")) -> bytes:
    """Imputer, scaler and one-hot into a binary logistic model, built by hand."""
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in NUMERIC]
    inputs.append(helper.make_tensor_value_info("plan", TensorProto.STRING, [None, 1]))
    ml = "ai.onnx.ml"
    nodes = [
        helper.make_node("Concat", NUMERIC, ["num"], axis=1),
        helper.make_node("Imputer", ["num"], ["filled"], domain=ml, imputed_value_floats=[40.0, 12.5, 3.0],
                         replaced_value_float=float("nan")),
        helper.make_node("Scaler", ["filled"], ["scaled"], domain=ml, offset=[38.0, 10.0, 2.5], scale=[0.1, 0.02, 0.7]),
        helper.make_node("OneHotEncoder", ["plan"], ["hot"], domain=ml, cats_strings=list(categories), zeros=1),
        helper.make_node("Reshape", ["hot", "shape"], ["flat"]),
        helper.make_node("Concat", ["scaled", "flat"], ["features"], axis=1),
        helper.make_node("LinearClassifier", ["features"], ["label", "probabilities"], domain=ml,
                         coefficients=[-0.8, 0.3, -0.1, 0.5, -0.2, 0.05, 0.8, -0.3, 0.1, -0.5, 0.2, -0.05],
                         intercepts=[0.25, -0.25], classlabels_ints=[0, 1], post_transform="LOGISTIC"),
    ]  # fmt: skip
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, len(categories)])
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
    ]
    graph = helper.make_graph(nodes, "scoring", inputs, outputs, initializer=[shape])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ml, 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def stumps_model(n_trees: int) -> bytes:
    """``n_trees`` one-split trees on one feature: long sums, cheap to compile."""
    rng = np.random.default_rng(0)
    attributes: dict[str, list] = {}
    for tid in range(n_trees):
        rows = {
            "nodes_treeids": [tid] * 3,
            "nodes_nodeids": [0, 1, 2],
            "nodes_featureids": [0, 0, 0],
            "nodes_modes": ["BRANCH_LEQ", "LEAF", "LEAF"],
            "nodes_values": [float(rng.normal()), 0.0, 0.0],
            "nodes_truenodeids": [1, 0, 0],
            "nodes_falsenodeids": [2, 0, 0],
            "target_treeids": [tid, tid],
            "target_nodeids": [1, 2],
            "target_ids": [0, 0],
            "target_weights": [float(w) for w in rng.normal(size=2)],
        }
        for key, values in rows.items():
            attributes.setdefault(key, []).extend(values)
    op = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1, **attributes
    )
    graph = helper.make_graph(
        [op],
        "stumps",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


@pytest.fixture(scope="module")
def data() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE d AS SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 20 + i % 50 END AS age,
                  (i * 37 % 101) / 3.0 AS "Total Spend", CAST(i % 5 AS INTEGER) AS "order",
                  CASE i % 4 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' WHEN 2 THEN NULL ELSE 'it''s' END AS plan
           FROM range(200) t(i)"""
    )
    return con


def macro_results(con: duckdb.DuckDBPyConnection, compiled, name: str) -> list:
    con.execute(ddl(compiled, name, "duckdb"))
    return [
        r[0]
        for r in con.execute(
            f'SELECT {name}(age, "Total Spend", "order", plan) FROM d ORDER BY i'
        ).fetchall()
    ]


def evaluate_in_duckdb(
    con: duckdb.DuckDBPyConnection, body: str, dialect: str, names: dict
) -> list:
    """Run another dialect's function body in DuckDB (sqlglot transpiles it back)."""
    with deep_recursion():
        select = sqlglot.parse_one(body, read=dialect)

        def bind(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Parameter):
                return exp.column(exp.to_identifier(names[int(node.name)]))
            return node

        expression = select.expressions[0].transform(bind)
        sql = expression.sql("duckdb")
    return [r[0] for r in con.execute(f"SELECT {sql} FROM d ORDER BY i").fetchall()]


def test_duckdb_macro_takes_columns_of_any_type(data) -> None:
    compiled = compile_model(scoring_model(), outputs="proba")
    statement = ddl(compiled, "score_p", "duckdb")
    assert statement.startswith(
        'CREATE OR REPLACE MACRO score_p("age", "Total Spend", "order", "plan") AS '
    )
    # age is INTEGER, "Total Spend" DECIMAL, "order" INTEGER: the macro casts to DOUBLE.
    probabilities = macro_results(data, compiled, "score_p")
    assert all(0.0 < p < 1.0 for p in probabilities) and len(set(probabilities)) > 20


REDSHIFT = re.compile(
    r"CREATE OR REPLACE FUNCTION f_score\(DOUBLE PRECISION, DOUBLE PRECISION, DOUBLE PRECISION, VARCHAR\) "
    r"RETURNS (BIGINT|DOUBLE PRECISION) IMMUTABLE AS \$\$ (SELECT .*) \$\$ LANGUAGE sql"
)


@pytest.mark.parametrize("outputs", ["predict", "proba"])
def test_redshift_sql_udf_form(data, outputs: str) -> None:
    compiled = compile_model(scoring_model(), outputs=outputs)
    statement = ddl(compiled, "f_score", "redshift")
    match = REDSHIFT.fullmatch(statement)
    assert match, statement[:300]
    with deep_recursion():
        create = sqlglot.parse_one(statement, read="redshift")
        assert isinstance(create, exp.Create) and create.kind == "FUNCTION"
        body = sqlglot.parse_one(match.group(2), read="redshift")
    # One SELECT of one expression, no FROM/WHERE/GROUP BY/ORDER BY/LIMIT (AWS docs).
    assert isinstance(body, exp.Select) and len(body.expressions) == 1
    assert not any(body.args.get(k) for k in ("from_", "from", "where", "group", "order", "limit"))
    assert not list(body.find_all(exp.Column))
    assert {int(p.name) for p in body.find_all(exp.Parameter)} == {1, 2, 3, 4}
    names = {i + 1: n for i, n in enumerate([*NUMERIC, "plan"])}
    expected = macro_results(data, compiled, f"rs_{outputs}")
    got = evaluate_in_duckdb(data, match.group(2), "redshift", names)
    np.testing.assert_allclose(
        np.array(got, dtype=float), np.array(expected, dtype=float), rtol=1e-12
    )


def test_postgres_function_form(data) -> None:
    compiled = compile_model(scoring_model(), outputs="proba")
    statement = ddl(compiled, "analytics.score_p", "postgres")
    head = (
        'CREATE OR REPLACE FUNCTION analytics.score_p("age" DOUBLE PRECISION, "Total Spend" DOUBLE PRECISION, '
        '"order" DOUBLE PRECISION, "plan" VARCHAR) RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE PARALLEL SAFE '
        "AS $wml$ SELECT "
    )
    assert statement.startswith(head) and statement.endswith(" $wml$")
    body = statement[len(head) - len("SELECT ") : -len(" $wml$")]
    with deep_recursion():
        select = sqlglot.parse_one(body, read="postgres")
    assert {c.name for c in select.find_all(exp.Column)} == {*NUMERIC, "plan"}
    expected = macro_results(data, compiled, "pg_p")
    got = [r[0] for r in data.execute(f"{body} FROM d ORDER BY i").fetchall()]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("dialect", "head"),
    [
        ("snowflake", 'CREATE OR REPLACE FUNCTION f("age" DOUBLE, "Total Spend" DOUBLE, "order" DOUBLE, "plan" VARCHAR) '
                      "RETURNS DOUBLE LANGUAGE SQL IMMUTABLE AS $$ "),
        ("bigquery", "CREATE OR REPLACE FUNCTION f(`age` FLOAT64, `Total Spend` FLOAT64, `order` FLOAT64, "
                     "`plan` STRING) RETURNS FLOAT64 AS ("),
    ],
)  # fmt: skip
def test_snowflake_and_bigquery_forms(dialect: str, head: str) -> None:
    statement = ddl(compile_model(scoring_model(), outputs="proba"), "f", dialect)
    assert statement.startswith(head), statement[:200]
    with deep_recursion():
        create = sqlglot.parse_one(statement, read=dialect)
    assert isinstance(create, exp.Create) and create.kind == "FUNCTION"


def _decimal_literals(sql: str, dialect: str) -> list[exp.Literal]:
    """Numeric literals with a fraction or exponent that are not written as DOUBLE."""
    with deep_recursion():
        tree = sqlglot.parse_one(f"SELECT {sql}", read=dialect)
    loose = []
    for literal in tree.find_all(exp.Literal):
        if literal.is_string or re.fullmatch(r"\d+", literal.name):
            continue  # strings, and integer labels or cluster ids
        cast = literal.parent
        as_double = isinstance(cast, exp.Cast) and cast.to.this == exp.DataType.Type.DOUBLE
        if not as_double and not (dialect == "duckdb" and "e" in literal.name.lower()):
            loose.append(literal)
    return loose


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_number_is_a_double_literal(dialect: str) -> None:
    """DECIMAL arithmetic is 3x slower in DuckDB (FINDINGS.md): no bare 0.3 anywhere."""
    for model in (scoring_model(), stumps_model(5)):
        sql = render(compile_model(model), dialect)
        assert not _decimal_literals(sql, dialect), sql[:200]
    duckdb_sql = render(compile_model(scoring_model(), outputs="proba"), "duckdb")
    assert "CAST(" not in duckdb_sql.replace('CAST("', "")  # only the argument casts


def test_size_limits_refuse_with_the_documented_limit() -> None:
    assert DIALECTS["redshift"].max_statement_bytes == 16 * 1024 * 1024
    compiled = compile_model(stumps_model(40))
    size = sql_size(compiled, "redshift")
    assert size == len(ddl(compiled, "f_model", "redshift").encode())
    tight = Redshift(
        "redshift",
        size - 1,
        "Redshift's maximum statement size of 16 MB",
        positional_arguments=True,
    )
    with pytest.raises(CompilationError, match="over Redshift's maximum statement size of 16 MB"):
        ddl(compiled, "f_model", tight)


def test_dollar_quotes_inside_the_model() -> None:
    compiled = compile_model(scoring_model(("free", "pro", "$$")), outputs="proba")
    with pytest.raises(CompilationError, match=r"'\$\$'"):
        ddl(compiled, "f", "redshift")
    statement = ddl(compiled, "f", "postgres")
    assert "$wml$ SELECT" in statement and "'$$'" in statement


def test_long_ensembles_stay_within_duckdb_depth() -> None:
    model = stumps_model(1050)
    compiled = compile_model(model)  # more trees than max_exact_trees: summed in double
    assert any("summed in double" in note for note in compiled.notes)
    con = duckdb.connect()
    con.execute(ddl(compiled, "deep", "duckdb"))
    assert con.execute("SELECT deep(0.1)").fetchone()[0] is not None
    # One float32 running sum of 1,050 trees: DuckDB gets it as one flat list_reduce (a
    # chain would nest 1,050 levels, past max_expression_depth); Postgres as the chain.
    exact = compile_model(model, max_exact_trees=2000)
    statement = ddl(exact, "deep_exact", "duckdb")
    assert "LIST_REDUCE(" in statement
    con.execute(statement)
    onnx_model = onnx.load_from_string(model)
    got = con.execute("SELECT deep_exact(0.1)").fetchone()[0]
    assert got == _float32_running_sum(onnx_model, 0.1)
    assert "LIST_REDUCE" not in ddl(exact, "deep", "postgres")  # no such parser limit there
    with sx.deep_recursion():  # the tree is read recursively, one frame per level
        nested = compile_model(chain_model(1100), tree_encoding="nested")
    with pytest.raises(CompilationError, match="max_expression_depth"):
        ddl(nested, "deep", "duckdb")  # a tree nested 1,100 levels deep still fails clearly


def chain_model(splits: int) -> bytes:
    """One tree: ``splits`` splits in a row, each with a leaf on its left (nested: as deep)."""
    n = 2 * splits + 1
    split_ids = list(range(0, n - 1, 2))
    modes = ["LEAF"] * n
    values, true_ids, false_ids = [0.0] * n, [0] * n, [0] * n
    for k, nid in enumerate(split_ids):
        modes[nid], values[nid] = "BRANCH_LEQ", float(k)
        true_ids[nid], false_ids[nid] = nid + 1, nid + 2
    leaves = [i for i in range(n) if modes[i] == "LEAF"]
    op = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[0] * n, nodes_nodeids=list(range(n)), nodes_featureids=[0] * n,
        nodes_modes=modes, nodes_values=values, nodes_truenodeids=true_ids,
        nodes_falsenodeids=false_ids, target_treeids=[0] * len(leaves), target_nodeids=leaves,
        target_ids=[0] * len(leaves), target_weights=[float(i) for i in range(len(leaves))],
    )
    graph = helper.make_graph(
        [op], "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)]).SerializeToString()


def _float32_running_sum(model, x: float) -> float:
    """The stumps' outputs at ``x``, added in float32 in tree order, as onnxruntime does."""
    a = {attr.name: helper.get_attribute_value(attr) for attr in model.graph.node[0].attribute}
    total = np.float32(0.0)
    weights = np.array(a["target_weights"], dtype=np.float32).reshape(-1, 2)
    for tree, threshold in enumerate(a["nodes_values"][0::3]):
        leaf = 0 if np.float32(x) <= np.float32(threshold) else 1
        total = np.float32(total + weights[tree, leaf])
    return float(total)


def test_unknown_dialect() -> None:
    with pytest.raises(CompilationError, match="no SQL function form for dialect 'oracle'"):
        ddl(compile_model(stumps_model(1)), "f", "oracle")
