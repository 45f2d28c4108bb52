"""The drift table of a model's recorded scoring runs, for ``wml monitor`` and Python.

Each row is one (column, metric) of the newest scoring run of each relation that holds
the model's scores or features, against the training profile of the version that scored
it (or against the relation's previous run of that version): PSI and KS computed in SQL
(:func:`warehouse_ml.ml.monitoring.sql.drift_sql`) over the stored bins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t
from pathlib import Path

from warehouse_ml.ml.monitoring import sql, store

PSI_THRESHOLD = 0.2  # "significant" shift in the industry's PSI rule of thumb
PSI_WARN = 0.1  # "moderate"


@dataclasses.dataclass
class DriftRow:
    """One measure of one column of one scoring run."""

    model: str
    version: int
    relation: str
    column: str
    feature: str  # the model's name for it: a feature, 'prediction' or 'probability'
    role: str  # 'feature' | 'score'
    metric: str  # 'psi' | 'ks'
    value: float | None
    threshold: float | None
    status: str  # 'ok' | 'warn' | 'drift' | 'no data' | 'no reference'
    run_at: dt.datetime
    reference: str  # 'training (version N)' | 'previous run <time>'
    rows: int
    rows_null: int

    def as_json(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        out["run_at"] = self.run_at.isoformat(sep=" ")
        return out


def _executor(con: t.Any) -> store.Execute:
    """A DuckDB connection, or a wml Adapter (which binds ``?`` for its own driver)."""
    if hasattr(con, "dialect") and hasattr(con, "execute"):
        return lambda text, params: con.execute(text, params)
    return lambda text, params: con.execute(text, params).fetchall()


def drift_table(
    con: t.Any,
    model: str,
    *,
    relation: str | None = None,
    compare_to: str = "training",
    psi_threshold: float = PSI_THRESHOLD,
    psi_warn: float | None = PSI_WARN,
    ks_threshold: float | None = None,
) -> list[DriftRow]:
    """The drift table of ``model``: a row per (relation, column, 'psi' | 'ks').

    ``con`` is a DuckDB connection (``warehouse_ml.connect()``) or an adapter;
    ``relation`` ('schema.table') limits it to one relation; ``compare_to`` is
    'training' (the version's training profile) or 'previous_run'. Status: 'drift' above
    the threshold, 'warn' above ``psi_warn`` (PSI only), else 'ok'; a run without values
    is 'no data', one with nothing to compare to 'no reference'. Empty when the model has
    no recorded scoring run.
    """
    if compare_to not in ("training", "previous_run"):
        raise ValueError("compare_to must be 'training' or 'previous_run'")
    execute = _executor(con)
    out: list[DriftRow] = []
    for rel in _relations(execute, model, relation):
        runs = store.latest_runs(execute, model, rel, limit=2)
        if runs:
            out += _run_rows(execute, model, runs, compare_to, (psi_threshold, psi_warn, ks_threshold))
    return out


def _relations(execute: store.Execute, model: str, relation: str | None) -> list[str]:
    if relation is not None:
        return [relation]
    if not store.exists(execute):
        return []
    rows = execute(
        f"select distinct relation from {store.TABLE} where kind = 'scoring' and model_name = ? "
        "order by relation",
        [model],
    )
    return [r[0] for r in rows]


def _run_rows(
    execute: store.Execute,
    model: str,
    runs: list[tuple[str, t.Any, int, str]],
    compare_to: str,
    limits: tuple[float, float | None, float | None],
) -> list[DriftRow]:
    run_id, run_at, version, rel = runs[0]
    columns = execute(
        f"select feature, max(column_name), max(role), max(rows_total), max(rows_null) "
        f"from {store.TABLE} where run_id = ? and role in ('feature', 'score') group by feature "
        "order by max(role), feature",
        [run_id],
    )
    features = [c[0] for c in columns]
    if compare_to == "training":
        ref, label = sql.training_ref_sql(model, features, version), f"training (version {version})"
    else:
        previous = runs[1] if len(runs) > 1 and runs[1][2] == version else None
        ref = sql.run_ref_sql(sql.literal(previous[0]), features) if previous else None
        label = f"previous run {previous[1]:%Y-%m-%d %H:%M:%S}" if previous else "previous run"
    measured = {}
    if ref is not None:
        rows = execute(sql.drift_sql(sql.stored_bins_sql(ref, run_id)), None)
        measured = {r[0]: r for r in rows}
    out = []
    for feature, column, role, total, nulls in columns:
        found = measured.get(feature)
        for metric in ("psi", "ks"):
            value = None if found is None else found[4 if metric == "psi" else 5]
            if metric == "ks" and found is not None and found[1] != "numeric":
                continue  # KS is for numbers; categories are judged by PSI alone
            threshold = limits[0] if metric == "psi" else limits[2]
            status = _status(found, value, threshold, limits[1] if metric == "psi" else None)
            out.append(DriftRow(
                model, version, rel, column, feature, role, metric,
                None if value is None else float(value), threshold, status, run_at, label,
                int(total or 0), int(nulls or 0),
            ))  # fmt: skip
    return out


def _status(found: t.Any, value: t.Any, threshold: float | None, warn: float | None) -> str:
    if found is None:
        return "no reference"
    if value is None:
        return "no data"
    if threshold is not None and value > threshold:
        return "drift"
    if warn is not None and value > warn:
        return "warn"
    return "ok"


def worst_drift(con: t.Any, model: str, version: int, threshold: float) -> str | None:
    """'relation.column PSI x above t' for the worst column of ``version``'s newest runs."""
    rows = [
        r for r in drift_table(con, model, psi_threshold=threshold, psi_warn=None)
        if r.metric == "psi" and r.version == version and r.value is not None and r.value > threshold
    ]  # fmt: skip
    if not rows:
        return None
    worst = max(rows, key=lambda r: t.cast(float, r.value))
    return (
        f"{worst.relation}.{worst.column} PSI {worst.value:.3f} above {threshold:g} "
        f"(scoring run {worst.run_at:%Y-%m-%d %H:%M} UTC)"
    )


def format_table(rows: list[DriftRow]) -> str:
    """feature | PSI | KS | threshold | status, one line per column, grouped by run."""
    lines: list[str] = []
    by_run: dict[tuple[str, t.Any], list[DriftRow]] = {}
    for row in rows:
        by_run.setdefault((row.relation, row.run_at), []).append(row)
    for (rel, run_at), group in by_run.items():
        first = group[0]
        lines.append(
            f"{first.model} version {first.version} on {rel}, scored {run_at:%Y-%m-%d %H:%M:%S} "
            f"UTC, {first.rows:,} rows, against {first.reference}"
        )
        lines.append(f"  {'column':<28} {'feature':<22} {'PSI':>8} {'KS':>8}  {'threshold':<18} status")
        for column, metrics in _pivot(group):
            psi, ks = metrics.get("psi"), metrics.get("ks")
            limit = f"PSI {psi.threshold:g}" if psi and psi.threshold is not None else ""
            if ks and ks.threshold is not None:
                limit += f", KS {ks.threshold:g}"
            status = _worst([m.status for m in metrics.values()])
            lines.append(
                f"  {column.column:<28} {column.feature:<22} {_num(psi):>8} {_num(ks):>8}  "
                f"{limit:<18} {status}"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_ORDER = ("drift", "no data", "no reference", "warn", "ok")


def _worst(statuses: list[str]) -> str:
    return min(statuses, key=lambda s: _ORDER.index(s) if s in _ORDER else len(_ORDER))


def _pivot(group: list[DriftRow]) -> list[tuple[DriftRow, dict[str, DriftRow]]]:
    out: dict[str, tuple[DriftRow, dict[str, DriftRow]]] = {}
    for row in group:
        out.setdefault(row.column, (row, {}))[1][row.metric] = row
    return list(out.values())


def _num(row: DriftRow | None) -> str:
    return "-" if row is None or row.value is None else f"{row.value:.4f}"


def write_json(rows: list[DriftRow], target_dir: Path, model: str) -> Path:
    """``target/monitoring/<model>.json``: the table, for the model card to read."""
    from warehouse_ml.files import write_atomically

    path = target_dir / "monitoring" / f"{model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model, "rows": [r.as_json() for r in rows]}
    write_atomically(path, (json.dumps(payload, indent=2, default=str) + "\n").encode("utf-8"))
    return path
