"""``syncs:`` in properties YAML: reverse-ETL syncs read into specs and graph nodes.

A sync sends one relation (a model, seed, snapshot or source table) to a destination
(``file``, ``http``, ``segment``, ``postgres``). Here it is only read and checked: every
key is known, every value that is not a Jinja template has the right type. Templates
(``{{ env_var('HOOK_URL') }}``) are kept as written and rendered only when the sync runs
(``sync/config.py``), so a secret never reaches ``manifest.json``, ``wml ls`` or a log.
Each sync becomes a ``NodeKind.SYNC`` node downstream of its source, so ``wml ls``,
selectors and ``wml build --sync`` see it; nothing but the sync runner executes it.
"""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.project.nodes import Node, NodeKind

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import Project

TOP_KEYS = ("name", "source", "key", "fields", "required", "destination", "on_invalid",
            "enabled", "description", "tags", "meta")  # fmt: skip
_RETRY_KEYS = ("batch_size", "timeout", "max_retries", "backoff", "max_backoff",
               "max_retry_after", "rate_limit")  # fmt: skip
#: Each destination type's keys: (required, optional).
DESTINATION_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "file": (("path",), ("format",)),
    "http": (("url",), ("method", "headers", "send_removed", *_RETRY_KEYS)),
    "segment": (("write_key",), ("call", "event", "user_id", "endpoint", *_RETRY_KEYS)),
    "postgres": (("table",), ("dsn", "host", "port", "user", "password", "dbname", "schema",
                              "delete_removed", "batch_size")),
}
FILE_FORMATS = ("csv", "parquet", "jsonl")
SEGMENT_CALLS = ("identify", "track")
HTTP_METHODS = ("POST", "PUT", "PATCH")
# Value checks for keys whose type is fixed: (type, at least). Templates pass here and are
# checked again once rendered.
NUMBERS: dict[str, tuple[type, float]] = {
    "batch_size": (int, 1), "timeout": (float, 0.001), "max_retries": (int, 0),
    "backoff": (float, 0.0), "max_backoff": (float, 0.0), "max_retry_after": (float, 0.0),
    "rate_limit": (float, 0.001), "port": (int, 1),
}  # fmt: skip
BOOLEANS = ("send_removed", "delete_removed")


@dataclasses.dataclass
class SyncSpec:
    """One ``syncs:`` entry, checked; ``destination`` values may still be templates."""

    name: str
    source: str
    key: list[str]
    #: Destination field name -> source column (a list in YAML maps each to itself);
    #: None sends every column of the source.
    fields: dict[str, str] | None
    required: list[str]
    destination: dict[str, t.Any]
    on_invalid: str  # fail | skip
    enabled: t.Any  # True, False or a template rendered when the sync runs
    path: Path  # the YAML file, relative to the project root
    fqn: list[str]
    description: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)

    @property
    def type(self) -> str:
        return str(self.destination["type"])


def is_template(value: t.Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def read_entry(project: Project, entry: dict[str, t.Any], rel: Path, fqn: list[str]) -> None:
    """Check one ``syncs:`` entry of ``rel`` and keep it in ``project.syncs``."""
    spec = parse(entry, rel, fqn)
    other = project.syncs.get(spec.name)
    if other is not None:
        raise ConfigError(
            f"two syncs are named '{spec.name}': in {other.path.as_posix()} and {rel.as_posix()}.",
            path=rel,
            hint="Rename one: `wml sync -s NAME` and the sync's state use the name.",
        )
    project.syncs[spec.name] = spec


def parse(entry: dict[str, t.Any], rel: Path, fqn: list[str]) -> SyncSpec:
    name = str(entry["name"])

    def fail(message: str, hint: str | None = None) -> t.NoReturn:
        raise ConfigError(f"sync '{name}': {message}", path=rel, hint=hint)

    unknown = sorted(set(entry) - set(TOP_KEYS))
    if unknown:
        fail(f"unknown key '{unknown[0]}'.", f"Known keys: {', '.join(TOP_KEYS)}.")
    if not name.replace("_", "").isalnum():
        fail("a sync name is letters, digits and underscores.")
    for needed in ("source", "key", "destination"):
        if entry.get(needed) in (None, "", []):
            fail(f"`{needed}:` is required.")
    source = entry["source"]
    if not isinstance(source, str):
        fail("`source:` names a model, seed, snapshot or source table ('src.table').")
    key = _names(entry["key"], "key", fail)
    fields = _fields(entry.get("fields"), fail)
    if fields is not None:
        clash = sorted(set(fields) & set(key))
        if clash:
            fail(f"field '{clash[0]}' is also the key; the key is always sent, drop it from "
                 "`fields:` or map it to another name.")  # fmt: skip
    required = _names(entry.get("required") or [], "required", fail)
    on_invalid = str(entry.get("on_invalid", "fail"))
    if on_invalid not in ("fail", "skip"):
        fail(f"on_invalid '{on_invalid}' is not one of fail, skip.")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool) and not is_template(enabled):
        fail("`enabled:` is true, false or a template such as "
             "\"{{ env_var('HOOK_URL', '') != '' }}\".")  # fmt: skip
    destination = entry["destination"]
    if not isinstance(destination, dict):
        fail("`destination:` is a mapping with a `type:` (file, http, segment, postgres).")
    check_destination(destination, fail, rendered=False)
    tags = entry.get("tags") or []
    return SyncSpec(
        name=name, source=source, key=key, fields=fields, required=required,
        destination=dict(destination), on_invalid=on_invalid, enabled=enabled, path=rel,
        fqn=[*fqn, name], description=str(entry.get("description") or ""),
        tags=[tags] if isinstance(tags, str) else [str(x) for x in tags],
    )  # fmt: skip


def check_destination(
    dest: dict[str, t.Any], fail: t.Callable[..., t.NoReturn], *, rendered: bool
) -> None:
    """The destination's keys and value types; ``rendered`` once templates are rendered
    (then every value is checked)."""
    kind = dest.get("type")
    if kind not in DESTINATION_KEYS:
        fail(f"destination type {kind!r} is not one of {', '.join(DESTINATION_KEYS)}.")
    needed, optional = DESTINATION_KEYS[kind]
    for key in dest:
        if key != "type" and key not in needed and key not in optional:
            fail(f"unknown key '{key}' in its {kind} destination.",
                 f"Known keys: {', '.join((*needed, *optional))}.")  # fmt: skip
    for key in needed:
        if dest.get(key) in (None, ""):
            fail(f"its {kind} destination needs `{key}:`.")
    if kind == "postgres" and not (dest.get("dsn") or dest.get("host")):
        fail("its postgres destination needs `dsn:` (a libpq connection string) or `host:`.")
    for key, value in dest.items():
        if value is None or (is_template(value) and not rendered):
            continue
        _check_value(kind, key, value, fail)


def _check_value(kind: str, key: str, value: t.Any, fail: t.Callable[..., t.NoReturn]) -> None:
    if key in NUMBERS:
        typ, least = NUMBERS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (typ is int and not float(value).is_integer()) or value < least:
            fail(f"`{key}: {value!r}` in its {kind} destination must be a number >= {least:g}.")
    elif key in BOOLEANS and not isinstance(value, bool):
        fail(f"`{key}:` in its {kind} destination is true or false.")
    elif key == "headers" and not (
        isinstance(value, dict) and all(isinstance(v, (str, int, float)) for v in value.values())
    ):
        fail("`headers:` in its http destination maps header names to text.")
    elif key == "format" and value not in FILE_FORMATS:
        fail(f"file format {value!r} is not one of {', '.join(FILE_FORMATS)}.")
    elif key == "call" and value not in SEGMENT_CALLS:
        fail(f"segment call {value!r} is not one of {', '.join(SEGMENT_CALLS)}.")
    elif key == "method" and str(value).upper() not in HTTP_METHODS:
        fail(f"http method {value!r} is not one of {', '.join(HTTP_METHODS)}.")
    elif key in ("url", "endpoint") and not str(value).startswith(("http://", "https://")):
        fail(f"`{key}:` must be an http:// or https:// URL.")


def _names(value: t.Any, what: str, fail: t.Callable[..., t.NoReturn]) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        fail(f"`{what}:` is a column name or a list of column names.")
    if len(set(names)) != len(names):
        fail(f"`{what}:` names a column twice.")
    return list(names)


def _fields(value: t.Any, fail: t.Callable[..., t.NoReturn]) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return {name: name for name in _names(value, "fields", fail)}
    if isinstance(value, dict) and value and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    fail("`fields:` is a list of columns or a mapping {destination_field: column}.")


def sync_uid(name: str) -> str:
    return f"{NodeKind.SYNC.value}.{name}"


def add_sync_nodes(project: Project) -> None:
    """A graph node per sync, depending on its source (after sources are nodes)."""
    for spec in project.syncs.values():
        node = Node(spec.name, NodeKind.SYNC, spec.path, config={"tags": spec.tags})
        node.fqn = spec.fqn
        node.description = spec.description
        node.package_name = spec.fqn[0] if spec.fqn else project.settings.name
        node.depends_on = [source_uid(project, spec)]
        project.nodes[node.unique_id] = node


def source_uid(project: Project, spec: SyncSpec) -> str:
    """The node a sync reads: a model, seed or snapshot by name, or ``source.table``."""
    for kind in (NodeKind.MODEL, NodeKind.SEED, NodeKind.SNAPSHOT):
        uid = f"{kind.value}.{spec.source}"
        if uid in project.nodes:
            return uid
    uid = f"{NodeKind.SOURCE.value}.{spec.source}"
    if uid in project.nodes:
        return uid
    raise ConfigError(
        f"sync '{spec.name}': source '{spec.source}' is not a model, seed, snapshot or "
        "source table of this project.",
        path=spec.path,
        hint="Name a model or seed as ref() does, or a source table as 'source_name.table'.",
    )
