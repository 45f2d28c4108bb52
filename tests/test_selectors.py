"""Selectors: table-driven, selector string -> expected node names, over a small project."""

from __future__ import annotations

import doctest
import logging
import typing as t
from pathlib import Path

import pytest

import warehouse_ml.graph.selectors
from warehouse_ml.errors import ConfigError
from warehouse_ml.graph.dag import Graph
from warehouse_ml.graph.selectors import Criterion, parse_selector, select
from warehouse_ml.project.nodes import Node, NodeKind

SEED, MODEL, TEST, SOURCE = NodeKind.SEED, NodeKind.MODEL, NodeKind.TEST, NodeKind.SOURCE


def _node(kind: NodeKind, name: str, path: str, deps: t.Sequence[str] = (), **kw: t.Any) -> Node:
    fqn = ["shop", *Path(path).parent.parts[1:], name]  # as load_project sets it
    return Node(name, kind, Path(path), depends_on=list(deps), fqn=fqn, **kw)


def _project() -> Graph:
    staging_yml = "models/staging/schema.yml"
    nodes = [
        _node(SEED, "raw_customers", "seeds/raw_customers.csv"),
        _node(SEED, "raw_orders", "seeds/raw_orders.csv"),
        _node(SOURCE, "app.events", "models/sources.yml"),
        _node(
            MODEL,
            "stg_customers",
            "models/staging/stg_customers.sql",
            ["seed.raw_customers"],
            config={"materialized": "view", "tags": ["staging"]},
        ),
        _node(
            MODEL,
            "stg_orders",
            "models/staging/stg_orders.sql",
            ["seed.raw_orders"],
            config={"materialized": "view", "tags": ["staging", "daily"]},
        ),
        _node(
            MODEL,
            "stg_events",
            "models/staging/stg_events.sql",
            ["source.app.events"],
            config={"materialized": "view", "tags": "staging", "enabled": True},
        ),
        _node(
            MODEL,
            "customer_features",
            "models/marts/customer_features.sql",
            ["model.stg_customers", "model.stg_orders", "model.stg_events"],
            config={"materialized": "table", "tags": ["features"]},
        ),
        _node(
            MODEL,
            "ltv_model",
            "models/ml/ltv_model.sql",
            ["model.customer_features"],
            config={"materialized": "ml_model", "tags": ["ml", "daily"]},
        ),
        _node(
            MODEL,
            "ltv_scores",
            "models/marts/ltv_scores.sql",
            ["model.ltv_model", "model.customer_features"],
            config={"materialized": "table"},
        ),
        _node(
            MODEL,
            "orders_report",
            "models/marts/orders_report.sql",
            ["model.stg_orders"],
            config={"materialized": "view", "meta": {"owner": "alice"}},
        ),
        _node(
            TEST,
            "not_null_stg_orders_order_id",
            staging_yml,
            ["model.stg_orders"],
            attached_to="model.stg_orders",
        ),
        _node(
            TEST,
            "unique_stg_customers_customer_id",
            staging_yml,
            ["model.stg_customers"],
            attached_to="model.stg_customers",
        ),
        _node(
            TEST,
            "relationships_stg_orders_customer_id",
            staging_yml,
            ["model.stg_orders", "model.stg_customers"],
            attached_to="model.stg_orders",
        ),
        _node(
            TEST,
            "not_null_ltv_scores_ltv",
            "models/marts/schema.yml",
            ["model.ltv_scores"],
            attached_to="model.ltv_scores",
        ),
    ]
    return Graph({n.unique_id: n for n in nodes})


GRAPH = _project()
ALL = {n.name for n in GRAPH.nodes.values()}
STAGING_TESTS = {
    "not_null_stg_orders_order_id",
    "unique_stg_customers_customer_id",
    "relationships_stg_orders_customer_id",
}
# The relationships test also reads stg_customers, so it only comes when both are selected.
ORDERS_TESTS = {"not_null_stg_orders_order_id"}
REL_TEST = {"relationships_stg_orders_customer_id"}
STAGING = {"stg_customers", "stg_orders", "stg_events"}
UPSTREAM_OF_FEATURES = STAGING | {"raw_customers", "raw_orders", "app.events"}


def names(ids: t.Iterable[str]) -> set[str]:
    return {GRAPH.nodes[uid].name for uid in ids}


CASES: list[tuple[str, set[str]]] = [
    ("stg_orders", {"stg_orders"} | ORDERS_TESTS),
    ("+stg_orders", {"raw_orders", "stg_orders"} | ORDERS_TESTS),
    (
        "stg_orders+",
        {"stg_orders", "customer_features", "ltv_model", "ltv_scores", "orders_report"}
        | ORDERS_TESTS
        | REL_TEST  # a descendant of stg_orders, so the graph operator selects it
        | {"not_null_ltv_scores_ltv"},
    ),
    ("stg_orders+1", {"stg_orders", "customer_features", "orders_report"} | ORDERS_TESTS | REL_TEST),
    ("1+ltv_scores", {"ltv_scores", "ltv_model", "customer_features", "not_null_ltv_scores_ltv"}),
    ("2+ltv_model", {"ltv_model", "customer_features"} | STAGING | STAGING_TESTS),
    ("0+ltv_model+0", {"ltv_model"}),
    ("@ltv_model", ALL - {"orders_report"}),
    ("@raw_orders", ALL),
    ("tag:daily", {"stg_orders", "ltv_model"} | ORDERS_TESTS),
    ("tag:staging", STAGING | STAGING_TESTS),  # a tag given as a plain string counts
    ("tag:dai*", {"stg_orders", "ltv_model"} | ORDERS_TESTS),
    ("+tag:ml", {"ltv_model", "customer_features"} | UPSTREAM_OF_FEATURES | STAGING_TESTS),
    ("tag:daily,resource_type:model", {"stg_orders", "ltv_model"} | ORDERS_TESTS),
    ("tag:staging,tag:daily", {"stg_orders"} | ORDERS_TESTS),
    ("+stg_orders,+stg_customers", set()),  # an empty intersection is not an error
    ("path:models/staging", STAGING | STAGING_TESTS),
    ("path:models/staging/", STAGING | STAGING_TESTS),
    ("path:./models/ml", {"ltv_model"}),
    ("path:models/marts/ltv_scores.sql", {"ltv_scores", "not_null_ltv_scores_ltv"}),
    ("path:models/*/schema.yml", STAGING_TESTS | {"not_null_ltv_scores_ltv"}),
    ("models/ml", {"ltv_model"}),  # a bare value with a slash is a path
    ("config.materialized:ml_model", {"ltv_model"}),
    ("config.materialized:table", {"customer_features", "ltv_scores", "not_null_ltv_scores_ltv"}),
    ("config.materialized:ml_model+", {"ltv_model", "ltv_scores", "not_null_ltv_scores_ltv"}),
    ("config.enabled:true", {"stg_events"}),
    ("config.meta.owner:alice", {"orders_report"}),
    ("config.tags:features", {"customer_features"}),
    ("resource_type:seed", {"raw_customers", "raw_orders"}),
    ("resource_type:source+1", {"app.events", "stg_events"}),
    ("resource_type:test", STAGING_TESTS | {"not_null_ltv_scores_ltv"}),
    ("source:app", {"app.events"}),
    ("source:app.events+1", {"app.events", "stg_events"}),
    ("stg_*", STAGING | STAGING_TESTS),
    ("*", ALL),
    ("stg_orders orders_report", {"stg_orders", "orders_report"} | ORDERS_TESTS),
    ("  stg_orders   raw_customers ", {"stg_orders", "raw_customers"} | ORDERS_TESTS),
    ("not_null_stg_orders_order_id", {"not_null_stg_orders_order_id"}),  # a test by name
    ("fqn:stg_orders", {"stg_orders"} | ORDERS_TESTS),  # dbt: the last part alone
    ("fqn:shop.staging", STAGING | STAGING_TESTS),  # a folder, with the project
    ("fqn:staging", STAGING | STAGING_TESTS),  # ... or without it
    ("fqn:shop.staging.stg_orders", {"stg_orders"} | ORDERS_TESTS),
    ("fqn:marts.*_report", {"orders_report"}),
    ("fqn:shop.ml.ltv_model+1", {"ltv_model", "ltv_scores", "not_null_ltv_scores_ltv"}),
]


@pytest.mark.parametrize(("selector", "expected"), CASES, ids=[c[0] for c in CASES])
def test_select(selector: str, expected: set[str]) -> None:
    assert names(select(GRAPH, [selector])) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("stg_orders", {"stg_orders"}),
        ("tag:daily,resource_type:model", {"stg_orders", "ltv_model"}),
        ("+stg_orders", {"stg_orders", "raw_orders"}),
        ("stg_orders+1", {"stg_orders", "customer_features", "orders_report"} | ORDERS_TESTS | REL_TEST),
    ],
)
def test_select_without_indirect_tests(selector: str, expected: set[str]) -> None:
    assert names(select(GRAPH, [selector], indirect_tests=False)) == expected


@pytest.mark.parametrize(
    ("selectors", "excludes", "expected"),
    [
        (None, None, ALL),
        ([], [""], ALL),
        (["stg_orders", "orders_report"], None, {"stg_orders", "orders_report"} | ORDERS_TESTS),
        (None, ["stg_orders+"], ALL - names(select(GRAPH, ["stg_orders+"])) - ORDERS_TESTS),
        (
            ["+ltv_scores"],
            ["resource_type:seed resource_type:source"],
            {"ltv_scores", "ltv_model", "customer_features", "not_null_ltv_scores_ltv"}
            | STAGING
            | STAGING_TESTS,
        ),
        # Excluding a model drops its tests, even one selected by name.
        (["stg_customers+1"], ["stg_customers"], {"customer_features"}),
        (["path:models/staging"], ["resource_type:test"], STAGING),
        (["*"], ["tag:staging,tag:daily"], ALL - {"stg_orders"} - ORDERS_TESTS - REL_TEST),
        ("stg_orders", None, {"stg_orders"} | ORDERS_TESTS),  # a lone string, not a list
    ],
)
def test_select_and_exclude(
    selectors: list[str] | None, excludes: list[str] | None, expected: set[str]
) -> None:
    assert names(select(GRAPH, selectors, excludes)) == expected


def test_relationship_test_needs_all_parents() -> None:
    # dbt's cautious mode: attached to stg_orders, but it also reads stg_customers.
    assert "relationships_stg_orders_customer_id" not in names(select(GRAPH, ["stg_customers"]))
    assert "relationships_stg_orders_customer_id" not in names(select(GRAPH, ["stg_orders"]))
    both = names(select(GRAPH, ["stg_customers stg_orders"]))
    assert "relationships_stg_orders_customer_id" in both
    detached = dict(GRAPH.nodes)
    rel = detached["test.relationships_stg_orders_customer_id"]
    detached[rel.unique_id] = Node(rel.name, TEST, rel.path, depends_on=list(rel.depends_on))
    graph = Graph(detached)
    assert rel.unique_id not in select(graph, ["stg_orders"])
    assert rel.unique_id in select(graph, ["stg_orders stg_customers"])


@pytest.mark.parametrize(
    ("selector", "fragments"),
    [
        ("stg_ordrs", ["'stg_ordrs'", "no node is named", "Did you mean 'stg_orders'"]),
        ("+ltv_modle+", ["'+ltv_modle+'", "'ltv_model'"]),
        ("tag:dayly", ["'tag:dayly'", "no node has the tag 'dayly'", "'daily'"]),
        ("path:models/mart", ["no node file is under 'models/mart'", "'models/marts'"]),
        ("config.materialized:ml_modl", ["materialized = 'ml_modl'", "'ml_model'"]),
        ("stg_orders,tag:nope", ["'tag:nope' (in 'stg_orders,tag:nope')"]),
        ("source:crm", ["no source is named 'crm'"]),
        ("fqn:marts.staging", ["fully qualified name starts with 'marts.staging'", "'staging'"]),
        # A bare file name is a path from the project root, so it must be spelled out.
        ("ltv_model.sql", ["no node file is under 'ltv_model.sql'", "'models/ml/ltv_model.sql'"]),
    ],
)
def test_unknown_names_raise_with_suggestions(selector: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        select(GRAPH, [selector])
    text = str(info.value)
    assert info.value.exit_code == 2
    assert text.startswith("--select selector")
    for fragment in fragments:
        assert fragment in text


def test_unknown_exclude_names_its_flag() -> None:
    with pytest.raises(ConfigError, match="--exclude selector 'orders_reprot'.*'orders_report'"):
        select(GRAPH, None, ["orders_reprot"])


def test_not_strict_warns_and_selects_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="warehouse_ml.graph.selectors"):
        chosen = select(GRAPH, ["stg_ordrs orders_report"], strict=False)
    assert names(chosen) == {"orders_report"}
    assert "stg_ordrs" in caplog.text and "'stg_orders'" in caplog.text


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("tag:", "method 'tag:' needs a value"),
        ("+tag:", "method 'tag:' needs a value"),
        ("foo:bar", "unknown method 'foo'"),
        ("tags:daily", "Did you mean 'tag'"),
        ("config.:table", "write the config key"),
        ("resource_type:modle", "unknown resource type 'modle'; use one of seed, model"),
        ("@+stg_orders", "'@' and a leading '+' cannot be combined"),
        ("+", "no node name or method"),
        ("2+", "no node name or method"),
        ("a,,b", "empty part in 'a,,b'"),
        ("stg_orders, tag:daily", "empty part in 'stg_orders,'"),
    ],
)
def test_parse_errors_name_the_selector(selector: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_selector(selector)
    assert fragment in str(info.value)
    assert "selector '" in str(info.value)
    with pytest.raises(ConfigError):  # select() reports the same error
        select(GRAPH, [selector])


def test_parse_selector_structure() -> None:
    parsed = parse_selector("2+tag:daily,config.materialized:table+3 @stg_orders")
    assert parsed == [
        [
            Criterion("2+tag:daily", "tag", "daily", parents=True, parents_depth=2),
            Criterion(
                "config.materialized:table+3",
                "config",
                "table",
                config_key="materialized",
                children=True,
                children_depth=3,
            ),
        ],
        [Criterion("@stg_orders", "name", "stg_orders", childrens_parents=True)],
    ]
    # A name ending in a digit keeps its digit; only '+N' is a depth.
    assert parse_selector("model_2+")[0][0].value == "model_2"
    assert parse_selector("models/staging")[0][0].method == "path"


def test_selection_is_deterministic_and_order_independent() -> None:
    reordered = Graph(dict(reversed(list(GRAPH.nodes.items()))))
    for selector, _ in CASES:
        assert select(reordered, [selector]) == select(GRAPH, [selector])


def test_module_doctest() -> None:
    result = doctest.testmod(warehouse_ml.graph.selectors)
    assert result.attempted > 0 and result.failed == 0
