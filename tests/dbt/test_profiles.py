"""profiles.yml as dbt reads it: dbt's locations, only the chosen target rendered,
dbt-duckdb's output keys."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from conftest import assert_clean_error

from warehouse_ml.cli.main import main

SHOP = "name: shop\nprofile: shop\n"
MODEL = "select 1 as x"


def _project(tmp_path: Path, model: str = MODEL) -> Path:
    root = tmp_path / "shop"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(SHOP)
    (root / "models" / "m.sql").write_text(model)
    return root


def _wml(root: Path, *args: str, home: Path, **env: str) -> Result:
    command, *rest = args
    return CliRunner().invoke(
        main, [command, "--project-dir", str(root), *rest],
        env={"HOME": str(home), "WML_PROFILES_DIR": None, "DBT_PROFILES_DIR": None, **env},
    )  # fmt: skip


def _profiles(directory: Path, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profiles.yml").write_text(text)


def _duckdb_profile(db: Path, extra: str = "") -> str:
    return f"shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{db}'\n{extra}"


@pytest.mark.parametrize("where", ["dbt_profiles_dir", "home_dbt"])
def test_dbt_locations_after_our_own(tmp_path: Path, where: str) -> None:
    root, home = _project(tmp_path), tmp_path / "home"
    folder = tmp_path / "elsewhere" if where == "dbt_profiles_dir" else home / ".dbt"
    _profiles(folder, _duckdb_profile(tmp_path / "dbt.duckdb"))
    env = {"DBT_PROFILES_DIR": str(folder)} if where == "dbt_profiles_dir" else {}
    result = _wml(root, "run", home=home, **env)
    assert result.exit_code == 0, result.output + result.stderr
    assert duckdb.connect(str(tmp_path / "dbt.duckdb")).sql("select x from m").fetchall() == [(1,)]
    # A profiles.yml in the project folder comes first.
    _profiles(root, _duckdb_profile(tmp_path / "own.duckdb"))
    assert _wml(root, "run", home=home, **env).exit_code == 0
    assert (tmp_path / "own.duckdb").exists()


def test_only_the_chosen_target_is_rendered(tmp_path: Path) -> None:
    root, home = _project(tmp_path), tmp_path / "home"
    _profiles(
        root,
        "config:\n  send_anonymous_usage_stats: false\n"
        "shop:\n  target: \"{{ env_var('SHOP_TARGET', 'dev') }}\"\n  outputs:\n"
        "    dev:\n      type: duckdb\n      path: dev.duckdb\n"
        "      threads: \"{{ env_var('SHOP_THREADS') | as_number }}\"\n"
        "    prod:\n      type: bigquery\n      keyfile: \"{{ env_var('UNSET_KEYFILE_9') }}\"\n",
    )
    result = _wml(root, "run", home=home, SHOP_THREADS="3")
    assert result.exit_code == 0, result.output + result.stderr
    assert "`config:` block" in result.stderr
    assert (root / "dev.duckdb").exists()
    failed = _wml(root, "run", "--target", "prod", home=home, SHOP_THREADS="3")
    assert_clean_error(failed, 2, "UNSET_KEYFILE_9", "output 'prod'")


def test_profile_flag_picks_another_profile(tmp_path: Path) -> None:
    root, home = _project(tmp_path), tmp_path / "home"
    _profiles(
        root,
        _duckdb_profile(tmp_path / "a.duckdb")
        + _duckdb_profile(tmp_path / "b.duckdb").replace("shop:", "other:"),
    )
    assert _wml(root, "run", "--profile", "other", home=home).exit_code == 0
    assert (tmp_path / "b.duckdb").exists() and not (tmp_path / "a.duckdb").exists()


def test_extensions_settings_attach_and_plugins(tmp_path: Path) -> None:
    other = tmp_path / "lake.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create table raw_orders as select 42 as id")
    con.close()
    home = tmp_path / "home"
    root = _project(
        tmp_path,
        "{{ config(materialized='table') }} select id, current_setting('memory_limit') as mem,"
        " json_extract('{\"a\": 7}', '$.a')::int as a from lake.raw_orders",
    )
    _profiles(
        root,
        _duckdb_profile(
            tmp_path / "wh.duckdb",
            "      extensions: [json, {name: parquet}]\n"
            "      settings: {memory_limit: 1GB}\n"
            f"      attach: [{{path: '{other}', alias: lake, read_only: true}}]\n"
            "      plugins: [{module: excel}]\n",
        ),
    )
    result = _wml(root, "build", home=home)
    assert result.exit_code == 0, result.output + result.stderr
    assert "`plugins` is ignored" in result.stderr
    row = duckdb.connect(str(tmp_path / "wh.duckdb")).sql("select * from m").fetchall()
    assert row == [(42, "953.6 MiB", 7)]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("      extensions: [no_such_ext_x]\n", "no_such_ext_x"),
        ("      settings: {no_such_setting_x: 1}\n", "no_such_setting_x"),
        ("      attach: [{path: /nope/missing.duckdb, alias: z, read_only: true}]\n", "attach"),
    ],
)
def test_bad_duckdb_keys_are_clear_errors(tmp_path: Path, extra: str, fragment: str) -> None:
    root, home = _project(tmp_path), tmp_path / "home"
    _profiles(root, _duckdb_profile(tmp_path / "wh.duckdb", extra))
    assert_clean_error(_wml(root, "run", home=home), 2, "profiles.yml", fragment)
