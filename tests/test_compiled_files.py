"""`target/compiled/` written through run/compiled_files.py: an unchanged file is left alone
(by its recorded stat, never a stale one), a changed or tampered one is written again, and
a stale hooks file goes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warehouse_ml.run.compiled_files import FILE, CompiledFiles

FILES = {
    "models_sql/a.sql": "select 1 as id\n",
    "models_sql/b.sql": "select id from {{ ref('a') }}\n",
}


@pytest.fixture
def proj(project, monkeypatch, tmp_path):
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "cache"))
    project.write(FILES)
    return project


def _compile(project) -> None:
    result = project.wml("compile")
    assert result.exit_code == 0, result.output


def _compiled(project, name: str) -> Path:
    return project.root / "target/compiled/models_sql" / name


def _inode_and_mtime(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_unchanged_files_are_not_rewritten_and_changed_ones_are(proj):
    _compile(proj)
    a, b = _compiled(proj, "a.sql"), _compiled(proj, "b.sql")
    before = _inode_and_mtime(a), _inode_and_mtime(b)
    proj.write({"models_sql/b.sql": "select id, 2 as two from {{ ref('a') }}\n"})
    _compile(proj)
    assert _inode_and_mtime(a) == before[0]  # left alone: one stat, no write
    assert "2 AS two" in b.read_text() or "2 as two" in b.read_text()
    assert (proj.root / "target" / FILE).is_file()


def test_a_tampered_or_deleted_file_is_written_again(proj):
    _compile(proj)
    a = _compiled(proj, "a.sql")
    good = a.read_text()
    proj.write({"models_sql/b.sql": "select id, 3 as three from {{ ref('a') }}\n"})  # no replay
    a.write_text("tampered\n")
    _compile(proj)
    assert a.read_text() == good
    a.unlink()
    proj.write({"models_sql/b.sql": "select id, 4 as four from {{ ref('a') }}\n"})
    _compile(proj)
    assert a.read_text() == good


def test_same_size_tamper_with_the_recorded_mtime_restored_is_still_seen(proj):
    """The record holds ctime and inode too: putting the old mtime back does not hide an edit."""
    _compile(proj)
    a = _compiled(proj, "a.sql")
    good = a.read_text()
    st = a.stat()
    a.write_text("X" * len(good))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    proj.write({"models_sql/b.sql": "select id, 5 as five from {{ ref('a') }}\n"})
    _compile(proj)
    assert a.read_text() == good


def test_a_target_without_a_record_is_compared_by_content(proj):
    _compile(proj)
    (proj.root / "target" / FILE).unlink()
    a = _compiled(proj, "a.sql")
    before = _inode_and_mtime(a)
    proj.write({"models_sql/b.sql": "select id, 6 as six from {{ ref('a') }}\n"})
    _compile(proj)
    assert _inode_and_mtime(a) == before  # same text found on disk: not rewritten


def test_a_hooks_file_goes_when_its_hooks_go(proj):
    proj.write({"models_sql/a.sql": "{{ config(post_hook='select 42') }}\nselect 1 as id\n"})
    _compile(proj)
    hooks = _compiled(proj, "a.hooks.sql")
    assert "select 42" in hooks.read_text()
    proj.write({"models_sql/a.sql": "select 1 as id\n"})
    _compile(proj)
    assert not hooks.exists()


def test_a_partial_record_keeps_the_other_files(tmp_path, monkeypatch):
    """A run that wrote some files (a selection, a failure) keeps the rest of the record."""
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "target"
    first = CompiledFiles(target)
    first.write(target / "compiled/x.sql", "select 1\n")
    first.write(target / "compiled/y.sql", "select 2\n")
    first.save()
    second = CompiledFiles(target)
    second.write(target / "compiled/x.sql", "select 3\n")
    second.save()
    third = CompiledFiles(target)
    assert set(third._old) == {str(target / "compiled/x.sql"), str(target / "compiled/y.sql")}
    y = target / "compiled/y.sql"
    before = _inode_and_mtime(y)
    third.write(y, "select 2\n")
    assert _inode_and_mtime(y) == before
    third.write(y, "select 4\n")
    assert y.read_text() == "select 4\n"


def test_the_record_holds_no_text_in_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "target"
    files = CompiledFiles(target)
    files.write(target / "compiled/x.sql", "select 'visible-marker-77' as v\n")
    files.save()
    assert b"visible-marker-77" not in (target / FILE).read_bytes()
