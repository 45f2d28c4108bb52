"""The package's macro files are compiled once per user, not once per project.

A project's first run (no target/) used to compile every wml/*.sql and dbt macro file
before its own models; they now come from a signed per-user cache beside the key
($WML_CACHE_DIR), as an installed package's .pyc files do.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from conftest import PROFILE, Project


def _project(root: Path) -> Project:
    root.mkdir(parents=True)
    return Project(root).write({
        "profiles.yml": PROFILE,
        "wml_project.yml": "name: t\n",
        # A {% set %}: Jinja compiles this file (text and literal calls would not need it).
        "models_sql/a.sql": "{% set arm = wml.ab_variant('1', 'exp') %}select 1 as id, {{ arm }} as arm\n",
    })  # fmt: skip


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Names of the templates Jinja compiles (the real compile runs)."""
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "cache"))
    names: list[str] = []
    real = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        names.append(str(name))
        return real(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def test_a_second_project_compiles_only_its_own_files(tmp_path: Path, compiled: list[str]) -> None:
    first = _project(tmp_path / "one")
    assert first.wml("compile").exit_code == 0
    assert any(name.startswith("wml/") for name in compiled)
    assert (tmp_path / "cache" / "package_templates.cache").exists()
    compiled.clear()
    second = _project(tmp_path / "two")
    result = second.wml("compile")
    assert result.exit_code == 0, result.output
    assert compiled and not [name for name in compiled if name.startswith(("wml/", "dbt/"))]
    assert "CASE" in (second.root / "target/compiled/models_sql/a.sql").read_text().upper()


def test_a_tampered_package_cache_is_ignored(tmp_path: Path, compiled: list[str]) -> None:
    assert _project(tmp_path / "one").wml("compile").exit_code == 0
    cache = tmp_path / "cache" / "package_templates.cache"
    blob = bytearray(cache.read_bytes())
    blob[-1] ^= 0xFF  # the MAC no longer verifies
    cache.write_bytes(bytes(blob))
    compiled.clear()
    result = _project(tmp_path / "two").wml("compile")
    assert result.exit_code == 0, result.output
    assert any(name.startswith("wml/") for name in compiled)  # compiled afresh, not loaded
