"""``wml init``: a new project that builds out of the box on the embedded DuckDB.

Templates: ``plain`` (dbt basics, the files below) and ``ecommerce`` (the folder beside this
file: identity resolution, computed traits, an incremental model, an ML model and the SQL
that scores with it, on seeds the demo generator writes at a small size).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from warehouse_ml.errors import ConfigError

FILES: dict[str, str] = {
    "wml_project.yml": """\
name: {name}
profile: {name}
sql_dialect: duckdb        # or redshift: models are transpiled by sqlglot
models:
  +materialized: view
  marts:
    +materialized: table
""",
    "profiles.yml": """\
{name}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{{{ env_var('WML_DUCKDB_PATH', 'warehouse.duckdb') }}}}"
      threads: 4
""",
    "seeds/customers.csv": """\
customer_id,email,signup_date,plan
1,ada@example.com,2026-01-03,pro
2,bob@example.com,2026-01-05,free
3,cy@example.com,2026-02-11,pro
4,di@example.com,2026-03-20,free
""",
    "seeds/orders.csv": """\
order_id,customer_id,ordered_at,amount
10,1,2026-02-01 10:00:00,120.0
11,1,2026-03-02 12:30:00,80.5
12,2,2026-03-05 09:15:00,15.0
13,3,2026-04-01 18:45:00,300.0
""",
    "models_sql/staging/stg_orders.sql": """\
select order_id, customer_id, ordered_at, amount
from {{{{ ref('orders') }}}}
""",
    "models_sql/marts/customer_value.sql": """\
{{{{ config(tags=['marts']) }}}}
select
    c.customer_id,
    c.plan,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as revenue
from {{{{ ref('customers') }}}} as c
left join {{{{ ref('stg_orders') }}}} as o using (customer_id)
group by all
""",
    "models_sql/marts/schema.yml": """\
models:
  - name: customer_value
    description: Orders and revenue per customer.
    columns:
      - name: customer_id
        tests: [unique, not_null]
      - name: plan
        tests:
          - accepted_values:
              values: [free, pro]
""",
    "tests/sql/revenue_not_negative.sql": """\
-- Singular test: returns the failing rows.
select * from {{{{ ref('customer_value') }}}} where revenue < 0
""",
    ".gitignore": "target/\n*.duckdb\n*.duckdb.wal\n",
}


TEMPLATES = {
    "plain": "dbt basics: seeds, a staging view, a mart table, schema and data tests",
    "ecommerce": "Segment-style: identity resolution, computed traits, incremental, ML, scoring",
}
ECOMMERCE = Path(__file__).parent / "ecommerce"
ECOMMERCE_PROFILES = 300  # people in the generated seeds: a build takes seconds
_RENAMED = {"gitignore": ".gitignore"}  # package data keeps no dotfiles


def create_project(directory: Path, template: str = "plain") -> list[Path]:
    """Write the starter files of ``template``; refuses to overwrite an existing project."""
    if template not in TEMPLATES:
        close = difflib.get_close_matches(template, TEMPLATES, n=1)
        listed = "; ".join(f"{k} ({v})" for k, v in TEMPLATES.items())
        raise ConfigError(
            f"--template {template} is not a template.",
            hint=(f"Did you mean {close[0]}? " if close else "") + f"Templates: {listed}.",
        )
    if (directory / "wml_project.yml").exists():
        raise ConfigError(
            f"{directory} already holds a project (wml_project.yml exists).",
            hint="Choose an empty or new directory.",
        )
    name = directory.resolve().name.replace("-", "_").replace(" ", "_") or "project"
    if template == "ecommerce":
        return _ecommerce(directory, name)
    created = []
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(name=name), encoding="utf-8")
        created.append(path)
    return created


def _ecommerce(directory: Path, name: str) -> list[Path]:
    from warehouse_ml.demo.generator import write_demo

    created = []
    for src in sorted(p for p in ECOMMERCE.rglob("*") if p.is_file()):
        rel = src.relative_to(ECOMMERCE)
        path = directory / rel.parent / _RENAMED.get(rel.name, rel.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Only the project name is filled in: the files are Jinja, so no str.format here.
        path.write_text(src.read_text(encoding="utf-8").replace("PROJECT_NAME", name), encoding="utf-8")
        created.append(path)
    write_demo(directory / "seeds", ECOMMERCE_PROFILES, seed=7, fmt="csv")
    return created + sorted((directory / "seeds").glob("*.csv"))
