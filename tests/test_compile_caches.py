"""Warm `wml compile` gives the fresh output: the render cache (jinja/render_cache.py) and the
compile replay (run/compile_state.py) never serve a stale render or stale files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse_ml.run.session import open_session

FILES = {
    "macros/money.sql": "{% macro money(col) %}round({{ col }}, 2){% endmacro %}\n",
    "models_sql/a.sql": "select 1 as id, 2.555 as amount\n",
    "models_sql/b.sql": (
        "select id, {{ money('amount') }} as amount, '{{ var(\"greeting\", \"hi\") }}' as greeting,\n"
        "'{{ env_var(\"WML_TEST_REGION\", \"eu\") }}' as region\nfrom {{ ref('a') }}\n"
    ),
    "models_sql/schema.yml": (
        "models:\n  - name: b\n    columns:\n      - name: id\n        tests: [not_null]\n"
    ),
}


@pytest.fixture
def proj(project, monkeypatch, tmp_path):
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "cache"))  # this test's own key and state
    monkeypatch.delenv("WML_TEST_REGION", raising=False)
    project.write(FILES)
    return project


def _sql(project, name: str) -> str:
    return (project.root / "target/compiled/models_sql" / f"{name}.sql").read_text()


def _compile(project, *args: str) -> str:
    result = project.wml("compile", *args)
    assert result.exit_code == 0, result.output
    return result.output


def _hits(project, **kwargs) -> int:
    session = open_session(project.root, **kwargs)
    try:
        _ = session.graph
        return session.renderer.render_cache_hits
    finally:
        session.close()


def test_unchanged_nodes_reuse_their_render_and_changed_ones_render_again(proj):
    _compile(proj)
    assert _hits(proj) == 3  # a, b and b's not_null test
    proj.write({"models_sql/a.sql": "select 2 as id, 2.555 as amount\n"})
    assert _hits(proj) == 2  # a's file changed: a again; b (its ref's text is the same) and the test reused


def test_a_changed_macro_renders_every_node_again(proj):
    _compile(proj)
    assert "round(amount, 2)" in _sql(proj, "b")
    proj.write({"macros/money.sql": "{% macro money(col) %}round({{ col }}, 4){% endmacro %}\n"})
    _compile(proj)
    assert "round(amount, 4)" in _sql(proj, "b")


def test_vars_on_the_command_line_give_fresh_sql(proj):
    _compile(proj)
    assert "'hi' as greeting" in _sql(proj, "b")
    _compile(proj, "--vars", "{greeting: hello}")
    assert "'hello' as greeting" in _sql(proj, "b")
    _compile(proj)
    assert "'hi' as greeting" in _sql(proj, "b")


def test_an_env_var_read_by_env_var_gives_fresh_sql(proj, monkeypatch):
    _compile(proj)
    assert "'eu' as region" in _sql(proj, "b")
    monkeypatch.setenv("WML_TEST_REGION", "us")
    _compile(proj)
    assert "'us' as region" in _sql(proj, "b")
    monkeypatch.setenv("ZZ_PLAIN_REGION", "x")  # a name no prefix rule covers: env_var() read it
    proj.write({"models_sql/c.sql": "select '{{ env_var(\"ZZ_PLAIN_REGION\") }}' as r\n"})
    _compile(proj)
    assert "'x' as r" in _sql(proj, "c")
    _age(proj)
    _compile(proj)  # recorded: nothing changed while it ran, files are old
    monkeypatch.setenv("ZZ_PLAIN_REGION", "y")
    _compile(proj)
    assert "'y' as r" in _sql(proj, "c")


def test_a_ref_targets_alias_and_schema_reach_the_referring_model(proj):
    _compile(proj)
    assert '"a"' in _sql(proj, "b")
    proj.write({"models_sql/a.sql": "{{ config(alias='a_two') }}\nselect 1 as id, 2.555 as amount\n"})
    _compile(proj)
    assert '"a_two"' in _sql(proj, "b")
    proj.write({"models_sql/props.yml": "models:\n  - name: a\n    config:\n      schema: other\n"})
    _compile(proj)
    assert '"other"."a_two"' in _sql(proj, "b")


def test_a_yaml_property_change_adds_and_removes_tests(proj):
    _compile(proj)
    proj.write({"models_sql/schema.yml": FILES["models_sql/schema.yml"].replace("[not_null]", "[not_null, unique]")})
    _compile(proj)
    manifest = json.loads((proj.root / "target/manifest.json").read_text())
    assert any(uid.startswith("test.test.unique_b_id") for uid in manifest["nodes"])
    assert (proj.root / "target/compiled/models_sql/unique_b_id.sql").exists()
    proj.write({"models_sql/schema.yml": "models:\n  - name: b\n    description: no tests now\n"})
    _compile(proj)
    nodes = json.loads((proj.root / "target/manifest.json").read_text())["nodes"]
    assert not any(uid.startswith("test.") for uid in nodes)
    assert nodes["model.test.b"]["description"] == "no tests now"


def test_deleting_and_adding_models(proj):
    _compile(proj)
    proj.remove("models_sql/schema.yml")
    proj.remove("models_sql/b.sql")
    _compile(proj)
    nodes = json.loads((proj.root / "target/manifest.json").read_text())["nodes"]
    assert "model.test.b" not in nodes and not any(u.startswith("test.") for u in nodes)
    proj.write({"models_sql/c.sql": "select id * 10 as id from {{ ref('a') }}\n"})
    _compile(proj)
    assert "id * 10" in _sql(proj, "c")
    assert "model.test.c" in json.loads((proj.root / "target/manifest.json").read_text())["nodes"]


def test_a_model_reading_run_started_at_is_rendered_on_every_run(proj):
    proj.write({"models_sql/stamp.sql": "select '{{ run_started_at }}' as compiled_at\n"})
    _age(proj)
    _compile(proj)
    first = _sql(proj, "stamp")
    assert _hits(proj) == 3  # a, b, the test: never the stamped model
    time.sleep(0.01)
    _compile(proj)
    assert _sql(proj, "stamp") != first


def test_env_values_never_reach_a_cache_file_in_clear(proj, monkeypatch, tmp_path):
    secret = "s3cr3t-Value-91x"
    monkeypatch.setenv("WML_TEST_TOKEN", secret)
    proj.write({
        "models_sql/uses.sql": "select '{{ env_var(\"WML_TEST_TOKEN\") }}' as token\n",
        "models_sql/flag.sql": "select {{ 1 if env_var('WML_TEST_TOKEN') else 0 }} as has_token\n",
    })  # fmt: skip
    _age(proj)
    _compile(proj)
    _compile(proj)
    assert "****" in _sql(proj, "uses")
    assert _hits(proj) == 4  # flag's render is kept (its SQL holds no value); uses' is not
    for folder in (proj.root / "target", tmp_path / "cache"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def _age(project) -> None:
    """Make every project file a minute old, as files are between edits."""
    old = time.time() - 60
    for path in project.root.rglob("*"):
        if path.is_file() and "target" not in path.parts:
            os.utime(path, (old, old))


def _compile_subprocess(project, tmp_path) -> tuple[str, bool]:
    """`wml compile` in a fresh interpreter: its output and whether it imported Jinja."""
    code = (
        "import sys\nfrom warehouse_ml.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('JINJA' if 'jinja2' in sys.modules else 'NOJINJA')\n"
    )
    env = {**os.environ, "WML_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", code, "compile", "--project-dir", str(project.root)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stdout.strip().endswith("NOJINJA")


def test_an_unchanged_project_replays_and_any_change_compiles(proj, tmp_path):
    _age(proj)
    out, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and "Compiled 3 nodes" in out
    before = json.loads((proj.root / "target/manifest.json").read_text())
    out, replayed = _compile_subprocess(proj, tmp_path)
    assert replayed and "Compiled 3 nodes" in out  # nothing rendered: Jinja never loaded
    after = json.loads((proj.root / "target/manifest.json").read_text())
    assert after["metadata"]["invocation_id"] != before["metadata"]["invocation_id"]
    assert after["nodes"] == before["nodes"]
    # An edited output is written again; so is everything after an input changes.
    (proj.root / "target/compiled/models_sql/b.sql").write_text("tampered\n")
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and "round(amount, 2)" in _sql(proj, "b")
    proj.write({"models_sql/a.sql": "select 7 as id, 2.555 as amount\n"})
    _age(proj)
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and "7 as id" in _sql(proj, "a")


def test_a_project_with_its_own_target_path_replays_too(proj, tmp_path):
    proj.write({"wml_project.yml": "name: test\ntarget_path: build\n"})
    _age(proj)
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and (proj.root / "build/compiled/models_sql/b.sql").exists()
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert replayed  # build/ changed while the first ran: it is output, not input
    (proj.root / "build/compiled/models_sql/b.sql").unlink()
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and (proj.root / "build/compiled/models_sql/b.sql").exists()


def test_a_replay_prints_the_warnings_again(proj, tmp_path):
    proj.write({"models_sql/props.yml": "models:\n  - name: a\n    config:\n      materialized: ephemeral\n      pre_hook: select 1\n"})
    _age(proj)
    _compile_subprocess(proj, tmp_path)
    code = "from warehouse_ml.cli.main import main; main()"
    env = {**os.environ, "WML_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", code, "compile", "--project-dir", str(proj.root)],
                       capture_output=True, text=True, env=env)
        for _ in range(2)
    ]  # fmt: skip
    assert "Warning:" in runs[0].stderr and runs[0].stderr == runs[1].stderr


def test_a_dynamic_model_is_never_replayed(proj, tmp_path):
    proj.write({"models_sql/d.sql": "select {{ 1 if execute else 0 }} as executing\n"})
    _age(proj)
    _compile_subprocess(proj, tmp_path)
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed
    assert "1 as executing" in _sql(proj, "d")


def test_a_file_changed_meanwhile_is_seen(proj, tmp_path):
    """Same size, a new mtime a moment later: the stat differs, so the next run compiles."""
    _age(proj)
    _compile_subprocess(proj, tmp_path)
    path = proj.root / "models_sql/a.sql"
    path.write_text(path.read_text().replace("1 as id", "3 as id"))
    _, replayed = _compile_subprocess(proj, tmp_path)
    assert not replayed and "3 as id" in _sql(proj, "a")


def test_compile_identity_check_passes_on_a_small_generated_project(tmp_path):
    """benchmarks/compile_identity.py: cold, replayed, touched and warm-again compiles write
    the same files (the check run on the 1,000-model project and the demo before a merge)."""
    script = Path(__file__).resolve().parents[1] / "benchmarks/compile_identity.py"
    env = {**os.environ, "WML_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(script), "--models", "12", "--no-demo"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": same") == 4 and done.stdout.strip().endswith("PASS")
