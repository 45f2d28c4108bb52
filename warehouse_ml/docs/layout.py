"""A layered drawing of a DAG, left to right, computed once when the site is generated.

The classic Sugiyama steps, each kept small:

1. layers: the longest path from a root gives each node its column; a root (a seed, a
   source) then moves right next to its first child, so it does not sit far away;
2. an edge that spans several columns is cut into a chain of invisible dummy nodes, so
   edges bend around boxes instead of crossing them;
3. order within a column: barycenter sweeps, down and up, keeping the best order seen
   (fewest crossings between neighbouring columns);
4. vertical positions: each node wants the mean height of its neighbours in the column
   before (then after); the closest placement that keeps the order and the spacing is an
   isotonic regression, solved exactly by pool-adjacent-violators.

>>> drawing = layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
>>> [drawing.nodes[n].column for n in "abc"]
[0, 1, 2]
>>> len(drawing.edges[("a", "c")])  # through one dummy in column 1
3
"""

from __future__ import annotations

import bisect
import dataclasses
import typing as t

COLUMN_WIDTH = 250.0  # box width plus the gap the edges run in
ROW_HEIGHT = 40.0
SWEEPS = 12


@dataclasses.dataclass
class Placed:
    column: int
    x: float
    y: float


@dataclasses.dataclass
class Drawing:
    nodes: dict[str, Placed]
    edges: dict[tuple[str, str], list[tuple[float, float]]]  # points from parent to child
    width: float
    height: float


def layout(ids: t.Sequence[str], edges: t.Iterable[tuple[str, str]]) -> Drawing:
    """Place ``ids`` (kept in the given order where nothing else decides) and route ``edges``
    (parent, child); edges naming unknown ids are left out."""
    known = set(ids)
    pairs = sorted({(a, b) for a, b in edges if a in known and b in known and a != b})
    column = _layers(list(ids), pairs)
    chains, columns = _with_dummies(list(ids), pairs, column)
    order = _order(columns, chains)
    y = _heights(order, chains)
    nodes = {n: Placed(column[n], column[n] * COLUMN_WIDTH, y[n]) for n in ids}
    routes = {
        (a, b): [(column_of * COLUMN_WIDTH, y[p]) for column_of, p in chain]
        for (a, b), chain in chains.items()
    }
    width = (max(column.values(), default=0) + 1) * COLUMN_WIDTH
    height = max(y.values(), default=0.0) + ROW_HEIGHT
    return Drawing(nodes, routes, width, height)


def _layers(ids: list[str], pairs: list[tuple[str, str]]) -> dict[str, int]:
    parents: dict[str, list[str]] = {n: [] for n in ids}
    children: dict[str, list[str]] = {n: [] for n in ids}
    for a, b in pairs:
        parents[b].append(a)
        children[a].append(b)
    column: dict[str, int] = {}
    waiting = {n: len(parents[n]) for n in ids}
    ready = [n for n in ids if not waiting[n]]
    while ready:  # Kahn's order: every parent is placed before its children
        node = ready.pop()
        column[node] = max((column[p] + 1 for p in parents[node]), default=0)
        for child in children[node]:
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    for node in ids:  # a cycle (not a DAG): its nodes go first rather than nowhere
        column.setdefault(node, 0)
    for node in ids:
        if not parents[node] and children[node]:
            column[node] = max(min(column[c] for c in children[node]) - 1, 0)
    return column


Chain = list[tuple[int, str]]  # (column, node or dummy id) from parent to child


def _with_dummies(
    ids: list[str], pairs: list[tuple[str, str]], column: dict[str, int]
) -> tuple[dict[tuple[str, str], Chain], list[list[str]]]:
    width = max(column.values(), default=0) + 1
    columns: list[list[str]] = [[] for _ in range(width)]
    for node in ids:
        columns[column[node]].append(node)
    chains: dict[tuple[str, str], Chain] = {}
    for a, b in pairs:
        chain: Chain = [(column[a], a)]
        step = 1 if column[b] >= column[a] else -1  # a back edge of a cycle runs left
        for c in range(column[a] + step, column[b], step):
            dummy = f"\0{a}\0{b}\0{c}"
            columns[c].append(dummy)
            chain.append((c, dummy))
        chain.append((column[b], b))
        chains[(a, b)] = chain
    return chains, columns


def _links(chains: dict[tuple[str, str], Chain]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Neighbours one column to the left and to the right, dummies included."""
    left: dict[str, list[str]] = {}
    right: dict[str, list[str]] = {}
    for chain in chains.values():
        for (c1, n1), (c2, n2) in zip(chain, chain[1:], strict=False):
            if c2 == c1 + 1:
                left.setdefault(n2, []).append(n1)
                right.setdefault(n1, []).append(n2)
    return left, right


def _order(columns: list[list[str]], chains: dict[tuple[str, str], Chain]) -> list[list[str]]:
    left, right = _links(chains)
    order = [list(c) for c in columns]
    best, best_crossings = [list(c) for c in order], _crossings(order, right)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(order)) if down else range(len(order) - 2, -1, -1)
        for i in indices:
            fixed = order[i - 1] if down else order[i + 1]
            where = {n: k for k, n in enumerate(fixed)}
            near = left if down else right
            current = {n: k for k, n in enumerate(order[i])}

            def key(n: str, where: dict[str, int] = where, near=near, current=current) -> float:
                spots = [where[m] for m in near.get(n, ()) if m in where]
                return sum(spots) / len(spots) if spots else float(current[n])

            order[i].sort(key=key)
        crossings = _crossings(order, right)
        if crossings < best_crossings:
            best, best_crossings = [list(c) for c in order], crossings
    return best


def _crossings(order: list[list[str]], right: dict[str, list[str]]) -> int:
    total = 0
    for i in range(len(order) - 1):
        where = {n: k for k, n in enumerate(order[i + 1])}
        ends = [(k, where[m]) for k, n in enumerate(order[i]) for m in right.get(n, ()) if m in where]
        ends.sort()
        seen: list[int] = []  # count pairs (a, b), a before b on the left, b above a on the right
        for _, target in ends:
            total += len(seen) - bisect.bisect_right(seen, target)
            bisect.insort(seen, target)
    return total


def _heights(order: list[list[str]], chains: dict[tuple[str, str], Chain]) -> dict[str, float]:
    left, right = _links(chains)
    y = {n: k * ROW_HEIGHT for column in order for k, n in enumerate(column)}
    for sweep in range(6):
        near = left if sweep % 2 == 0 else right
        columns = order if sweep % 2 == 0 else order[::-1]
        for column in columns:
            wanted = []
            for n in column:
                spots = [y[m] for m in near.get(n, ())]
                wanted.append(sum(spots) / len(spots) if spots else y[n])
            for n, value in zip(column, _isotonic_place(wanted), strict=True):
                y[n] = value
    low = min(y.values(), default=0.0)
    return {n: v - low for n, v in y.items()}


def _isotonic_place(wanted: list[float]) -> list[float]:
    """Heights closest (least squares) to ``wanted`` that keep the order, ROW_HEIGHT apart:
    with z_i = y_i - i * ROW_HEIGHT the constraint is z non-decreasing (PAVA)."""
    blocks: list[list[float]] = []  # [mean, count]
    for i, w in enumerate(wanted):
        blocks.append([w - i * ROW_HEIGHT, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            prev = blocks[-1]
            prev[0] = (prev[0] * prev[1] + mean * count) / (prev[1] + count)
            prev[1] += count
    out: list[float] = []
    for mean, count in blocks:
        out.extend([mean] * int(count))
    return [z + i * ROW_HEIGHT for i, z in enumerate(out)]
