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
