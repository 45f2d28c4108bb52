"""The repository root is the demo project: it builds end to end from a clean directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import PROJECT_FILES, ROOT

from warehouse_ml.cli.main import main


def query(demo: Path, sql: str) -> list[tuple]:
    import warehouse_ml

    con = warehouse_ml.connect(str(demo))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_demo_builds_every_table(demo):
    tables = {r[0] for r in query(demo, "select table_name from information_schema.tables")}
    for name in ("resolved_events", "identity_map", "profile_traits", "training_ltv", "customer_scores",
                 "high_value_at_risk", "lookalikes", "campaign_results", "profile_event_counts"):
        assert name in tables


def test_models_beat_their_baselines_on_the_latest_snapshot(demo):
    import json

    rows = dict(query(demo, "select name, metrics from wml.models where deployed"))
    ltv = json.loads(rows["ltv_model"])
    assert ltv["rmse"] <= 0.8 * ltv["baseline"]["rmse"], ltv  # at least 20% better than the mean
    churn = json.loads(rows["churn_model"])
    assert churn["auc"] >= 0.75, churn


def test_readme_example_query_runs_in_wml_sql(demo):
    result = CliRunner().invoke(main, [
        "sql", "--project-dir", str(demo), "--format", "csv",
        "select profile_id, predict_ltv(recency_days, tenure_days, frequency, monetary, avg_order_value, "
        "orders_90d, revenue_90d, product_viewed_90d, product_added_90d, emails_opened_90d, "
        "emails_clicked_90d, refunds_90d, store_spend_365d, active_days_90d, cancelled_90d) as ltv "
        "from profile_traits order by ltv desc limit 3",
    ], env={"WML_DUCKDB_PATH": str(demo / "warehouse.duckdb")})
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "profile_id,ltv" and len(lines) == 4


def test_readme_plain_duckdb_query_uses_the_stored_macro(demo):
    """The README's `duckdb warehouse.duckdb` line, in a process that never imports wml."""
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps(con.execute('select predict_rfm_cluster(recency_days, frequency, "
        "monetary) as cluster, count(*) from profile_traits group by 1 order by 1').fetchall()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(demo / "warehouse.duckdb")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rows = json.loads(out)
    assert [c for c, _ in rows] == [0, 1, 2, 3, 4] and sum(n for _, n in rows) > 1000


def test_scores_have_tiers_and_percentiles(demo):
    tiers = {r[0] for r in query(demo, "select distinct purchase_intent from customer_scores")}
    assert tiers <= {"high", "medium", "low", "prospect"} and {"high", "low"} <= tiers
    (lo, hi), = query(demo, "select min(ltv_percentile), max(ltv_percentile) from customer_scores")
    assert lo == 0 and hi == 1
    # One column each (a `select *` over the recommendations join once repeated two of them).
    columns = [r[0] for r in query(demo, "select column_name from information_schema.columns "
                                         "where table_name = 'customer_scores' order by ordinal_position")]
    assert columns == [
        "profile_id", "recency_days", "frequency", "monetary", "predicted_ltv_90d",
        "churn_probability", "repeat_probability", "rfm_cluster", "ltv_score", "ltv_percentile",
        "purchase_intent", "ltv_cohort", "product_recs", "recs_arm",
    ]


def _copy_project(target: Path) -> Path:
    target.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, target / name)
    return target


def _append_csv(path: Path, rows: list[str]) -> None:
    path.write_text(path.read_text().rstrip("\n") + "\n" + "\n".join(rows) + "\n")


def _counts(db: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select * from main.profile_event_counts order by profile_id").fetchall()
    finally:
        con.close()


def _merge_candidate(db: Path) -> tuple[str, str, str, str]:
    """A device that is a profile of its own (never logged in), and a user of another profile."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        anon, anon_profile = con.execute(
            "select identifier_value, m.profile_id from main.identity_map as m "
            "join main.profile_event_counts as c using (profile_id) "
            "where identifier_type = 'anonymous_id' and profile_id = md5('anonymous_id:' || identifier_value) "
            "and drop_reason is null and c.events >= 3 order by 1 limit 1").fetchone()
        user, user_profile = con.execute(
            "select identifier_value, profile_id from main.identity_map where identifier_type = 'user_id' "
            "and profile_id in (select profile_id from main.identity_map where identifier_type = 'anonymous_id' "
            "group by 1 having count(*) < 3) order by 1 limit 1").fetchone()
    finally:
        con.close()
    return anon, anon_profile, user, user_profile


def test_incremental_traits_match_a_full_rebuild(tmp_path):
    """New events, late-arriving events and an identity merge: the incremental run
    re-processes exactly what changed, drops the merged-away profile, and equals a rebuild."""
    project = _copy_project(tmp_path / "inc")
    db = project / "warehouse.duckdb"
    env = {"WML_DUCKDB_PATH": str(db)}
    args = ["--project-dir", str(project), "-s", "+profile_event_counts"]
    assert CliRunner().invoke(main, ["build", *args], env=env).exit_code == 0
    before = {r[0]: r for r in _counts(db)}
    anon, anon_profile, user, user_profile = _merge_candidate(db)
    tracks = project / "seeds" / "tracks.csv"
    rows = tracks.read_text().splitlines()
    header, orders = rows[0].split(","), [r for r in rows[1:] if ",Order Completed," in r]
    stamp = header.index('"timestamp"')
    new_rows = []
    # The same people ordering again after the data ends, and late-arriving orders dated
    # months before the last run's newest event (a phone that was offline).
    for i, row in enumerate(orders[:25] + orders[-25:]):
        cells = row.split(",")
        cells[0] = f"new{i:04d}"
        cells[stamp] = "2026-07-15 12:00:00" if i < 25 else "2026-02-03 04:05:06"
        new_rows.append(",".join(cells))
    _append_csv(tracks, new_rows)
    # One identify linking the never-logged-in device to an existing user: a merge.
    _append_csv(project / "seeds" / "identifies.csv", [f"merge0001,2026-07-16 09:00:00,{user},{anon},,DE,organic"])
    result = CliRunner().invoke(main, ["build", *args], env=env)
    assert result.exit_code == 0, result.output
    incremental = _counts(db)
    after = {r[0]: r for r in incremental}
    assert anon_profile in before and anon_profile not in after  # merged away
    assert after[user_profile][1] == before[user_profile][1] + before[anon_profile][1]
    assert sum(1 for r in incremental if str(r[7]) == "2026-07-15 12:00:00") > 0
    full = CliRunner().invoke(main, ["run", "--full-refresh", "-s", "profile_event_counts",
                                     "--project-dir", str(project)], env=env)
    assert full.exit_code == 0, full.output
    rebuilt = _counts(db)
    assert len(incremental) == len(rebuilt)
    assert incremental == rebuilt


def test_audiences_have_stable_arms(demo):
    arms = dict(query(demo, "select arm, count(*) from high_value_at_risk group by arm"))
    assert set(arms) <= {"email", "discount", "holdout"} and arms.get("holdout", 0) > 0


def test_campaign_is_measured_on_the_events_after_assignment(demo):
    """The SQL audience and arms are the generator's; lift comes with an interval and a
    p-value that match the same statistics computed in Python from the counts."""
    from statistics import NormalDist

    from warehouse_ml.demo import generate

    people = generate(2000, seed=7).people
    truth = {u: a for u, a in zip(people["user_id"].to_pylist(), people["winback_arm"].to_pylist(), strict=True) if a}
    members = dict(query(demo, "select user_id, arm from winback_campaign"))
    agree = sum(truth.get(u) == a for u, a in members.items())
    assert agree >= 0.97 * len(members) and len(members) >= 0.97 * len(truth)
    cols = ("variant, members, conversions, control_members, control_conversions, absolute_lift, "
            "ci_low, ci_high, z_score, p_value")
    rows = query(demo, f"select {cols} from campaign_results order by variant")
    assert [r[0] for r in rows] == ["discount", "email", "treated"]
    for _, n1, x1, n0, x0, lift, lo, hi, z, p in rows:
        assert n0 >= 100  # a holdout large enough to measure
        p1, p0, pooled = x1 / n1, x0 / n0, (x1 + x0) / (n1 + n0)
        se = (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) ** 0.5
        z_py = (p1 - p0) / (pooled * (1 - pooled) * (1 / n1 + 1 / n0)) ** 0.5
        assert abs(lift - (p1 - p0)) < 1e-12 and abs(z - z_py) < 1e-9
        assert abs(lo - (p1 - p0 - 1.959963984540054 * se)) < 1e-9 and abs(hi - (p1 - p0 + 1.959963984540054 * se)) < 1e-9
        assert abs(p - 2 * (1 - NormalDist().cdf(abs(z_py)))) < 2e-7
    treated = rows[2]
    assert treated[6] > 0 and treated[9] < 0.05  # seed 7: the planted effect is detected
