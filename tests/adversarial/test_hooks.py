"""pre_hook / post_hook run as in dbt: rendered like the model, around its build, in its
transaction; folder and in-file hooks accumulate; a failing hook rolls the model back."""

from __future__ import annotations

from conftest import Project, assert_clean_error

AUDIT_PRE = "create table if not exists main.audit (model varchar, n bigint)"
AUDIT_POST = "insert into main.audit select '{{ this.name }}', count(*) from {{ this }}"


def _orders(rows: int) -> str:
    return f"select range as id from range({rows})\n"


def test_pre_and_post_hook_run_in_order_and_see_this(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": (
                "{{ config(materialized='table', "
                f'pre_hook="{AUDIT_PRE}", post_hook="{AUDIT_POST}") }}}}\n' + _orders(3)
            )
        }
    )
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    # The post-hook ran after the swap: {{ this }} is the new table, with its 3 rows.
    assert project.query("select model, n from main.audit") == [("orders", 3)]


def test_list_of_hooks_and_multi_statement_hook(project: Project) -> None:
    multi = (
        "create table main.log (step varchar); "
        "insert into main.log values ('pre;1'); insert into main.log values ('pre2')"
    )
    project.write(
        {
            "models_sql/orders.sql": "{{ config(materialized='table') }}\n" + _orders(2),
            "models_sql/orders.yml": f"""
                models:
                  - name: orders
                    config:
                      pre-hook: "{multi}"
                      post-hook:
                        - "insert into main.log select 'rows=' || count(*) from {{{{ this }}}}"
                        - "insert into main.log values ('{{{{ target.name }}}}')"
                """,
        }
    )
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    steps = [r[0] for r in project.query("select step from main.log")]
    assert steps == ["pre;1", "pre2", "rows=2", "dev"]


def test_folder_and_in_file_hooks_accumulate(project: Project) -> None:
    project.write(
        {
            "wml_project.yml": """
                name: test
                models:
                  +pre-hook: "create table if not exists main.log (step varchar)"
                  marts:
                    +pre_hook: "insert into main.log values ('marts')"
                """,
            "models_sql/marts/orders.sql": (
                "{{ config(materialized='table', "
                "pre_hook=\"insert into main.log values ('{{ var('who', 'file') }}')\") }}\n"
                + _orders(1)
            ),
        }
    )
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    # Project level first, then the folder, then the model file.
    assert [r[0] for r in project.query("select step from main.log")] == ["marts", "file"]


def test_failing_post_hook_rolls_the_model_back(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": "{{ config(materialized='table') }}\n" + _orders(5),
            "models_sql/downstream.sql": "select * from {{ ref('orders') }}\n",
        }
    )
    assert project.wml("run").exit_code == 0
    project.write(
        {
            "models_sql/orders.sql": (
                "{{ config(materialized='table', post_hook=["
                "\"create table main.marker (x int)\", "
                "\"insert into main.no_such_table values (1)\"]) }}\n" + _orders(2)
            ),
            "models_sql/downstream.sql": "select *, 1 as extra from {{ ref('orders') }}\n",
        }
    )
    result = project.wml("run")
    assert_clean_error(
        result, 1, "models_sql/orders.sql", "model 'orders'", "post_hook #2", "no_such_table"
    )
    assert "skipped because orders failed" in result.output
    assert project.scalar("select count(*) from main.orders") == 5  # the previous table
    tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "orders__wml_tmp" not in tables and "marker" not in tables
    assert [c[0] for c in project.query("describe main.downstream")] == ["id"]  # not rebuilt


def test_failing_pre_hook_builds_nothing(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": (
                "{{ config(materialized='view', pre_hook='select * from nowhere') }}\n"
                + _orders(1)
            )
        }
    )
    result = project.wml("run")
    assert_clean_error(result, 1, "model 'orders'", "pre_hook #1 failed", "nowhere")
    tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert not tables & {"orders", "orders__wml_tmp"}


def test_hooks_on_a_seed(project: Project) -> None:
    project.write(
        {
            "wml_project.yml": f"""
                name: test
                seeds:
                  +pre-hook: "{AUDIT_PRE}"
                  +post-hook: "{AUDIT_POST}"
                """,
            "seeds/countries.csv": "code,name\nfr,France\nde,Germany\n",
        }
    )
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert project.query("select model, n from main.audit") == [("countries", 2)]


def test_hooks_on_an_incremental_model_run_on_each_batch(project: Project) -> None:
    model = (
        "{{ config(materialized='incremental', unique_key='id', "
        f'pre_hook="{AUDIT_PRE}", post_hook="{AUDIT_POST}") }}}}\n'
        "select range as id from range({{ var('n') }})\n"
        "{% if is_incremental() %}where range >= (select max(id) from {{ this }}){% endif %}\n"
    )
    project.write({"models_sql/events.sql": model})
    assert project.wml("run", "--vars", "{n: 2}").exit_code == 0
    result = project.wml("run", "--vars", "{n: 4}")
    assert result.exit_code == 0, result.output
    assert project.query("select n from main.audit") == [(2,), (4,)]


def test_hooks_on_ephemeral_and_ml_models_warn_they_are_ignored(project: Project) -> None:
    project.write(
        {
            "models_sql/base.sql": (
                "{{ config(materialized='ephemeral', pre_hook='select 1') }}\n"
                "select range as x, range * 2 as y from range(50)\n"
            ),
            "models_sql/users.sql": "select * from {{ ref('base') }}\n",
            "models_sql/fit.sql": (
                "{{ config(materialized='ml_model', target='y', model_type='linear', "
                "post_hook='select 1') }}\nselect * from {{ ref('base') }}\n"
            ),
        }
    )
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    for name, kind in (("base", "an ephemeral model"), ("fit", "an ML model")):
        warning = f"pre_hook/post_hook ignored for {kind} '{name}'"
        assert result.output.count(warning) == 1, result.output


def test_redshift_hook_is_transpiled(project: Project) -> None:
    project.write(
        {
            "wml_project.yml": "name: test\nsql_dialect: redshift\n",
            "models_sql/orders.sql": (
                "{{ config(materialized='table', pre_hook='create table if not exists "
                "main.loads (loaded_at timestamp, n bigint)', post_hook=\"insert into main.loads "
                "select GETDATE(), count(*) from {{ this }}\") }}\n"
                "select 1 as id\n"
            ),
        }
    )
    result = project.wml("run")
    assert result.exit_code == 0, result.output
    assert project.scalar("select n from main.loads where loaded_at is not null") == 1
    assert project.wml("compile").exit_code == 0
    hooks = (project.root / "target/compiled/models_sql/orders.hooks.sql").read_text()
    assert "-- post_hook #1" in hooks and "GETDATE" not in hooks.upper()


def test_hook_sqlglot_cannot_transpile_fails_clearly(project: Project) -> None:
    project.write(
        {
            "wml_project.yml": "name: test\nsql_dialect: redshift\n",
            "models_sql/orders.sql": (
                "{{ config(materialized='table', post_hook='insert into x select (((') }}\n"
                "select 1 as id\n"
            ),
        }
    )
    result = project.wml("run")
    assert_clean_error(result, 1, "models_sql/orders.sql", "model 'orders'", "post_hook #1")


def test_compile_shows_hooks_with_secrets_masked(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": (
                "{{ config(materialized='table', pre_hook=\"insert into main.t values "
                "('{{ env_var('WML_HOOK_TOKEN') }}'); analyze\") }}\nselect 1 as id\n"
            )
        }
    )
    result = project.wml("compile", env={"WML_HOOK_TOKEN": "sekret-token-123"})
    assert result.exit_code == 0, result.output
    text = (project.root / "target/compiled/models_sql/orders.hooks.sql").read_text()
    assert text.startswith("-- pre_hook #1\ninsert into main.t values ('****');\nanalyze;")
    assert "sekret" not in text


def test_bad_hook_value_is_a_config_error(project: Project) -> None:
    project.write(
        {
            "models_sql/orders.sql": "select 1 as id\n",
            "models_sql/orders.yml": """
                models:
                  - name: orders
                    config:
                      post_hook: [{sql: "select 1", transaction: false, when: later}]
                """,
        }
    )
    assert_clean_error(project.wml("run"), 2, "orders.yml", "post_hook #1 must be SQL text")
