"""Snapshot nodes: ``{% snapshot name %} ... {% endsnapshot %}`` blocks and YAML snapshots.

dbt reads snapshots from ``snapshot-paths`` (``snapshots/`` by default): a ``.sql`` file
may hold several blocks, each ``{{ config(...) }}`` plus a select; dbt 1.9 also defines
them in YAML with ``relation: ref('x')`` or ``source('s', 't')``
(https://docs.getdbt.com/docs/build/snapshots). Either way the node's SQL is the select;
``run/snapshots.py`` builds the history table from it.
"""

from __future__ import annotations

import os
import re
import typing as t
from pathlib import Path, PurePosixPath

from warehouse_ml.errors import ConfigError
from warehouse_ml.project import config as cfg
from warehouse_ml.project.nodes import Node, NodeKind

_BLOCK = re.compile(
    r"{%-?\s*snapshot\s+(?P<name>\w+)\s*-?%}(?P<body>.*?){%-?\s*endsnapshot\s*-?%}", re.S
)
_OPEN = re.compile(r"{%-?\s*snapshot\b")
_RELATION = re.compile(r"^\s*(ref|source)\s*\(.*\)\s*$", re.S)


def paths(settings: t.Any) -> list[str]:
    value = getattr(settings, "snapshot_paths", None) or ["snapshots"]
    return [value] if isinstance(value, str) else list(value)


def tree(settings: t.Any) -> dict[str, t.Any]:
    return getattr(settings, "snapshots", None) or {}


def discover(
    root: Path, settings: t.Any, *, project_root: Path | None = None,
    override: dict[str, t.Any] | None = None,
) -> t.Iterator[Node]:
    """Every ``{% snapshot %}`` block under the snapshot paths, as a SNAPSHOT node.

    For a package, ``root`` is its folder, paths are kept relative to ``project_root``
    and ``override`` is what of the root project's ``snapshots:`` tree applies to it.
    """
    for folder in paths(settings):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.sql")):
            text = path.read_text(encoding="utf-8")
            blocks = list(_BLOCK.finditer(text))
            rel_file = Path(os.path.relpath(path, project_root or root))
            if len(blocks) != len(_OPEN.findall(text)):
                raise ConfigError(
                    "a {% snapshot %} block has no matching {% endsnapshot %}.",
                    path=rel_file,
                    hint="Close every block: {% snapshot name %} ... {% endsnapshot %}.",
                )
            rel = PurePosixPath(path.relative_to(base).as_posix())
            for match in blocks:
                line = text.count("\n", 0, match.start("body")) + 1
                # Leading newlines keep Jinja's line numbers those of the file.
                body = "\n" * (line - 1) + match["body"]
                yield make(settings, match["name"], rel_file, rel.parent.parts, body, override=override)


def make(
    settings: t.Any, name: str, path: Path, folders: tuple[str, ...], sql: str,
    layer: dict[str, t.Any] | None = None, override: dict[str, t.Any] | None = None,
) -> Node:
    rel = PurePosixPath(*folders, f"{name}.sql")
    trees = [tree(settings), *([override] if override else [])]
    config = cfg.merge(*(cfg.folder_config(tr, rel, settings.name) for tr in trees), layer or {})
    config.setdefault("materialized", "snapshot")
    node = Node(name, NodeKind.SNAPSHOT, path, config=config, raw_sql=sql)
    node.fqn = [settings.name, *folders, name]
    node.package_name = settings.name
    return node


def from_yaml(settings: t.Any, entry: dict[str, t.Any], rel: Path, folders: tuple[str, ...]) -> Node:
    """A dbt 1.9 YAML snapshot: ``relation`` names what it selects from."""
    relation = str(entry["relation"])
    if not _RELATION.match(relation):
        raise ConfigError(
            f"snapshot '{entry['name']}': relation must be ref('...') or source('...', '...'), "
            f"got {relation!r}.",
            path=rel,
            node=entry["name"],
        )
    layer = entry.get("config") or {}
    if not isinstance(layer, dict):
        raise ConfigError(f"config of snapshot '{entry['name']}' must be a mapping.", path=rel)
    return make(settings, entry["name"], rel, folders, f"select * from {{{{ {relation} }}}}", layer)
