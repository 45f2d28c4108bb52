"""Secrets never leave profiles.yml: not in target/, not in logs, not in models' target."""

from __future__ import annotations

import doctest
import json

import pytest
from conftest import assert_clean_error

import warehouse_ml.redaction

SECRETS = {
    # id: (profiles.yml line under the dev output, the secret string)
    "api-key-from-env": ("api_key: \"{{ env_var('WML_T_API_KEY') }}\"", "env-api-key-8231"),
    "passwd": ("passwd: passwd-plain-5521", "passwd-plain-5521"),
    "private-key-passphrase": ("private_key_passphrase: pkp-secret-7713", "pkp-secret-7713"),
    "dsn-password": ("dsn: postgresql://bob:dsnPw-9931@db.example.com/prod", "dsnPw-9931"),
    "settings-value": ("settings: {custom_user_agent: agent-secret-4417}", "agent-secret-4417"),
    "unknown-field-token": ("motherduck_token: md-token-6620", "md-token-6620"),
}
MODEL_SECRET = "model-env-secret-3389"
ENV = {"WML_T_API_KEY": "env-api-key-8231", "WML_T_MODEL": MODEL_SECRET}


def _profile() -> str:
    lines = "\n".join(f"      {line}" for line, _ in SECRETS.values())
    return (
        "test:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: warehouse.duckdb\n      threads: 4\n{lines}\n"
    )


def _target_files(project) -> dict[str, bytes]:
    return {str(p.relative_to(project.root)): p.read_bytes() for p in (project.root / "target").rglob("*") if p.is_file()}


@pytest.fixture
def secret_project(project):
    project.write(
        {
            "profiles.yml": _profile(),
            "models_sql/uses_env.sql": "{{ config(materialized='table') }}\n"
            "select '{{ env_var('WML_T_MODEL') }}' as token, '{{ target.name }}' as t\n",
            "models_sql/fails.sql": "{{ config(materialized='table') }}\nselect cast('{{ env_var('WML_T_MODEL') }}' as integer) as n\n",
        }
    )
    return project


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_target_or_logs(secret_project, log_format):
    project = secret_project
    result = project.wml("build", "--log-format", log_format, env=ENV)
    assert result.exit_code == 1, result.output  # `fails` fails with the value in the error
    assert "fails" in result.output and "Conversion Error" in result.output
    compiled = project.wml("compile", env=ENV)
    assert compiled.exit_code == 0, compiled.output
    files = _target_files(project)
    assert "manifest.json" in str(files) and "compiled" in str(files)
    secrets = [secret for _, secret in SECRETS.values()] + [MODEL_SECRET]
    for secret in secrets:
        assert secret not in result.output + compiled.output, secret
        for name, data in files.items():
            assert secret.encode() not in data, f"{secret} in {name}"
    # the database got the real value; the compiled file shows it masked
    assert project.scalar("select token from main.uses_env") == MODEL_SECRET
    assert "'****' as token" in (project.root / "target/compiled/models_sql/uses_env.sql").read_text()
    # dbt's artifacts name the target and the adapter, nothing more of the profile
    manifest = json.loads((project.root / "target/manifest.json").read_text())["metadata"]
    assert manifest["adapter_type"] == "duckdb" and "target" not in manifest
    args = json.loads((project.root / "target/run_results.json").read_text())["args"]
    assert args["target"] == "dev"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("target.name", "dev"), ("target.schema", "main"), ("target.type", "duckdb"), ("target.threads", "4"),
     ("target['name']", "dev"), ("target.get('schema')", "main")],
    ids=["name", "schema", "type", "threads", "item", "get"],
)
def test_public_target_fields_render(secret_project, expression, expected):
    secret_project.write({"models_sql/t.sql": f"select '{{{{ {expression} }}}}' as v\n"})
    result = secret_project.wml("run", "-s", "t", env=ENV)
    assert result.exit_code == 0, result.output
    assert secret_project.scalar("select v from main.t") == expected


@pytest.mark.parametrize("field", ["api_key", "passwd", "private_key_passphrase", "dsn", "settings", "user"])
def test_secret_target_fields_raise_in_models(secret_project, field):
    project = secret_project
    assert project.wml("run", "-s", "uses_env", env=ENV).exit_code == 0
    project.write({"models_sql/leak.sql": f"select 1 as a,\n  '{{{{ target.{field} }}}}' as v\n"})
    result = project.wml("run", env=ENV)
    assert_clean_error(result, 2, "models_sql/leak.sql:2", "model 'leak'", f"target.{field} is not available")
    for _, secret in SECRETS.values():
        assert secret not in result.output
    assert project.scalar("select count(*) from main.uses_env") == 1  # nothing lost


def test_module_doctest() -> None:
    assert doctest.testmod(warehouse_ml.redaction).failed == 0


def test_a_secret_in_a_training_query_never_reaches_the_registry_or_show(project):
    project.write({
        "models_sql/m.sql": (
            "{{ config(materialized='ml_model', target='y', model_type='linear') }}\n"
            "select x, 2 * x + 1 as y, '{{ env_var('WML_TEST_TOKEN') }}' as tag "
            "from range(100) t(x)\n"
        ),
    })
    env = {"WML_TEST_TOKEN": "tok-s3cr3t-value"}
    built = project.wml("build", env=env)
    assert built.exit_code == 0, built.output
    shown = project.wml("show", "m", "--format", "json", env=env)
    assert shown.exit_code == 0 and "tok-s3cr3t-value" not in shown.output
    stored = project.scalar("select training_query from wml.models")
    assert "tok-s3cr3t-value" not in stored and "****" in stored
