"""One small project with every kind of node the docs site draws, built once per session:
seeds, a source with freshness, SQL models, three ML models (binary, regression, KMeans),
a model calling an ML function, passing tests and a failing warn-severity test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import PROFILE, Project

from warehouse_ml.cli.main import main

SECRET = "s3cr3t-docs-token-9431"


def _people_csv(rows: int = 360) -> str:
    rng = np.random.default_rng(11)
    lines = ["id,x1,x2,segment,bought,spend"]
    for i in range(rows):
        x1, x2 = rng.normal(), rng.normal()
        segment = ["north", "south", "east"][i % 3]
        bought = int(x1 + 0.5 * x2 + rng.normal() * 0.7 > 0.2)
        spend = round(40 + 12 * x1 - 5 * x2 + rng.normal() * 3, 2)
        lines.append(f"{i},{x1:.4f},{x2:.4f},{segment},{bought},{spend}")
    return "\n".join(lines) + "\n"


FILES = {
    "wml_project.yml": "name: shop\nprofile: test\n",
    "models_sql/schema.yml": """
        version: 2
        sources:
          - name: raw
            schema: raw
            loaded_at_field: loaded_at
            freshness:
              warn_after: {count: 1, period: day}
            tables:
              - name: signups
                description: Sign-ups as the app writes them.
        models:
          - name: features
            description: "One row per **person**: the inputs of `buyer_model`."
            columns:
              - name: id
                description: The person.
                tests: [unique, not_null]
              - name: segment
                tests:
                  - accepted_values:
                      values: [north, south]
                      config: {severity: warn}
          - name: hidden_helper
            config:
              docs: {show: false}
    """,
    "models_sql/features.sql": """
        select id, x1, x2, segment, bought, spend, '{{ env_var("WML_DOCS_TOKEN") }}' <> '' as has_token
        from {{ ref('people') }}
    """,
    "models_sql/signup_days.sql": """
        select cast(loaded_at as date) as day, count(*) as signups
        from {{ source('raw', 'signups') }} group by 1
    """,
    "models_sql/hidden_helper.sql": "select 1 as one",
    "models_sql/ml/buyer_model.sql": """
        {{ config(materialized='ml_model', target='bought', function='predict_buyer',
                  problem_type='binary_classification', model_type='linear', objective='auc',
                  max_runtime=120) }}
        select x1, x2, segment, bought from {{ ref('features') }}
    """,
    "models_sql/ml/spend_model.sql": """
        {{ config(materialized='ml_model', target='spend', function='predict_spend',
                  model_type='linear', max_runtime=120) }}
        select x1, x2, segment, spend from {{ ref('features') }}
    """,
    "models_sql/ml/segments.sql": """
        {{ config(materialized='ml_model', function='predict_segment', model_type='kmeans',
                  k=3, max_runtime=120) }}
        select x1, x2, spend from {{ ref('features') }}
    """,
    "models_sql/scores.sql": """
        select id, predict_buyer(x1, x2, segment) as buyer_score from {{ ref('features') }}
    """,
}


def write_project(root: Path) -> Project:
    project = Project(root)
    root.mkdir(parents=True)
    project.write({"profiles.yml": PROFILE, **FILES})
    (root / "seeds").mkdir()
    (root / "seeds" / "people.csv").write_text(_people_csv(), encoding="utf-8")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        con.execute("create schema raw")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        con.execute("create table raw.signups as select range as id, ?::timestamp - "
                    "to_hours(range) as loaded_at from range(30)", [now])  # fmt: skip
    finally:
        con.close()
    return project


ENV = {"WML_DOCS_TOKEN": SECRET}


def wml(project: Project, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``wml ARGS --project-dir ROOT`` (the option after the sub-command)."""
    argv = [*args, "--project-dir", str(project.root)]
    return CliRunner().invoke(main, argv, env={**ENV, **(env or {})}, catch_exceptions=False)


@pytest.fixture(scope="session")
def docs_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Built, freshness checked and the docs generated."""
    project = write_project(tmp_path_factory.mktemp("docs") / "shop")
    for command in (["build"], ["source", "freshness"], ["docs", "generate"]):
        result = wml(project, *command)
        assert result.exit_code == 0, result.output  # the warn test warns, the build passes
    return project
