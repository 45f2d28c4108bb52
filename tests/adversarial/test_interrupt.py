"""Ctrl-C during `wml run`: the node in progress rolls back, run_results says so, exit 130.

A real subprocess gets a real SIGINT while DuckDB runs a slow cross join.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

SLOW = """
{{ config(materialized='table') }}
{% if var('slow', false) %}
select count(*) as i from range(200000) a, range(200000) b where (a.range * b.range) % 7 = 3
{% else %}
select range as i from range(5)
{% endif %}
"""
AFTER = "{{ config(materialized='table') }}\nselect * from {{ ref('slow') }}\n"


def _interruptible() -> None:
    """Ctrl-C reaches the child even when these tests run as a background job, whose shell
    ignores SIGINT: a Python started with SIGINT ignored never installs its handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_start(proc: subprocess.Popen[str], name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "node_start" and event.get("name") == name:
            return
    proc.kill()
    pytest.fail(f"{name} never started:\n{proc.communicate()[1]}")


@pytest.mark.parametrize("command", ["run", "build"])
def test_ctrl_c_rolls_back_the_node_and_records_the_interruption(project, command):
    project.write({"models_sql/slow.sql": SLOW, "models_sql/after.sql": AFTER})
    assert project.wml("run").exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse_ml", command, "--project-dir", str(project.root),
         "--vars", "{slow: true}", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_interruptible,
    )  # fmt: skip
    try:
        _wait_for_start(proc, "slow")
        time.sleep(1.0)  # the cross join is running inside its transaction now
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()  # never leave the slow query running
    assert time.monotonic() - started < 15, "Ctrl-C waited for the query to finish"
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr  # one line

    results = json.loads((project.root / "target/run_results.json").read_text())
    status = {".".join(r["unique_id"].split(".")[0:3:2]): r["status"] for r in results["results"]}
    assert results["args"]["interrupted"] is True
    # dbt's statuses: the interrupted node is an error that says so
    assert status == {"model.slow": "error", "model.after": "skipped"}
    [slow] = [r for r in results["results"] if r["unique_id"].endswith(".slow")]
    assert "interrupted" in slow["message"]
    # The previous version stands and no temporary relation is left behind.
    assert project.scalar("select count(*) from main.slow") == 5
    assert project.scalar("select count(*) from main.after") == 5
    leftover = project.query(
        "select table_name from information_schema.tables where table_name like '%wml_tmp%'"
    )
    assert leftover == []


def test_a_finished_run_is_not_marked_interrupted(project):
    project.write({"models_sql/slow.sql": SLOW})
    assert project.wml("run").exit_code == 0
    results = json.loads((project.root / "target/run_results.json").read_text())
    assert results["args"]["interrupted"] is False


SLOW_MODEL = """
{{ config(materialized='ml_model', target='y', problem_type='regression',
          model_type='random_forest', hyperparameters={'n_estimators': var('trees', 5)}) }}
select range as x, range % 13 as z, (range % 13) * 2.0 + range % 7 as y from range(20000)
"""


def test_ctrl_c_while_training_registers_nothing(project):
    project.write({"models_sql/slow_model.sql": SLOW_MODEL})
    assert project.wml("build").exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse_ml", "train", "--full-refresh", "--project-dir",
         str(project.root), "--vars", "{trees: 150}", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_interruptible,
    )  # fmt: skip
    try:
        _wait_for_start(proc, "slow_model")
        time.sleep(1.0)  # training is under way
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert project.query("select version, deployed from wml.models") == [(1, True)]
