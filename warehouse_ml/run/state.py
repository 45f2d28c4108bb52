"""Selecting against an earlier run's artifacts: ``--state DIR`` (dbt's state selection).

``DIR`` holds what an earlier command left in its ``target/``: ``manifest.json`` for
``state:`` (new, modified and its sub-selectors), ``run_results.json`` for ``result:``
(error, fail, warn, success, ...), ``sources.json`` (from ``wml source freshness``) for
``source_status:fresher`` (compared with this project's ``target/sources.json``). The
comparisons are dbt's (https://docs.getdbt.com/reference/node-selection/state-comparison-
caveats): the file's code, its config as set in the project, its relation, persisted
descriptions, its fully qualified name, the macros it calls (and they call), and an
enforced contract's columns. A slim CI job runs
``wml build -s state:modified+ --defer --state prod-target/``.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.project.nodes import Node, NodeKind
from warehouse_ml.run.manifest import ManifestBuilder

STATE_CHECKS = (
    "new", "old", "modified", "unmodified", "modified.body", "modified.configs",
    "modified.relation", "modified.persisted_descriptions", "modified.macros",
    "modified.contract",
)  # fmt: skip
RESULT_STATUSES = ("success", "error", "skipped", "pass", "fail", "warn", "no-op", "reused")
SOURCE_STATUSES = ("fresher",)
ENV_HINT = "Pass --state DIR (or set DBT_STATE / WML_STATE) to the target/ folder of the run to compare with."


def _read(path: Path, what: str) -> dict[str, t.Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}.", hint=ENV_HINT) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} is not a JSON object.", hint=ENV_HINT)
    return data


class State:
    """The artifacts in one ``--state`` folder, read when first needed."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self._manifest: dict[str, t.Any] | None = None
        self._results: list[dict[str, t.Any]] | None = None

    def _file(self, name: str, needed_for: str) -> Path:
        if not self.dir.is_dir():
            raise ConfigError(f"--state folder {self.dir} does not exist.", hint=ENV_HINT)
        path = self.dir / name
        if not path.is_file():
            raise ConfigError(
                f"--state folder {self.dir} holds no {name}, which {needed_for} needs.",
                hint=f"Point --state at the target/ folder of an earlier run (it writes {name}).",
            )
        return path

    def manifest(self, needed_for: str) -> dict[str, t.Any]:
        if self._manifest is None:
            data = _read(self._file("manifest.json", needed_for), "the state manifest")
            version = str((data.get("metadata") or {}).get("dbt_schema_version", ""))
            if "/manifest/" not in version:
                raise ConfigError(
                    f"{self.dir / 'manifest.json'} is not a dbt-shaped manifest (no "
                    "metadata.dbt_schema_version): it was written by an older wml.",
                    hint="Rerun the job whose target/ you compare with (wml parse writes one).",
                )
            self._manifest = data
        return self._manifest

    def results(self) -> list[dict[str, t.Any]]:
        if self._results is None:
            data = _read(self._file("run_results.json", "result:"), "the state run results")
            self._results = [r for r in data.get("results") or [] if isinstance(r, dict)]
        return self._results

    def sources(self) -> dict[str, t.Any]:
        path = self.dir / "sources.json"
        if self.dir.is_dir() and not path.is_file():
            raise ConfigError(
                f"--state folder {self.dir} holds no sources.json, which source_status: needs.",
                hint="Keep the target/ of a run of `wml source freshness` (it writes "
                "sources.json) and pass that folder as --state.",
            )
        return _read(self._file("sources.json", "source_status:"), "the state sources.json")


class StateMatcher:
    """Answers the ``state:``, ``result:`` and ``source_status:`` selector methods for a
    session (see ``graph.selectors``); ``state`` may be None until one of them is used."""

    def __init__(self, session: t.Any, state: State | None):
        self.session = session
        self.state = state
        self._builder: ManifestBuilder | None = None
        self._checks: dict[str, set[str]] = {}

    @property
    def builder(self) -> ManifestBuilder:
        if self._builder is None:
            self._builder = ManifestBuilder(self.session)
        return self._builder

    def matches(self, method: str, value: str) -> set[str]:
        """Our ids of the nodes ``method:value`` selects."""
        if self.state is None:
            raise ConfigError(
                f"selector '{method}:{value}' compares with an earlier run, and no --state "
                "folder was given.",
                hint=ENV_HINT,
            )
        if method == "state":
            return self._state(value)
        if method == "result":
            wanted = {r.get("unique_id") for r in self.state.results() if r.get("status") == value}
            return {uid for uid in self._ours(wanted)}
        assert method == "source_status"
        return self._ours(self._fresher())

    def _ours(self, dbt_ids: t.Iterable[t.Any]) -> set[str]:
        back = self.builder.ids.from_dbt
        return {back[d] for d in dbt_ids if d in back}

    # -- state: ------------------------------------------------------------------------
    def _state(self, check: str) -> set[str]:
        if check in self._checks:
            return self._checks[check]
        old = self.state.manifest(f"'state:{check}'")  # type: ignore[union-attr]
        previous = {**(old.get("sources") or {}), **(old.get("nodes") or {})}
        builder = self.builder
        changed_macros = self._changed_macros(old.get("macros") or {})
        chosen: set[str] = set()
        for uid, node in self.session.nodes.items():
            new = self._entry(node)
            if new is None:
                continue
            prev = previous.get(new["unique_id"])
            if _check(check, prev, new, changed_macros, builder.macros):
                chosen.add(uid)
        self._checks[check] = chosen
        return chosen

    def _entry(self, node: Node) -> dict[str, t.Any] | None:
        builder = self.builder
        if node.kind is NodeKind.SYNC:
            return None  # not in the manifest (project/syncs.py)
        if node.kind is NodeKind.SOURCE:
            source, _, table = node.name.partition(".")
            src = self.session.project.sources.get((source, table))
            return builder.source_entry(src) if src is not None else None
        return builder.node_entry(node)

    def _changed_macros(self, old: t.Mapping[str, t.Any]) -> set[str]:
        new = self.builder.macros
        changed = {uid for uid, m in new.items()
                   if uid not in old or old[uid].get("macro_sql") != m["macro_sql"]}  # fmt: skip
        return changed | (set(old) - set(new))

    # -- source_status: ------------------------------------------------------------------
    def _fresher(self) -> set[str]:
        """dbt's rule: a source whose newest load is later now than in the state's
        sources.json (or is new there), unless either check ended in an error."""
        assert self.state is not None
        previous = self.state.sources()
        current_path = self.session.project.target_dir / "sources.json"
        if not current_path.is_file():
            raise ConfigError(
                f"source_status: compares with this project's {current_path}, which does not "
                "exist.",
                hint="Run `wml source freshness` first: it writes target/sources.json.",
            )
        current = _read(current_path, "the current sources.json")
        now, now_failed = _loaded(current)
        before, before_failed = _loaded(previous)
        fresher = {uid for uid, at in now.items() if uid not in before or at > before[uid]}
        return fresher - now_failed - before_failed


def _loaded(sources: t.Mapping[str, t.Any]) -> tuple[dict[str, t.Any], set[str]]:
    loaded: dict[str, t.Any] = {}
    failed: set[str] = set()
    for result in sources.get("results") or []:
        if not isinstance(result, dict) or "unique_id" not in result:
            continue
        if result.get("max_loaded_at") in (None, ""):
            failed.add(result["unique_id"])
        else:
            loaded[result["unique_id"]] = _when(result["max_loaded_at"])
    return loaded, failed


def _when(value: t.Any) -> t.Any:
    text = str(value).replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return (1, str(value))  # unparseable: compared as text, after every timestamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (0, when)


# -- the comparisons -----------------------------------------------------------------------


def _check(
    check: str,
    old: dict[str, t.Any] | None,
    new: dict[str, t.Any],
    changed_macros: set[str],
    macros: t.Mapping[str, t.Any],
) -> bool:
    if check == "new":
        return old is None
    if check == "old":
        return old is not None
    if check in ("modified", "unmodified"):
        modified = old is None or any(
            compare(old, new) for compare in (_body, _configs, _relation, _descriptions, _fqn, _contract)
        ) or _macros(new, changed_macros, macros)
        return modified if check == "modified" else not modified
    if check == "modified.macros":
        return _macros(new, changed_macros, macros)
    compare = {
        "modified.body": _body,
        "modified.configs": _configs,
        "modified.relation": _relation,
        "modified.persisted_descriptions": _descriptions,
        "modified.contract": _contract,
    }[check]
    return old is None or compare(old, new)


def _body(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    if new["resource_type"] == "seed":
        return old.get("checksum") != new.get("checksum")
    if new["resource_type"] == "source":
        keys = ("database", "schema", "identifier", "loaded_at_field", "freshness", "external",
                "quoting")  # fmt: skip
        return any(old.get(k) != new.get(k) for k in keys)
    if new.get("test_metadata"):  # generic tests: their arguments are their body
        return old.get("test_metadata") != new["test_metadata"]
    return old.get("raw_code") != new.get("raw_code")


def _configs(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    return (old.get("unrendered_config") or {}) != (new.get("unrendered_config") or {})


def _relation(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    """The database, schema and alias as configured (not as the target resolves them)."""
    mine, theirs = new.get("unrendered_config") or {}, old.get("unrendered_config") or {}
    return any(mine.get(k) != theirs.get(k) for k in ("database", "schema", "alias"))


def _descriptions(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    docs = (new.get("config") or {}).get("persist_docs") or {}
    if docs.get("relation") and old.get("description") != new.get("description"):
        return True
    if docs.get("columns"):
        def described(entry: dict[str, t.Any]) -> dict[str, t.Any]:
            return {k: c.get("description") for k, c in (entry.get("columns") or {}).items()}

        return described(old) != described(new)
    return False


def _fqn(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    return old.get("fqn") != new.get("fqn")


def _contract(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    before, now = old.get("contract") or {}, new.get("contract") or {}
    if not before.get("enforced") and not now.get("enforced"):
        return False
    return bool(before.get("enforced")) != bool(now.get("enforced")) or (
        before.get("checksum") != now.get("checksum")
    )


def _macros(new: dict[str, t.Any], changed: set[str], macros: t.Mapping[str, t.Any]) -> bool:
    """Whether the node calls a changed macro, directly or through other macros."""
    if not changed:
        return False
    todo = list((new.get("depends_on") or {}).get("macros") or [])
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in changed:
            return True
        todo += (macros.get(uid) or {}).get("depends_on", {}).get("macros", [])
    return False
