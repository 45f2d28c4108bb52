"""The README's `wml sync` section as written: its YAML against real local servers, its
commands against the demo, whose audience syncs to a file and a webhook."""

from __future__ import annotations

import re
import shlex

import duckdb
import pytest
from click.testing import CliRunner
from conftest import ROOT
from pg_server import pg_bin, postgres_server

from sync.hook_server import HookServer
from warehouse_ml.cli.main import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Sending results out: `wml sync`", 1)[1].split("\n## ", 1)[0]
BLOCKS = dict(re.findall(r"^```(\w+)\n(.*?)^```", SECTION, re.S | re.M))
AUDIENCE = ("profile_id,predicted_ltv_90d,churn_probability,rfm_cluster,arm\n"
            "p1,310.5,0.71,2,email\np2,280.0,0.64,1,discount\np3,455.25,0.9,2,holdout\n")  # fmt: skip


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed")
def test_the_yaml_example_syncs_to_every_destination(project):
    project.write({"seeds/high_value_at_risk.csv": AUDIENCE, "models_sql/syncs.yml": BLOCKS["yaml"]})
    assert project.wml("build").exit_code == 0
    with HookServer() as hook, postgres_server() as dsn:
        env = {"HOOK_URL": hook.url, "HOOK_TOKEN": "readme-token", "SEGMENT_WRITE_KEY": "wk",
               "SEGMENT_URL": hook.url, "APP_DB": dsn}  # fmt: skip
        result = project.wml("sync", env=env)
        assert result.exit_code == 0, result.output
        paths = sorted(r["path"] for r in hook.requests)
        assert paths == ["/", "/v1/batch"]
        import psycopg

        with psycopg.connect(dsn) as con:
            assert con.execute("select count(*) from crm.at_risk").fetchone() == (3,)
    rows = duckdb.sql(f"select count(*) from '{project.root}/exports/at_risk.parquet'").fetchall()
    assert rows == [(3,)]


def test_the_demo_syncs_its_audience_to_a_file_and_a_hook(demo):
    env = {"WML_DUCKDB_PATH": str(demo / "warehouse.duckdb")}
    for line in BLOCKS["bash"].strip().splitlines():
        words = shlex.split(line, comments=True)
        result = CliRunner().invoke(main, [words[1], "--project-dir", str(demo), *words[2:]], env=env)
        assert result.exit_code == 0, result.output
    audience = duckdb.connect(str(demo / "warehouse.duckdb"), read_only=True)
    try:
        expected = audience.execute("select count(*) from high_value_at_risk").fetchall()[0][0]
    finally:
        audience.close()
    written = duckdb.sql(f"select count(*) from '{demo}/exports/high_value_at_risk.parquet'")
    assert written.fetchall() == [(expected,)] and expected > 0
    skipped = CliRunner().invoke(main, ["sync", "--project-dir", str(demo)], env=env)
    assert "SKIP" in skipped.output and "high_value_at_risk_hook" in skipped.output
    with HookServer() as hook:
        args = ["sync", "--project-dir", str(demo), "-s", "high_value_at_risk_hook", "--full-resync"]
        sent = CliRunner().invoke(main, args, env={**env, "WML_DEMO_HOOK_URL": hook.url})
        assert sent.exit_code == 0, sent.output
        rows = hook.accepted_rows()
    assert len(rows) == expected
    assert set(rows[0]["data"]) == {"profile_id", "predicted_ltv_90d", "churn_probability", "arm"}
