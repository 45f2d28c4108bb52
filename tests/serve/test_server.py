"""The Profile API over real HTTP: a `wml serve` subprocess on loopback, both lookup modes.

Every behaviour is checked with the snapshot held in memory and with lookups in the
read-only DuckDB file (``in_memory: false``): the answers must be the same.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from serve.helpers import FILES, KIOSK, PROJECT, TOKEN, Server, wml, write


@pytest.fixture(scope="module", params=["memory", "duckdb"])
def server(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    project = PROJECT + ("  in_memory: false\n" if request.param == "duckdb" else "")
    write(root, {**FILES, "wml_project.yml": project})
    done = wml(root, "build")
    assert done.returncode == 0, done.stdout + done.stderr
    srv = Server(root, "--access-log")
    srv.mode = request.param
    yield srv
    log = srv.stop()
    # Secrets never reach the server's output, even with every request logged.
    assert TOKEN not in log and KIOSK not in log, log
    assert "GET /v1/profiles/p1" in log  # the access log was on: the check above saw requests


def test_a_profile_is_every_relation_row_with_json_values(server):
    status, doc = server.get("/v1/profiles/p1")
    assert status == 200
    assert doc == {
        "id": "p1",
        "traits": {"name": "Ada", "city": "Paris", "version": 1, "as_of": "2026-07-01"},
        "scores": {"ltv": 150.5, "churn": 0.725, "seen_at": "2026-01-02T03:04:05.5",
                   "tags": ["a", "b"], "info": {"tier": "gold", "n": 2}, "version": 1},
        "audiences": ["at_risk", "everyone", "vip"],
    }  # fmt: skip


def test_a_relation_without_the_id_is_null_and_nan_is_null(server):
    assert server.get("/v1/profiles/p4")[1]["scores"] is None
    doc = server.get("/v1/profiles/p3")[1]
    assert doc["traits"] is None and doc["scores"]["ltv"] is None  # NaN is not JSON
    assert doc["audiences"] == []


def test_unknown_id_is_404_and_ids_never_reach_sql(server):
    for pid in ["nobody", "p1' or '1'='1", "p1'; drop table t0; --", "%", "p_", "*", "P1"]:
        status, body = server.get("/v1/profiles/" + urllib.parse.quote(pid, safe=""))
        assert status == 404, (pid, body)
        assert body["error"]["code"] == "not_found"
    assert server.get("/v1/profiles/p1")[0] == 200  # nothing was dropped
    assert server.get("/v1/profiles/" + "x" * 600)[0] == 400


def test_auth_is_a_bearer_token(server):
    status, body, headers = server.call("GET", "/v1/profiles/p1")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert server.get("/v1/profiles/p1", token="wrong")[0] == 401
    assert server.get("/v1/profiles/p1", token=TOKEN + "x")[0] == 401
    assert server.get("/v1/profiles/p1", token="")[0] == 401
    status, _, _ = server.call("GET", "/v1/profiles/p1", headers={"Authorization": f"Basic {TOKEN}"})
    assert status == 401
    assert server.get("/v1/audiences/at_risk", token=None)[0] == 401
    assert server.call("POST", "/v1/profiles:batch", body={"ids": ["p1"]})[0] == 401
    assert server.get("/healthz", token=None)[0] == 200  # probes need no token


def test_a_scoped_token_sees_only_its_scopes(server):
    status, doc = server.get("/v1/profiles/p1", token=KIOSK)
    assert status == 200
    assert "scores" not in doc and doc["traits"]["name"] == "Ada"
    assert doc["audiences"] == ["at_risk", "everyone"]  # vip has scope scores
    assert server.get("/v1/audiences/vip", token=KIOSK)[0] == 403
    assert server.get("/v1/profiles/p3", token=KIOSK)[0] == 404  # only in scores
    names = [a["name"] for a in server.get("/v1/audiences", token=KIOSK)[1]["audiences"]]
    assert names == ["at_risk", "everyone"]


def test_batch_lookup(server):
    status, doc, _ = server.call("POST", "/v1/profiles:batch", token=TOKEN,
                                 body={"ids": ["p2", "nope", "p1", "p2"]})  # fmt: skip
    assert status == 200
    assert [p["id"] for p in doc["profiles"]] == ["p2", "p1"]
    assert doc["not_found"] == ["nope"]
    assert doc["profiles"][1] == server.get("/v1/profiles/p1")[1]
    status, doc, _ = server.call("POST", "/v1/profiles:batch", token=TOKEN, body={"ids": ["a"] * 6})
    assert status == 413 and "at most 5" in doc["error"]["message"]
    for bad in [b"not json", b'{"ids": "p1"}', b'{"ids": [null]}', b"[1]"]:
        assert server.call("POST", "/v1/profiles:batch", token=TOKEN, raw=bad)[0] == 400, bad
    big = json.dumps({"ids": ["p1"], "pad": "x" * 300_000}).encode()
    assert server.call("POST", "/v1/profiles:batch", token=TOKEN, raw=big)[0] == 413


def test_recommendations_k_is_bounded(server):
    status, doc = server.get("/v1/profiles/p1/recommendations?k=2")
    assert status == 200
    assert doc == {"id": "p1", "k": 2, "recommendations": [
        {"product": "prod1", "score": 1.0}, {"product": "prod2", "score": 0.5}]}  # fmt: skip
    assert len(server.get("/v1/profiles/p1/recommendations")[1]["recommendations"]) == 5  # max_k
    for k in ["0", "6", "-1", "two", "1.5"]:
        assert server.get(f"/v1/profiles/p1/recommendations?k={k}")[0] == 400, k
    assert server.get("/v1/profiles/p4/recommendations?k=3")[1]["recommendations"] == []
    assert server.get("/v1/profiles/nobody/recommendations")[0] == 404


def test_audience_paging_visits_every_member_once(server):
    members, cursor, pages = [], None, 0
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        status, page = server.get(f"/v1/audiences/everyone?{query}")
        assert status == 200 and page["count"] == 3
        members += page["profiles"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert members == [{"id": "p1", "city": "Paris"}, {"id": "p2", "city": "Rome"},
                       {"id": "p4", "city": "Lima"}]  # fmt: skip
    assert pages == 3
    assert server.get("/v1/audiences/everyone?limit=51")[0] == 400  # max_page
    assert server.get("/v1/audiences/everyone?cursor=garbage!")[0] == 400
    assert server.get("/v1/audiences/nobody")[0] == 404
    assert server.get("/v1/audiences/vip")[1]["profiles"] == [{"id": "p1"}]


def test_openapi_and_an_offline_docs_page(server):
    status, spec = server.get("/openapi.json", token=None)
    assert status == 200 and spec["openapi"].startswith("3.")
    profile = spec["components"]["schemas"]["Profile"]["properties"]
    assert set(profile) == {"id", "traits", "scores", "audiences"}
    assert "/v1/profiles/{id}/recommendations" in spec["paths"]
    status, _, headers = server.call("GET", "/docs")
    page = server.call("GET", "/docs")[1]
    assert status == 200 and "text/html" in headers["content-type"]
    assert "/v1/audiences/{name}" in page
    assert "<script" not in page and "https://" not in page  # nothing fetched from a CDN


def test_healthz_reports_the_build(server):
    doc = server.get("/healthz", token=None)[1]
    assert doc["status"] == "ok"
    snap = doc["snapshot"]
    assert snap["profiles"] == 4 and snap["built_at"].endswith("Z") and snap["build_id"]
    assert snap["in_memory"] is (server.mode == "memory")


def test_unknown_routes_and_methods_answer_json(server):
    status, body, _ = server.call("GET", "/v2/nothing", token=TOKEN)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert server.call("DELETE", "/v1/profiles/p1", token=TOKEN)[0] == 405
    assert server.get("/v1/profiles/p1?" + "a" * 5000)[0] == 414
