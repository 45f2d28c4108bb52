"""dbt's ``{% docs name %}`` blocks and ``{{ doc('name') }}`` in descriptions.

dbt collects docs blocks from the ``.md`` files in ``docs-paths`` (by default every
resource path) and renders each description (models, seeds, snapshots, columns,
sources, exposures) as Jinja with ``doc()``; a missing block is an error
(https://docs.getdbt.com/reference/resource-properties/description#use-a-docs-block-in-a-description).
Descriptions without ``{{`` are left alone, so projects that do not use docs pay nothing.
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError

_BLOCK = re.compile(r"{%-?\s*docs\s+(?P<name>\w+)\s*-?%}(?P<body>.*?){%-?\s*enddocs\s*-?%}", re.S)


def collect(root: Path, folders: t.Iterable[str]) -> dict[str, tuple[str, Path]]:
    """Docs block name -> (its text, the file it is in); one name, one block (as dbt)."""
    blocks: dict[str, tuple[str, Path]] = {}
    for folder in dict.fromkeys(folders):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.md")):
            rel = path.relative_to(root)
            for match in _BLOCK.finditer(path.read_text(encoding="utf-8")):
                name = match["name"]
                if name in blocks:
                    raise ConfigError(
                        f"docs block '{name}' is defined twice: {blocks[name][1]} and {rel}.",
                        path=rel,
                        hint="Rename one: doc() finds a block by its name.",
                    )
                blocks[name] = (match["body"].strip(), rel)
    return blocks


class Renderer:
    """Renders descriptions with ``doc()`` (and ``var``/``env_var`` as dbt's docs context)."""

    def __init__(self, blocks: dict[str, tuple[str, Path]], variables: dict[str, t.Any]):
        import jinja2

        self.blocks = blocks
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined)
        self.env.globals.update(doc=self._doc, var=lambda name, default=None: variables.get(name, default))
        self._where: Path | None = None

    def _doc(self, *names: str) -> str:
        name = names[-1]  # doc('package', 'name'): one namespace here
        if name not in self.blocks:
            raise ConfigError(
                f"doc('{name}') names no docs block.",
                path=self._where,
                hint="Define it in a .md file: {% docs " + name + " %}...{% enddocs %}."
                + (f" Known: {', '.join(sorted(self.blocks))}." if self.blocks else ""),
            )
        return self.blocks[name][0]

    def render(self, text: t.Any, where: Path | None) -> t.Any:
        if not isinstance(text, str) or ("{{" not in text and "{%" not in text):
            return text
        import jinja2

        from warehouse_ml.project.profiles import env_var

        self._where = where
        try:
            return self.env.from_string(text).render(env_var=env_var)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"cannot render the description: {exc}.", path=where) from None


def apply(project: t.Any) -> None:
    """Render every description of ``project``'s nodes, their columns and its sources."""
    settings = project.settings
    folders = settings.docs_paths or [*settings.model_paths, *settings.seed_paths, *settings.snapshot_paths]
    blocks = collect(project.root, folders)
    docs = Renderer(blocks, settings.vars)
    items: list[t.Any] = [*project.nodes.values(), *project.sources.values()]
    items += list(getattr(project, "exposures", {}).values())
    for item in items:
        where = getattr(item, "path", None)
        if isinstance(item, dict):
            item["description"] = docs.render(item.get("description"), item.get("path"))
            continue
        item.description = docs.render(getattr(item, "description", ""), where)
        for column in (getattr(item, "columns", None) or {}).values():
            if isinstance(column, dict) and "description" in column:
                column["description"] = docs.render(column["description"], where)
