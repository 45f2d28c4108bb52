"""The project graph: which node reads which, in what order they run, and who waits for whom.

Every seed, model, ML model, source and test is a node; an edge goes from a node to each node
that lists it in ``depends_on``. A dbt-style tool needs only a few things from that graph: a
deterministic run order, ancestors and descendants for selectors (``+m``, ``m+``, ``@m``), a
clear error for cycles and dangling references, and a scheduler that hands out work for
parallel threads. Each is a breadth-first walk or Kahn's algorithm over two dicts (parents and
children), so we keep our own small class instead of a graph library.

>>> from warehouse_ml.project.nodes import Node, NodeKind
>>> seed = Node("raw", NodeKind.SEED, None)
>>> stg = Node("stg", NodeKind.MODEL, None, depends_on=["seed.raw"])
>>> mart = Node("mart", NodeKind.MODEL, None, depends_on=["model.stg", "seed.raw"])
>>> graph = Graph({n.unique_id: n for n in (mart, stg, seed)})
>>> graph.topological_order()
['seed.raw', 'model.stg', 'model.mart']
>>> sorted(graph.ancestors("model.mart"))
['model.stg', 'seed.raw']
>>> scheduler = Scheduler(graph, ["seed.raw", "model.stg", "model.mart"])
>>> scheduler.ready()
['seed.raw']
>>> scheduler.mark_failed("seed.raw")
['model.stg', 'model.mart']
>>> scheduler.is_finished()
True
"""

from __future__ import annotations

import collections
import difflib
import enum
import heapq
import threading
import typing as t

from warehouse_ml.errors import CompilationError
from warehouse_ml.project.nodes import Node, NodeKind

Edges = t.Mapping[str, t.Collection[str]]


class Graph:
    """A DAG of project nodes keyed by ``unique_id``; edges come from ``depends_on``.

    Edges are read once, at construction: build a new Graph after changing ``depends_on``.

    Args:
        nodes: every node of the project, keyed by its unique id.
        validate: check for cycles at construction (default). Pass False only to call
            ``find_cycle`` yourself; an unknown id in ``depends_on`` is always an error.

    Raises:
        CompilationError: a ``depends_on`` entry names no node, or the nodes form a cycle.
    """

    def __init__(self, nodes: t.Mapping[str, Node], *, validate: bool = True) -> None:
        self.nodes: dict[str, Node] = dict(nodes)
        parents: dict[str, list[str]] = {}
        for uid in sorted(self.nodes):
            node = self.nodes[uid]
            for dep in node.depends_on:
                if dep not in self.nodes:
                    raise self._unknown_dependency(node, dep)
            parents[uid] = sorted(set(node.depends_on))
        self._set_edges(parents)
        if validate:
            self.validate()

    def _set_edges(self, parents: Edges) -> None:
        self._parents: dict[str, tuple[str, ...]] = {
            u: tuple(sorted(p)) for u, p in parents.items()
        }
        children: dict[str, list[str]] = {uid: [] for uid in self._parents}
        for uid, deps in self._parents.items():
            for dep in deps:
                children[dep].append(uid)
        self._children = {uid: tuple(sorted(c)) for uid, c in children.items()}
        self._order: list[str] | None = None

    def _unknown_dependency(self, node: Node, dep: str) -> CompilationError:
        kind, _, name = dep.partition(".")
        others = sorted(uid for uid in self.nodes if uid != node.unique_id)
        close = difflib.get_close_matches(dep, others, n=3, cutoff=0.8)
        hint = f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else None
        return CompilationError(
            f"{node.kind.value} depends on {kind} '{name or dep}' ({dep!r}), which is not a "
            "node of this project. Check the ref() or source() name, or add the missing file.",
            path=node.path,
            node=node.name,
            hint=hint,
        )

    # -- basic access -------------------------------------------------------------------------

    def __contains__(self, uid: object) -> bool:
        return uid in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> t.Iterator[str]:
        return iter(sorted(self.nodes))

    def upstream(self, uid: str) -> list[str]:
        """Direct parents of ``uid`` (the nodes it depends on), sorted."""
        return list(self._parents[uid])

    def downstream(self, uid: str) -> list[str]:
        """Direct children of ``uid`` (the nodes that depend on it), sorted."""
        return list(self._children[uid])

    def ancestors(self, uid: str | t.Iterable[str], depth: int | None = None) -> set[str]:
        """Nodes upstream of ``uid`` (one id or several), at most ``depth`` generations up.

        The start nodes themselves are not included unless one is upstream of another.
        """
        return _walk(_as_ids(uid), self._parents, depth)

    def descendants(self, uid: str | t.Iterable[str], depth: int | None = None) -> set[str]:
        """Nodes downstream of ``uid`` (one id or several), at most ``depth`` generations down."""
        return _walk(_as_ids(uid), self._children, depth)

    # -- order and cycles ---------------------------------------------------------------------

    def topological_order(self, ids: t.Iterable[str] | None = None) -> list[str]:
        """Every node (or only ``ids``) with each node after all its ancestors.

        Ties are broken by unique id, so the order is the same on every run. For a subset,
        a dependency through unselected nodes still orders the selected ones (as dbt does).
        """
        if ids is None:
            if self._order is None:
                self._order = self._kahn(self._parents)
            return list(self._order)
        return self._kahn(self.selected_parents(ids))

    def _kahn(self, parents: Edges) -> list[str]:
        waiting = {uid: len(deps) for uid, deps in parents.items()}
        children = _invert(parents)
        heap = [uid for uid, n in waiting.items() if n == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            uid = heapq.heappop(heap)
            order.append(uid)
            for child in children[uid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, child)
        if len(order) < len(waiting):
            self.validate()  # raises with the cycle spelled out
        return order

    def selected_parents(self, ids: t.Iterable[str]) -> dict[str, set[str]]:
        """For each id in ``ids``, its nearest ancestors that are also in ``ids``.

        A path through unselected nodes counts as a dependency, so running ``a`` and ``c``
        of ``a -> b -> c`` still runs ``a`` first.
        """
        selected = set(ids)
        unknown = selected - self.nodes.keys()
        if unknown:
            raise KeyError(f"not nodes of this graph: {sorted(unknown)}")
        if selected == self.nodes.keys():
            return {uid: set(deps) for uid, deps in self._parents.items()}
        nearest: dict[str, set[str]] = {}
        for uid in self.topological_order():
            acc: set[str] = set()
            for dep in self._parents[uid]:
                if dep in selected:
                    acc.add(dep)
                else:
                    acc |= nearest[dep]
            nearest[uid] = acc
        return {uid: nearest[uid] for uid in selected}

    def find_cycle(self) -> list[str] | None:
        """One cycle as unique ids in data-flow order (each feeds the next, the last feeds
        the first), rotated to start at its smallest id; None if the graph is acyclic."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        for root in sorted(self.nodes):
            if root in state:
                continue
            path = [root]
            state[root] = 1
            stack = [iter(self._children[root])]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(child) == 1:
                    cycle = path[path.index(child) :]
                    start = cycle.index(min(cycle))
                    return cycle[start:] + cycle[:start]
                elif child not in state:
                    state[child] = 1
                    path.append(child)
                    stack.append(iter(self._children[child]))
        return None

    def validate(self) -> None:
        """Raise CompilationError naming the nodes of a cycle, if there is one."""
        cycle = self.find_cycle()
        if cycle is None:
            return
        first = self.nodes[cycle[0]]
        names = " -> ".join(self.nodes[uid].name for uid in [*cycle, cycle[0]])
        raise CompilationError(
            f"nodes depend on each other in a cycle: {names} (each arrow points from a node "
            "to one that reads it). Remove one of these ref() calls to break the cycle.",
            path=first.path,
            node=first.name,
        )

    # -- build ordering -----------------------------------------------------------------------

    def with_test_gates(self) -> Graph:
        """A copy in which a node also waits for every test whose parents are all upstream of it.

        This is the ordering of dbt's ``build``: a model's tests run before its children, and
        a failing test skips everything downstream of the tested model. A relationships test
        on ``orders`` and ``customers`` gates only nodes downstream of both. The copy shares
        the Node objects; use it for scheduling only, selectors work on the plain graph.

        Only the nearest such nodes get an edge; the rest wait through them. The result is
        acyclic: an added edge never leads to a node with fewer ancestors, and any cycle would
        need an original edge, which always leads to strictly more.
        """
        parents = {uid: set(deps) for uid, deps in self._parents.items()}
        rank = self._rank()
        for test_id, node in self.nodes.items():
            if node.unit_test is not None and node.attached_to in parents:
                parents[node.attached_to].add(test_id)  # dbt: unit tests run before the model
            elif node.kind is NodeKind.TEST and self._parents[test_id]:
                for child in self._first_gated(test_id, rank):
                    parents[child].add(test_id)
        return Graph._from_edges(self.nodes, parents)

    def _first_gated(self, test_id: str, rank: t.Mapping[str, int]) -> set[str]:
        """Non-test nodes downstream of all the test's parents, none of whose parents is."""
        *others, last = sorted(self._parents[test_id], key=rank.__getitem__)
        if all(self._is_ancestor(p, last, rank) for p in others):
            # The common case (one parent, or a relationships test whose other parent feeds
            # the tested model): downstream of all parents is downstream of the last one.
            gated = set(self._children[last])
        else:
            gated = set.intersection(*(self.descendants(p) for p in (*others, last)))
        gated = {uid for uid in gated if self.nodes[uid].kind is not NodeKind.TEST}
        return {uid for uid in gated if gated.isdisjoint(self._parents[uid])}

    def _rank(self) -> dict[str, int]:
        return {uid: i for i, uid in enumerate(self.topological_order())}

    def _is_ancestor(self, upper: str, lower: str, rank: t.Mapping[str, int]) -> bool:
        """Whether ``upper`` is upstream of ``lower``; nodes ordered before it are pruned."""
        todo, seen = [lower], {lower}
        while todo:
            for dep in self._parents[todo.pop()]:
                if dep == upper:
                    return True
                if dep not in seen and rank[dep] > rank[upper]:
                    seen.add(dep)
                    todo.append(dep)
        return False

    @classmethod
    def _from_edges(cls, nodes: dict[str, Node], parents: Edges) -> Graph:
        graph = cls.__new__(cls)
        graph.nodes = nodes
        graph._set_edges(parents)
        return graph


def _as_ids(uid: str | t.Iterable[str]) -> list[str]:
    return [uid] if isinstance(uid, str) else list(uid)


def _walk(starts: t.Iterable[str], edges: Edges, depth: int | None) -> set[str]:
    """Breadth-first walk along ``edges``; depth counts generations (None = no limit)."""
    seen: set[str] = set()
    frontier = list(dict.fromkeys(starts))
    missing = [uid for uid in frontier if uid not in edges]
    if missing:
        raise KeyError(f"not nodes of this graph: {missing}")
    level = 0
    while frontier and (depth is None or level < depth):
        nxt = []
        for uid in frontier:
            for other in edges[uid]:
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
        level += 1
    return seen


def _invert(parents: Edges) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {uid: [] for uid in parents}
    for uid, deps in parents.items():
        for dep in deps:
            children[dep].append(uid)
    return children


class NodeStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for selected parents
    RUNNING = "running"  # handed out by ready()
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"  # an upstream selected node failed

    @property
    def is_final(self) -> bool:
        return self in (NodeStatus.SUCCESS, NodeStatus.FAILED, NodeStatus.SKIPPED)


class Scheduler:
    """Hands out selected nodes whose selected upstream nodes have all succeeded.

    Only dependencies inside the selection gate execution (as in dbt): an unselected parent
    is assumed to exist already, but a path through unselected nodes still orders two
    selected ones. A failure marks every selected descendant skipped.

    Threading contract: one coordinating thread (the runner's main loop) calls ``ready``,
    ``mark_done`` and ``mark_failed``; worker threads only execute nodes and hand results
    back, e.g. through futures collected with ``concurrent.futures.wait``. A lock makes each
    call atomic, so reporting from a ``Future.add_done_callback`` (which runs in the worker)
    is also safe. ``ready`` marks what it returns as running, so no node is handed out twice.

        pending = {}
        while not scheduler.is_finished():
            for uid in scheduler.ready():
                pending[pool.submit(run_node, uid)] = uid
            done, _ = concurrent.futures.wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                uid = pending.pop(future)
                if future.result().ok:
                    scheduler.mark_done(uid)
                else:
                    skipped = scheduler.mark_failed(uid)
    """

    def __init__(self, graph: Graph, selected_ids: t.Iterable[str]) -> None:
        self._graph = graph
        self._parents = graph.selected_parents(selected_ids)
        self._children = _invert(self._parents)
        self._rank = {uid: i for i, uid in enumerate(graph._kahn(self._parents))}
        self._waiting = {uid: len(deps) for uid, deps in self._parents.items()}
        self._status = dict.fromkeys(self._parents, NodeStatus.PENDING)
        self._ready = {uid for uid, n in self._waiting.items() if n == 0}
        self._unfinished = len(self._status)
        self._lock = threading.RLock()

    def ready(self) -> list[str]:
        """Nodes that may start now, in topological order; each is returned only once."""
        with self._lock:
            out = sorted(self._ready, key=self._rank.__getitem__)
            self._ready.clear()
            for uid in out:
                self._status[uid] = NodeStatus.RUNNING
            return out

    def mark_done(self, uid: str) -> None:
        """Record that ``uid`` succeeded; its children may become ready."""
        with self._lock:
            self._expect_running(uid)
            self._status[uid] = NodeStatus.SUCCESS
            self._unfinished -= 1
            for child in self._children[uid]:
                self._waiting[child] -= 1
                if self._waiting[child] == 0 and self._status[child] is NodeStatus.PENDING:
                    self._ready.add(child)

    def mark_failed(self, uid: str) -> list[str]:
        """Record that ``uid`` failed; skip and return its selected descendants (in order)."""
        with self._lock:
            self._expect_running(uid)
            self._status[uid] = NodeStatus.FAILED
            skipped = [
                d
                for d in _walk([uid], self._children, None)
                if self._status[d] is NodeStatus.PENDING
            ]
            skipped.sort(key=self._rank.__getitem__)
            for d in skipped:
                self._status[d] = NodeStatus.SKIPPED
                self._ready.discard(d)
            self._unfinished -= 1 + len(skipped)
            return skipped

    def is_finished(self) -> bool:
        """True when every selected node has succeeded, failed or been skipped."""
        with self._lock:
            return self._unfinished == 0

    def status(self, uid: str) -> NodeStatus:
        """The current status of one selected node."""
        with self._lock:
            return self._status[uid]

    def counts(self) -> dict[NodeStatus, int]:
        """How many selected nodes are in each status."""
        with self._lock:
            return dict(collections.Counter(self._status.values()))

    def _expect_running(self, uid: str) -> None:
        status = self._status.get(uid)
        if status is not NodeStatus.RUNNING:
            raise ValueError(
                f"{uid!r} is {status.value if status else 'not selected'}, not running"
            )
