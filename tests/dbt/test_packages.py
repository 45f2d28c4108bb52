"""dbt packages: installed and local packages load with their own project file, macros
(namespaced, dispatched), models, seeds, tests and vars; ``wml deps`` installs them."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import Project, assert_clean_error

from warehouse_ml.dbt import deps

# A package of our own, using the mechanisms dbt_utils & co. rely on.
PACKAGE = {
    "dbt_project.yml": """
        name: mypkg
        vars:
          pkg_var: pkg_default
          other: other_default
          mypkg: {scoped: from_pkg}
        models:
          mypkg:
            +materialized: table
            staging:
              +tags: [pkg_staging]
    """,
    # Qualified calls across files (a _private macro too, as dbt_utils._is_relation), and
    # an unqualified call to a macro of a file that loads later.
    "macros/a.sql": """
        {% macro greet(x) %}{{ mypkg._quote(x) }}{% endmacro %}
        {% macro _quote(x) %}{{ mypkg.quote_it(x) }}{% endmacro %}
        {% macro local_only() %}{{ quote_it('local') }}{% endmacro %}
        {% macro kind() %}'package'{% endmacro %}
    """,
    "macros/b.sql": "{% macro quote_it(x) %}'{{ x }}'{% endmacro %}\n",
    "models/staging/pkg_model.sql": """
        select {{ local_only() }} as v, '{{ var("pkg_var") }}' as pv, '{{ var("scoped") }}' as sv,
               '{{ var("other") }}' as o, {{ kind() }} as k,
               (select count(*) from {{ ref('pkg_seed') }}) as n
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: pkg_model
            columns:
              - name: v
                tests: [not_null]
    """,
    "seeds/pkg_seed.csv": "id\n1\n2\n",
}


def write_package(folder: Path, files: dict[str, str] = PACKAGE) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


@pytest.fixture
def with_package(project: Project) -> Project:
    """A root project (wml format) using mypkg as `dbt deps` leaves it in dbt_packages/."""
    write_package(project.root / "dbt_packages" / "mypkg")
    project.write({
        "wml_project.yml": """
            name: test
            vars:
              mypkg: {pkg_var: root_override}
        """,
        "packages.yml": "packages:\n  - package: someone/mypkg\n    version: 1.0.0\n",
        "macros/kind.sql": "{% macro kind() %}'root'{% endmacro %}\n",
        "models_sql/uses_pkg.sql": """
            select {{ mypkg.greet('hi') }} as g, {{ kind() }} as root_kind, p.*
            from {{ ref('mypkg', 'pkg_model') }} as p
        """,
    })
    return project


def test_installed_package_builds_with_its_macros_vars_and_tests(with_package: Project) -> None:
    result = with_package.wml("build")
    assert result.exit_code == 0, result.output
    assert "not_null_pkg_model_v" in result.output  # the package's YAML tests run
    row = with_package.query("select * from main.uses_pkg")[0]
    # greet() -> mypkg.quote_it(); the package model calls its own macros unqualified and
    # its kind() wins over the root's there, while the root model gets the root's kind().
    assert row == ("hi", "root", "local", "root_override", "from_pkg", "other_default", "package", 2)
    # The package's own config block made its model a table.
    assert with_package.query(
        "select table_type from information_schema.tables where table_name = 'pkg_model'"
    ) == [("BASE TABLE",)]


def test_package_nodes_carry_package_name_and_fqn(with_package: Project) -> None:
    from warehouse_ml.project.loader import load_project

    project = load_project(with_package.root)
    node = project.nodes["model.pkg_model"]
    assert node.package_name == "mypkg"
    assert node.fqn == ["mypkg", "staging", "pkg_model"]
    assert node.tags == ["pkg_staging"]
    assert project.nodes["model.uses_pkg"].package_name == "test"
    assert project.nodes["test.not_null_pkg_model_v"].package_name == "mypkg"
    assert [p.name for p in project.packages] == ["mypkg"]


def test_root_config_block_configures_package_nodes(with_package: Project) -> None:
    with_package.write({"wml_project.yml": """
        name: test
        models:
          mypkg:
            +materialized: view
            staging:
              +tags: [from_root]
    """})
    assert with_package.wml("build").exit_code == 0
    assert with_package.query(
        "select table_type from information_schema.tables where table_name = 'pkg_model'"
    ) == [("VIEW",)]
    listed = with_package.wml("ls", "--select", "tag:from_root", "--resource-type", "model")
    assert listed.output.split() == ["pkg_model"]


def test_ref_with_the_wrong_package_is_a_clear_error(with_package: Project) -> None:
    with_package.write({"models_sql/uses_pkg.sql": "select * from {{ ref('other', 'pkg_model') }}\n"})
    assert_clean_error(
        with_package.wml("compile"), 2,
        "ref('other', 'pkg_model') names no model or seed in package 'other'",
        "'pkg_model' is in package 'mypkg'",
    )


def test_unknown_package_macro_names_the_package(with_package: Project) -> None:
    with_package.write({"models_sql/uses_pkg.sql": "select {{ mypkg.greeet('x') }}\n"})
    assert_clean_error(
        with_package.wml("compile"), 2, "mypkg.greeet", "package 'mypkg' has no macro named 'greeet'",
    )


def test_listed_but_not_installed_says_run_deps(project: Project) -> None:
    project.write({"packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"})
    assert_clean_error(project.wml("build"), 2, "1 package(s) are listed in packages.yml", "wml deps")


def test_local_package_loads_without_deps_and_integration_tests_layout(tmp_path: Path) -> None:
    # A package with its integration tests inside, listing the parent as `local: ../`.
    pkg = write_package(tmp_path / "mypkg")
    root = Project(pkg / "integration_tests")
    root.root.mkdir()
    root.write({
        "wml_project.yml": "name: mypkg_integration_tests\n",
        "profiles.yml": "mypkg_integration_tests:\n  target: dev\n  outputs:\n"
                        "    dev: {type: duckdb, path: warehouse.duckdb}\n",
        "packages.yml": "packages:\n  - local: ../\n",
        "models_sql/check.sql": "select {{ mypkg.greet('ok') }} as g from {{ ref('pkg_model') }}\n",
    })
    result = root.wml("build")
    assert result.exit_code == 0, result.output
    assert root.query("select g from main.check") == [("ok",)]
    assert (root.root / "../models/staging/pkg_model.sql").resolve().is_file()


def test_dispatch_to_default_and_root_overrides(with_package: Project) -> None:
    write_package(with_package.root / "dbt_packages" / "mypkg", {
        "macros/dispatched.sql": """
            {% macro shout(x) %}{{ return(adapter.dispatch('shout', 'mypkg')(x)) }}{% endmacro %}
            {% macro default__shout(x) %}{{ return("'" ~ x ~ "!'") }}{% endmacro %}
            {% macro whisper(x) %}{{ return(adapter.dispatch('whisper', 'mypkg')(x)) }}{% endmacro %}
            {% macro default__whisper(x) %}{{ return("'" ~ x ~ "'") }}{% endmacro %}
        """,
    })
    with_package.write({
        # The root project's default__whisper wins (dbt searches the root project first).
        "macros/override.sql": "{% macro default__whisper(x) %}'{{ x }}...'{% endmacro %}\n",
        "models_sql/loud.sql": "select {{ mypkg.shout('a') }} as s, {{ mypkg.whisper('b') }} as w\n",
    })
    assert with_package.wml("build", "--select", "loud").exit_code == 0
    assert with_package.query("select s, w from main.loud") == [("a!", "b...")]


# -- wml deps ------------------------------------------------------------------------------
def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True,
    )


def git_package(folder: Path, name: str, versions: list[str], subdirectory: str = "") -> Path:
    """A git repository with one tag per version; macro version() returns it."""
    folder.mkdir(parents=True)
    _git("init", "-q", cwd=folder)
    base = folder / subdirectory if subdirectory else folder
    for version in versions:
        write_package(base, {
            "dbt_project.yml": f"name: {name}\n",
            "macros/v.sql": f"{{% macro version() %}}'{version}'{{% endmacro %}}\n",
        })
        _git("add", "-A", cwd=folder)
        _git("commit", "-qm", version, cwd=folder)
        _git("tag", version, cwd=folder)
    return folder


def test_deps_installs_local_and_git_and_writes_a_lock(project: Project, tmp_path: Path) -> None:
    write_package(tmp_path / "src" / "mypkg")
    repo = git_package(tmp_path / "repo", "gitpkg", ["1.0.0", "1.1.0"], subdirectory="pkg")
    project.write({
        "packages.yml": f"""
            packages:
              - local: ../src/mypkg
              - git: "{repo}"
                revision: 1.0.0
                subdirectory: pkg
        """,
        "models_sql/m.sql": "select {{ gitpkg.version() }} as v, {{ mypkg.greet('x') }} as g\n",
    })
    result = project.wml("deps")
    assert result.exit_code == 0, result.output
    assert (project.root / "dbt_packages/mypkg/macros/a.sql").is_file()
    assert (project.root / "dbt_packages/gitpkg/dbt_project.yml").is_file()
    assert not (project.root / "dbt_packages/gitpkg/.git").exists()
    lock = (project.root / "package-lock.yml").read_text()
    assert "local: ../src/mypkg" in lock and "subdirectory: pkg" in lock and "sha1_hash:" in lock
    assert project.wml("build").exit_code == 0
    assert project.query("select v, g from main.m") == [("1.0.0", "x")]

    # The lock pins the commit: moving the tag upstream changes nothing until --upgrade.
    _git("tag", "-f", "1.0.0", "1.1.0", cwd=repo)
    assert project.wml("deps").exit_code == 0
    assert "'1.0.0'" in (project.root / "dbt_packages/gitpkg/macros/v.sql").read_text()
    assert project.wml("deps", "--upgrade").exit_code == 0
    assert "'1.1.0'" in (project.root / "dbt_packages/gitpkg/macros/v.sql").read_text()


def test_deps_resolves_hub_packages_to_their_repository(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mirror laid out as GitHub is; dbt-labs/dbt_utils lives in repository dbt-utils.
    git_package(tmp_path / "mirror/dbt-labs/dbt-utils.git", "dbt_utils", ["0.9.0", "1.1.1", "1.3.0", "2.0.0"])
    monkeypatch.setenv("WML_PACKAGES_GIT_BASE", str(tmp_path / "mirror"))
    project.write({"packages.yml": """
        packages:
          - package: dbt-labs/dbt_utils
            version: [">=1.0.0", "<2.0.0"]
    """})
    result = project.wml("deps")
    assert result.exit_code == 0, result.output
    assert "dbt_utils (version 1.3.0)" in result.output
    lock = (project.root / "package-lock.yml").read_text()
    assert "- name: dbt_utils\n    package: dbt-labs/dbt_utils\n    version: 1.3.0" in lock


def test_failed_deps_leaves_dbt_packages_as_it_was(project: Project, tmp_path: Path) -> None:
    write_package(tmp_path / "src" / "mypkg")
    project.write({"packages.yml": "packages:\n  - local: ../src/mypkg\n"})
    assert project.wml("deps").exit_code == 0
    lock = (project.root / "package-lock.yml").read_text()
    project.write({"packages.yml": """
        packages:
          - local: ../src/mypkg
          - git: https://nowhere.invalid/org/repo.git
            revision: 1.0.0
    """})
    result = project.wml("deps")
    assert_clean_error(result, 1, "cannot reach https://nowhere.invalid/org/repo.git", "dbt deps")
    assert sorted(p.name for p in (project.root / "dbt_packages").iterdir()) == ["mypkg"]
    assert (project.root / "package-lock.yml").read_text() == lock
    assert not [p for p in project.root.iterdir() if p.name.startswith(".dbt_packages")]


def test_git_url_tokens_never_printed(project: Project) -> None:
    project.write({"packages.yml": """
        packages:
          - git: "https://user:{{ env_var('TOKEN') }}@nowhere.invalid/org/repo.git"
    """})
    result = project.wml("deps", env={"TOKEN": "s3cret"})
    assert result.exit_code == 1
    assert "s3cret" not in result.output and "****@nowhere.invalid" in result.output


def test_pick_version() -> None:
    tags = ["0.9.1", "1.1.1", "1.3.0", "1.4.0b1", "2.0.0"]
    assert deps.pick_version(tags, [">=1.0.0", "<2.0.0"]) == "1.3.0"
    assert deps.pick_version(tags, [">=1.0.0", "<2.0.0"], prerelease=True) == "1.4.0b1"
    assert deps.pick_version(tags, "1.1.1") == "1.1.1"
    assert deps.pick_version(tags, ">3") is None
    assert deps.hub_url("dbt-labs/dbt_utils").endswith("/dbt-labs/dbt-utils.git")


def test_package_selector(with_package: Project) -> None:
    listed = with_package.wml("ls", "--select", "package:mypkg", "--resource-type", "model")
    assert listed.output.split() == ["pkg_model"]
    listed = with_package.wml("ls", "--select", "package:test")
    assert listed.output.split() == ["uses_pkg"]
    assert_clean_error(with_package.wml("ls", "--select", "package:mypgk"), 2,
                       "no node comes from the package", "Did you mean 'mypkg'?")


def test_root_folder_config_does_not_reach_package_folders(with_package: Project) -> None:
    # The root's `staging` folder block is the root's; the package's staging/ is not in it.
    with_package.write({"wml_project.yml": """
        name: test
        models:
          +tags: [everywhere]
          staging:
            +tags: [root_staging]
    """})
    from warehouse_ml.project.loader import load_project

    node = load_project(with_package.root).nodes["model.pkg_model"]
    assert node.tags == ["pkg_staging", "everywhere"]


def test_lock_hash_is_dbts(tmp_path: Path) -> None:
    # dbt-core 1.11's `dbt deps` wrote this sha1_hash for exactly this packages.yml, so each
    # tool takes the other's package-lock.yml as current.
    (tmp_path / "packages.yml").write_text(
        "packages:\n  - local: ../localpkg\n  - git: /tmp/pk/gitpkg\n"
        "    revision: 1.0.0\n    subdirectory: sub\n"
    )
    from warehouse_ml.dbt.packages import read_specs

    assert deps.spec_hash(read_specs(tmp_path)) == "8572ca4bf3d65d3087b9aa1fb888777db10d325b"


def test_deps_installs_dependencies_of_packages(project: Project, tmp_path: Path) -> None:
    # dbt_expectations-style: a package whose own packages.yml needs another (installed flat).
    repo = git_package(tmp_path / "date_repo", "datepkg", ["0.1.0"])
    write_package(tmp_path / "src" / "expect", {
        "dbt_project.yml": "name: expect\n",
        "packages.yml": f"packages:\n  - git: '{repo}'\n    revision: 0.1.0\n",
        "macros/e.sql": "{% macro e() %}{{ datepkg.version() }}{% endmacro %}\n",
    })
    project.write({
        "dependencies.yml": "packages:\n  - local: ../src/expect\n",
        "models_sql/m.sql": "select {{ expect.e() }} as v\n",
    })
    result = project.wml("deps")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project.root / "dbt_packages").iterdir()) == ["datepkg", "expect"]
    assert "name: datepkg" in (project.root / "package-lock.yml").read_text()
    assert project.wml("build").exit_code == 0
    assert project.query("select v from main.m") == [("0.1.0",)]


def test_packages_in_both_files_is_an_error(project: Project) -> None:
    entry = "packages:\n  - local: ../x\n"
    project.write({"packages.yml": entry, "dependencies.yml": entry})
    assert_clean_error(project.wml("deps"), 2, "both packages.yml and dependencies.yml list packages")


def test_deps_without_a_packages_file(project: Project) -> None:
    result = project.wml("deps")
    assert result.exit_code == 0 and "nothing to install" in result.output
    assert not (project.root / "package-lock.yml").exists()
    assert not (project.root / "dbt_packages").exists()


def test_dbt_root_project_disables_and_configures_package_models(tmp_path: Path) -> None:
    root = Project(tmp_path / "dbt_proj")
    root.root.mkdir()
    write_package(root.root / "dbt_packages" / "mypkg")
    write_package(root.root / "dbt_packages" / "other", {
        "dbt_project.yml": "name: other\n",
        "models/other_model.sql": "select 1 as x\n",
    })
    root.write({
        "dbt_project.yml": """
            name: dbt_proj
            profile: dbt_proj
            vars:
              mypkg:
                pkg_var: scoped_in_root
            models:
              mypkg:
                staging:
                  materialized: view   # dbt's form without +
              other:
                +enabled: false
        """,
        "profiles.yml": "dbt_proj:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb}\n",
        "models/mine.sql": "select * from {{ ref('pkg_model') }}\n",
    })
    result = root.wml("build")
    assert result.exit_code == 0, result.output
    assert "other_model" not in result.output
    assert root.query("select pv, sv from main.mine") == [("scoped_in_root", "from_pkg")]
    assert root.query(
        "select table_type from information_schema.tables where table_name = 'pkg_model'"
    ) == [("VIEW",)]


def test_packages_install_path(tmp_path: Path) -> None:
    root = Project(tmp_path / "proj")
    root.root.mkdir()
    root.write({
        "dbt_project.yml": "name: proj\nprofile: proj\npackages-install-path: vendor\n",
        "profiles.yml": "proj:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb}\n",
        "packages.yml": f"packages:\n  - git: '{git_package(tmp_path / 'repo', 'gitpkg', ['1.0.0'])}'\n"
                        "    revision: 1.0.0\n",
        "models/m.sql": "select {{ gitpkg.version() }} as v\n",
    })
    assert root.wml("deps").exit_code == 0
    assert (root.root / "vendor/gitpkg/dbt_project.yml").is_file()
    assert not (root.root / "dbt_packages").exists()
    assert root.wml("build").exit_code == 0
    assert root.query("select v from main.m") == [("1.0.0",)]


def test_package_generic_tests_run_qualified_and_in_the_package(with_package: Project) -> None:
    pkg = with_package.root / "dbt_packages" / "mypkg"
    write_package(pkg, {
        # dbt_utils-style: a test block that dispatches to a default__ implementation.
        "macros/tests.sql": """
            {% test at_least(model, column_name, value) %}
              {{ return(adapter.dispatch('test_at_least', 'mypkg')(model, column_name, value)) }}
            {% endtest %}
            {% macro default__test_at_least(model, column_name, value) %}
              select * from {{ model }} where {{ column_name }} < {{ value }}
            {% endmacro %}
        """,
        "models/schema.yml": """
            version: 2
            models:
              - name: pkg_model
                columns:
                  - name: n
                    tests:
                      - at_least: {value: 2}
        """,
    })
    with_package.write({"models_sql/schema.yml": """
        version: 2
        models:
          - name: uses_pkg
            columns:
              - name: n
                tests:
                  - mypkg.at_least: {value: 3}
    """})
    result = with_package.wml("build")
    assert result.exit_code == 1, result.output
    assert "PASS    test at_least_pkg_model_n__2" in result.output
    assert "FAIL    test mypkg_at_least_uses_pkg_n__3" in result.output


def test_undefined_names_print_empty_as_in_dbt_when_packages_are_used(with_package: Project) -> None:
    # dbt_utils' not_null_proportion prints a name set in one branch only.
    write_package(with_package.root / "dbt_packages" / "mypkg", {
        "macros/maybe.sql": "{% macro maybe(x) %}{% if x %}{% set y = 'yes' %}{% endif %}'{{ y }}'{% endmacro %}\n",
    })
    with_package.write({"models_sql/m.sql": "select {{ mypkg.maybe(false) }} as v\n"})
    assert with_package.wml("build", "--select", "m").exit_code == 0
    assert with_package.query("select v from main.m") == [("",)]


def test_wml_projects_without_packages_keep_strict_undefined(project: Project) -> None:
    project.write({"models_sql/m.sql": "select '{{ y }}' as v\n"})
    assert_clean_error(project.wml("compile"), 2, "'y' is undefined")


def test_dbt_singular_test_without_refs_runs(tmp_path: Path) -> None:
    # dbt_utils' integration tests assert on macros' output with no ref() at all.
    root = Project(tmp_path / "p")
    root.root.mkdir()
    root.write({
        "dbt_project.yml": "name: p\nprofile: p\n",
        "profiles.yml": "p:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb}\n",
        "tests/assert_macro_output.sql": "select 1 as failure where {{ 1 + 1 }} != 2\n",
    })
    result = root.wml("build")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "assert_macro_output" in result.output


def test_unpinned_git_package_warns(project: Project, tmp_path: Path) -> None:
    repo = git_package(tmp_path / "repo", "gitpkg", ["1.0.0"])
    project.write({"packages.yml": f"packages:\n  - git: '{repo}'\n"})
    result = project.wml("deps")
    assert result.exit_code == 0, result.output
    assert "is not pinned" in result.output + (result.stderr if result.stderr_bytes else "")


def test_a_packages_snapshot_runs_with_the_root_projects_config(project: Project) -> None:
    files = dict(PACKAGE)
    files["snapshots/pkg_snap.sql"] = """
        {% snapshot pkg_snap %}
        {{ config(unique_key='id', strategy='check', check_cols='all') }}
        select * from {{ ref('pkg_seed') }}
        {% endsnapshot %}
    """
    files["dbt_project.yml"] += "        snapshots:\n          mypkg:\n            +target_schema: pkg_own\n"
    write_package(project.root / "dbt_packages" / "mypkg", files)
    project.write({
        "wml_project.yml": "name: test\nsnapshots:\n  mypkg:\n    +target_schema: from_root\n",
        "packages.yml": "packages:\n  - package: someone/mypkg\n    version: 1.0.0\n",
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert "pkg_snap" in result.output
    # the root project's snapshots: block wins over the package's own, as for models
    assert project.query("select id from from_root.pkg_snap order by id") == [(1,), (2,)]
