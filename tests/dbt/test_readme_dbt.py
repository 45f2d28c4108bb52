"""The README's "Running a dbt project" section runs as written, on a small dbt project.

Its ``shell`` blocks run as one bash script with the installed ``wml`` in a dbt-duckdb
project this test writes (dbt_project.yml, profiles.yml, models/, seeds/, a package), and
its ``sql`` blocks whose first line names a ``models/`` path are added to that project
first, so the "add one ml_model file" example trains and serves for real.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("\n## Running a dbt project", 1)[-1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", SECTION, re.S | re.M)
SHELL = [body for lang, body in BLOCKS if lang == "shell"]
MODEL_FILES = [body for lang, body in BLOCKS if lang == "sql" and body.startswith("-- models/")]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _customers_csv(n: int = 400) -> str:
    rng = random.Random(7)
    lines = ["id,first_name,orders,spend,days_since_last"]
    for i in range(1, n + 1):
        orders = rng.randint(0, 12)
        days = rng.randint(1, 365)
        lines.append(f"{i},c{i},{orders},{orders * rng.uniform(10, 40):.2f},{days}")
    return "\n".join(lines) + "\n"


def _project(root: Path) -> None:
    _write(
        root,
        {
            "dbt_project.yml": """
                name: shop
                profile: shop
                models:
                  shop:
                    staging:
                      +materialized: view
                    marts:
                      +materialized: table
                      +schema: marts
            """,
            "profiles.yml": """
                shop:
                  target: dev
                  outputs:
                    dev:
                      type: duckdb
                      path: shop.duckdb
            """,
            "packages.yml": """
                packages:
                  - local: local_pkg
            """,
            "local_pkg/dbt_project.yml": "name: helpers\n",
            "local_pkg/macros/churn_flag.sql": """
                {% macro churn_flag(days) %}({{ days }} > 180){% endmacro %}
            """,
            "models/staging/stg_customers.sql": """
                select id as customer_id, first_name, orders, spend, days_since_last
                from {{ ref('raw_customers') }}
            """,
            "models/marts/customers.sql": """
                select *, {{ helpers.churn_flag('days_since_last') }} as churned
                from {{ ref('stg_customers') }}
            """,
            "models/marts/customers.yml": """
                models:
                  - name: customers
                    columns:
                      - name: customer_id
                        data_tests: [unique, not_null]
            """,
        },
    )
    (root / "seeds").mkdir()
    (root / "seeds" / "raw_customers.csv").write_text(_customers_csv(), encoding="utf-8")


def test_the_section_has_commands_and_an_ml_model_file():
    assert SHELL and MODEL_FILES


def test_the_dbt_section_runs_as_written(tmp_path):
    project = tmp_path / "my-dbt-project"
    project.mkdir()
    _project(project)
    for body in MODEL_FILES:
        rel = body.splitlines()[0].removeprefix("-- ").strip()
        _write(project, {rel: body})
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    for script in SHELL:  # each block from the folder above the project, as a reader would
        done = subprocess.run(["bash", "-ec", script], cwd=tmp_path, capture_output=True,
                              text=True, env={"PATH": path, "HOME": str(tmp_path)}, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip()
    assert "p_churn" in done.stdout  # the last block's query ran the trained model
    with duckdb.connect(str(project / "shop.duckdb"), read_only=True) as con:
        # dbt's schema naming: +schema: marts in target schema main gives main_marts
        assert con.sql("select count(*) from main_marts.customers").fetchall()[0][0] == 400
    assert (project / "target" / "manifest.json").is_file()
    assert (project / "dbt_packages" / "helpers").is_dir()
