"""Live progress: a status line redrawn in place on a terminal, never in plain or JSON logs."""

from __future__ import annotations

import io
import json
import threading
import time

import click
import pytest

from warehouse_ml.run.events import Reporter
from warehouse_ml.run.progress import CLEAR, StatusLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_what_a_running_node_does_in_place():
    out = Terminal()
    reporter = Reporter("text", stream=out)
    reporter.node_started(1, 2, "ml model", "churn")
    assert CLEAR not in out.getvalue()  # nothing to say yet: a fast node shows no line
    reporter.progress("churn", "AUTO candidate 2 of 5: hist_gradient_boosting (40s left of max_runtime)")
    assert out.getvalue().endswith(
        CLEAR + "running: churn 0s, AUTO candidate 2 of 5: hist_gradient_boosting (40s left of max_runtime)"
    )
    reporter.node_finished(1, 2, "ml model", "churn", "success", 1.0, 10, "trained")
    tail = click.unstyle(out.getvalue().rsplit(CLEAR, 1)[1])
    assert tail.startswith("  1 of 2 SUCCESS") and "running:" not in tail  # the line is gone
    reporter.close()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_plain_and_json_output_carry_no_progress(log_format):
    out = io.StringIO()  # not a terminal: CI, a pipe, a log file
    reporter = Reporter(log_format, stream=out)
    reporter.node_started(1, 1, "table model", "slow")
    reporter.progress("slow", "AUTO candidate 1 of 5: linear")
    reporter.node_finished(1, 1, "table model", "slow", "success", 2.0, 1, "")
    assert "\r" not in out.getvalue() and "candidate" not in out.getvalue()
    assert "running:" not in out.getvalue()


def test_the_ticker_shows_elapsed_time_of_a_long_node_and_stops_when_it_ends():
    out = Terminal()
    reporter = Reporter("text", stream=out)
    reporter._status.interval = 0.05
    reporter.node_started(1, 1, "table model", "slow")
    time.sleep(0.3)
    assert out.getvalue().count(CLEAR + "running: slow ") >= 2  # redrawn, not appended lines
    reporter.node_finished(1, 1, "table model", "slow", "success", 0.3, 1, "")
    time.sleep(0.2)
    assert click.unstyle(out.getvalue()).endswith("[1 rows in 0.30s]\n")  # nothing drawn after the node ends


def test_parallel_nodes_share_one_line_and_never_interleave():
    out = Terminal()
    lock = threading.RLock()
    status = StatusLine(out, lock)
    names = [f"node{i}" for i in range(4)]
    for name in names:
        status.start(name)

    def work(name: str) -> None:
        for step in range(50):
            status.update(name, f"step {step}")

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [part for part in out.getvalue().split(CLEAR) if part]
    assert all(part.startswith("running: node") for part in drawn)  # whole lines only
    assert drawn[-1].count("|") == 3 and "node0 0s, step 49 | node1" in drawn[-1]
    status.close()


AUTO_MODEL = """
{{ config(materialized='ml_model', target='y', model_type='auto') }}
select x, 2 * x + (x % 3) as y from range(600) as r(x)
"""


def test_a_build_in_ci_or_json_has_no_progress_lines(project):
    project.write({"models_sql/m.sql": AUTO_MODEL, "models_sql/slow.sql": "select 1 as x"})
    plain = project.wml("build")
    assert plain.exit_code == 0, plain.output
    assert "\r" not in plain.output and "candidate" not in plain.output
    logged = project.wml("build", "--full-refresh", "--log-format", "json")
    assert logged.exit_code == 0, logged.output
    events = [json.loads(line) for line in logged.output.splitlines()]
    assert "\r" not in logged.output and "candidate" not in logged.output
    assert {e["event"] for e in events} <= {"node_start", "node_finish", "run_finish", "info", "warning"}


def test_a_task_outside_a_run_shows_its_steps_then_erases_its_line():
    out = Terminal()
    reporter = Reporter("text", stream=out)
    with reporter.task("sql") as progress:
        progress("AUTO candidate 1 of 5: linear (60s left of max_runtime)")
    assert out.getvalue() == (
        CLEAR + "running: sql 0s, AUTO candidate 1 of 5: linear (60s left of max_runtime)" + CLEAR
    )
    plain = io.StringIO()
    with Reporter("text", stream=plain).task("sql") as progress:
        progress("AUTO candidate 1 of 5: linear")
    assert plain.getvalue() == ""
