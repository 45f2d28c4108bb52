"""dbt-style node selection: ``--select`` / ``--exclude`` strings to a set of unique ids.

Syntax (https://docs.getdbt.com/reference/node-selection/syntax), per CLI argument:

- space-separated criteria are a union, comma-joined parts an intersection:
  ``"tag:daily,config.materialized:table stg_orders"``;
- a part is ``name`` (a glob such as ``stg_*`` works; a value with ``/`` or a file suffix is a
  path), or ``method:value`` with method ``tag``, ``path``, ``fqn`` (``fqn:project.staging``,
  ``fqn:staging.stg_*``: a dotted prefix of project, folders and name, the project optional),
  ``package`` (``package:dbt_utils``: the nodes of a dbt package, or of the root project),
  ``resource_type``, ``source`` or ``config.KEY`` (``config.materialized:ml_model``);
- against an earlier run (``--state DIR``, see ``run/state.py``): ``state:modified`` (and
  ``state:new``, ``state:modified.body``, ``.configs``, ``.relation``, ``.macros``,
  ``.persisted_descriptions``, ``.contract``), ``result:error`` (any dbt status) and
  ``source_status:fresher``; these may match nothing (a CI run with no change);
- graph operators wrap any part: ``+x`` (x and its ancestors), ``x+`` (and descendants),
  ``2+x`` / ``x+3`` (limited to that many generations), ``@x`` (x, its descendants and all
  their ancestors: everything needed to rebuild x's downstream).

Tests of selected models join the selection (dbt's indirect selection), and tests of excluded
models leave it. Unlike dbt, a part that matches no node is an error (``strict=True``): in a
scheduled job a typo that silently selects nothing is worse than a failed start.

>>> from warehouse_ml.graph.dag import Graph
>>> from warehouse_ml.project.nodes import Node, NodeKind
>>> raw = Node("raw", NodeKind.SEED, None)
>>> stg = Node("stg", NodeKind.MODEL, None, depends_on=["seed.raw"], config={"tags": ["daily"]})
>>> mart = Node("mart", NodeKind.MODEL, None, depends_on=["model.stg"])
>>> graph = Graph({n.unique_id: n for n in (raw, stg, mart)})
>>> sorted(select(graph, ["+stg"]))
['model.stg', 'seed.raw']
>>> sorted(select(graph, ["tag:daily+"], exclude=["mart"]))
['model.stg']
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import logging
import re
import typing as t
from pathlib import PurePosixPath

from warehouse_ml.errors import ConfigError
from warehouse_ml.graph.dag import Graph
from warehouse_ml.project.nodes import Node, NodeKind

log = logging.getLogger(__name__)

METHODS = (
    "tag", "path", "fqn", "package", "resource_type", "source", "test_type", "test_name", "config.<key>",
    "state", "result", "source_status",
)  # fmt: skip
# dbt's test_type values: data tests are the generic and singular ones.
TEST_TYPES = ("generic", "singular", "unit", "data")
# Methods answered by a StateMatcher (run/state.py), with the values each accepts.
STATE_METHODS: dict[str, tuple[str, ...]] = {
    "state": (
        "new", "old", "modified", "unmodified", "modified.body", "modified.configs",
        "modified.relation", "modified.persisted_descriptions", "modified.macros",
        "modified.contract",
    ),
    "result": ("success", "error", "skipped", "pass", "fail", "warn", "no-op", "reused"),
    "source_status": ("fresher",),
}  # fmt: skip


class StateMatcher(t.Protocol):
    """What ``state:``, ``result:`` and ``source_status:`` ask: the ids they select."""

    def matches(self, method: str, value: str) -> set[str]: ...

_GLOB_CHARS = frozenset("*?[")
_PATH_SUFFIXES = (".sql", ".csv", ".py", ".yml", ".yaml")
_PART = re.compile(
    r"^(?P<at>@)?(?:(?P<pdepth>\d*)(?P<plus>\+))?(?P<body>.*?)(?:(?P<cplus>\+)(?P<cdepth>\d*))?$"
)


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One comma-free selector part, such as ``2+tag:daily`` or ``@stg_orders``."""

    raw: str
    method: str  # name, path, tag, resource_type, source or config
    value: str
    config_key: str | None = None
    parents: bool = False
    parents_depth: int | None = None
    children: bool = False
    children_depth: int | None = None
    childrens_parents: bool = False  # the @ operator


def parse_selector(text: str) -> list[list[Criterion]]:
    """Parse one ``--select`` argument into a union (outer list) of intersections.

    Raises:
        ConfigError: a part is empty, uses an unknown method, or has a method but no value.
    """
    return [
        [_parse_part(part, text) for part in _split_commas(word, text)] for word in text.split()
    ]


def _split_commas(word: str, text: str) -> list[str]:
    parts = word.split(",")
    if any(not p for p in parts):
        raise ConfigError(
            f"selector '{text}' has an empty part in '{word}': join criteria with single "
            "commas (intersection) or spaces (union), without a comma at either end."
        )
    return parts


def _parse_part(part: str, text: str) -> Criterion:
    match = _PART.match(part)
    assert match is not None  # every group is optional
    body = match["body"]
    if match["at"] and match["plus"]:
        raise _parse_error(part, text, "'@' and a leading '+' cannot be combined; use one")
    if not body:
        raise _parse_error(part, text, "it has graph operators but no node name or method")
    method, sep, value = body.partition(":")
    if not sep:
        method, value = ("path" if _looks_like_path(body) else "name"), body
    elif not value:
        raise _parse_error(part, text, f"method '{method}:' needs a value, e.g. '{method}:daily'")
    method, config_key = _check_method(method, value, part, text)
    return Criterion(
        raw=part,
        method=method,
        value=value,
        config_key=config_key,
        parents=bool(match["plus"]),
        parents_depth=int(match["pdepth"]) if match["pdepth"] else None,
        children=bool(match["cplus"]),
        children_depth=int(match["cdepth"]) if match["cdepth"] else None,
        childrens_parents=bool(match["at"]),
    )


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith(_PATH_SUFFIXES)


def _check_method(method: str, value: str, part: str, text: str) -> tuple[str, str | None]:
    if method.startswith("config."):
        key = method[len("config.") :]
        if not key or any(not k for k in key.split(".")):
            raise _parse_error(part, text, "write the config key after 'config.'")
        return "config", key
    if method in ("name", "tag", "path", "fqn", "source", "test_name", "package"):
        return method, None
    if method == "test_type":
        if value not in TEST_TYPES:
            reason = f"unknown test type '{value}'; use one of {', '.join(TEST_TYPES)}"
            raise _parse_error(part, text, reason, _suggest(value, TEST_TYPES))
        return method, None
    if method in STATE_METHODS:
        if value not in STATE_METHODS[method]:
            choices = STATE_METHODS[method]
            reason = f"'{method}:' takes one of {', '.join(choices)}"
            raise _parse_error(part, text, reason, _suggest(value, choices))
        return method, None
    if method == "resource_type":
        kinds = [k.value for k in NodeKind] + ["unit_test"]
        if value not in kinds:
            reason = f"unknown resource type '{value}'; use one of {', '.join(kinds)}"
            raise _parse_error(part, text, reason, _suggest(value, kinds))
        return method, None
    reason = f"unknown method '{method}'; use one of {', '.join(METHODS)}"
    raise _parse_error(part, text, reason, _suggest(method, [m for m in METHODS if "<" not in m]))


def _parse_error(part: str, text: str, reason: str, hint: str | None = None) -> ConfigError:
    where = f"'{part}'" if part == text else f"'{part}' (in '{text}')"
    return ConfigError(f"selector {where} is not valid: {reason}.", hint=hint)


def _suggest(value: str, choices: t.Iterable[str]) -> str | None:
    close = difflib.get_close_matches(value, sorted(set(choices)), n=3, cutoff=0.6)
    return f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else None


# -- evaluation -------------------------------------------------------------------------------


def select(
    graph: Graph,
    select: t.Sequence[str] | None = None,
    exclude: t.Sequence[str] | None = None,
    *,
    indirect_tests: bool = True,
    strict: bool = True,
    state: StateMatcher | None = None,
) -> set[str]:
    """The unique ids chosen by dbt-style ``select`` and ``exclude`` arguments.

    Args:
        graph: the project graph.
        select: CLI arguments (each may hold several space-separated criteria); None or
            empty selects every node, sources included (runners skip what they cannot run).
        exclude: arguments in the same syntax whose nodes are removed.
        indirect_tests: add tests whose parents are all selected, and drop tests of
            excluded nodes, as dbt does.
        strict: a part whose method matches no node raises ConfigError (with close names)
            instead of logging a warning.
        state: answers ``state:``, ``result:`` and ``source_status:`` (a ConfigError
            names --state when one of them is used without it).

    Raises:
        ConfigError: a selector cannot be parsed, or (strict) matches nothing.
    """
    included = _evaluate_args(graph, select, "--select", strict, state)
    if included is None:
        included = set(graph.nodes)
    excluded = _evaluate_args(graph, exclude, "--exclude", strict, state) or set()
    if indirect_tests:
        included |= _tests_of(graph, included, all_parents=True)
        excluded |= _tests_of(graph, excluded, all_parents=False)
    return included - excluded


def _evaluate_args(
    graph: Graph, args: t.Sequence[str] | None, flag: str, strict: bool,
    state: StateMatcher | None = None,
) -> set[str] | None:
    """Union of all arguments; None when there is no criterion at all."""
    if isinstance(args, str):  # a lone string is one argument, not a list of characters
        args = [args]
    texts = [a for a in (args or []) if a.strip()]
    if not texts:
        return None
    chosen: set[str] = set()
    for text in texts:
        for intersection in parse_selector(text):
            sets = [_evaluate(graph, c, text, flag, strict, state) for c in intersection]
            chosen |= set.intersection(*sets)
    return chosen


def _evaluate(
    graph: Graph, crit: Criterion, text: str, flag: str, strict: bool,
    state: StateMatcher | None = None,
) -> set[str]:
    if crit.method in STATE_METHODS:
        base = _state_matches(graph, crit, state)
        if not base:  # nothing changed since the state's run: fine, not a typo
            log.info("%s selector '%s' matches no node.", flag, crit.raw)
            return set()
    else:
        base = {uid for uid, node in graph.nodes.items() if _matches(crit, node)}
    if not base:
        _report_no_match(graph, crit, text, flag, strict)
        return set()
    result = set(base)
    if crit.childrens_parents:
        result |= graph.descendants(base)
        result |= graph.ancestors(result)
    if crit.parents:
        result |= graph.ancestors(base, crit.parents_depth)
    if crit.children:
        result |= graph.descendants(base, crit.children_depth)
    return result


def _state_matches(graph: Graph, crit: Criterion, state: StateMatcher | None) -> set[str]:
    if state is None:
        raise ConfigError(
            f"selector '{crit.raw}' compares with an earlier run, and no --state folder "
            "was given.",
            hint="Pass --state DIR (or set DBT_STATE) to the target/ folder of that run.",
        )
    return state.matches(crit.method, crit.value) & graph.nodes.keys()


def _matches(crit: Criterion, node: Node) -> bool:
    value = crit.value
    if crit.method == "name":
        return _glob(node.name, value)
    if crit.method == "tag":
        return any(_glob(tag, value) for tag in node.tags)
    if crit.method == "path":
        return _path_matches(node, value)
    if crit.method == "fqn":
        return _fqn_matches(node.fqn or [node.name], value)
    if crit.method == "resource_type":
        if value in ("unit_test", "test"):
            return node.kind is NodeKind.TEST and (node.unit_test is not None) == (value == "unit_test")
        return node.kind.value == value
    if crit.method == "package":  # the project or dbt package the node comes from
        return _glob(node.package_name, value)
    if crit.method == "test_type":
        kind = test_type(node) if node.kind is NodeKind.TEST else None
        return kind == value or (value == "data" and kind in ("generic", "singular"))
    if crit.method == "test_name":
        meta = node.test_metadata or {}
        return node.kind is NodeKind.TEST and bool(meta) and _glob(
            f"{meta['namespace']}.{meta['name']}" if meta.get("namespace") else meta["name"], value
        )
    if crit.method == "source":
        return node.kind is NodeKind.SOURCE and (
            _glob(node.name, value) or node.name.startswith(value + ".")
        )
    assert crit.method == "config" and crit.config_key is not None
    return _config_matches(node.config, crit.config_key, value)


def test_type(node: Node) -> str:
    """'unit', 'generic' (declared in YAML) or 'singular' (a SQL file)."""
    if node.unit_test is not None:
        return "unit"
    return "generic" if node.test_metadata else "singular"


def _glob(name: str, pattern: str) -> bool:
    if _GLOB_CHARS.isdisjoint(pattern):
        return name == pattern
    return fnmatch.fnmatchcase(name, pattern)


def _fqn_matches(fqn: list[str], value: str) -> bool:
    """dbt's fqn method: the node's name, or a dotted prefix of its fully qualified name
    (project, folders, name; globs allowed), with or without the project in front."""
    if fqn[-1] == value:
        return True
    parts = value.split(".")
    return any(
        len(parts) <= len(scoped) and all(_glob(f, p) for f, p in zip(scoped, parts, strict=False))
        for scoped in (fqn, fqn[1:])
    )


def _path_matches(node: Node, value: str) -> bool:
    """``value`` is a directory that contains the node's file, the file itself, or a glob."""
    if node.path is None:
        return False
    path = PurePosixPath(node.fqn_path)
    if not _GLOB_CHARS.isdisjoint(value):
        return fnmatch.fnmatchcase(path.as_posix(), value.removeprefix("./"))
    want = PurePosixPath(value).parts
    if want and want[0] == ".":
        want = want[1:]
    return path.parts[: len(want)] == want


def _config_matches(config: t.Mapping[str, t.Any], key: str, value: str) -> bool:
    current: t.Any = config
    for piece in key.split("."):  # config.meta.owner:alice looks into nested dicts
        if not isinstance(current, t.Mapping) or piece not in current:
            return False
        current = current[piece]
    items = current if isinstance(current, (list, tuple, set)) else [current]
    return any(_config_str(item) == value for item in items)


def _config_str(item: t.Any) -> str:
    # YAML and Python write booleans differently; selectors are typed as lower case.
    return str(item).lower() if isinstance(item, bool) else str(item)


def _tests_of(graph: Graph, ids: set[str], *, all_parents: bool) -> set[str]:
    """Tests whose parents are all in ``ids`` (to include), or any (to exclude).

    Inclusion is dbt's "cautious" mode: a relationships test on a selected model whose
    other parent is not selected stays out, as it would read a table that may not exist.
    """
    tests = set()
    for uid, node in graph.nodes.items():
        if node.kind is not NodeKind.TEST:
            continue
        if node.unit_test is not None:  # a unit test goes with the model it tests
            if node.attached_to in ids:
                tests.add(uid)
            continue
        # A source is always there to read: only a test of sources alone needs one selected.
        deps = [d for d in node.depends_on if not d.startswith("source.")] or node.depends_on
        in_ids = all(d in ids for d in deps) if all_parents else any(d in ids for d in deps)
        if (not all_parents and node.attached_to in ids) or (deps and in_ids):
            tests.add(uid)
    return tests


# -- errors for selectors that match nothing --------------------------------------------------


def _report_no_match(graph: Graph, crit: Criterion, text: str, flag: str, strict: bool) -> None:
    where = f"'{crit.raw}'" if crit.raw == text else f"'{crit.raw}' (in '{text}')"
    message = f"{flag} selector {where} matches no node: {_what_is_missing(crit)}."
    hint = _suggest(crit.value, _candidates(graph, crit))
    if not strict:
        log.warning("%s%s", message, f" {hint}" if hint else "")
        return
    raise ConfigError(
        message,
        hint=hint or "Check the spelling against the names, tags and paths of the project.",
    )


def _what_is_missing(crit: Criterion) -> str:
    described = {
        "name": "no node is named",
        "tag": "no node has the tag",
        "path": "no node file is under",
        "fqn": "no node's fully qualified name starts with",
        "resource_type": "the project has no node of type",
        "source": "no source is named",
        "package": "no node comes from the package",
        "test_type": "the project has no test of type",
        "test_name": "no generic test is an instance of",
    }
    if crit.method == "config":
        return f"no node has config {crit.config_key} = '{crit.value}'"
    return f"{described[crit.method]} '{crit.value}'"


def _candidates(graph: Graph, crit: Criterion) -> list[str]:
    nodes = graph.nodes.values()
    if crit.method == "name":
        return [n.name for n in nodes]
    if crit.method == "tag":
        return [tag for n in nodes for tag in n.tags]
    if crit.method == "path":
        paths = [PurePosixPath(n.fqn_path) for n in nodes if n.path is not None]
        return [str(p) for p in paths] + [str(parent) for p in paths for parent in p.parents]
    if crit.method == "source":
        return [n.name for n in nodes if n.kind is NodeKind.SOURCE]
    if crit.method == "package":
        return [n.package_name for n in nodes]
    if crit.method == "test_name":
        return [n.test_metadata["name"] for n in nodes if n.test_metadata]
    if crit.method == "fqn":  # every dotted prefix, with and without the project
        return [".".join(f[a:b]) for n in nodes if (f := n.fqn) for a in (0, 1)
                for b in range(a + 1, len(f) + 1)]  # fmt: skip
    if crit.method == "config":
        key = t.cast(str, crit.config_key)
        return [
            _config_str(n.config[key])
            for n in nodes
            if not isinstance(n.config.get(key), (dict, list, type(None)))
        ]
    return []
