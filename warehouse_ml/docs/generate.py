"""``wml docs generate``: the static site in ``target/docs/``, written whole or not at all.

Every page is built in memory, written into a sibling staging folder, and swapped in with
two renames; a failure before the swap removes the staging folder and leaves the previous
site (and ``target/manifest.json``) as they were. Every file passes through
:func:`redaction.mask`, so no profiles secret reaches the site. Then, as ``dbt docs
generate`` does, ``target/manifest.json`` and ``target/catalog.json`` are written.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import typing as t
from importlib import resources
from pathlib import Path

from warehouse_ml import redaction
from warehouse_ml.docs.collect import Site, collect
from warehouse_ml.docs.pages import Pages

CATALOG_SCHEMA = "https://schemas.getdbt.com/dbt/catalog/v1.json"
ASSETS = ("site.css", "site.js")


@dataclasses.dataclass
class Generated:
    folder: Path
    pages: int
    nodes: int
    cards: int


def generate(session: t.Any, warn: t.Callable[[str], None], folder: Path | None = None) -> Generated:
    """Write the site for ``session``'s project; returns where and how much."""
    site = collect(session, warn)
    folder = folder or session.project.target_dir / "docs"
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        pages = _write(site, staging)
        _swap(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_artifacts(session, site)
    cards = sum(len(v) for v in site.versions.values())
    return Generated(folder, pages, len(site.nodes), cards)


def _write(site: Site, staging: Path) -> int:
    count = 0
    for rel, text in Pages(site).all():
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redaction.mask(text), encoding="utf-8")
        count += 1
    (staging / "assets").mkdir(exist_ok=True)
    for name in ASSETS:
        (staging / "assets" / name).write_text(asset(name), encoding="utf-8")
    return count


def asset(name: str) -> str:
    return resources.files("warehouse_ml.docs").joinpath("assets", name).read_text(encoding="utf-8")


def _swap(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by ``staging``: the old site moves aside first, so a reader sees
    the old site or the new one, and an error puts the old one back."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    had = folder.exists()
    if had:
        folder.rename(old)
    try:
        staging.rename(folder)
    except OSError:
        if had:
            old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_artifacts(session: t.Any, site: Site) -> None:
    from warehouse_ml.run.manifest import metadata, write_json

    target = session.project.target_dir
    write_json(target / "manifest.json", site.manifest)
    nodes, sources = {}, {}
    for uid, entry in site.catalog.items():
        kind = site.nodes[uid].kind
        item = {"metadata": {"type": "BASE TABLE", "comment": None, "owner": None, **entry["metadata"]},
                "columns": entry["columns"], "stats": {}, "unique_id": uid}  # fmt: skip
        (sources if kind == "source" else nodes)[uid] = item
    payload = {"metadata": metadata(CATALOG_SCHEMA), "nodes": nodes, "sources": sources, "errors": None}
    write_json(target / "catalog.json", payload)


def write_card(session: t.Any, name: str, version: int | None, output: Path | None) -> Path:
    """``wml show NAME --html``: one model card as a single self-contained HTML file."""
    from warehouse_ml.docs import card, monitoring
    from warehouse_ml.docs.html import page
    from warehouse_ml.files import write_atomically
    from warehouse_ml.ml import registry
    from warehouse_ml.run.manifest import timestamp

    cursor = session.connection().cursor()
    try:
        v = registry.get(cursor, name, version)
        history = registry.list_versions(cursor, v.name)
        rows = monitoring.rows(cursor, v)
    finally:
        cursor.close()
    body = card.card(v, history, href=lambda h: f"{_safe_name(h.name)}_v{h.version}.html",
                     monitoring=rows)  # fmt: skip
    project = session.project.settings.name
    text = page(f"{v.name} v{v.version}", body, depth=0, project=project,
                generated_at=timestamp(), css=asset("site.css"))  # fmt: skip
    path = output or session.project.target_dir / "cards" / f"{_safe_name(v.name)}_v{v.version}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, redaction.mask(text).encode("utf-8"))
    return path


def _safe_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
