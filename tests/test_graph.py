"""The project DAG: order, lineage, cycles, dangling references and the parallel scheduler."""

from __future__ import annotations

import concurrent.futures
import doctest
import random
import threading
import time
from pathlib import Path

import pytest

import warehouse_ml.graph.dag
from warehouse_ml.errors import CompilationError
from warehouse_ml.graph.dag import Graph, NodeStatus, Scheduler
from warehouse_ml.project.nodes import Node, NodeKind


def model(name: str, *deps: str) -> Node:
    return Node(name, NodeKind.MODEL, Path(f"models/{name}.sql"), depends_on=list(deps))


def seed(name: str) -> Node:
    return Node(name, NodeKind.SEED, Path(f"seeds/{name}.csv"))


def data_test(name: str, *deps: str) -> Node:
    return Node(
        name, NodeKind.TEST, Path("models/schema.yml"), depends_on=list(deps), attached_to=deps[0]
    )


def graph_of(*nodes: Node, validate: bool = True) -> Graph:
    return Graph({n.unique_id: n for n in nodes}, validate=validate)


def diamond() -> Graph:
    """s1 -> a -> c -> d, s2 -> b -> c, s2 -> e."""
    return graph_of(
        seed("s1"),
        seed("s2"),
        model("a", "seed.s1"),
        model("b", "seed.s2"),
        model("c", "model.a", "model.b"),
        model("d", "model.c"),
        model("e", "seed.s2"),
    )


def random_dag(n: int, rng: random.Random) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    names = [f"m{i:03d}" for i in range(n)]
    for i, name in enumerate(names):
        deps = rng.sample(names[:i], k=min(i, rng.randint(0, 3)))
        node = model(name, *(f"model.{d}" for d in deps))
        nodes[node.unique_id] = node
    return nodes


def test_module_doctest() -> None:
    result = doctest.testmod(warehouse_ml.graph.dag)
    assert result.attempted > 0 and result.failed == 0


def test_topological_order_breaks_ties_by_unique_id() -> None:
    # Among nodes ready at the same time, the smallest unique id goes first.
    assert diamond().topological_order() == [
        "seed.s1",
        "model.a",
        "seed.s2",
        "model.b",
        "model.c",
        "model.d",
        "model.e",
    ]


def test_topological_order_is_deterministic_and_valid() -> None:
    rng = random.Random(7)
    nodes = random_dag(200, rng)
    order = Graph(nodes).topological_order()
    position = {uid: i for i, uid in enumerate(order)}
    for uid, node in nodes.items():
        assert all(position[dep] < position[uid] for dep in node.depends_on)
    shuffled = list(nodes.items())
    rng.shuffle(shuffled)
    assert Graph(dict(shuffled)).topological_order() == order


def test_subset_order_keeps_dependencies_through_unselected_nodes() -> None:
    graph = graph_of(model("a"), model("b", "model.a"), model("c", "model.b"), model("z"))
    # c sorts before z only because a path a -> b -> c orders it after a.
    assert graph.topological_order(["model.z", "model.c", "model.a"]) == [
        "model.a",
        "model.c",
        "model.z",
    ]
    assert graph.selected_parents(["model.a", "model.c"]) == {
        "model.a": set(),
        "model.c": {"model.a"},
    }
    with pytest.raises(KeyError, match="model.nope"):
        graph.topological_order(["model.nope"])


def test_lineage_with_depth() -> None:
    graph = diamond()
    assert graph.upstream("model.c") == ["model.a", "model.b"]
    assert graph.downstream("seed.s2") == ["model.b", "model.e"]
    assert graph.ancestors("model.d") == {"model.c", "model.a", "model.b", "seed.s1", "seed.s2"}
    assert graph.ancestors("model.d", depth=1) == {"model.c"}
    assert graph.ancestors("model.d", depth=2) == {"model.c", "model.a", "model.b"}
    assert graph.ancestors("model.d", depth=0) == set()
    assert graph.descendants("seed.s2") == {"model.b", "model.c", "model.d", "model.e"}
    assert graph.descendants("seed.s2", depth=1) == {"model.b", "model.e"}
    assert graph.descendants(["seed.s1", "model.e"], depth=2) == {"model.a", "model.c"}
    with pytest.raises(KeyError):
        graph.ancestors("model.missing")


def cyclic() -> list[Node]:
    # Data flows m_a -> m_b -> m_c -> m_a; the search enters the loop at m_b (from a_feeder).
    return [
        seed("s"),
        model("a_feeder"),
        model("m_c", "model.m_b"),
        model("m_a", "model.m_c", "seed.s"),
        model("m_b", "model.m_a", "model.a_feeder"),
        model("after", "model.m_c"),
    ]


def test_cycle_error_names_nodes_in_order_and_first_file() -> None:
    with pytest.raises(CompilationError) as info:
        graph_of(*cyclic())
    text = str(info.value)
    assert text.startswith("models/m_a.sql model 'm_a': ")
    assert "m_a -> m_b -> m_c -> m_a" in text
    assert info.value.exit_code == 2


def test_find_cycle_and_self_loop() -> None:
    graph = graph_of(*cyclic(), validate=False)
    assert graph.find_cycle() == ["model.m_a", "model.m_b", "model.m_c"]
    with pytest.raises(CompilationError, match="m_a -> m_b -> m_c -> m_a"):
        graph.topological_order()
    assert diamond().find_cycle() is None
    with pytest.raises(CompilationError, match="cycle: x -> x "):
        graph_of(model("x", "model.x"))


def test_unknown_dependency_names_node_file_and_missing_name() -> None:
    with pytest.raises(CompilationError) as info:
        graph_of(model("stg_orders"), model("report", "model.stg_ordrs"))
    text = str(info.value)
    assert text.startswith("models/report.sql model 'report': ")
    assert "model 'report': model depends on model 'stg_ordrs' ('model.stg_ordrs')" in text
    assert text.endswith("Did you mean 'model.stg_orders'?")


def test_scheduler_order_and_skip_propagation() -> None:
    graph = diamond()
    sched = Scheduler(graph, graph.nodes)
    assert sched.ready() == ["seed.s1", "seed.s2"]
    assert sched.ready() == []  # handed out once
    sched.mark_done("seed.s1")
    assert sched.ready() == ["model.a"]
    sched.mark_done("seed.s2")
    assert sched.ready() == ["model.b", "model.e"]
    sched.mark_done("model.a")
    assert sched.ready() == []  # c still waits for b
    assert sched.mark_failed("model.b") == ["model.c", "model.d"]
    assert sched.status("model.d") is NodeStatus.SKIPPED
    assert not sched.is_finished()  # e is running
    sched.mark_done("model.e")
    assert sched.ready() == []
    assert sched.is_finished()
    assert sched.counts() == {NodeStatus.SUCCESS: 4, NodeStatus.FAILED: 1, NodeStatus.SKIPPED: 2}


def test_scheduler_gates_only_on_selected_nodes() -> None:
    graph = diamond()
    sched = Scheduler(graph, ["model.a", "model.c"])
    assert sched.ready() == ["model.a"]  # seed.s1 is not selected: assumed built
    sched.mark_done("model.a")
    assert sched.ready() == ["model.c"]  # model.b is not selected: does not gate
    # A path through unselected nodes still orders selected ones, and a failure skips it.
    sched = Scheduler(graph, ["seed.s1", "model.d"])
    assert sched.ready() == ["seed.s1"]
    assert sched.mark_failed("seed.s1") == ["model.d"]
    assert sched.is_finished()


def test_scheduler_skips_each_node_once() -> None:
    sched = Scheduler(diamond(), diamond().nodes)
    assert sched.ready() == ["seed.s1", "seed.s2"]
    assert sched.mark_failed("seed.s1") == ["model.a", "model.c", "model.d"]
    assert sched.mark_failed("seed.s2") == ["model.b", "model.e"]
    assert sched.ready() == []
    assert sched.is_finished()


def test_scheduler_rejects_misuse() -> None:
    sched = Scheduler(diamond(), ["seed.s1", "model.a"])
    with pytest.raises(ValueError, match="'model.a' is pending"):
        sched.mark_done("model.a")
    with pytest.raises(ValueError, match="not selected"):
        sched.mark_failed("model.b")
    with pytest.raises(KeyError):
        Scheduler(diamond(), ["model.nope"])


def test_scheduler_with_worker_threads() -> None:
    nodes = random_dag(60, random.Random(3))
    graph = Graph(nodes)
    failing = "model.m010"
    lock = threading.Lock()
    started: list[str] = []
    finished: set[str] = set()

    def run(uid: str) -> bool:
        with lock:
            assert set(graph.upstream(uid)) <= finished, f"{uid} started before its parents"
            started.append(uid)
        time.sleep(0.001)
        with lock:
            finished.add(uid)
        return uid != failing

    sched = Scheduler(graph, nodes)
    skipped: list[str] = []
    pending: dict[concurrent.futures.Future[bool], str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        while not sched.is_finished():
            for uid in sched.ready():
                pending[pool.submit(run, uid)] = uid
            done, _ = concurrent.futures.wait(pending, return_when="FIRST_COMPLETED")
            for future in done:
                uid = pending.pop(future)
                if future.result():
                    sched.mark_done(uid)
                else:
                    skipped += sched.mark_failed(uid)
    assert set(skipped) == graph.descendants(failing) and skipped
    assert set(started) == set(nodes) - set(skipped)
    assert len(started) == len(set(started))


def test_build_gates_children_on_tests() -> None:
    graph = graph_of(
        seed("s"),
        model("m", "seed.s"),
        model("child", "model.m"),
        model("grandchild", "model.child"),
        data_test("not_null_m", "model.m"),
        data_test("rel_child_m", "model.child", "model.m"),
    )
    gated = graph.with_test_gates()
    assert gated.nodes["model.m"] is graph.nodes["model.m"]  # Node objects are shared
    assert gated.upstream("model.child") == ["model.m", "test.not_null_m"]
    # The relationships test reads child, so child cannot wait for it; grandchild does.
    assert gated.upstream("model.grandchild") == ["model.child", "test.rel_child_m"]
    assert graph.upstream("model.child") == ["model.m"]  # the plain graph is unchanged
    order = gated.topological_order()
    assert order.index("test.not_null_m") < order.index("model.child")

    sched = Scheduler(gated, gated.nodes)
    for uid in ("seed.s", "model.m"):
        assert sched.ready() == [uid]
        sched.mark_done(uid)
    assert sched.ready() == ["test.not_null_m"]
    assert sched.mark_failed("test.not_null_m") == [
        "model.child",
        "test.rel_child_m",
        "model.grandchild",
    ]


def test_relationships_test_gates_only_nodes_downstream_of_both_parents() -> None:
    graph = graph_of(
        model("orders"),
        model("customers"),
        model("order_stats", "model.orders"),
        model("joined", "model.order_stats", "model.customers"),
        model("after_joined", "model.joined"),
        data_test("rel_orders_customers", "model.orders", "model.customers"),
    )
    gated = graph.with_test_gates()
    assert "test.rel_orders_customers" not in gated.ancestors("model.order_stats")
    assert "test.rel_orders_customers" in gated.upstream("model.joined")
    assert "test.rel_orders_customers" not in gated.upstream("model.after_joined")  # via joined


def test_build_gates_match_dbt_rule_and_stay_acyclic() -> None:
    # dbt's rule: a node waits for every test whose parents are all upstream of it.
    rng = random.Random(11)
    for _ in range(20):
        nodes = random_dag(40, rng)
        ids = sorted(nodes)
        for i in range(25):
            tested = rng.sample(ids, k=rng.choice([1, 1, 2, 2, 3]))
            node = data_test(f"t{i:02d}", *tested)
            nodes[node.unique_id] = node
        graph = Graph(nodes)
        gated = graph.with_test_gates()
        assert gated.find_cycle() is None
        for uid in ids:
            upstream = graph.ancestors(uid)
            expected = {
                tid
                for tid, node in nodes.items()
                if node.kind is NodeKind.TEST and set(node.depends_on) <= upstream
            }
            waits_for = {a for a in gated.ancestors(uid) if nodes[a].kind is NodeKind.TEST}
            assert waits_for == expected, uid


def test_compile_order_puts_each_test_right_after_its_last_parent() -> None:
    """The compile loop's order: a cold compile compiles tests while it waits for the
    transpiling child's next model, instead of all of them after the last one."""
    from warehouse_ml.cli import compile_command
    from warehouse_ml.cli.compile_command import tests_early

    assert doctest.testmod(compile_command).failed == 0
    rng = random.Random(7)
    nodes = [seed("raw")]
    for i in range(60):
        earlier = [n.unique_id for n in nodes if n.kind is not NodeKind.TEST]
        nodes.append(model(f"m{i:02d}", *rng.sample(earlier, min(len(earlier), rng.randint(1, 3)))))
        if rng.random() < 0.7:
            nodes.append(data_test(f"t{i:02d}", nodes[-1].unique_id, *rng.sample(earlier, rng.randint(0, 1))))
    graph = graph_of(*nodes)
    for chosen in (set(graph.nodes), {uid for uid in graph.nodes if rng.random() < 0.6}):
        order = graph.topological_order(chosen)
        moved = tests_early(order, graph)
        assert sorted(moved) == sorted(order)
        where = {uid: i for i, uid in enumerate(moved)}
        for uid in moved:  # still a topological order of the selection
            assert all(where[p] < where[uid] for p in graph.selected_parents(chosen)[uid])
        # the models keep their order; a test comes right after its last parent's run of tests
        assert [u for u in moved if not u.startswith("test.")] == [u for u in order if not u.startswith("test.")]
        for uid in moved:
            parents = graph.upstream(uid)
            if uid.startswith("test.") and all(p in where for p in parents):
                last = max(where[p] for p in parents)
                assert all(moved[i].startswith("test.") for i in range(last + 1, where[uid]))
    # A test whose parent is not selected keeps its place (it may still follow a selected
    # ancestor through the unselected parent).
    chain = graph_of(model("a"), model("b", "model.a"), data_test("t_b", "model.b"), model("c"))
    order = chain.topological_order({"model.a", "test.t_b", "model.c"})
    assert tests_early(order, chain) == order == ["model.a", "model.c", "test.t_b"]
