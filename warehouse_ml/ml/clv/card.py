"""What ``wml show`` prints for a CLV version: its fitted parameters and in-sample figures."""

from __future__ import annotations

from warehouse_ml.ml import registry

_NAMES = {"r": "BG/NBD r", "alpha": "BG/NBD alpha", "a": "BG/NBD a", "b": "BG/NBD b",
          "p": "Gamma-Gamma p", "q": "Gamma-Gamma q", "v": "Gamma-Gamma v"}  # fmt: skip


def metric_lines(v: registry.ModelVersion) -> list[str]:
    m, s = v.metrics or {}, v.settings or {}
    fn = v.function
    lines = [
        f"\nFitted on all {m.get('customers', v.rows_train)} customers (in-sample; no held-out split)",
        *(f"  {_NAMES[k]:<26} {val:.6g}" for k, val in (s.get("params") or {}).items()),
        f"  {'horizon':<26} {s.get('horizon')}  (periods of recency and T)",
        f"  {'SQL series terms':<26} {s.get('series_terms')}  (tolerance {s.get('tolerance')})",
    ]
    for key in ("log_likelihood", "repeat_customers", "mean_expected_purchases", "mean_p_alive",
                "mean_expected_spend"):  # fmt: skip
        if isinstance(m.get(key), (int, float)):
            lines.append(f"  {key:<26} {m[key]:.6g}")
    lines.append(f"\nFunctions: {fn}(frequency, recency, T, monetary_value) = expected spend, "
                 f"{fn}_prob(frequency, recency, T) = P(alive), "
                 f"{fn}_purchases(frequency, recency, T) = expected purchases")
    return lines


def auto_lines(v: registry.ModelVersion) -> list[str]:
    """For an AUTO model won by its CLV candidate: why it won, its fit, how it serves.
    [] for any other version."""
    fit = (v.settings or {}).get("clv_fit")
    if not fit:
        return []
    from warehouse_ml.ml.evaluate import higher_is_better

    board = [r for r in v.leaderboard or [] if isinstance(r.get("score"), (int, float))]
    ranked = sorted(board, key=lambda r: higher_is_better(r["metric"], {r["metric"]: r["score"]}),
                    reverse=True)  # fmt: skip
    ours = next((r for r in ranked if r.get("model_type") == v.model_type), None)
    rival = next((r for r in ranked if r.get("model_type") != v.model_type), None)
    lines = ["\nServed by AUTO's CLV candidate (BG/NBD + Gamma-Gamma, fitted by lifetimes)"]
    if ours is not None:
        why = f"  won: validation {ours['metric']} {ours['score']:.6g}"
        if rival is not None:
            why += f", the best other candidate ({rival['model_type']}) {rival['score']:.6g}"
        lines.append(why + f", on {ours.get('rows')} rows")
    what = "purchases" if fit.get("predicts") == "purchases" else "spend"
    cols = fit.get("columns") or {}
    lines.append(f"  predicts expected {what} over {fit.get('horizon'):g} periods from "
                 + ", ".join(f"{role}={col}" for role, col in cols.items()))
    lines += [f"  {_NAMES[k]:<26} {val:.6g}" for k, val in (fit.get("params") or {}).items()]
    lines.append(f"  {'SQL series terms':<26} {fit.get('series_terms')}  (tolerance {fit.get('tolerance')})")
    lines.append(f"  no ONNX graph: {v.function}(...) is a SQL macro over its feature columns "
                 "(wml compile-model prints it; wml export and wml predict do not apply)")
    return lines
