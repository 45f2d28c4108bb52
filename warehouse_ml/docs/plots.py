"""The model card's plots: matplotlib figures rendered to inline SVG (no browser library,
no network: the page shows them opened from disk).

Each function takes what training recorded (``ml/eval_record.py``) and returns the SVG
text. Figures are built with ``matplotlib.figure.Figure`` (no pyplot: no global state,
safe in threads); text stays text (``svg.fonttype: none``) and every figure gets its own
``svg.hashsalt``, so several figures in one page never share clip-path ids.
"""

from __future__ import annotations

import io
import itertools
import typing as t

from matplotlib import rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

MODEL = "#2563eb"
BASELINE = "#9ca3af"
ACCENT = "#f97316"
SIZE = (4.6, 3.4)
_ids = itertools.count()


def _figure(size: tuple[float, float] = SIZE) -> tuple[Figure, t.Any]:
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e5e7eb", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _svg(fig: Figure, label: str) -> str:
    buffer = io.StringIO()
    params = {"svg.fonttype": "none", "svg.hashsalt": f"wml-{next(_ids)}", "font.size": 8.5}
    with rc_context(params):
        FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.find("<svg")  # drop the XML prolog and DOCTYPE: it is inlined in HTML
    return text[start:].replace("<svg ", f'<svg class="plot" role="img" aria-label="{label}" ', 1)


def roc(data: dict[str, t.Any], auc: float | None, interval: t.Sequence[float] | None) -> str:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color=BASELINE, linestyle="--", linewidth=1, label="random")
    label = "model" if auc is None else f"model, AUC {auc:.3f}" + _ci(interval)
    ax.plot(data["fpr"], data["tpr"], color=MODEL, linewidth=1.8, label=label)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC curve (held-out rows)")
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig, "ROC curve")


def precision_recall(data: dict[str, t.Any], base_rate: float) -> str:
    fig, ax = _figure()
    ax.axhline(base_rate, color=BASELINE, linestyle="--", linewidth=1,
               label=f"baseline (positive rate {base_rate:.1%})")  # fmt: skip
    ax.plot(data["recall"], data["precision"], color=MODEL, linewidth=1.8, label="model")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("Precision-recall curve")
    ax.legend(loc="lower left", frameon=False)
    return _svg(fig, "precision-recall curve")


def calibration(rows: list[dict[str, float]]) -> str:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color=BASELINE, linestyle="--", linewidth=1, label="perfectly calibrated")
    most = max((r["rows"] for r in rows), default=1)
    ax.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], color=MODEL,
            linewidth=1.2, marker="o", markersize=3, label="model")  # fmt: skip
    ax.scatter([r["predicted"] for r in rows], [r["observed"] for r in rows], color=MODEL,
               alpha=0.25, s=[20 + 280 * r["rows"] / most for r in rows])  # fmt: skip
    ax.set(xlabel="mean predicted probability (bin)", ylabel="observed rate", xlim=(0, 1),
           ylim=(0, 1.01))  # fmt: skip
    ax.set_title("Calibration (reliability), marker size = rows")
    ax.legend(loc="upper left", frameon=False)
    return _svg(fig, "calibration plot")


def gains(rows: list[dict[str, float]], positive: str) -> str:
    fig, ax = _figure()
    tops = [0.0, *(r["top"] for r in rows)]
    captured = [0.0, *(r["captured"] for r in rows)]
    ax.plot([0, 1], [0, 1], color=BASELINE, linestyle="--", linewidth=1, label="random order")
    ax.plot(tops, captured, color=MODEL, linewidth=1.8, marker="o", markersize=2.5, label="model")
    tenth = next((r for r in rows if abs(r["top"] - 0.1) < 1e-9), None)
    if tenth is not None:
        ax.annotate(f"top 10% capture {tenth['captured']:.0%}", (0.1, tenth["captured"]),
                    xytext=(0.22, 0.06), color=ACCENT,
                    arrowprops={"arrowstyle": "->", "color": ACCENT})  # fmt: skip
    ax.set(xlabel="share of rows, highest scores first", ylabel=f"share of {positive} captured",
           xlim=(0, 1), ylim=(0, 1.01))  # fmt: skip
    ax.set_title("Cumulative gains")
    ax.legend(loc="center right", frameon=False)
    return _svg(fig, "cumulative gains chart")


def predicted_vs_actual(data: dict[str, t.Any]) -> str:
    fig, ax = _figure()
    actual, predicted = data["actual"], data["predicted"]
    ax.scatter(actual, predicted, s=7, alpha=0.45, color=MODEL, linewidths=0)
    low, high = min([*actual, *predicted]), max([*actual, *predicted])
    ax.plot([low, high], [low, high], color=BASELINE, linestyle="--", linewidth=1, label="y = x")
    ax.set(xlabel="actual", ylabel="predicted")
    ax.set_title(f"Predicted vs actual ({len(actual)} held-out rows)")
    ax.legend(loc="upper left", frameon=False)
    return _svg(fig, "predicted versus actual")


def residuals(hist: dict[str, list[float]]) -> str:
    fig, ax = _figure()
    edges, counts = hist["edges"], hist["counts"]
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=MODEL, alpha=0.8)
    ax.axvline(0, color=ACCENT, linewidth=1)
    ax.set(xlabel="residual (actual - predicted)", ylabel="rows")
    ax.set_title("Residuals (held-out rows)")
    return _svg(fig, "residual histogram")


def confusion(data: dict[str, t.Any]) -> str:
    classes, matrix = [str(c) for c in data["classes"]], data["confusion"]
    side = min(2.2 + 0.45 * len(classes), 7.0)
    fig, ax = _figure((side + 0.8, side))
    ax.grid(False)
    image = ax.imshow(matrix, cmap="Blues")
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > peak / 2 else "#111827")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="actual")
    ax.set_title("Confusion matrix (held-out rows)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _svg(fig, "confusion matrix")


def cluster_sizes(sizes: list[int]) -> str:
    fig, ax = _figure()
    ax.bar([str(i) for i in range(len(sizes))], sizes, color=MODEL)
    for i, size in enumerate(sizes):
        ax.text(i, size, f"{size:,}", ha="center", va="bottom", fontsize=7.5)
    ax.set(xlabel="cluster", ylabel="rows")
    ax.set_title("Cluster sizes (every training row)")
    return _svg(fig, "cluster sizes")


def cluster_profiles(profiles: list[dict[str, t.Any]], k: int) -> str | None:
    """Heatmap of each numeric feature's cluster mean in standard deviations from the
    overall mean, annotated with the mean itself."""
    numeric = [p for p in profiles if p["kind"] == "numeric" and p.get("std")]
    if not numeric:
        return None
    z = [[0.0 if m is None else (m - p["overall"]) / p["std"] for m in p["means"]] for p in numeric]
    fig, ax = _figure((min(2.4 + 0.7 * k, 8.0), 1.2 + 0.32 * len(numeric)))
    ax.grid(False)
    image = ax.imshow(z, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    for i, p in enumerate(numeric):
        for j, m in enumerate(p["means"]):
            ax.text(j, i, "" if m is None else f"{m:.3g}", ha="center", va="center", fontsize=7,
                    color="white" if abs(z[i][j]) > 1.2 else "#111827")  # fmt: skip
    ax.set_xticks(range(k), [f"cluster {c}" for c in range(k)])
    ax.set_yticks(range(len(numeric)), [p["feature"] for p in numeric])
    ax.set_title("Cluster profiles: mean per cluster\n(colour: std devs from the overall mean)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _svg(fig, "cluster profiles")


def importance(values: dict[str, float], limit: int = 20) -> str:
    top = sorted(values.items(), key=lambda kv: -kv[1])[:limit][::-1]
    fig, ax = _figure((SIZE[0] + 0.6, 1.0 + 0.24 * len(top)))
    ax.barh([k for k, _ in top], [v for _, v in top],
            color=[MODEL if v >= 0 else BASELINE for _, v in top])  # fmt: skip
    ax.axvline(0, color="#6b7280", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set(xlabel="drop in the objective when the feature is shuffled")
    ax.set_title("Permutation importance (held-out rows)")
    return _svg(fig, "feature importance")


def drift(rows: list[tuple[str, float, float | None]]) -> str:
    """PSI per scored column (label, value, threshold), the threshold marked on each bar."""
    rows = rows[::-1]
    fig, ax = _figure((SIZE[0] + 0.6, 1.0 + 0.3 * len(rows)))
    y = range(len(rows))
    ax.barh(list(y), [v for _, v, _ in rows],
            color=[ACCENT if th is not None and v > th else MODEL for _, v, th in rows])  # fmt: skip
    for i, (_, _, th) in enumerate(rows):
        if th is not None:
            ax.plot([th, th], [i - 0.4, i + 0.4], color="#111827", linewidth=1.2)
    ax.set_yticks(list(y), [label for label, _, _ in rows])
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set(xlabel="PSI against the training profile (black: the test's threshold)")
    ax.set_title("Drift of the newest scoring run")
    return _svg(fig, "drift")


def metrics_at_k(rows: list[tuple[str, float, t.Any, float | None, t.Any]], k: int) -> str:
    """Recommender metrics at K: (metric, model, interval, baseline, interval) per row."""
    fig, ax = _figure((SIZE[0] + 0.6, SIZE[1]))
    names = [r[0] for r in rows]
    at = range(len(rows))
    for offset, index, color, label in ((-0.2, 1, MODEL, "model"), (0.2, 3, BASELINE, "popularity")):
        values = [r[index] or 0.0 for r in rows]
        errors = [[max(v - (r[index + 1] or [v, v])[0], 0) for v, r in zip(values, rows, strict=True)],
                  [max((r[index + 1] or [v, v])[1] - v, 0) for v, r in zip(values, rows, strict=True)]]
        ax.bar([i + offset for i in at], values, width=0.4, color=color, label=label,
               yerr=errors, capsize=2, error_kw={"linewidth": 0.8})  # fmt: skip
    ax.set_xticks(list(at), names, rotation=20, ha="right")
    ax.set_title(f"Metrics at K={k} with bootstrap 95% intervals")
    ax.legend(frameon=False)
    return _svg(fig, "recommender metrics at K")


def _ci(interval: t.Sequence[float] | None) -> str:
    return f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
