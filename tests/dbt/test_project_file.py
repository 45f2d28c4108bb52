"""dbt_project.yml read into our settings: dbt's layout, config trees, ignored keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PROFILE, Project, assert_clean_error

from warehouse_ml.cli.main import main
from warehouse_ml.project.loader import load_project, load_settings

DBT_PROFILE = PROFILE.replace("test:", "shop:", 1)


@pytest.fixture
def dbt(tmp_path: Path) -> Project:
    p = Project(tmp_path / "shop")
    p.root.mkdir()
    p.write({"profiles.yml": DBT_PROFILE})
    return p


def test_dbt_layout_builds_models_seeds_and_tests(dbt: Project) -> None:
    dbt.write(
        {
            "dbt_project.yml": """
                name: shop
                version: '1.0'
                config-version: 2
                profile: shop
                require-dbt-version: [">=1.0.0", "<2.0.0"]
                models:
                  shop:
                    materialized: table
                    staging:
                      +materialized: view
            """,
            "seeds/raw_people.csv": "id,name\n1,ada\n2,bob\n",
            "models/staging/stg_people.sql": "select * from {{ ref('raw_people') }}",
            "models/people.sql": "select * from {{ ref('stg_people') }}",
            "tests/no_bob.sql": "select * from {{ ref('people') }} where name = 'eve'",
            "tests/generic/not_a_singular_test.sql": "select 1 as broken",
        }
    )
    result = dbt.wml("build")
    assert result.exit_code == 0, result.output + result.stderr
    kinds = dict(dbt.query("select table_name, table_type from information_schema.tables"))
    assert kinds == {"raw_people": "BASE TABLE", "stg_people": "VIEW", "people": "BASE TABLE"}
    assert "no_bob" in result.output
    assert "not_a_singular_test" not in result.output
    assert "Warning" not in result.stderr, result.stderr


def test_config_without_plus_only_under_the_project_name(tmp_path: Path) -> None:
    """dbt reads scalars without '+' as config, mappings as folders; the first level
    names a package, so a folder name there matches nothing of ours."""
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\n"
        "models:\n"
        "  +tags: [everywhere]\n"
        "  marts: {+materialized: table}\n"  # a package called marts, not our folder
        "  shop:\n"
        "    marts:\n"
        "      enabled: true\n"
        "      finance: {+alias_me: x, revenue: {+materialized: incremental}}\n"
    )
    for rel in ("models/marts/a.sql", "models/marts/finance/revenue.sql"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("select 1 as x")
    project = load_project(tmp_path)
    a, revenue = project.nodes["model.a"].config, project.nodes["model.revenue"].config
    assert a["materialized"] == "view" and a["enabled"] is True and a["tags"] == ["everywhere"]
    assert revenue["materialized"] == "incremental" and revenue["alias_me"] == "x"


def test_defaults_and_paths(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\n"
        "source-paths: [src]\n"  # dbt < 1.0 spelling
        "target-path: out\n"
        "on-run-start: \"select 1\"\n"
        "on-run-end: [\"select 2\", \"select 3\"]\n"
        "dispatch: [{macro_namespace: dbt_utils, search_order: [shop, dbt_utils]}]\n"
        "flags: {send_anonymous_usage_stats: false}\n"
        "query-comment: null\n"
        "vars: {a: 1, b: 1, shop: {b: 2}, dbt_utils: {c: 3}}\n"
        "tests: {+severity: warn}\n"
    )
    heard: list[str] = []
    s = load_settings(tmp_path, warn=heard.append)
    assert len(heard) == 1 and "`flags` (send_anonymous_usage_stats) are ignored" in heard[0]
    assert s.source_file == "dbt_project.yml" and s.profile is None
    assert s.model_paths == ["src"] and s.seed_paths == ["seeds"] and s.test_paths == ["tests"]
    assert (s.snapshot_paths, s.analysis_paths, s.macro_paths) == (
        ["snapshots"], ["analyses"], ["macros"],
    )  # fmt: skip
    assert set(s.docs_paths) >= {"src", "seeds", "macros", "tests"}
    assert s.target_path == "out" and s.packages_install_path == "dbt_packages"
    assert s.on_run_start == ["select 1"] and s.on_run_end == ["select 2", "select 3"]
    assert s.dispatch[0]["search_order"] == ["shop", "dbt_utils"]
    assert s.flags == {"send_anonymous_usage_stats": False}
    assert s.vars["a"] == 1 and s.vars["b"] == 2
    assert s.data_tests["+severity"] == "warn" and s.tests == s.data_tests


def test_keys_dbt_accepts_warn_and_never_abort(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nclean-targets: [target]\nquoting: {identifier: false}\n"
        "semantic-models: {}\nsomething-new: 1\n"
    )
    heard: list[str] = []
    load_settings(tmp_path, warn=heard.append)
    text = "\n".join(heard)
    for key in ("clean-targets", "quoting", "semantic-models", "something-new"):
        assert f"`{key}`" in text
    assert len(heard) == 4


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 1\n", "`name`"),
        ("name: shop\ntests: {+severity: warn}\ndata_tests: {+severity: warn}\n", "data_tests"),
        ("name: shop\ndispatch: [{macro_namespace: x}]\n", "dispatch"),
        ("name: shop\nmodel-paths: 3\n", "model-paths"),
    ],
)
def test_bad_project_file_is_a_clear_error(dbt: Project, text: str, fragment: str) -> None:
    dbt.write({"dbt_project.yml": text})
    assert_clean_error(dbt.wml("ls"), 2, "dbt_project.yml", fragment)


def test_wml_project_file_wins_and_says_so(project: Project) -> None:
    project.write(
        {
            "dbt_project.yml": "name: other\nmodel-paths: [models]\n",
            "models_sql/kept.sql": "select 1 as x",
            "models/ignored.sql": "select 1 as x",
        }
    )
    result = project.wml("ls")
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "ignored" not in result.output
    assert result.stderr.count("wml_project.yml wins") == 1


def test_a_folder_with_no_project_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").write_text(PROFILE)
    (tmp_path / "models").mkdir()
    result = CliRunner().invoke(main, ["build", "--project-dir", str(tmp_path)])
    assert_clean_error(result, 2, "no wml_project.yml or dbt_project.yml", "wml init")


def _shop(dbt: Project, project_yml: str, files: dict[str, str] | None = None) -> Project:
    return dbt.write(
        {
            "dbt_project.yml": "name: shop\nprofile: shop\n" + project_yml,
            "seeds/raw_people.csv": "id,name\n1,ada\n2,bob\n",
            "models/people.sql": "select * from {{ ref('raw_people') }}",
            **(files or {}),
        }
    )


def test_on_run_start_and_end_run_around_the_nodes(dbt: Project) -> None:
    _shop(
        dbt,
        "on-run-start:\n"
        "  - create table if not exists main.audit (event varchar, n int)\n"
        "  - \"insert into main.audit values ('start', {{ var('n', 7) }})\"\n"
        "on-run-end: \"{% for s in schemas %}insert into main.audit values "
        "('{{ s }}', {{ results | length }});{% endfor %}\"\n",
    )
    result = dbt.wml("build")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Running 2 on-run-start hooks" in result.output
    assert dbt.query("select * from main.audit order by event") == [("main", 2), ("start", 7)]
    dbt.wml("compile")  # compile and ls run no project hooks, as in dbt
    dbt.wml("ls")
    assert dbt.scalar("select count(*) from main.audit") == 2
    dbt.wml("seed")
    assert dbt.scalar("select count(*) from main.audit") == 4


def test_a_failing_on_run_start_hook_runs_nothing(dbt: Project) -> None:
    _shop(dbt, "on-run-start: select * from no_such_table\n")
    result = dbt.wml("build")
    assert result.exit_code == 1
    assert "on-run-start #1" in result.output and "no_such_table" in result.output
    tables = dbt.query("select table_name from information_schema.tables")
    assert tables == []


def test_a_failing_on_run_end_hook_fails_the_command(dbt: Project) -> None:
    _shop(dbt, "on-run-end: [\"select 1\", \"select * from nope\"]\n")
    result = dbt.wml("build")
    assert result.exit_code == 1
    assert "on-run-end #2" in result.output and "nope" in result.output
    assert dbt.scalar("select count(*) from main.people") == 2  # the nodes' work stands


def test_enabled_false_at_every_level_removes_the_node(dbt: Project) -> None:
    _shop(
        dbt,
        "models:\n  shop:\n    off_by_folder:\n      +enabled: false\n"
        "seeds:\n  shop:\n    raw_unused: {enabled: false}\n",
        {
            "seeds/raw_unused.csv": "x\n1\n",
            "models/off_by_folder/a.sql": "select 1 as x",
            "models/off_by_yaml.sql": "select 1 as x",
            "models/off_by_config.sql": "{{ config(enabled=false) }} select 1 as x",
            "models/schema.yml": """
                version: 2
                models:
                  - name: off_by_yaml
                    config: {enabled: false}
                    columns: [{name: x, data_tests: [not_null]}]
                  - name: people
                    columns: [{name: id, tests: [unique]}]
                sources:
                  - name: raw
                    tables:
                      - name: gone
                        config: {enabled: false}
            """,
        },
    )
    result = dbt.wml("build")
    assert result.exit_code == 0, result.output + result.stderr
    assert dbt.query("select table_name from information_schema.tables order by 1") == [
        ("people",), ("raw_people",),
    ]  # fmt: skip
    listed = dbt.wml("ls").output.split()
    assert "off_by_config" not in listed and "not_null_off_by_yaml_x" not in listed
    assert "unique_people_id" in listed


@pytest.mark.parametrize(
    ("disabled", "fragment"),
    [
        ("models/old.sql", "model 'old'"),
        ("seeds/old.csv", "seed 'old'"),
    ],
)
def test_a_ref_to_a_disabled_node_is_an_error_naming_it(
    dbt: Project, disabled: str, fragment: str
) -> None:
    body = "x\n1\n" if disabled.endswith(".csv") else "select 1 as x"
    _shop(
        dbt,
        "models:\n  shop:\n    old: {+enabled: false}\nseeds:\n  shop:\n    old: {+enabled: false}\n",
        {disabled: body, "models/uses_old.sql": "select * from {{ ref('old') }}"},
    )
    assert_clean_error(dbt.wml("build"), 2, "uses_old", fragment, "disabled")


def test_a_source_disabled_in_the_project_file(dbt: Project) -> None:
    _shop(
        dbt,
        "sources:\n  shop:\n    raw:\n      orders: {+enabled: false}\n",
        {
            "models/sources.yml": "sources: [{name: raw, tables: [{name: orders}]}]\n",
            "models/uses.sql": "select * from {{ source('raw', 'orders') }}",
        },
    )
    assert_clean_error(dbt.wml("build"), 2, "uses", "source 'raw.orders'", "disabled")


def test_dbt_project_warns_where_wml_format_fails(dbt: Project) -> None:
    _shop(
        dbt,
        "models:\n  shop:\n    +grants: {select: [reporter]}\n    +my_custom_key: 1\n",
        {"models/schema.yml": "models: [{name: ghost}]\n"},
    )
    result = dbt.wml("build")
    assert result.exit_code == 0, result.output + result.stderr
    assert "'ghost' has no matching file" in result.stderr
    assert "config 'grants' is ignored: DuckDB has no GRANT" in result.stderr
    assert "unknown config key 'my_custom_key' is ignored" in result.stderr
    assert result.stderr.count("my_custom_key") == 1


def test_project_file_is_rendered_with_vars_env_and_target(dbt: Project) -> None:
    _shop(
        dbt,
        "seeds:\n  shop:\n    +enabled: \"{{ var('load_source_data', false) }}\"\n"
        "models:\n  shop:\n    +materialized: \"{{ 'table' if target.name == 'dev' else 'view' }}\"\n"
        "    +tags: [\"{{ env_var('SHOP_TAG', 'nightly') }}\"]\n"
        "on-run-start: \"select '{{ target.name }}'\"\n",
        {"models/people.sql": "select 1 as id"},
    )
    result = dbt.wml("build")
    assert result.exit_code == 0, result.output + result.stderr
    assert dbt.query("select table_name, table_type from information_schema.tables") == [
        ("people", "BASE TABLE")
    ]  # the seed is disabled unless --vars says otherwise
    assert dbt.wml("ls", "-s", "tag:nightly").output.split() == ["people"]
    result = dbt.wml("build", "--vars", "{load_source_data: true}")
    assert result.exit_code == 0, result.output + result.stderr
    assert dbt.scalar("select count(*) from raw_people") == 2
    bad = _shop(dbt, "models:\n  +schema: \"{{ var('nope') }}\"\n")
    assert_clean_error(bad.wml("ls"), 2, "dbt_project.yml", "var('nope')", "--vars")
