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
    s = load_settings(tmp_path, warn=pytest.fail)
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
