"""What a command leaves in ``target/``: ``compiled/`` here, and dbt's artifacts
``manifest.json`` (:mod:`.manifest`) and ``run_results.json`` (:mod:`.run_results`).

Every file passes through :func:`redaction.mask`, so no profiles secret or env_var() value
reaches ``target/`` (the database still gets them).
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from warehouse_ml import redaction
from warehouse_ml.project.nodes import Node
from warehouse_ml.run.manifest import build_manifest, write_manifest
from warehouse_ml.run.run_results import NodeResult, write_run_results

if t.TYPE_CHECKING:
    from warehouse_ml.run.compiled_files import CompiledFiles

__all__ = [
    "NodeResult", "build_manifest", "write_compiled", "write_compiled_hooks", "write_manifest",
    "write_run_results",
]  # fmt: skip


def write_compiled(target_dir: Path, node: Node, sql: str, files: CompiledFiles | None = None) -> Path:
    """The node's SQL in ``target/compiled/``; through ``files`` (one compile's record of
    what it wrote), an unchanged file costs a stat and no write."""
    path = target_dir / "compiled" / (node.fqn_path or f"{node.name}.sql")
    if node.test_metadata:
        path = path.with_name(f"{node.name}.sql")
    text = redaction.mask(sql.rstrip()) + "\n"
    if files is not None:
        files.write(path, text)
    # Rewriting an unchanged file is skipped: on reruns most are unchanged, and
    # truncating files is slow on some filesystems.
    elif not (path.is_file() and path.read_text(encoding="utf-8") == text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def write_compiled_hooks(
    target_dir: Path, node: Node, hooks: t.Sequence[t.Any], files: CompiledFiles | None = None
) -> Path:
    """The node's hooks as they will run, beside its compiled SQL (``<name>.hooks.sql``);
    a node without hooks has no such file (a stale one is removed)."""
    compiled = target_dir / "compiled" / (node.fqn_path or node.name)
    path = compiled.with_name(f"{compiled.stem}.hooks.sql")
    if not hooks:
        if files is not None:
            files.remove(path)
        else:
            path.unlink(missing_ok=True)
        return path
    parts = [f"-- {hook.label}\n" + ";\n".join(hook.statements) + ";" for hook in hooks]
    text = redaction.mask("\n\n".join(parts)) + "\n"
    if files is not None:
        files.write(path, text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path
