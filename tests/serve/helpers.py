"""Helpers for the Profile API tests: a small project to serve, a real server subprocess.

The server runs as ``python -m warehouse_ml serve`` (uvicorn on a free loopback port),
and requests go over real HTTP with the standard library's client.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import typing as t
from pathlib import Path

from conftest import PROFILE

TOKEN = "test-token-0123456789abcdef"
KIOSK = "kiosk-token-0123456789abcdef"

PROFILES = PROFILE  # the suite's one DuckDB profile (tests/conftest.py)

# Three profiles; p3 appears only in scores, p4 only in traits (a relation may miss an id).
FILES = {
    "profiles.yml": PROFILES,
    "seeds/people.csv": "profile_id,name,city\np1,Ada,Paris\np2,Bob,Rome\np4,Dee,Lima\n",
    "models_sql/traits.sql": """
        select profile_id, name, city, {{ var('v', 1) }} as version,
               date '2026-07-01' as as_of from {{ ref('people') }}
    """,
    "models_sql/scores.sql": """
        select profile_id,
               case profile_id when 'p1' then 150.5 when 'p2' then 20 else 'nan'::double end as ltv,
               cast(0.725 as decimal(5, 3)) as churn,
               timestamp '2026-01-02 03:04:05.5' as seen_at,
               ['a', 'b'] as tags, {'tier': 'gold', 'n': 2} as info,
               {{ var('v', 1) }} as version, 'hidden' as secret_note
        from (values ('p1'), ('p2'), ('p3')) as t(profile_id)
    """,
    "models_sql/at_risk.sql": "select profile_id from {{ ref('scores') }} where profile_id <> 'p3'\n",
    "models_sql/recs.sql": """
        select profile_id, r as rank, 'prod' || r as product, 1.0 / r as score
        from (values ('p1'), ('p2')) as p(profile_id), range(1, 8) as t(r)
    """,
}

PROJECT = """\
name: test
profile: test
models:
  +materialized: table
profile_api:
  key: profile_id
  relations:
    - traits
    - {name: scores, columns: [ltv, churn, seen_at, tags, info, version], scope: scores}
  audiences:
    - at_risk
    - {name: everyone, relation: traits, columns: [city]}
    - {name: vip, relation: scores, where: "ltv > 100 and not isnan(ltv)", scope: scores}
  recommendations: {relation: recs, order_by: rank, columns: [product, score], max_k: 5}
  token: "{{ env_var('WML_API_TOKEN') }}"
  tokens:
    - {name: kiosk, token: "{{ env_var('WML_KIOSK_TOKEN') }}", scopes: [recs]}
  max_batch: 5
  max_page: 50
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def wml(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (no env var leaks from a test into the next)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WML_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "warehouse_ml", *args, "--project-dir", str(root)],
                          capture_output=True, text=True, env=full, timeout=timeout)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``wml serve`` in a subprocess; its stderr is kept to check what it logged."""

    def __init__(self, root: Path, *extra: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.log = root / f"serve-{self.port}.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith("WML_")}
        full.update({"WML_API_TOKEN": TOKEN, "WML_KIOSK_TOKEN": KIOSK, **(env or {})})
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warehouse_ml", "serve", "--project-dir", str(root),
             "--port", str(self.port), "--poll", "0.1", *extra],
            stdout=self._out, stderr=subprocess.STDOUT, env=full,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"wml serve exited: {self.log.read_text()}")
            with contextlib.suppress(OSError):
                status, health, _ = self.call("GET", "/healthz")
                if status == 200 and self.proc.poll() is None:  # ours, not another's on the port
                    pointer = json.loads((root / "target" / "serve" / "current.json").read_text())
                    assert health["snapshot"]["file"] == pointer["snapshot"], health
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"wml serve did not start: {self.log.read_text()}")

    def call(self, method: str, path: str, *, token: str | None = None, body: t.Any = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, t.Any, dict]:  # fmt: skip
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            sent = dict(headers or {})
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            if data is not None:
                sent.setdefault("Content-Type", "application/json")
            con.request(method, path, body=data, headers=sent)
            resp = con.getresponse()
            text = resp.read()
            ctype = resp.getheader("content-type") or ""
            value = json.loads(text) if "json" in ctype else text.decode()
            return resp.status, value, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            con.close()

    def get(self, path: str, token: str | None = TOKEN) -> tuple[int, t.Any]:
        status, value, _ = self.call("GET", path, token=token)
        return status, value

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.log.read_text()


def build_served(root: Path) -> Path:
    """The small project, built (the build publishes its snapshot)."""
    write(root, {**FILES, "wml_project.yml": PROJECT})
    done = wml(root, "build")
    assert done.returncode == 0, done.stdout + done.stderr
    return root
