"""A long compile's transpiling shared with a child process (adapters/transpile_ahead.py):
the same SQL as transpiling in-process, errors told by the compile loop, no secret cached,
no child left behind."""

from __future__ import annotations

import time

import pytest

from warehouse_ml import redaction
from warehouse_ml.adapters import transpile_ahead
from warehouse_ml.adapters.dialects import TranspileCache, transpile
from warehouse_ml.errors import CompilationError

pytestmark = pytest.mark.skipif(
    not transpile_ahead.worth_a_child(transpile_ahead.MIN_JOBS), reason="needs a second core"
)
N = 500


def _sqls(n: int = N) -> list[str]:
    return [f"select dateadd(day, {i}, getdate()) as d, nvl(x, {i}) as x from t" for i in range(n)]


def _wait_for(ahead: transpile_ahead.Ahead, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(ahead.answers) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_child_answers_in_the_order_sent_and_the_loop_waits_for_it(monkeypatch):
    from warehouse_ml.adapters import dialects

    monkeypatch.setattr(transpile_ahead, "STALL", 10.0)  # a busy host: the child may pause
    sqls = _sqls()
    expected = [transpile(s, "redshift", "duckdb") for s in sqls]
    parsed_here: list[str] = []
    parse = dialects.parse
    monkeypatch.setattr(dialects, "parse", lambda sql, *a, **k: parsed_here.append(sql) or parse(sql, *a, **k))
    cache = TranspileCache(None)
    with cache.ahead(sqls, "redshift", "duckdb"):
        ahead = cache._ahead
        assert ahead is not None
        _wait_for(ahead, 50)
        keys = [TranspileCache.key(s, "redshift", "duckdb") for s in sqls]
        assert keys[0] in ahead.answers and keys[-1] not in ahead.answers  # in the order sent
        got = [transpile(s, "redshift", "duckdb", cache=cache) for s in sqls]
        answered = len(ahead.answers)
    assert got == expected
    # The loop outran the child and waited for its answers: nothing transpiled here.
    assert answered == N and parsed_here == []
    assert cache._ahead is None and ahead._proc.poll() is not None  # the child is gone


def test_a_stalled_child_leaves_the_rest_to_the_loop(monkeypatch):
    import os
    import signal

    monkeypatch.setattr(transpile_ahead, "STALL", 0.2)
    sqls = _sqls()
    cache = TranspileCache(None)
    with cache.ahead(sqls, "redshift", "duckdb"):
        ahead = cache._ahead
        _wait_for(ahead, 20)
        os.kill(ahead._proc.pid, signal.SIGSTOP)  # answers stop coming; the child lives
        began = time.monotonic()
        got = [transpile(s, "redshift", "duckdb", cache=cache) for s in sqls]
        assert ahead._stalled and time.monotonic() - began < 20
    assert got == [transpile(s, "redshift", "duckdb") for s in sqls]
    assert ahead._proc.poll() is not None  # a stopped child is killed too


def test_a_statement_the_child_cannot_transpile_is_left_to_the_loop_which_says_why():
    sqls = _sqls()
    sqls[0] = "select * from (select 1"  # the child's first job
    cache = TranspileCache(None)
    with cache.ahead(sqls, "redshift", "duckdb"):
        _wait_for(cache._ahead, 20)
        assert TranspileCache.key(sqls[0], "redshift", "duckdb") in cache._ahead.unanswered
        assert TranspileCache.key(sqls[1], "redshift", "duckdb") in cache._ahead.answers
        with pytest.raises(CompilationError, match="cannot parse the SQL as redshift") as err:
            transpile(sqls[0], "redshift", "duckdb", cache=cache, node="first", path="models/first.sql")
    assert err.value.node == "first"


def test_an_answer_holding_a_secret_is_not_cached():
    secret = "s3cr3t-token-value-42"
    redaction.register(secret)
    try:
        sqls = _sqls()
        sqls[0] = f"select '{secret}' as token, getdate() as d"
        cache = TranspileCache(None)
        with cache.ahead(sqls, "redshift", "duckdb"):
            _wait_for(cache._ahead, 20)
            assert TranspileCache.key(sqls[0], "redshift", "duckdb") not in cache._ahead.answers
            assert TranspileCache.key(sqls[1], "redshift", "duckdb") in cache._ahead.answers
    finally:
        redaction.forget([secret])


def test_few_misses_start_no_child_and_cached_ones_do_not_count():
    cache = TranspileCache(None)
    with cache.ahead(_sqls(transpile_ahead.MIN_JOBS - 1), "redshift", "duckdb"):
        assert cache._ahead is None
    sqls = _sqls(transpile_ahead.MIN_JOBS + 10)
    for sql in sqls[:20]:
        transpile(sql, "redshift", "duckdb", cache=cache)
    with cache.ahead(sqls, "redshift", "duckdb"):
        assert cache._ahead is None  # 20 were cached: fewer than MIN_JOBS left


def test_a_cold_compile_of_many_models_writes_what_transpiling_in_process_gives(project, monkeypatch):
    answered: list[int] = []
    close = transpile_ahead.Ahead.close

    def spy(self: transpile_ahead.Ahead) -> None:
        answered.append(len(self.answers))
        close(self)

    monkeypatch.setattr(transpile_ahead.Ahead, "close", spy)
    # On a busy host the loop may finish before the child has imported sqlglot; the
    # first lookup waits for the child's first answer, so "it did some work" holds.
    get = TranspileCache.get

    def patient_get(self: TranspileCache, key: str) -> str | None:
        if self._ahead is not None and not self._ahead.answers:
            _wait_for(self._ahead, 1)
        return get(self, key)

    monkeypatch.setattr(TranspileCache, "get", patient_get)
    files = {"wml_project.yml": "name: test\nsql_dialect: redshift\nmodels:\n  +materialized: view\n"}
    for i in range(450):
        files[f"models_sql/m{i:03}.sql"] = f"select dateadd(day, {i}, getdate()) as d, {i} as id"
    files["models_sql/m449.sql"] = "select 1 as id, getdate() as d from {{ ref('m000') }}"
    project.write(files)
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    assert len(answered) == 1 and answered[0] > 0  # one child, and it did some of the work
    for i in range(449):
        written = (project.root / f"target/compiled/models_sql/m{i:03}.sql").read_text()
        assert written.rstrip("\n") == transpile(files[f"models_sql/m{i:03}.sql"], "redshift", "duckdb")
    # One model edited: the child started early answers it (or, if late, the loop does).
    edited = "select dateadd(month, 3, getdate()) as d, nvl(null, 7) as id"
    project.write({"models_sql/m010.sql": edited})
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    assert len(answered) == 2 and transpile_ahead.started() is None
    written = (project.root / "target/compiled/models_sql/m010.sql").read_text()
    assert written.rstrip("\n") == transpile(edited, "redshift", "duckdb")
    # The last model cannot be transpiled: the error names it, whoever met it first.
    project.write({"models_sql/m449.sql": "select 1 as id from {{ ref('m000') }} where ("})
    import shutil

    shutil.rmtree(project.root / "target")
    result = project.wml("compile")
    assert result.exit_code != 0
    assert "m449" in result.output and "cannot parse the SQL" in result.output, result.output
    assert "Traceback" not in result.output
    assert transpile_ahead.started() is None


def test_a_compile_failing_while_parsing_stops_the_child_started_for_it(project, monkeypatch):
    started: list[transpile_ahead.Ahead] = []
    start = transpile_ahead.Ahead.__init__

    def spy(self: transpile_ahead.Ahead) -> None:
        start(self)
        started.append(self)

    monkeypatch.setattr(transpile_ahead.Ahead, "__init__", spy)
    files = {"wml_project.yml": "name: test\nsql_dialect: redshift\n"}
    for i in range(transpile_ahead.MIN_JOBS):
        files[f"models_sql/m{i:03}.sql"] = f"select getdate() as d, {i} as id"
    files["models_sql/m000.sql"] = "select {{ ref('nope') }}"
    project.write(files)
    result = project.wml("compile")
    assert result.exit_code != 0 and "nope" in result.output, result.output
    assert len(started) == 1  # cold, many .sql files: started early
    assert started[0]._proc.poll() is not None and transpile_ahead.started() is None


def test_the_childs_imports_ignore_python_files_in_the_project_folder(tmp_path, monkeypatch):
    (tmp_path / "json.py").write_text("raise SystemExit('the project folder was imported from')\n")
    monkeypatch.chdir(tmp_path)
    sqls = _sqls()
    cache = TranspileCache(None)
    with cache.ahead(sqls, "redshift", "duckdb"):
        _wait_for(cache._ahead, 20)
        assert len(cache._ahead.answers) >= 20


def test_without_a_child_the_compile_loop_transpiles_everything(project, monkeypatch):
    monkeypatch.setattr(transpile_ahead.sys, "executable", str(project.root / "no-such-python"))
    assert transpile_ahead.start() is None
    files = {"wml_project.yml": "name: test\nsql_dialect: redshift\n"}
    for i in range(transpile_ahead.MIN_JOBS):
        files[f"models_sql/m{i:03}.sql"] = f"select nvl(null, {i}) as id"
    project.write(files)
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    written = (project.root / "target/compiled/models_sql/m123.sql").read_text()
    assert written.rstrip("\n") == "SELECT COALESCE(NULL, 123) AS id"


def test_module_doctest() -> None:
    import doctest

    result = doctest.testmod(transpile_ahead)
    assert result.attempted > 0 and result.failed == 0


def test_while_the_loop_waits_it_does_the_idle_work_and_still_sees_a_stall(monkeypatch):
    import os
    import signal

    monkeypatch.setattr(transpile_ahead, "STALL", 0.2)
    cache = TranspileCache(None)
    assert cache.while_waiting(lambda: None) is False  # no child: nothing will wait
    sqls = _sqls()
    done: list[int] = []
    with cache.ahead(sqls, "redshift", "duckdb"):
        ahead = cache._ahead
        _wait_for(ahead, 20)
        os.kill(ahead._proc.pid, signal.SIGSTOP)  # the last answer will not come
        for i in range(3):
            assert cache.while_waiting(lambda i=i: done.append(i)) is True
        got = transpile(sqls[-1], "redshift", "duckdb", cache=cache)
        assert done == [0, 1, 2] and not ahead.idle  # done while waiting, in order
        assert ahead._stalled  # and the wait still ended: the loop transpiled it itself
    assert got == transpile(sqls[-1], "redshift", "duckdb")


def test_a_compile_that_fails_after_building_manifest_entries_ahead_leaves_the_manifest(project, monkeypatch):
    monkeypatch.setattr(transpile_ahead, "STALL", 10.0)  # a busy host: the child may pause
    built: list[str] = []
    from warehouse_ml.run.manifest_writer import FragmentsAhead

    prepare = FragmentsAhead.prepare
    monkeypatch.setattr(FragmentsAhead, "prepare", lambda self, uid: built.append(uid) or prepare(self, uid))
    get = TranspileCache.get

    def waiting_get(self: TranspileCache, key: str) -> str | None:
        while self._ahead is not None and self._ahead.idle:  # as a wait would, every time
            self._ahead.idle.popleft()()
        return get(self, key)

    monkeypatch.setattr(TranspileCache, "get", waiting_get)
    files = {"wml_project.yml": "name: test\nsql_dialect: redshift\nmodels:\n  +materialized: view\n"}
    for i in range(450):
        files[f"models_sql/m{i:03}.sql"] = f"select dateadd(day, {i}, getdate()) as d, {i} as id"
    project.write(files)
    assert project.wml("compile").exit_code == 0
    manifest = project.root / "target/manifest.json"
    before = manifest.read_bytes()
    # Every model edited (the child has them all to do, so the loop waits and builds
    # entries ahead), and the last one cannot be transpiled.
    files = {k: v.replace("as id", "as id, 1 as x") for k, v in files.items() if k.endswith(".sql")}
    files["models_sql/m449.sql"] = "select 1 as id from (select 2"
    project.write(files)
    built.clear()
    result = project.wml("compile")
    assert result.exit_code != 0 and "m449" in result.output, result.output
    assert manifest.read_bytes() == before  # nothing of the failed compile was written
    assert len(built) >= 400  # entries were built ahead, then dropped with the failure
