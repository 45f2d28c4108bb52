"""The http destination against a real loopback server: diffs, retries, rejections,
dry runs, invalid rows, secrets, the run log and run_results.json."""

from __future__ import annotations

import json
import time

import pytest
from conftest import assert_clean_error

from sync.helpers import PEOPLE, hook_yaml, set_people, write_project
from sync.hook_server import HookServer

TOKEN = "tok-s3cret-98765"


@pytest.fixture
def hook():
    with HookServer() as server:
        yield server


def env(hook: HookServer) -> dict[str, str]:
    return {"HOOK_URL": hook.url, "HOOK_TOKEN": TOKEN}


@pytest.fixture
def synced(project, hook):
    write_project(project, hook_yaml())
    assert project.wml("build").exit_code == 0
    return project


def wml_tables(project) -> int:
    return project.scalar("select count(*) from information_schema.tables where table_schema = 'wml'")


def keys_sent(hook: HookServer) -> list[tuple[str, int]]:
    return [(r["op"], r["key"]["id"]) for r in hook.accepted_rows()]


def test_first_run_sends_all_then_only_the_diff(synced, hook):
    first = synced.wml("sync", env=env(hook))
    assert first.exit_code == 0, first.output
    assert sorted(keys_sent(hook)) == [("upsert", i) for i in range(1, 6)]
    assert len(hook.accepted()) == 3  # batch_size 2: 2 + 2 + 1
    row = hook.accepted_rows()[0]
    assert row["data"] == {"id": 1, "full_name": "ada", "score": 0.5}  # mapping: name -> full_name
    assert hook.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert hook.requests[0]["headers"]["Idempotency-Key"] == hook.accepted()[0]["batch_id"]

    again = synced.wml("sync", env=env(hook))
    assert again.exit_code == 0 and len(hook.accepted()) == 3  # nothing changed: nothing sent
    assert "0 added, 0 changed, 0 removed" in again.output

    # one score changes, one row is removed, one is added
    set_people(synced, PEOPLE.replace("2,bob,0.7", "2,bob,0.8").replace("5,ed,0.3,e@x.io\n", "")
               + "6,fay,0.2,f@x.io\n")  # fmt: skip
    before = len(hook.accepted_rows())
    third = synced.wml("sync", env=env(hook))
    assert third.exit_code == 0, third.output
    new = hook.accepted_rows()[before:]
    assert sorted((r["change"], r["key"]["id"]) for r in new) == [
        ("added", 6), ("changed", 2), ("removed", 5)]  # fmt: skip
    removed = next(r for r in new if r["change"] == "removed")
    assert removed["op"] == "delete" and "data" not in removed
    assert "1 added, 1 changed, 1 removed" in third.output


def test_run_log_and_run_results(synced, hook):
    assert synced.wml("sync", env=env(hook)).exit_code == 0
    rows = synced.query("select sync, destination, status, added, sent, failed, finished_at is not null "
                        "from wml.sync_runs")  # fmt: skip
    assert rows == [("scores_hook", "http", "success", 5, 5, 0, True)]
    assert synced.scalar("select count(*) from wml.sync_state where sync = 'scores_hook'") == 5
    results = json.loads((synced.root / "target/run_results.json").read_text())
    (entry,) = results["results"]
    assert entry["unique_id"] == "sync.test.scores_hook"
    assert entry["status"] == "success" and entry["adapter_response"]["rows_affected"] == 5
    assert results["args"]["which"] == "sync"


def test_500s_and_429_retry_after_are_retried_with_the_same_keys(synced, hook):
    hook.script.extend([500, 503, (429, {"Retry-After": "1"})])
    started = time.monotonic()
    result = synced.wml("sync", env=env(hook))
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was waited out
    first_batch = [r for r in hook.requests[:4]]
    assert [r["status"] for r in first_batch] == [500, 503, 429, 200]
    bodies = {json.dumps(r["body"], sort_keys=True) for r in first_batch}
    assert len(bodies) == 1  # every attempt carried the same rows and idempotency keys
    assert sorted(k for _, k in keys_sent(hook)) == [1, 2, 3, 4, 5]
    assert "retrying" in result.output


def test_a_timeout_is_retried(project, hook):
    write_project(project, hook_yaml(extra="max_retries: 2"))
    assert project.wml("build").exit_code == 0
    hook.script.append(("slow", 1.5))  # longer than timeout: 1
    result = project.wml("sync", env=env(hook))
    assert result.exit_code == 0, result.output
    assert "timed out" in result.output
    first, second = hook.requests[0]["body"], hook.requests[1]["body"]
    assert first == second  # the resend is the same batch, same idempotency keys


def test_exhausted_retries_fail_the_run_and_the_next_run_resends_only_those(project, hook):
    write_project(project, hook_yaml(extra="max_retries: 1"))
    assert project.wml("build").exit_code == 0
    hook.script.extend([200, 500, 500])  # batch 1 ok; batch 2 fails twice: give up
    failed = project.wml("sync", env=env(hook))
    assert failed.exit_code == 1, failed.output
    assert "destination unavailable" in failed.output
    assert project.scalar("select count(*) from wml.sync_state") == 2  # only batch 1 recorded
    assert project.query("select status, sent, failed from wml.sync_runs") == [("error", 2, 3)]
    delivered = {r["key"]["id"]: r["idempotency_key"] for r in hook.accepted_rows()}
    attempted = {r["key"]["id"]: r["idempotency_key"] for q in hook.requests
                 for r in q["body"]["rows"]}  # fmt: skip
    resumed = project.wml("sync", env=env(hook))
    assert resumed.exit_code == 0, resumed.output
    later = hook.accepted_rows()[len(delivered):]
    assert sorted(r["key"]["id"] for r in later) == [3, 4, 5]  # none of batch 1 again
    for r in later:  # rows retried across runs keep their idempotency key
        if r["key"]["id"] in attempted:
            assert r["idempotency_key"] == attempted[r["key"]["id"]]


def test_a_rejected_batch_is_not_recorded_and_exits_1(synced, hook):
    hook.script.append((400, {}))
    result = synced.wml("sync", env=env(hook))
    assert_clean_error(result, 1, "refused: HTTP 400")
    assert synced.scalar("select count(*) from wml.sync_state") == 3  # batches 2 and 3
    assert synced.query("select status, sent, failed from wml.sync_runs") == [("error", 3, 2)]


def test_dry_run_prints_counts_and_samples_and_writes_nothing(synced, hook):
    before = sorted(p.name for p in (synced.root / "target").iterdir())
    results_before = (synced.root / "target/run_results.json").read_bytes()
    result = synced.wml("sync", "--dry-run", env=env(hook))
    assert result.exit_code == 0, result.output
    assert "would send 5 added, 0 changed, 0 removed" in result.output
    assert '"full_name": "ada"' in result.output  # a sample payload
    assert "Authorization: ****" in result.output and TOKEN not in result.output
    assert hook.requests == []
    assert wml_tables(synced) == 0
    assert (synced.root / "target/run_results.json").read_bytes() == results_before
    assert sorted(p.name for p in (synced.root / "target").iterdir()) == before


def test_null_keys_are_refused_unless_skipped(project, hook):
    write_project(project, hook_yaml(), people=PEOPLE + ",nobody,0.4,n@x.io\n,nil,0.2,z@x.io\n")
    assert project.wml("build").exit_code == 0
    refused = project.wml("sync", env=env(hook))
    assert_clean_error(refused, 1, "2 rows with a NULL key (id)", "nothing was sent", "--skip-invalid")
    assert hook.requests == []
    assert wml_tables(project) == 0  # refused before anything was written
    dry = project.wml("sync", "--dry-run", env=env(hook))
    assert dry.exit_code == 1 and "2 rows with a NULL key" in dry.output
    skipped = project.wml("sync", "--skip-invalid", env=env(hook))
    assert skipped.exit_code == 0, skipped.output
    assert "skipping 2 rows with a NULL key" in skipped.output
    assert sorted(k for _, k in keys_sent(hook)) == [1, 2, 3, 4, 5]


def test_required_fields_and_on_invalid_skip(project, hook):
    yaml = hook_yaml().replace("key: id\n", "key: id\n        required: [email]\n        on_invalid: skip\n")
    write_project(project, yaml, people=PEOPLE + "7,gil,0.4,\n")
    assert project.wml("build").exit_code == 0
    result = project.wml("sync", env=env(hook))
    assert result.exit_code == 0, result.output
    assert "1 row with a NULL required field (email)" in result.output
    assert 7 not in [k for _, k in keys_sent(hook)]


def test_duplicate_keys_are_refused(project, hook):
    write_project(project, hook_yaml(), people=PEOPLE + "1,ada2,0.4,q@x.io\n")
    assert project.wml("build").exit_code == 0
    result = project.wml("sync", env=env(hook))
    assert_clean_error(result, 1, 'key {"id":1} appears 2 times')
    assert hook.requests == []


def test_full_resync_sends_everything_with_new_keys(synced, hook):
    assert synced.wml("sync", env=env(hook)).exit_code == 0
    first = {r["key"]["id"]: r["idempotency_key"] for r in hook.accepted_rows()}
    result = synced.wml("sync", "--full-resync", env=env(hook))
    assert result.exit_code == 0, result.output
    assert "5 unchanged resent" in result.output
    again = {r["key"]["id"]: r["idempotency_key"] for r in hook.accepted_rows()[5:]}
    assert sorted(again) == [1, 2, 3, 4, 5]
    # A new epoch: a receiver that drops repeated keys still applies the resync.
    assert not set(first.values()) & set(again.values())


def test_secrets_never_reach_logs_or_artifacts(synced, hook):
    hook.script.append((400, {}))  # an error message too
    out = synced.wml("sync", "--log-format", "json", env=env(hook))
    assert out.exit_code == 1
    assert TOKEN not in out.output and hook.url not in out.output
    synced.wml("ls", "--output", "json", env=env(hook))
    synced.wml("build", "--sync", env=env(hook))
    for path in (synced.root / "target").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data, path
            assert hook.url.encode() not in data, path
    for (message,) in synced.query("select coalesce(message, '') from wml.sync_runs"):
        assert TOKEN not in message


def test_missing_env_var_is_a_config_error_naming_the_file(synced, hook):
    result = synced.wml("sync", env={"HOOK_URL": hook.url})
    assert_clean_error(result, 2, "models_sql/syncs.yml", "HOOK_TOKEN")
    assert hook.requests == []


def test_build_sync_runs_syncs_whose_source_was_rebuilt(synced, hook):
    result = synced.wml("build", "--sync", env=env(hook))
    assert result.exit_code == 0, result.output
    assert "SUCCESS sync scores_hook" in result.output
    assert len(hook.accepted_rows()) == 5
    results = json.loads((synced.root / "target/run_results.json").read_text())
    assert "sync.test.scores_hook" in {r["unique_id"] for r in results["results"]}
    # building something else syncs nothing; plain build never syncs
    synced.write({"models_sql/other.sql": "select 1 as x"})
    set_people(synced, PEOPLE.replace("0.7", "0.75"))
    assert synced.wml("build", "-s", "other", "--sync", env=env(hook)).exit_code == 0
    assert len(hook.accepted_rows()) == 5
    assert synced.wml("build", "-s", "scores", "--sync", env=env(hook)).exit_code == 0
    assert len(hook.accepted_rows()) == 6  # the changed row


def test_build_sync_skips_a_sync_whose_source_test_failed(synced, hook):
    synced.write({"models_sql/tests.yml": """
        models:
          - name: scores
            columns:
              - name: score
                tests: [{accepted_values: {values: [0]}}]
    """})  # fmt: skip
    result = synced.wml("build", "--sync", env=env(hook))
    assert result.exit_code == 1
    assert "SKIP" in result.output and "sync scores_hook" in result.output
    assert hook.requests == []


def test_ls_lists_syncs_downstream_of_their_source(synced):
    listed = synced.wml("ls", "-s", "scores+")
    assert listed.output.split() == ["scores", "scores_hook"]
    typed = synced.wml("ls", "--resource-type", "sync", "--output", "json")
    entry = json.loads(typed.output)
    assert entry["resource_type"] == "sync" and entry["config"]["destination"] == "http"
    assert entry["depends_on"] == {"nodes": ["model.test.scores"]}
