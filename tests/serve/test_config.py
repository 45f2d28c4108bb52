"""``profile_api:`` errors and the commands around it: every bad block is one paragraph
naming the file and the key, and a failed command leaves no half state behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serve.helpers import FILES, PROJECT, wml, write
from warehouse_ml.errors import ConfigError
from warehouse_ml.serve import config as api


def _error(block: str) -> str:
    import yaml

    with pytest.raises(ConfigError) as err:
        api.parse(yaml.safe_load(block), "wml_project.yml")
    return str(err.value)


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("{key: id, relations: [a], colour: red}", "unknown key 'colour' in `profile_api`"),
        ("{key: id, relations: [{name: a, colums: [x]}]}", "unknown key 'colums' in `profile_api.relations[0]`"),
        ("{key: id, relations: [a], audiences: [{name: b, filter: x}]}", "unknown key 'filter'"),
        ("{key: id, relations: [a], recommendations: {relation: r}}", "recommendations.order_by` is required"),
        ("{key: id, relations: [a], tokens: [{token: \"{{ env_var('T') }}\", scope: [x]}]}", "unknown key 'scope'"),
        ("{relations: [a]}", "`profile_api.key` is required"),
        ("{key: id, relations: []}", "serve nothing"),
        ("{key: id, relations: [a, a]}", "lists 'a' twice"),
        ("{key: id, relations: [audiences]}", "cannot be named 'audiences'"),
        ("{key: id, relations: [\"a; drop table x\"]}", "must be a name"),
        ("{key: id, relations: [a], token: s3cr3t-in-the-file}", "in version control"),
        ("{key: id, relations: [a], max_batch: 0}", "max_batch` must be a whole number from 1"),
        ("{key: id, relations: [a], in_memory: maybe}", "in_memory"),
    ],
)
def test_a_bad_block_names_the_file_and_the_key(block, fragment):
    message = _error(block)
    assert message.startswith("wml_project.yml: ") and fragment in message, message


def _project(tmp_path: Path, block: str) -> Path:
    root = tmp_path / "p"
    project = PROJECT.split("profile_api:")[0] + block
    write(root, {**FILES, "wml_project.yml": project})
    return root


def test_a_bad_block_fails_the_build_before_anything_is_built(tmp_path):
    root = _project(tmp_path, "profile_api:\n  key: profile_id\n  relations: [traits]\n  colour: red\n")
    done = wml(root, "build")
    assert done.returncode == 2
    assert "wml_project.yml: unknown key 'colour' in `profile_api`" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "warehouse.duckdb").exists() or "traits" not in _tables(root)
    assert not (root / "target" / "serve").exists()


def _tables(root: Path) -> set[str]:
    import duckdb

    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    finally:
        con.close()


def test_a_build_never_needs_the_token_and_serve_refuses_without_it(served_project):
    # served_project was built with no WML_ variable set (helpers.wml strips them).
    pointer = json.loads((served_project / "target" / "serve" / "current.json").read_text())
    assert (served_project / "target" / "serve" / pointer["snapshot"]).is_file()
    done = wml(served_project, "serve", "--port", "1")
    assert done.returncode == 2, done.stderr
    assert "environment variable 'WML_API_TOKEN' is not set" in done.stderr
    assert "--no-auth" in done.stderr and "Traceback" not in done.stderr
    done = wml(served_project, "serve", "--no-auth", "--host", "0.0.0.0")
    assert done.returncode == 2 and "loopback" in done.stderr


def test_a_failed_publish_keeps_the_served_snapshot(served_project):
    folder = served_project / "target" / "serve"
    before = sorted(p.name for p in folder.iterdir()), (folder / "current.json").read_text()
    text = (served_project / "wml_project.yml").read_text()
    broken = text.replace("columns: [ltv, churn,", "columns: [ltv, no_such_column, churn,")
    (served_project / "wml_project.yml").write_text(broken)
    try:
        done = wml(served_project, "build", "-s", "scores")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "profile_api.relations[1] 'scores'`: scores has no column 'no_such_column'" in done.stderr
        assert "Its columns: profile_id, ltv, churn" in done.stderr
        after = sorted(p.name for p in folder.iterdir()), (folder / "current.json").read_text()
        assert after == before  # no new file, no temporary file, the same pointer
    finally:
        (served_project / "wml_project.yml").write_text(text)


def test_a_key_that_is_not_unique_is_refused(tmp_path):
    root = _project(tmp_path, "profile_api:\n  key: profile_id\n  relations: [recs]\n")
    done = wml(root, "build")
    assert done.returncode == 1
    assert "profile_id is not unique, e.g. 'p1' (7 rows)" in done.stderr
    assert not list((root / "target" / "serve").glob("*.duckdb"))
    assert not (root / "target" / "serve" / "current.json").exists()


def test_an_unknown_relation_is_named(tmp_path):
    root = _project(tmp_path, "profile_api:\n  key: profile_id\n  relations: [trait]\n")
    done = wml(root, "build")
    assert done.returncode == 2
    assert "`profile_api.relations[0] 'trait'` names 'trait', which is not a model" in done.stderr


def test_publish_only_publishes_from_the_current_database(served_project):
    folder = served_project / "target" / "serve"
    old = json.loads((folder / "current.json").read_text())["snapshot"]
    done = wml(served_project, "serve", "--publish-only")
    assert done.returncode == 0, done.stderr
    new = json.loads((folder / "current.json").read_text())
    assert new["snapshot"] != old and new["profiles"] == 4
    # The build time is the last build's, from run_results.json.
    results = json.loads((served_project / "target" / "run_results.json").read_text())
    assert new["build_id"] == results["metadata"]["invocation_id"]


def test_dbt_project_file_takes_the_block_unrendered(tmp_path):
    root = tmp_path / "d"
    block = PROJECT.split("profile_api:")[1]
    write(root, {**FILES, "dbt_project.yml": "name: test\nprofile: test\nmodel-paths: [models_sql]\n"
                 "models:\n  +materialized: table\nprofile_api:" + block})  # fmt: skip
    done = wml(root, "build")  # no WML_API_TOKEN: dbt_project.yml renders it only at serve time
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "target" / "serve" / "current.json").is_file()
    assert "profile_api" not in done.stderr  # no "unknown key ignored" warning


def test_a_taken_port_is_one_clear_error(served_project):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"WML_API_TOKEN": "x" * 32, "WML_KIOSK_TOKEN": "y" * 32}
        done = wml(served_project, "serve", "--port", str(port), env=env)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr and "ERROR:" not in done.stderr


def test_serve_publish_serves_a_fresh_snapshot_of_the_database(served_project):
    from serve.helpers import TOKEN, Server

    folder = served_project / "target" / "serve"
    old = json.loads((folder / "current.json").read_text())["snapshot"]
    server = Server(served_project, "--publish")
    try:
        health = server.get("/healthz", token=None)[1]
        assert health["snapshot"]["file"] != old
        assert server.get("/v1/profiles/p2", token=TOKEN)[1]["traits"]["name"] == "Bob"
    finally:
        server.stop()


def test_a_source_is_served_by_its_dotted_name(tmp_path):
    from warehouse_ml.serve import snapshot
    from warehouse_ml.serve.app import profile_json
    from warehouse_ml.serve.store import Snapshot

    root = _project(tmp_path, "profile_api:\n  key: profile_id\n  relations: [traits, raw.people]\n")
    write(root, {"models_sql/sources.yml": """
        sources:
          - name: raw
            schema: main
            tables: [{name: people}]
    """})  # fmt: skip
    done = wml(root, "build")
    assert done.returncode == 0, done.stderr
    folder = snapshot.directory(root / "target")
    pointer = snapshot.read_pointer(folder)
    snap = Snapshot(folder / pointer["snapshot"], pointer)
    try:
        doc = json.loads(profile_json(snap, "p4", None))
    finally:
        snap.close()
    assert doc["raw.people"] == {"name": "Dee", "city": "Lima"} and doc["traits"]["city"] == "Lima"


def test_the_token_is_never_written(tmp_path):
    secret = "s3cr3t-never-written-0123456789"
    root = _project(tmp_path, "profile_api:" + PROJECT.split("profile_api:")[1])
    env = {"WML_API_TOKEN": secret, "WML_KIOSK_TOKEN": secret + "-kiosk"}
    outputs = [wml(root, "build", env=env), wml(root, "serve", "--publish-only", env=env),
               wml(root, "serve", "--port", "1", "--host", "256.1.1.1", env=env)]  # fmt: skip
    for done in outputs:
        assert secret not in done.stdout + done.stderr
    assert [done.returncode for done in outputs] == [0, 0, 2]  # the last cannot listen there
    for path in (root / "target").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_failed_test_publishes_nothing(served_project):
    folder = served_project / "target" / "serve"
    before = (folder / "current.json").read_text()
    write(served_project, {"tests/sql/no_bob.sql": "select * from {{ ref('traits') }} where name = 'Bob'\n"})
    try:
        done = wml(served_project, "build", "--vars", "{v: 9}")
        assert done.returncode == 1
        assert "no snapshot published, as the run had errors or failed tests" in done.stderr
        assert (folder / "current.json").read_text() == before
    finally:
        (served_project / "tests" / "sql" / "no_bob.sql").unlink()
