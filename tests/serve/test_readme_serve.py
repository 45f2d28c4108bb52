"""The README's "Serving profiles" section, run as written against the demo built from a
clean copy (the session's ``demo`` fixture), and the demo's own profile_api block served.

The ``yaml`` block must be the demo's block; the ``shell`` block's commands run in order
(`wml serve ... &` starts a real server, on a free port in place of 8080); each ``curl``
answer must equal the ``json`` block shown after it (floats to 1e-9).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

import pytest
import yaml
from conftest import ROOT

from serve.helpers import Server, wml

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("\n## Serving profiles: `wml serve`", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", SECTION, re.S | re.M)
TOKEN = "readme-token-0123456789abcdef0123"


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_the_section_has_its_examples():
    assert len(_blocks("yaml")) == 1 and len(_blocks("shell")) == 1 and len(_blocks("json")) == 2
    assert "MEASURED" not in SECTION


def test_the_yaml_block_is_the_demo_block():
    shown = yaml.safe_load(_blocks("yaml")[0])
    project = yaml.safe_load((ROOT / "wml_project.yml").read_text())
    assert shown["profile_api"] == project["profile_api"]


def _same(actual, expected) -> None:
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (actual, expected)
        for key in expected:
            _same(actual[key], expected[key])
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            _same(a, e)
    else:
        assert actual == expected


def test_the_shell_block_runs_and_answers_as_shown(demo):
    lines = [line for line in _blocks("shell")[0].splitlines() if line.strip()]
    expected = [json.loads(body) for body in _blocks("json")]
    env = {**os.environ, "WML_DUCKDB_PATH": str(demo / "warehouse.duckdb")}
    server = None
    try:
        for line in lines:
            words = shlex.split(line, comments=True)
            if words[0] == "export":
                name = words[1].split("=", 1)[0]
                env[name] = TOKEN  # the README makes a random one; any value is as good
            elif words[:2] == ["wml", "build"]:
                done = wml(demo, "build", env={"WML_DUCKDB_PATH": env["WML_DUCKDB_PATH"]}, timeout=600)
                assert done.returncode == 0, done.stdout + done.stderr
                assert (demo / "target" / "serve" / "current.json").is_file()
            elif words[:2] == ["wml", "serve"]:
                args = [w for w in words[2:] if w != "&"]
                args = [a for i, a in enumerate(args) if a != "--port" and (i == 0 or args[i - 1] != "--port")]
                server = Server(demo, *args, env={"WML_API_TOKEN": env["WML_API_TOKEN"],
                                                 "WML_DUCKDB_PATH": env["WML_DUCKDB_PATH"]})  # fmt: skip
            else:
                assert words[0] == "curl", line
                assert server is not None
                command = line.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
                done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env)
                assert done.returncode == 0, done.stderr
                _same(json.loads(done.stdout), expected.pop(0))
    finally:
        if server is not None:
            log = server.stop()
            assert TOKEN not in log
    assert not expected, "a json block no curl answered"


def test_the_demo_serves_its_audiences_and_recommendations(demo):
    server = Server(demo, env={"WML_API_TOKEN": TOKEN})
    try:
        listed = {a["name"]: a["count"] for a in server.get("/v1/audiences", token=TOKEN)[1]["audiences"]}
        assert set(listed) == {"high_value_at_risk", "lookalikes", "likely_repeat"}
        members, cursor = [], ""
        while cursor is not None:
            page = server.get(f"/v1/audiences/high_value_at_risk?limit=7&cursor={cursor}", token=TOKEN)[1]
            members += page["profiles"]
            cursor = page["next_cursor"]
        assert len(members) == listed["high_value_at_risk"] > 0
        assert len({m["id"] for m in members}) == len(members)
        assert all(m["arm"] in ("email", "discount", "holdout") for m in members), members[:3]
        pid = members[0]["id"]
        profile = server.get(f"/v1/profiles/{pid}", token=TOKEN)[1]
        assert "high_value_at_risk" in profile["audiences"]
        assert profile["customer_scores"]["recs_arm"] in ("recommender", "popular")
        recs = server.get(f"/v1/profiles/{pid}/recommendations?k=5", token=TOKEN)[1]["recommendations"]
        assert len(recs) == 5 and set(recs[0]) == {"product_id", "name", "category", "price", "reason"}
    finally:
        server.stop()
