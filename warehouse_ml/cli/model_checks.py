"""What `wml show` prints about a version's calibration, log-link guard and guard rails
(recorded at training time in ``metrics['calibration']``, ``metrics['link_guard']`` and
``metrics['guard_rails']``)."""

from __future__ import annotations

import typing as t


def interval(v: t.Any, key: str) -> str:
    """'[0.81, 0.86]' of a held-out metric's bootstrap 95% interval, or ''."""
    found = ((v.metrics or {}).get("intervals") or {}).get(key)
    if not found:
        return ""
    return f"[{found[0] + 0.0:.4g}, {found[1] + 0.0:.4g}]"  # + 0.0: no "-0"


def lines(v: t.Any) -> list[str]:
    metrics = v.metrics or {}
    out: list[str] = []
    calibration = metrics.get("calibration")
    if calibration:
        ovr = " one-vs-rest per class, renormalised" if calibration.get("one_vs_rest") else ""
        out += ["", f"Calibration: {calibration.get('method')} (requested "
                    f"{calibration.get('requested')}){ovr}"]  # fmt: skip
        if calibration.get("fit_on"):
            out.append(f"  fit on {calibration['fit_on']}")
        cv = calibration.get("cv_log_loss") or {}
        if cv:
            shown = ", ".join(f"{k} {val:.4g}" for k, val in cv.items())
            out.append(f"  5-fold log-loss on the calibration rows: {shown}")
        if calibration.get("reason"):
            out.append(f"  {calibration['reason']}")
        held = calibration.get("held_out") or {}
        for key in ("uncalibrated", "calibrated"):
            if key in held:
                row = held[key]
                classwise = f"  classwise ece {row['ece_classwise']:.4g}" if "ece_classwise" in row else ""
                out.append(f"  held-out {key:<13} log_loss {row['log_loss']:.4g}  brier "
                           f"{row['brier']:.4g}  ece {row['ece']:.4g}{classwise}")  # fmt: skip
    guard = metrics.get("link_guard")
    if guard:
        out += ["", f"Log-link guard: {guard['describe']}"]
        if "held_out_clipped" in guard:
            out.append(f"  clipped {guard['held_out_clipped']} of {guard['held_out_rows']} held-out "
                       "rows (the evaluated fit's bounds)")  # fmt: skip
    transform = metrics.get("target_transform")
    if transform:
        out += ["", f"Target transform: fit on {transform['transform']}(target), serves the "
                    f"{transform['back_transform']}, smearing factor {transform['smearing']:.4g}"]  # fmt: skip
    for note in metrics.get("ignored_settings") or []:
        out += ["", f"Note: {note}"]
    rails = metrics.get("guard_rails") or []
    if rails:
        out += ["", "Guard rails (warnings)"]
        out += [f"  {rail['message']}" for rail in rails]
    return out
