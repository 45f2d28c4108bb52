"""Nothing in target/ runs code: crafted cache files are ignored and wml still works."""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
from pathlib import Path

import jinja2
import pytest

from warehouse_ml.files import _MAGIC, load_cache, save_cache
from warehouse_ml.jinja.cache import SingleFileBytecodeCache

MODEL = "models_sql/m.sql"


class _Shell:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _evil_jinja_bytecode(marker: Path, source: str) -> dict[str, bytes]:
    """A Jinja bucket for MODEL whose 'template code' creates ``marker`` when loaded."""
    env = jinja2.Environment()
    cache = jinja2.BytecodeCache()
    key = cache.get_cache_key(MODEL, MODEL)
    bucket = jinja2.bccache.Bucket(env, key, cache.get_source_checksum(source))
    bucket.code = compile(f"import os\nos.system(\"touch '{marker}'\")\n", MODEL, "exec")
    return {key: bucket.bytecode_to_string()}


def _yaml_entry(project) -> Path:
    name = hashlib.blake2b(str((project.root / "models_sql/schema.yml").resolve()).encode(), digest_size=8)
    return project.root / "target/yaml_cache" / name.hexdigest()


def _craft(kind: str, project, marker: Path, source: str) -> None:
    target = project.root / "target"
    (target / "yaml_cache").mkdir(parents=True, exist_ok=True)
    evil = pickle.dumps(_Shell(marker))
    if kind == "jinja-pickle":
        (target / "jinja_templates.cache").write_bytes(evil)
    elif kind == "jinja-bytecode-forged-mac":
        payload = marshal.dumps(_evil_jinja_bytecode(marker, source))
        (target / "jinja_templates.cache").write_bytes(_MAGIC + b"\0" * 32 + payload)
    elif kind == "jinja-bytecode-unsigned":
        (target / "jinja_templates.cache").write_bytes(marshal.dumps(_evil_jinja_bytecode(marker, source)))
    elif kind == "yaml-pickle":  # the old cache's file name
        _yaml_entry(project).with_suffix(".pickle").write_bytes(evil)
    elif kind == "yaml-forged-json":
        entry = _yaml_entry(project).with_suffix(".json")
        entry.write_bytes(_MAGIC + b"\1" * 32 + b'["x", {"models": [{"name": "ghost"}]}]')
    elif kind == "transpile-forged":
        (target / "transpile_cache.json").write_bytes(evil)


KINDS = [
    "jinja-pickle",
    "jinja-bytecode-forged-mac",
    "jinja-bytecode-unsigned",
    "yaml-pickle",
    "yaml-forged-json",
    "transpile-forged",
]


@pytest.fixture
def keyed(monkeypatch, tmp_path):
    monkeypatch.setenv("WML_CACHE_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_cache_does_not_run_and_ls_works(project, keyed, tmp_path, kind):
    source = "select 1 as id\n"
    project.write(
        {
            MODEL: source,
            "models_sql/schema.yml": "models:\n  - name: m\n    columns:\n      - name: id\n        tests: [not_null]\n",
        }
    )
    assert project.wml("build").exit_code == 0
    rows = project.scalar("select count(*) from main.m")
    marker = tmp_path / "pwned"
    _craft(kind, project, marker, source)
    result = project.wml("ls")
    assert result.exit_code == 0, result.output
    assert not marker.exists(), "a file in target/ ran code"
    assert "m" in result.output.split() and "ghost" not in result.output
    assert "not_null_m_id" in result.output
    assert project.wml("build").exit_code == 0  # and a build still works
    assert not marker.exists()
    assert project.scalar("select count(*) from main.m") == rows


def test_signed_caches_are_reused(project, keyed):
    # An {% if %}: Jinja compiles it (a file of text and literal calls needs no template).
    project.write({MODEL: "{% if true %}select 1 as id{% endif %}\n"})
    assert project.wml("ls").exit_code == 0
    cache = project.root / "target/jinja_templates.cache"
    assert cache.read_bytes().startswith(_MAGIC)
    assert SingleFileBytecodeCache(cache)._saved  # the next run loads what this one wrote
    assert (keyed / "cache.key").stat().st_mode & 0o777 == 0o600


def test_cache_of_another_kind_or_key_is_refused(keyed, tmp_path):
    path = tmp_path / "c"
    save_cache(path, b"payload", "yaml")
    assert load_cache(path, "yaml") == b"payload"
    assert load_cache(path, "jinja") is None
    (keyed / "cache.key").chmod(0o644)  # a key others can read is no key
    from warehouse_ml.files import _load_or_create_key

    _load_or_create_key.cache_clear()
    try:
        assert load_cache(path, "yaml") is None
    finally:
        (keyed / "cache.key").chmod(0o600)
        _load_or_create_key.cache_clear()
