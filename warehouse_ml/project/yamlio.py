"""YAML loading with errors that name the file and line."""

from __future__ import annotations

import hashlib
import json
import typing as t
from pathlib import Path

import yaml

from warehouse_ml.errors import ConfigError, located
from warehouse_ml.files import load_cache, save_cache

# libyaml's C loader parses large properties files ~6x faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KIND = "yaml"


def load_yaml_text(text: str, path: Path | str) -> t.Any:
    """Parse YAML text; a syntax error becomes a ConfigError at the file's line."""
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"invalid YAML: {problem}.",
            path=path,
            line=line,
            hint="Fix the indentation or quoting at that line.",
        ) from exc


def load_yaml(path: Path) -> t.Any:
    with located(path):
        text = path.read_text(encoding="utf-8")
    return load_yaml_text(text, path)


class ParsedYamlCache:
    """Parsed YAML kept in ``target/``, one JSON file per file, valid while its text is the same.

    Even libyaml takes ~0.15 s for the properties of 1,000 models (PyYAML builds the
    objects in Python); reading the JSON back takes milliseconds. JSON is data only, and
    each file is signed (:mod:`warehouse_ml.files`) so a crafted one is ignored. YAML that
    JSON cannot hold exactly (dates, non-string keys) is simply not cached.
    """

    def __init__(self, directory: Path | None):
        self.directory = directory

    def load(self, path: Path) -> t.Any:
        with located(path):
            text = path.read_text(encoding="utf-8")
        if self.directory is None:
            return load_yaml_text(text, path)
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        entry = self.directory / (
            hashlib.blake2b(str(path.resolve()).encode(), digest_size=8).hexdigest() + ".json"
        )
        saved = _read_entry(entry)
        if saved is not None and saved[0] == digest:
            return saved[1]
        value = load_yaml_text(text, path)
        _write_entry(entry, digest, value)
        return value


def _read_entry(entry: Path) -> list[t.Any] | None:
    payload = load_cache(entry, _KIND)
    if payload is None:
        return None
    try:
        saved = json.loads(payload)
    except ValueError:
        return None
    return saved if isinstance(saved, list) and len(saved) == 2 else None


def _write_entry(entry: Path, digest: str, value: t.Any) -> None:
    try:
        text = json.dumps([digest, value])
    except (TypeError, ValueError):  # dates and other non-JSON values
        return
    if json.loads(text)[1] != value:  # e.g. integer keys would come back as strings
        return
    save_cache(entry, text.encode("utf-8"), _KIND)


def expect_mapping(value: t.Any, path: Path | str, what: str) -> dict[str, t.Any]:
    """Return ``value`` as a dict (None counts as empty) or fail naming ``what``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(value).__name__}.", path=path)
    return value
