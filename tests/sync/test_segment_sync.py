"""The segment destination against a loopback server standing in for api.segment.io:
the /v1/batch payload, basic auth from the write key, limits, removals."""

from __future__ import annotations

import base64

from sync.helpers import PEOPLE, set_people, write_project
from sync.hook_server import HookServer

KEY = "wk-segment-7Hq2"


def segment_yaml(extra: str = "") -> str:
    return f"""
    syncs:
      - name: traits_to_segment
        source: scores
        key: id
        fields: [score, email]
        destination:
          type: segment
          write_key: "{{{{ env_var('SEGMENT_WRITE_KEY') }}}}"
          endpoint: "{{{{ env_var('SEGMENT_URL') }}}}"
          backoff: 0.01
          {extra}
    """


def env(hook: HookServer) -> dict[str, str]:
    return {"SEGMENT_WRITE_KEY": KEY, "SEGMENT_URL": hook.url}


def test_identify_batch_shape_and_auth(project):
    write_project(project, segment_yaml())
    assert project.wml("build").exit_code == 0
    with HookServer() as hook:
        result = project.wml("sync", env=env(hook))
        assert result.exit_code == 0, result.output
        (request,) = hook.requests
        assert request["path"] == "/v1/batch"
        assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
        body = request["body"]
        assert set(body) == {"batch", "sentAt"}
        first = body["batch"][0]
        assert first["type"] == "identify" and first["userId"] == "1"
        assert first["traits"] == {"score": 0.5, "email": "a@x.io"}
        assert len(first["messageId"]) == 32 and first["timestamp"].endswith("+00:00")
        assert first["context"]["library"]["name"] == "warehouse-ml"
        assert len({m["messageId"] for m in body["batch"]}) == 5
        # a removed row is not sent (the tracking API cannot delete), and leaves the state
        set_people(project, PEOPLE.replace("5,ed,0.3,e@x.io\n", ""))
        removed = project.wml("sync", env=env(hook))
        assert removed.exit_code == 0, removed.output
        assert len(hook.requests) == 1
        assert "removals not sent: segment cannot delete" in removed.output
        assert project.scalar("select count(*) from wml.sync_state") == 4
        assert KEY not in result.output + removed.output


def test_track_calls_and_the_size_limits(project):
    big = "x" * 40_000  # over the 32 KB message limit
    medium = "y" * 20_000  # 30 of these exceed one 500 KB request
    people = "id,name,score,email\n" + "".join(
        f"{i},n{i},0.1,{big if i == 1 else medium}\n" for i in range(1, 32))
    write_project(project, segment_yaml("call: track\n          event: Scored"), people=people)
    assert project.wml("build").exit_code == 0
    with HookServer() as hook:
        result = project.wml("sync", env=env(hook))
        assert result.exit_code == 1  # one message refused
        assert "over Segment's 32 KB limit" in result.output
        sizes = [len(r["raw"]) for r in hook.requests]
        assert all(size <= 500 * 1024 for size in sizes) and len(sizes) >= 2
        messages = [m for r in hook.requests for m in r["body"]["batch"]]
        assert len(messages) == 30 and {m["type"] for m in messages} == {"track"}
        assert messages[0]["event"] == "Scored" and "email" in messages[0]["properties"]
        assert "1" not in {m["userId"] for m in messages}
        assert project.scalar("select count(*) from wml.sync_state") == 30
