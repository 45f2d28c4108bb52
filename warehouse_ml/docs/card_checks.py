"""The model card's "Calibration and guard rails" section: how a classifier's
probabilities were calibrated (ml/calibration.py), a log-link model's guard against
extrapolation (ml/link_guard.py) and the training-data warnings (ml/guards.py), all read
from the version's recorded metrics."""

from __future__ import annotations

import typing as t

from warehouse_ml.docs.html import badge, esc, number, table


def body(v: t.Any) -> str | None:
    """The section's HTML, or None when the version recorded neither."""
    metrics = v.metrics or {}
    calibration, rails = metrics.get("calibration"), metrics.get("guard_rails") or []
    guard, transform = metrics.get("link_guard"), metrics.get("target_transform")
    if not calibration and not rails and not guard and not transform:
        return None
    parts: list[str] = []
    if transform:
        parts.append(f"<p>Target transform: fit on {esc(transform['transform'])}(target); "
                     f"predictions are the {esc(transform['back_transform'])}, smearing factor "
                     f"{number(transform['smearing'])}.</p>")  # fmt: skip
    if calibration:
        parts.append(_calibration(calibration))
    if guard:
        clipped = (
            f" It clipped {guard['held_out_clipped']} of {guard['held_out_rows']} held-out rows."
            if "held_out_clipped" in guard else ""
        )
        parts.append(f"<p>Log-link guard: {esc(guard['describe'])}.{esc(clipped)}</p>")
    if rails:
        items = "".join(f"<li>{badge('warning', 'warn')} {esc(r['message'])}</li>" for r in rails)
        parts.append(f'<ul class="guard-rails">{items}</ul>')
    return "".join(parts)


def _calibration(c: dict[str, t.Any]) -> str:
    ovr = ", one-vs-rest per class and renormalised" if c.get("one_vs_rest") else ""
    head = (
        f"<p>Calibration <strong>{esc(c.get('method'))}</strong> (requested "
        f"{esc(c.get('requested'))}{ovr}); fit on {esc(c.get('fit_on') or 'the calibration rows')}."
        f"{' ' + esc(c['reason']) + '.' if c.get('reason') else ''}</p>"
    )
    held_out = c.get("held_out") or {}
    classwise = any("ece_classwise" in row for row in held_out.values())
    rows = [
        (key, number(row["log_loss"]), number(row["brier"]), number(row["ece"]))
        + ((number(row.get("ece_classwise")),) if classwise else ())
        for key, row in held_out.items()
    ]
    head_row = ["held-out", "log_loss", "brier", "ece" + (" (top-label)" if classwise else "")]
    held = table(head_row + (["ece (classwise)"] if classwise else []), rows) if rows else ""
    cv = c.get("cv_log_loss") or {}
    shown = ", ".join(f"{k} {number(val)}" for k, val in cv.items())
    note = f'<p class="muted">5-fold log-loss on the calibration rows: {esc(shown)}</p>' if cv else ""
    return head + held + note
