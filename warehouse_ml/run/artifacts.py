"""``target/manifest.json``, ``target/run_results.json`` and ``target/compiled/``.

Shaped like dbt's artifacts so tools that read those can read ours. Only the target's
public fields are written, and every file passes through :func:`redaction.mask`, so no
profiles secret or env_var() value reaches ``target/`` (the database still gets them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t
from pathlib import Path

from warehouse_ml import __version__, redaction
from warehouse_ml.files import write_atomically
from warehouse_ml.project.nodes import Node


@dataclasses.dataclass
class NodeResult:
    unique_id: str
    status: str  # success | error | skipped | pass | fail | warn | interrupted
    started_at: str
    completed_at: str
    execution_time: float
    rows: int | None = None
    message: str = ""
    failures: int | None = None

    def to_json(self) -> dict[str, t.Any]:
        return {
            "unique_id": self.unique_id,
            "status": self.status,
            "timing": [
                {
                    "name": "execute",
                    "started_at": self.started_at,
                    "completed_at": self.completed_at,
                }
            ],
            "execution_time": round(self.execution_time, 4),
            "adapter_response": {"rows_affected": self.rows} if self.rows is not None else {},
            "message": self.message,
            "failures": self.failures,
        }


def _write_json(path: Path, payload: dict[str, t.Any]) -> None:
    text = redaction.mask(json.dumps(payload, default=str))
    write_atomically(path, text.encode("utf-8"))


def _metadata(command: str, target: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "wml_version": __version__,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": command,
        "target": target,
    }


def write_manifest(
    target_dir: Path, nodes: t.Iterable[Node], command: str, target: dict[str, t.Any]
) -> None:
    entries = {}
    for node in nodes:
        entries[node.unique_id] = {
            "unique_id": node.unique_id,
            "name": node.name,
            "resource_type": node.kind.value,
            "original_file_path": node.fqn_path,
            "fqn": node.fqn or [node.name],
            "config": node.config,
            "tags": node.tags,
            "depends_on": {"nodes": node.depends_on},
            "description": node.description,
            "columns": node.columns,
            "test_metadata": node.test_metadata,
            "attached_node": node.attached_to,
            "sources": (node.source_info or {}).get("sources", []),
        }
    _write_json(
        target_dir / "manifest.json", {"metadata": _metadata(command, target), "nodes": entries}
    )


def write_run_results(
    target_dir: Path,
    results: list[NodeResult],
    command: str,
    target: dict[str, t.Any],
    elapsed: float,
    interrupted: bool = False,
) -> None:
    _write_json(
        target_dir / "run_results.json",
        {
            "metadata": _metadata(command, target),
            "elapsed_time": round(elapsed, 4),
            "interrupted": interrupted,  # Ctrl-C: 'interrupted' nodes rolled back, rest skipped
            "results": [r.to_json() for r in results],
        },
    )


def write_compiled(target_dir: Path, node: Node, sql: str) -> Path:
    path = target_dir / "compiled" / (node.fqn_path or f"{node.name}.sql")
    if node.test_metadata:
        path = path.with_name(f"{node.name}.sql")
    text = redaction.mask(sql.rstrip()) + "\n"
    # Rewriting an unchanged file is skipped: on reruns most are unchanged, and
    # truncating files is slow on some filesystems.
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def write_compiled_hooks(target_dir: Path, node: Node, hooks: t.Sequence[t.Any]) -> Path:
    """The node's hooks as they will run, beside its compiled SQL (``<name>.hooks.sql``);
    a node without hooks has no such file (a stale one is removed)."""
    compiled = target_dir / "compiled" / (node.fqn_path or node.name)
    path = compiled.with_name(f"{compiled.stem}.hooks.sql")
    if not hooks:
        path.unlink(missing_ok=True)
        return path
    parts = [f"-- {hook.label}\n" + ";\n".join(hook.statements) + ";" for hook in hooks]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redaction.mask("\n\n".join(parts)) + "\n", encoding="utf-8")
    return path
