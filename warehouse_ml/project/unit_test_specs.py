"""dbt unit tests (``unit_tests:`` in properties YAML, dbt 1.8+) read into test nodes.

A unit test names a model, mock rows for its inputs (``given``) and the rows it must
return (``expect``); ``warehouse_ml/run/unit_tests.py`` runs it. This module only reads
and checks the YAML (https://docs.getdbt.com/reference/resource-properties/unit-tests).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.project import config as cfg
from warehouse_ml.project.nodes import Node, NodeKind

FORMATS = ("dict", "csv", "sql")
_INPUT = re.compile(r"""^\s*(ref|source)\s*\((.*)\)\s*$""")
_ARG = re.compile(r"""\s*(?:(\w+)\s*=\s*)?(['"])(.*?)\2\s*(?:,|$)""")
_CONFIG_KEYS = ("tags", "meta", "enabled")
_KEYS = ("name", "model", "given", "expect", "overrides", "config", "description", "versions")


def _stderr(message: str) -> None:
    import sys

    print(f"Warning: {message}", file=sys.stderr)


@dataclasses.dataclass
class Fixture:
    """Rows of one input or of ``expect``: dicts (dict/csv) or a SQL query (sql)."""

    format: str
    rows: list[dict[str, t.Any]] | None = None
    sql: str | None = None


@dataclasses.dataclass
class Given(Fixture):
    input: list[str] = dataclasses.field(
        default_factory=list
    )  # ['ref', m] / ['source', s, t] / ['this']


@dataclasses.dataclass
class UnitTestSpec:
    model: str
    given: list[Given]
    expect: Fixture
    is_incremental: bool = False
    macros: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    vars: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    env_vars: dict[str, t.Any] = dataclasses.field(default_factory=dict)


def parse_input(text: t.Any) -> list[str] | None:
    """``ref('m')`` -> ['ref', 'm'] (``ref('pkg', 'm')`` too); ``source('s', 't')``;
    ``this`` (an incremental model's existing rows) -> ['this']."""
    text = str(text).strip()
    if text == "this":
        return ["this"]
    match = _INPUT.match(text)
    if not match:
        return None
    names = [m.group(3) for m in _ARG.finditer(match.group(2)) if not m.group(1)]
    if match.group(1) == "ref" and names:
        return ["ref", names[-1]]
    if match.group(1) == "source" and len(names) == 2:
        return ["source", *names]
    return None


def from_properties(
    entries: t.Any,
    path: Path,
    nodes: dict[str, Node],
    fqn: list[str],
    fixture_dirs: t.Sequence[Path] = (),
    warn: t.Callable[[str], None] = _stderr,
) -> list[Node]:
    """Test nodes for a properties file's ``unit_tests:`` (disabled ones left out).

    ``fixture_dirs`` are where ``fixture:`` files are found (dbt: ``<test path>/fixtures``).
    """
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "name" in e for e in entries
    ):
        raise ConfigError("unit_tests must be a list of mappings, each with a 'name'.", path=path)
    out = []
    for entry in entries:
        node = _node(entry, path, nodes, fqn, fixture_dirs, warn)
        if node is not None:
            out.append(node)
    return out


def _node(
    entry: dict[str, t.Any],
    path: Path,
    nodes: dict[str, Node],
    fqn: list[str],
    fixture_dirs: t.Sequence[Path],
    warn: t.Callable[[str], None],
) -> Node | None:
    name = str(entry["name"])
    for key in sorted(set(entry) - set(_KEYS)):
        warn(f"{path}: unit test '{name}': unknown key '{key}' is ignored.")
    if entry.get("versions") is not None:
        warn(f"{path}: unit test '{name}': 'versions' is ignored: wml has no model versions.")
    model = entry.get("model")
    if not model or f"model.{model}" not in nodes:
        raise ConfigError(
            f"unit test '{name}' tests model '{model}', which does not exist.",
            path=path,
            node=name,
            hint="Set `model:` to the name of a SQL model of this project.",
        )
    config = entry.get("config") or {}
    if not isinstance(config, dict) or set(config) - set(_CONFIG_KEYS):
        raise ConfigError(
            f"unit test '{name}': config accepts {', '.join(_CONFIG_KEYS)}.", path=path, node=name
        )
    if not cfg.is_enabled(config):
        return None
    root = list(fixture_dirs)
    spec = UnitTestSpec(
        model=str(model),
        given=[_given(g, path, name, root) for g in _list(entry.get("given"), "given", path, name)],
        expect=_fixture(
            _mapping(entry.get("expect"), "expect", path, name), path, name, "expect", root
        ),
    )
    _overrides(spec, entry.get("overrides"), path, name)
    for macro in sorted(m for m in spec.macros if "." in m):
        warn(
            f"{path}: unit test '{name}': the override of {macro} is ignored: only macros "
            "called without a package name (and is_incremental) can be overridden."
        )
    node = Node(name, NodeKind.TEST, path, config=cfg.merge({"tags": config.get("tags") or []}))
    if config.get("meta"):
        node.config["meta"] = config["meta"]
    node.fqn = [*fqn, str(model), name]
    node.attached_to = f"model.{model}"
    node.description = str(entry.get("description") or "")
    node.unit_test = spec
    return node


def _list(value: t.Any, what: str, path: Path, name: str) -> list[dict[str, t.Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(
            f"unit test '{name}': '{what}' must be a list of mappings.", path=path, node=name
        )
    return value


def _mapping(value: t.Any, what: str, path: Path, name: str) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"unit test '{name}' needs '{what}' as a mapping (with rows: or fixture:).",
            path=path,
            node=name,
        )
    return value


def _given(entry: dict[str, t.Any], path: Path, name: str, root: list[Path]) -> Given:
    reference = parse_input(entry.get("input"))
    if reference is None:
        raise ConfigError(
            f"unit test '{name}': cannot read input {entry.get('input')!r}.",
            path=path,
            node=name,
            hint="Write input: ref('model'), source('source', 'table') or this.",
        )
    fixture = _fixture(entry, path, name, f"input {entry['input']}", root)
    return Given(fixture.format, fixture.rows, fixture.sql, input=reference)


def _fixture(
    entry: dict[str, t.Any], path: Path, name: str, what: str, root: list[Path]
) -> Fixture:
    fmt = str(entry.get("format") or "dict")
    if fmt not in FORMATS:
        raise ConfigError(
            f"unit test '{name}', {what}: unknown format '{fmt}'.",
            path=path,
            node=name,
            hint=f"Use one of: {', '.join(FORMATS)}.",
        )
    rows = entry.get("rows")
    if entry.get("fixture") is not None:
        rows = _read_fixture(str(entry["fixture"]), fmt, path, name, root)
    if fmt == "sql":
        if not isinstance(rows, str):
            raise ConfigError(
                f"unit test '{name}', {what}: format sql needs rows as a SQL query.",
                path=path,
                node=name,
            )
        return Fixture(fmt, sql=rows)
    if fmt == "csv":
        rows = _csv_rows(rows, path, name, what)
    if rows is None:
        rows = []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(
            f"unit test '{name}', {what}: rows must be a list of mappings (column: value).",
            path=path,
            node=name,
        )
    return Fixture(fmt, rows=[dict(r) for r in rows])


def _csv_rows(text: t.Any, path: Path, name: str, what: str) -> list[dict[str, t.Any]]:
    """CSV rows: every value text (cast to the column's type later); empty is NULL."""
    if not isinstance(text, str):
        raise ConfigError(
            f"unit test '{name}', {what}: format csv needs rows as CSV text.", path=path, node=name
        )
    reader = csv.DictReader(io.StringIO(text.strip()))
    return [
        {k.strip(): (None if v is None or v.strip() == "" else v.strip()) for k, v in row.items()}
        for row in reader
    ]


def _read_fixture(fixture: str, fmt: str, path: Path, name: str, dirs: list[Path]) -> str:
    suffix = ".sql" if fmt == "sql" else ".csv"
    for base in dirs:
        for candidate in sorted(base.rglob(f"{fixture}{suffix}")) if base.is_dir() else []:
            return candidate.read_text(encoding="utf-8")
    raise ConfigError(
        f"unit test '{name}': fixture '{fixture}' not found.",
        path=path,
        node=name,
        hint=f"Put {fixture}{suffix} under tests/fixtures/ (a test path's fixtures folder).",
    )


def _overrides(spec: UnitTestSpec, value: t.Any, path: Path, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - {"macros", "vars", "env_vars"}:
        raise ConfigError(
            f"unit test '{name}': overrides accepts macros, vars and env_vars.",
            path=path,
            node=name,
        )
    for key in ("macros", "vars", "env_vars"):
        part = value.get(key) or {}
        if not isinstance(part, dict):
            raise ConfigError(
                f"unit test '{name}': overrides.{key} must be a mapping.", path=path, node=name
            )
        setattr(spec, key, dict(part))
    spec.is_incremental = bool(spec.macros.pop("is_incremental", False))
