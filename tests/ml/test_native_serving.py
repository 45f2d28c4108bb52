"""Compiled trees through the CLI: stored beside the ONNX at deploy, rebuilt when stored for
another platform, and kept right through retrain, rollback and DROP MODEL."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from warehouse_ml.ml import functions
from warehouse_ml.ml.native import build

MODEL = """
    {{ config(materialized='ml_model', target='ltv', function='predict_ltv',
              problem_type='regression', model_type='hist_gradient_boosting',
              hyperparameters={'max_iter': 6, 'early_stopping': False},
              deploy='udf', exclude=['id']) }}
    select * from {{ ref('customers') }}
"""
CALL = "select round(predict_ltv(recency, frequency, plan), 9) from main.customers order by id"


def customers_csv(n: int = 300, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["id,recency,frequency,plan,ltv"]
    for i in range(n):
        recency, freq = int(rng.integers(0, 365)), int(rng.poisson(3))
        plan = ["free", "pro", "team"][int(rng.integers(0, 3))]
        ltv = 50 + 10 * freq - 0.1 * recency + (30 if plan == "pro" else 0) + rng.normal(0, 2)
        lines.append(f"{i},{'' if i % 29 == 0 else recency},{freq},{plan},{ltv:.2f}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def trees(project, tmp_path, monkeypatch):
    monkeypatch.setenv("WML_NATIVE_CACHE", str(tmp_path / "cache"))
    project.write({"seeds/customers.csv": customers_csv(), "models_sql/ltv_model.sql": MODEL})
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return project


def _artifacts(project) -> list[tuple]:
    return project.query(
        "select name, version, artifact_key, octet_length(library) from wml.native_artifacts "
        "order by version"
    )


def _predict(project) -> list[float]:
    return [r[0] for r in project.query_with_functions(CALL)]


def test_deploy_stores_the_library_beside_the_onnx(trees):
    ((name, version, key, size),) = _artifacts(trees)
    assert (name, version) == ("ltv_model", 1) and size > 1000
    assert key.split("|")[0] == build.platform_tag()
    shown = trees.wml("sql", "show model ltv_model", "--format", "csv")
    assert "compiled C trees" in shown.output, shown.output
    values = _predict(trees)
    assert len(values) == 300 and all(v is not None for v in values)


def test_artifact_stored_for_another_platform_is_rebuilt(trees, tmp_path, monkeypatch):
    before = _predict(trees)
    key = _artifacts(trees)[0][2]
    con = duckdb.connect(str(trees.root / "warehouse.duckdb"))
    con.execute("update wml.native_artifacts set artifact_key = 'emscripten-wasm32|cc|0', "
                "library = 'not a library'::blob")
    con.close()
    functions._SCORERS.clear()  # a new process: nothing compiled in memory
    fresh = tmp_path / "other-cache"
    monkeypatch.setenv("WML_NATIVE_CACHE", str(fresh))  # nor on this machine's disk
    result = trees.wml("sql", "select predict_ltv(100, 3, 'pro') as v", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert list(fresh.glob("key-*.so"))  # a real compile into the empty cache
    assert _artifacts(trees)[0][2] != key  # a read-only command does not write
    functions._SCORERS.clear()
    assert trees.wml("build").exit_code == 0
    ((_, _, rebuilt, size),) = _artifacts(trees)
    assert rebuilt == key and size > 1000  # stored again, for this platform
    functions._SCORERS.clear()
    assert _predict(trees) == before


def test_retrain_rollback_and_drop(trees):
    v1 = _predict(trees)
    trees.write({"seeds/customers.csv": customers_csv(seed=1)})
    assert trees.wml("build").exit_code == 0
    assert [r[1] for r in _artifacts(trees)] == [1, 2]
    v2 = _predict(trees)
    assert v2 != v1
    rolled = trees.wml("deploy", "ltv_model", "--version", "1", "--mode", "udf")
    assert rolled.exit_code == 0, rolled.output
    old_on_new_data = _predict(trees)
    functions._SCORERS.clear()
    assert _predict(trees) == old_on_new_data  # the stored v1 library, loaded afresh
    dropped = trees.wml("sql", "DROP MODEL ltv_model")
    assert dropped.exit_code == 0, dropped.output
    assert _artifacts(trees) == []


def test_stored_library_that_does_not_load_is_replaced(trees, tmp_path, monkeypatch):
    before = _predict(trees)
    con = duckdb.connect(str(trees.root / "warehouse.duckdb"))
    con.execute("update wml.native_artifacts set library = 'not a library'::blob")
    con.close()
    functions._SCORERS.clear()
    monkeypatch.setenv("WML_NATIVE_CACHE", str(tmp_path / "empty-cache"))
    assert trees.wml("build").exit_code == 0
    assert _artifacts(trees)[0][3] > 1000
    functions._SCORERS.clear()
    assert _predict(trees) == before


def test_without_a_compiler_onnxruntime_serves_and_says_why(trees):
    from warehouse_ml.ml.native import engine

    query = "select predict_ltv(100, 3, 'pro') as v"
    native = float(trees.wml("sql", query, "--format", "csv").output.split()[-1])
    functions._SCORERS.clear()
    engine._SAID.clear()
    result = trees.wml("sql", query, "--format", "csv", env={"CC": "/nonexistent/cc"})
    assert result.exit_code == 0, result.output
    assert "No C compiler" in result.stderr and "/nonexistent/cc" in result.stderr
    assert result.stderr.count("No C compiler") == 1
    assert abs(float(result.output.split()[-1]) - native) < 1e-4 * max(1.0, abs(native))
    functions._SCORERS.clear()
