"""What ``wml show`` and SHOW MODEL print for a recommender."""

from __future__ import annotations

import typing as t

from warehouse_ml.ml import registry
from warehouse_ml.ml.recs import evaluate


def evaluation(v: registry.ModelVersion) -> dict[str, t.Any]:
    m = v.metrics or {}
    split = m.get("split") or {}
    out = dict(split)
    s = v.settings or {}
    out |= {k: s.get(k) for k in ("interactions", "users", "items", "skipped_null_ids")}
    users = split.get("users_evaluated")
    out["note"] = (
        m.get("note")
        or f"{split.get('method')}: each user's latest {split.get('holdout_fraction')} of "
        f"interactions held out ({split.get('rows_held_out')} rows); metrics at "
        f"K={m.get('k')} on {users} users"
        + (f" (sampled from {split.get('users_with_holdout')})"
           if users and users < (split.get("users_with_holdout") or 0) else "")
        + "; deployed model refit on every interaction"
    )
    return out


def fields(v: registry.ModelVersion) -> list[tuple[str, str]]:
    s = v.settings or {}
    e = evaluation(v)
    weights = s.get("event_weights") or s.get("weight_column") or "1 per interaction"
    return [
        ("User Column", str(s.get("user_column"))),
        ("Item Column", str(s.get("item_column"))),
        ("Weights", str(weights)),
        ("Time Decay", f"half-life {s['half_life_days']} days" if s.get("half_life_days") else "none"),
        ("Interactions", f"{e.get('interactions')} ({e.get('users')} users, {e.get('items')} "
                         f"items; {e.get('skipped_null_ids')} rows with a NULL id skipped)"),
        ("Functions", f"{v.function}(user, k [, exclude_seen := true]), "
                      f"{s.get('similar_function')}(item, k)"),
        ("Evaluation", str(e["note"])),
        *_search(v),
    ]  # fmt: skip


def _search(v: registry.ModelVersion) -> list[tuple[str, str]]:
    """AUTO's search: how many candidates ran and what stopped it."""
    search = (v.metrics or {}).get("search")
    if not search:
        return []
    text = f"{search['run']} of {search['candidates']} candidates, stopped by {search['stopped_by']}"
    if search.get("skipped"):
        text += f" (skipped: {'; '.join(search['skipped'])})"
    return [("AUTO Search", text)]


def metric_lines(v: registry.ModelVersion) -> list[str]:
    """Model beside the popularity baseline, with bootstrap 95% intervals over users."""
    m = v.metrics or {}
    k = m.get("k")
    if m.get("note") or k is None:
        return [f"\nNo held-out evaluation: {m.get('note', 'none recorded')}"]
    base, ci, bci = m.get("baseline") or {}, m.get("intervals") or {}, m.get("baseline_intervals") or {}
    lines = [f"\nMetrics at K={k} (held out)  {v.model_type:<26} popularity baseline"]
    for metric in [*(f"{n}_at_{k}" for n in evaluate.METRICS), "catalog_coverage"]:
        value = m.get(metric)
        if value is None:
            continue
        lines.append(f"  {metric:<26} {_with(value, ci.get(metric)):<26} {_with(base.get(metric), bci.get(metric))}")
    return lines


def _with(value: t.Any, interval: t.Any) -> str:
    if not isinstance(value, (int, float)):
        return ""
    if interval:
        return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"
    return f"{value:.4f}"
