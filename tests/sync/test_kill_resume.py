"""kill -9 in the middle of a sync: the next run resends only the batch in flight, with
the same idempotency keys, and every row arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sync.helpers import hook_yaml, write_project
from sync.hook_server import HookServer

ROWS = "id,name,score,email\n" + "".join(f"{i},n{i},0.{i % 10},e{i}@x.io\n" for i in range(1, 13))


def _wml(project, hook: HookServer, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HOOK_URL": hook.url, "HOOK_TOKEN": "kill-test-token"}
    code = "from warehouse_ml.cli.main import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "sync", "--project-dir", str(project.root), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_kill_9_mid_sync_resumes_without_loss_or_new_keys(project):
    write_project(project, hook_yaml(), people=ROWS)  # 12 rows, batches of 2
    assert project.wml("build").exit_code == 0
    with HookServer(delay=0.4) as hook:
        proc = _wml(project, hook)
        deadline = time.monotonic() + 60
        while len(hook.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hook.requests) >= 3, proc.communicate()[0]
        os.kill(proc.pid, signal.SIGKILL)  # while batch 3 waits for its answer
        proc.wait()
        in_flight = {r["key"]["id"]: r["idempotency_key"] for r in hook.requests[-1]["body"]["rows"]}
        before = len(hook.requests)
        assert before == 3
        hook.delay = 0
        resumed = _wml(project, hook)
        output = resumed.communicate(timeout=120)[0].decode()
        assert resumed.returncode == 0, output
        later = [row for r in hook.requests[before:] for row in r["body"]["rows"]]
    first_two = [row["key"]["id"] for r in hook.requests[:2] for row in r["body"]["rows"]]
    later_ids = [row["key"]["id"] for row in later]
    assert not set(first_two) & set(later_ids)  # acknowledged batches are not sent again
    assert sorted(first_two + later_ids) == sorted(set(range(1, 13)) | set(in_flight))
    assert set(in_flight) <= set(later_ids)  # the unacknowledged batch is sent again ...
    for row in later:  # ... with the keys it had
        if row["key"]["id"] in in_flight:
            assert row["idempotency_key"] == in_flight[row["key"]["id"]]
    assert project.scalar("select count(*) from wml.sync_state") == 12
    assert project.query("select status from wml.sync_runs order by started_at") == [
        ("aborted",), ("success",)]  # fmt: skip
