"""What a failing ML test says: the model, the column, the measure and the threshold.

``wml build`` prints a data test's failures as "got N failing rows"; for the wml
monitoring tests the failing rows are findings, so their message names them (at most
MAX_SHOWN), e.g. ``model ltv_model v2, column recency_days on main.customer_scores:
PSI 0.412 above 0.2 (KS 0.318) against training``.
"""

from __future__ import annotations

import typing as t

TESTS = ("score_drift", "feature_drift", "segment_stability", "performance_decay")
MAX_SHOWN = 5


def is_monitoring_test(node: t.Any) -> bool:
    meta = node.test_metadata or {}
    return meta.get("namespace") == "wml" and meta.get("name") in TESTS


def describe(node: t.Any, rows: list[dict[str, t.Any]]) -> str:
    """One sentence per failing row, joined by '; '."""
    name = node.test_metadata["name"]
    told = [_ONE[name](r) for r in rows[:MAX_SHOWN]]
    more = f"; and {len(rows) - MAX_SHOWN} more" if len(rows) > MAX_SHOWN else ""
    return "; ".join(told) + more


def _num(value: t.Any, digits: int = 3) -> str:
    return "NULL" if value is None else f"{float(value):.{digits}f}"


def _drift(r: dict[str, t.Any]) -> str:
    named = "" if r["feature"] == r["column_name"] else f" ({r['feature']})"
    head = f"model {r['model_name']} v{r['model_version']}, column {r['column_name']}{named} on {r['relation']}"
    if r.get("problem") == "no reference profile":
        what = "the training profile" if r["reference"] == "training" else "a previous recorded run"
        return (
            f"{head}: no reference to compare with ({what} is missing; train the model with "
            "this wml, or build the relation once more for a previous run)"
        )
    if r.get("problem") == "no values":
        return f"{head}: no non-NULL values to compare"
    if r.get("problem"):
        return f"{head}: {r['problem']}; set categorical: true/false to match it"
    parts = []
    if r["psi"] is not None and r["psi"] > r["psi_threshold"]:
        parts.append(f"PSI {_num(r['psi'])} above {r['psi_threshold']:g}")
    if r.get("ks_threshold") is not None and r["ks"] is not None and r["ks"] > r["ks_threshold"]:
        parts.append(f"KS {_num(r['ks'])} above {r['ks_threshold']:g}")
    also = []
    if not any(p.startswith("PSI") for p in parts):
        also.append(f"PSI {_num(r['psi'])}")
    if r["ks"] is not None and not any(p.startswith("KS") for p in parts):
        also.append(f"KS {_num(r['ks'])}")
    tail = f" ({', '.join(also)})" if also else ""
    return f"{head}: {' and '.join(parts)}{tail} against {r['reference']}, {r['cur_rows']:,} values"


def _segments(r: dict[str, t.Any]) -> str:
    return (
        f"{r['column_name']} on {r['relation']}: {float(r['changed_share']):.1%} of "
        f"{int(r['compared']):,} profiles changed since the previous run "
        f"(threshold {float(r['threshold']):.1%})"
    )


def _decay(r: dict[str, t.Any]) -> str:
    head = f"model {r['model_name']} v{r['model_version']} on {r['relation']}"
    if r.get("problem"):
        return f"{head}: no evaluation {r['metric']} stored for the deployed version (retrain it with this wml)"
    return (
        f"{head}: {r['metric']} {_num(r['value'], 4)} [{_num(r['ci_low'], 4)}, "
        f"{_num(r['ci_high'], 4)}] on {int(r['matured_rows']):,} matured rows, worse than the "
        f"evaluation {r['metric']} {_num(r['eval_value'], 4)} by more than {float(r['tolerance']):g}"
    )


_ONE: dict[str, t.Callable[[dict[str, t.Any]], str]] = {
    "score_drift": _drift, "feature_drift": _drift,
    "segment_stability": _segments, "performance_decay": _decay,
}  # fmt: skip
