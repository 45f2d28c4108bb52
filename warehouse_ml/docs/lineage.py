"""The lineage graph as one SVG, laid out at generate time (:mod:`.layout`).

Each node is a ``<g class="node kind-…" data-id="…">`` holding a box, its label and a
``<title>`` (the full name, for hover); each edge a ``<path class="edge" data-from
data-to>``. ``assets/site.js`` adds search and upstream/downstream focus by toggling
classes on these elements, so the graph is complete even with scripts off.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.docs.collect import SiteNode
from warehouse_ml.docs.html import esc
from warehouse_ml.docs.layout import ROW_HEIGHT, layout

BOX_WIDTH = 190.0
BOX_HEIGHT = 28.0
MARGIN = 16.0
LABEL_CHARS = 26
KIND_LABEL = {"ml_model": "ML model", "unit_test": "unit test"}


def svg(nodes: t.Mapping[str, SiteNode], href: t.Callable[[SiteNode], str]) -> str:
    ids = sorted(nodes, key=lambda uid: (nodes[uid].is_test, uid))  # tests below their model
    edges = [(p, n.uid) for n in nodes.values() for p in n.parents]
    drawing = layout(ids, edges)
    width = drawing.width - (250.0 - BOX_WIDTH) + 2 * MARGIN
    height = drawing.height - (ROW_HEIGHT - BOX_HEIGHT) + 2 * MARGIN
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="lineage of {len(nodes)} nodes">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
        '<g class="edges">',
    ]
    for (a, b), points in drawing.edges.items():
        parts.append(
            f'<path class="edge" data-from="{esc(a)}" data-to="{esc(b)}" d="{_path(points)}" '
            'marker-end="url(#arrow)"/>'
        )
    parts.append('</g><g class="nodes">')
    for uid in ids:
        parts.append(_node(nodes[uid], drawing.nodes[uid].x, drawing.nodes[uid].y, href))
    parts.append("</g></svg>")
    return "".join(parts)


def _node(node: SiteNode, x: float, y: float, href: t.Callable[[SiteNode], str]) -> str:
    label = node.label if len(node.label) <= LABEL_CHARS else node.label[: LABEL_CHARS - 1] + "…"
    status = f" status-{esc(node.status)}" if node.status else ""
    style = f' style="fill:{esc(node.color)}"' if node.color else ""
    kind = KIND_LABEL.get(node.kind, node.kind)
    tip = f"{node.label} ({kind})" + (f": {node.status}" if node.status else "")
    return (
        f'<g class="node kind-{esc(node.kind)}{status}" data-id="{esc(node.uid)}" '
        f'data-name="{esc(node.label)}" data-href="{esc(href(node))}" '
        f'transform="translate({x + MARGIN:.1f},{y + MARGIN:.1f})" tabindex="0">'
        f"<title>{esc(tip)}</title>"
        f'<rect width="{BOX_WIDTH:.0f}" height="{BOX_HEIGHT:.0f}" rx="5"{style}/>'
        f'<text x="9" y="{BOX_HEIGHT / 2 + 4:.0f}">{esc(label)}</text></g>'
    )


def _path(points: list[tuple[float, float]]) -> str:
    """A smooth path from the parent's right side to the child's left side; dummy points
    in between are crossed horizontally, a box width at a time."""
    mid = BOX_HEIGHT / 2 + MARGIN
    xs = [(x + MARGIN, y + mid) for x, y in points]
    (x0, y0), rest = xs[0], xs[1:]
    out = [f"M{x0 + BOX_WIDTH:.1f},{y0:.1f}"]
    cx, cy = x0 + BOX_WIDTH, y0
    for i, (x, y) in enumerate(rest):
        bend = (x - cx) / 2
        out.append(f"C{cx + bend:.1f},{cy:.1f} {x - bend:.1f},{y:.1f} {x:.1f},{y:.1f}")
        cx, cy = x, y
        if i < len(rest) - 1:  # a dummy: run straight across the column it stands for
            out.append(f"L{x + BOX_WIDTH:.1f},{y:.1f}")
            cx = x + BOX_WIDTH
    return " ".join(out)
