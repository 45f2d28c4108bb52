"""Small HTML helpers shared by the site's pages: escaping, tables, the page shell.

Every value that came from a project, a query or the registry goes through :func:`esc`
(or :func:`text`); only markup built here is trusted. Pages link their assets relatively
(``../assets/site.css``), so the site works opened from disk and from ``wml docs serve``.
"""

from __future__ import annotations

import html
import json
import re
import typing as t

from warehouse_ml import __version__

Cell = t.Union[str, "Raw"]


class Raw(str):
    """Markup built here, inserted as is."""


def esc(value: t.Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def cell(value: Cell) -> str:
    return value if isinstance(value, Raw) else esc(value)


def table(headers: t.Sequence[str], rows: t.Iterable[t.Sequence[Cell]], cls: str = "") -> Raw:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return Raw(f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def link(href: str, label: t.Any, cls: str = "") -> Raw:
    extra = f' class="{esc(cls)}"' if cls else ""
    return Raw(f'<a href="{esc(href)}"{extra}>{esc(label)}</a>')


def badge(label: str, kind: str) -> Raw:
    return Raw(f'<span class="badge {esc(kind)}">{esc(label)}</span>')


def code(sql: str | None, language: str = "sql") -> Raw:
    if not sql:
        return Raw('<p class="muted">none</p>')
    return Raw(f'<pre class="code {esc(language)}"><code>{esc(sql.strip())}</code></pre>')


def number(value: t.Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)"), r'<a href="\2">\1</a>'),
]


def markdown(text: str | None) -> Raw:
    """Descriptions as dbt docs shows them, for the common subset: paragraphs, ``code``,
    **bold**, [links](https://...) and ``-`` lists; everything else stays escaped text."""
    if not text or not text.strip():
        return Raw('<p class="muted">No description.</p>')
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines()]
        if all(ln.startswith(("- ", "* ")) for ln in lines):
            items = "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return Raw("".join(out))


def _inline(text: str) -> str:
    escaped = esc(text)
    for pattern, replacement in _INLINE:
        escaped = pattern.sub(replacement, escaped)
    return escaped


def script_data(name: str, payload: t.Any) -> str:
    """``window.NAME = {...};`` safe inside a <script> (no '</script>' can close it)."""
    data = json.dumps(payload, default=str, separators=(",", ":"), sort_keys=True)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.{name} = {data};\n"


def page(
    title: str, body: str, *, depth: int, project: str, scripts: t.Sequence[str] = (),
    generated_at: str = "", css: str | None = None,
) -> str:  # fmt: skip
    """A whole HTML document; ``depth`` is how many folders below the site root it lives.
    With ``css`` the page stands alone (one file, style inlined, no links to the site)."""
    up = "../" * depth
    tags = "".join(f'<script src="{up}{esc(s)}"></script>' for s in scripts)
    style = f"<style>{css}</style>" if css is not None else (
        f'<link rel="stylesheet" href="{up}assets/site.css">')  # fmt: skip
    nav = "" if css is not None else (
        f'<nav><a href="{up}index.html">Lineage</a><a href="{up}nodes.html">All nodes</a>'
        f'<a href="{up}sources.html">Sources</a><a href="{up}ml.html">ML models</a></nav>')  # fmt: skip
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · {esc(project)} docs</title>{style}</head>"
        f'<body data-root="{up}"><header class="top"><a class="brand" href="{up}index.html">'
        f"{esc(project)}</a>{nav}"
        f'<span class="gen">wml {esc(__version__)} · generated {esc(generated_at)}</span>'
        f"</header><main>{body}</main>{tags}</body></html>\n"
    )
