"""A model card: one ML model version as a page, what BigQuery ML's evaluation tab and
MLflow's run page show, from the registry row alone.

Problem, target, features and types, the training query and data fingerprint, where the
split cut, held-out metrics with bootstrap intervals beside the baseline, the AUTO
leaderboard with its metric named, feature importance, the plots of the model's kind, a
Monitoring section (rows from :mod:`warehouse_ml.docs.monitoring`) and the version history
with the deployed one marked. A version trained before wml recorded plot data says so
("plot unavailable, retrain to record it") instead of drawing nothing.
"""

from __future__ import annotations

import json
import typing as t

from warehouse_ml.docs import card_checks, plots
from warehouse_ml.docs.html import Raw, badge, code, esc, link, number, table
from warehouse_ml.ml.registry import ModelVersion

UNAVAILABLE = "plot unavailable, retrain to record it"
Href = t.Callable[[ModelVersion], str]


def card(
    v: ModelVersion,
    history: t.Sequence[ModelVersion],
    *,
    href: Href,
    monitoring: t.Sequence[t.Mapping[str, t.Any]] = (),
    node_href: str | None = None,
) -> str:
    """The card's HTML (the page body); ``href`` links another version's card."""
    sections = [
        _header(v, node_href),
        _section("Overview", _overview(v)),
        _section("Features", _features(v)),
        _section("Training data", _training(v)),
        _section("Held-out metrics", _metrics(v)),
    ]
    checks = card_checks.body(v)
    if checks:
        sections.append(_section("Calibration and guard rails", checks, anchor="calibration"))
    if v.leaderboard:
        sections.append(_section("Leaderboard", _leaderboard(v)))
    sections.append(_section("Plots", _plots(v)))
    sections.append(_section("Monitoring", _monitoring(monitoring), anchor="monitoring"))
    sections.append(_section("Version history", _history(v, history, href)))
    return f'<article class="card" data-model="{esc(v.name)}" data-version="{v.version}">' + "".join(sections) + "</article>"


def _section(title: str, body: str, anchor: str | None = None) -> str:
    slug = anchor or title.lower().replace(" ", "-")
    return f'<section id="{esc(slug)}"><h2>{esc(title)}</h2>{body}</section>'


def _header(v: ModelVersion, node_href: str | None) -> str:
    state = badge("deployed", "ok") if v.deployed else badge("not deployed", "muted")
    pinned = badge("pinned by wml deploy", "warn") if v.pinned else ""
    node = f" · {link(node_href, 'lineage node')}" if node_href else ""
    return (
        f"<h1>{esc(v.name)} <small>version {v.version}</small> {state}{pinned}</h1>"
        f'<p class="muted">{esc(v.problem_type or "imported")} · {esc(v.model_type or "")} · '
        f"function <code>{esc(v.function)}</code> · trained {esc(v.created_at)} · "
        f"source {esc(v.source)}{node}</p>"
    )


def _overview(v: ModelVersion) -> str:
    from warehouse_ml.run.sql_command import show_model_fields

    m = v.metrics or {}
    objective = v.objective or m.get("objective")
    rows = [
        ("Problem", v.problem_type or "unknown (imported model)"),
        ("Target", v.target or "none (clustering)" if v.problem_type == "clustering" else v.target),
        ("Model type", v.model_type),
        ("Objective", objective),
        ("Classes", ", ".join(str(c) for c in v.classes) if v.classes else ""),
        ("Training seconds", number(v.training_seconds, 3)),
    ]
    fields = table(["SHOW MODEL field", "value"], [(k, val) for k, val in show_model_fields(v)])
    return (
        table(["", ""], [(k, "" if val is None else str(val)) for k, val in rows if val not in (None, "")], "kv")
        + f"<details><summary>Every SHOW MODEL field</summary>{fields}</details>"
    )


def _features(v: ModelVersion) -> str:
    if not v.features:
        return '<p class="muted">No features recorded.</p>'
    importance = v.feature_importance or {}
    rows = [(name, sql_type, number(importance.get(name))) for name, sql_type in v.features]
    out = table(["feature (argument order)", "type", "permutation importance"], rows)
    if importance:
        out += f'<figure class="plot-box">{plots.importance(importance)}</figure>'
    return out


def _training(v: ModelVersion) -> str:
    from warehouse_ml.run.sql_command import evaluation_summary

    e = evaluation_summary(v)
    facts = [
        ("Trained because", v.retrain_reason or "not recorded"),
        ("Data fingerprint", v.data_fingerprint or "not recorded"),
        ("Query hash", v.query_hash or ""),
        ("Training rows", number(v.rows_train)),
        ("Evaluation rows", number(v.rows_eval)),
        ("Split", _split_sentence(e)),
        ("Evaluation", e.get("note") or ""),
    ]
    body = table(["", ""], [(k, str(val)) for k, val in facts if val], "kv")
    return body + "<h3>Training query</h3>" + code(v.training_query)


def _split_sentence(e: dict[str, t.Any]) -> str:
    method = e.get("split_method")
    if method == "temporal" and "cut_value" in e:
        return (
            f"temporal on {e.get('split_column')}: cut at {e['cut_value']}, "
            f"{e.get('rows_before_cut')} rows before it trained, "
            f"{e.get('rows_at_or_after_cut')} at or after it evaluated"
        )
    if method == "temporal":
        return f"temporal on {e.get('split_column')}"
    if method:
        return f"{method}, eval_fraction {e.get('eval_fraction')}"
    return str(e.get("note") or "")


def _with(value: t.Any, interval: t.Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    shown = number(value)
    if interval:
        return f"{shown} [{number(interval[0])}, {number(interval[1])}]"
    return shown


def _metrics(v: ModelVersion) -> str:
    m = v.metrics or {}
    if v.problem_type == "recommendation":
        return _recs_metrics(v)
    base = m.get("baseline") or {}
    ci, bci = m.get("intervals") or {}, m.get("baseline_intervals") or {}
    rows = []
    for key, value in m.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "rows_dropped_null_target":
            name = Raw(f"<strong>{esc(key)}</strong> (objective)") if key == v.objective else key
            rows.append((name, _with(value, ci.get(key)), _with(base.get(key), bci.get(key))))
    if not rows:
        return '<p class="muted">No held-out metrics (an imported model, or nothing to score on).</p>'
    if ci:
        note = "Brackets: bootstrap 95% interval over the evaluation rows."
    elif m.get("plots") or v.problem_type == "clustering":
        note = "Clustering: the silhouette of held-out rows (sampled), without an interval."
    else:
        note = "No intervals: this version was trained before wml recorded them; retrain to record them."
    label = "baseline (training mean)" if v.problem_type == "regression" else "baseline (class priors)"
    return table(["metric", "model", label], rows) + f'<p class="muted">{esc(note)}</p>'


def _recs_metrics(v: ModelVersion) -> str:
    from warehouse_ml.ml.recs import evaluate as recs_eval

    m = v.metrics or {}
    k = m.get("k")
    if m.get("note") or k is None:
        return f'<p class="muted">No held-out evaluation: {esc(m.get("note", "none recorded"))}</p>'
    base, ci, bci = m.get("baseline") or {}, m.get("intervals") or {}, m.get("baseline_intervals") or {}
    rows = []
    for metric in [*(f"{n}_at_{k}" for n in recs_eval.METRICS), "catalog_coverage"]:
        if m.get(metric) is not None:
            rows.append((metric, _with(m[metric], ci.get(metric)), _with(base.get(metric), bci.get(metric))))
    return table(["metric", str(v.model_type), "popularity baseline"], rows) + (
        '<p class="muted">Brackets: bootstrap 95% interval over evaluated users.</p>'
    )


def _leaderboard(v: ModelVersion) -> str:
    board = v.leaderboard or []
    chosen = v.model_type
    rows = []
    for row in board:
        winner = row.get("model_type") == chosen and row is _best(board, v.objective)
        name = Raw(f"<strong>{esc(row.get('model_type'))}</strong> (chosen)") if winner else row.get("model_type", "")
        rows.append((name, row.get("metric") or v.objective or "", number(row.get("score")),
                     number(row.get("fit_seconds"), 3), json.dumps(row.get("params") or {}, default=str)))  # fmt: skip
    from warehouse_ml.ml.clv import card as clv_card

    won = clv_card.auto_lines(v)  # an AUTO model won by its CLV candidate: why, and no ONNX
    note = "".join(f"<p>{esc(line.strip())}</p>" for line in won[:2] + won[-1:]) if won else ""
    return f"<p>{esc(_scored_on(v))}</p>" + table(["candidate", "metric", "score", "fit seconds", "params"], rows) + note


def _scored_on(v: ModelVersion) -> str:
    """What the scores were computed on, with the metric named (as ``wml show`` says it)."""
    scored = (v.leaderboard or [{}])[0].get("scored_on")
    search = (v.metrics or {}).get("search") or {}
    if scored is None and search.get("validation_rows"):
        scored = (f"validation {v.objective} on {search['validation_rows']} rows "
                  f"({search.get('validation')}, inside the training rows)")  # fmt: skip
    skipped = search.get("skipped") or []
    shown = ", ".join(skipped) if len(skipped) <= 3 else f"{len(skipped)} configs"
    tail = f"; skipped for max_runtime: {shown}" if skipped else ""
    head = f"Scored on {scored}{tail}" if scored else f"Scored by {v.objective}{tail}"
    from warehouse_ml.ml.search import describe_record

    searched = describe_record(search)
    return f"{head}. {searched}." if searched else head


def _best(board: list[dict[str, t.Any]], objective: str | None) -> dict[str, t.Any] | None:
    from warehouse_ml.ml.evaluate import higher_is_better

    scored = [r for r in board if isinstance(r.get("score"), (int, float))]
    metric = objective or ""
    return max(scored, key=lambda r: higher_is_better(r.get("metric") or metric, {r.get("metric") or metric: r["score"]}), default=None)


def _figure(svg: str | None, caption: str = "") -> str:
    if svg is None:
        return _missing(caption)
    note = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot-box">{svg}{note}</figure>'


def _missing(what: str) -> str:
    return f'<figure class="plot-box missing"><p>{esc(what)}: {UNAVAILABLE}</p></figure>'


def _plots(v: ModelVersion) -> str:
    m = v.metrics or {}
    data = m.get("plots")
    problem = v.problem_type
    if problem == "recommendation":
        return _recs_plot(v)
    if v.source == "import" and not data:
        return '<p class="muted">An imported ONNX model: wml neither trained nor evaluated it, so there is nothing to plot.</p>'
    if not data:
        names = {"binary_classification": ["ROC curve", "Precision-recall curve", "Calibration", "Cumulative gains"],
                 "regression": ["Predicted vs actual", "Residuals"],
                 "multiclass_classification": ["Confusion matrix"],
                 "clustering": ["Cluster profiles"]}.get(problem or "", ["Evaluation plots"])  # fmt: skip
        sizes = m.get("cluster_sizes")
        out = [_figure(plots.cluster_sizes(sizes))] if problem == "clustering" and sizes else []
        return '<div class="plots">' + "".join(out + [_missing(n) for n in names]) + "</div>"
    kind = data.get("kind")
    if kind == "binary":
        return _binary(v, data)
    if kind == "regression":
        figures = [_figure(plots.predicted_vs_actual(data)), _figure(plots.residuals(data["residual_hist"]))]
        return '<div class="plots">' + "".join(figures) + "</div>"
    if kind == "multiclass":
        return f'<div class="plots">{_figure(plots.confusion(data))}</div>'
    if kind == "clustering":
        k = len(data["sizes"])
        figures = [_figure(plots.cluster_sizes(data["sizes"])),
                   _figure(plots.cluster_profiles(data["profiles"], k), "")]  # fmt: skip
        text = [p for p in data["profiles"] if p["kind"] == "text"]
        extra = ""
        if text:
            rows = [(p["feature"], *[f"{c['value']} ({c['share']:.0%})" if c else "" for c in p["top"]]) for p in text]
            extra = "<h3>Most common value per cluster</h3>" + table(["feature", *[f"cluster {c}" for c in range(k)]], rows)
        return '<div class="plots">' + "".join(figures) + "</div>" + extra
    return _missing(f"Plots of kind {kind}")


def _binary(v: ModelVersion, data: dict[str, t.Any]) -> str:
    m = v.metrics or {}
    ci = m.get("intervals") or {}
    positive = str(data.get("positive_class"))
    figures = []
    if "roc" in data:
        figures.append(_figure(plots.roc(data["roc"], m.get("auc"), ci.get("auc"))))
        rate = data["positives"] / max(data["rows"], 1)
        figures.append(_figure(plots.precision_recall(data["pr"], rate)))
    else:
        figures += [_missing("ROC curve (one class in the held-out rows)"), _missing("Precision-recall curve")]
    figures.append(_figure(plots.calibration(data["calibration"])))
    figures.append(_figure(plots.gains(data["gains"], f"{v.target} = {positive}")))
    gains = data["gains"]
    tenth = next((g for g in gains if abs(g["top"] - 0.1) < 1e-9), None)
    sentence = ""
    if tenth:
        sentence = (f'<p class="headline">The top 10% of scores capture <strong>{tenth["captured"]:.0%}</strong> '
                    f"of rows with {esc(v.target)} = {esc(positive)} (lift {tenth['lift']:.2f}x), "
                    f"on {data['rows']:,} held-out rows.</p>")  # fmt: skip
    deciles = [g for g in gains if round(g["top"] * 10, 6) == int(round(g["top"] * 10, 6))]
    lift = table(["top of scores", f"share of {positive} captured", "lift"],
                 [(f"{g['top']:.0%}", f"{g['captured']:.1%}", f"{g['lift']:.2f}x") for g in deciles], "lift")  # fmt: skip
    return sentence + '<div class="plots">' + "".join(figures) + "</div><h3>Lift by decile</h3>" + lift


def _recs_plot(v: ModelVersion) -> str:
    from warehouse_ml.ml.recs import evaluate as recs_eval

    m = v.metrics or {}
    k = m.get("k")
    if k is None or m.get("note"):
        return _missing("Metrics at K")
    base, ci, bci = m.get("baseline") or {}, m.get("intervals") or {}, m.get("baseline_intervals") or {}
    rows = [(f"{n}@{k}", m.get(f"{n}_at_{k}"), ci.get(f"{n}_at_{k}"), base.get(f"{n}_at_{k}"), bci.get(f"{n}_at_{k}"))
            for n in recs_eval.METRICS if m.get(f"{n}_at_{k}") is not None]  # fmt: skip
    return f'<div class="plots">{_figure(plots.metrics_at_k(rows, k))}</div>'


def _monitoring(rows: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    if not rows:
        return '<p class="muted">no monitoring runs recorded</p>'
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    psi = [(f"{r['relation']}.{r['column']}", float(r["value"]), r.get("threshold"))
           for r in rows if r.get("metric") == "psi" and r.get("value") is not None]  # fmt: skip
    chart = f'<div class="plots">{_figure(plots.drift(psi))}</div>' if psi else ""
    return chart + table(columns, [[number(r.get(c)) for c in columns] for r in rows])


def _history(v: ModelVersion, history: t.Sequence[ModelVersion], href: Href) -> str:
    rows = []
    for h in sorted(history, key=lambda h: -h.version):
        key = h.objective or ""
        score = (h.metrics or {}).get(key)
        base = ((h.metrics or {}).get("baseline") or {}).get(key)
        label = f"v{h.version}" + (" (this card)" if h.version == v.version else "")
        state = Raw((badge("deployed", "ok") if h.deployed else "") + (badge("pinned", "warn") if h.pinned else ""))
        rows.append((link(href(h), label), str(h.created_at), h.retrain_reason or "", h.model_type or "",
                     f"{key} {number(score)}", number(base), number(h.rows_train), state))  # fmt: skip
    return table(["version", "trained", "because", "model type", "objective", "baseline", "training rows",
                  "serving"], rows)  # fmt: skip
