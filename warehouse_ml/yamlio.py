"""YAML loading with errors that name the file and line."""

from __future__ import annotations

import hashlib
import pickle
import typing as t
from pathlib import Path

import yaml

from warehouse_ml.errors import ConfigError, located
from warehouse_ml.files import save_cache

# libyaml's C loader parses large properties files ~6x faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    """Parsed YAML kept in ``target/``, one pickle per file, valid while its text is the same.

    Even libyaml takes ~0.15 s for the properties of 1,000 models (PyYAML builds the
    objects in Python); unpickling the result takes milliseconds.
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
            hashlib.blake2b(str(path.resolve()).encode(), digest_size=8).hexdigest() + ".pickle"
        )
        try:
            with open(entry, "rb") as f:
                saved_digest, value = pickle.load(f)
            if saved_digest == digest:
                return value
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            pass
        value = load_yaml_text(text, path)
        save_cache(entry, pickle.dumps((digest, value), protocol=pickle.HIGHEST_PROTOCOL))
        return value


def expect_mapping(value: t.Any, path: Path | str, what: str) -> dict[str, t.Any]:
    """Return ``value`` as a dict (None counts as empty) or fail naming ``what``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(value).__name__}.", path=path)
    return value
