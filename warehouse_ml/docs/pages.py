"""The site's pages, as (relative path, HTML) pairs: the lineage, lists of nodes, sources
and ML models, a page per node and a model card per ML model version.

Paths are relative to ``target/docs/``; a page at depth 1 (``nodes/…``) links up with
``../``. Search and focus data go to ``data.js`` (a script, not a fetched JSON file: the
site must work opened from disk, where browsers refuse fetch()).
"""

from __future__ import annotations

import re
import typing as t

from warehouse_ml.docs import card, lineage
from warehouse_ml.docs.collect import Site, SiteNode
from warehouse_ml.docs.html import (
    Raw,
    badge,
    code,
    esc,
    link,
    markdown,
    number,
    page,
    script_data,
    table,
)  # fmt: skip
from warehouse_ml.ml.registry import ModelVersion

KINDS = ("seed", "source", "model", "ml_model", "snapshot", "test", "unit_test", "analysis",
         "exposure", "sync")  # fmt: skip
STATUS_KIND = {"success": "ok", "pass": "ok", "warn": "warn", "fail": "bad", "error": "bad",
               "runtime error": "bad", "skipped": "muted"}  # fmt: skip


def node_path(node: SiteNode) -> str:
    return f"nodes/{_safe(node.uid)}.html"


def card_path(v: ModelVersion) -> str:
    return f"ml/{_safe(v.name)}/v{v.version}.html"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def status_badge(status: str | None) -> Raw:
    if not status:
        return Raw('<span class="muted">not run</span>')
    return badge(status, STATUS_KIND.get(status, "muted"))


class Pages:
    def __init__(self, site: Site):
        self.site = site

    def _page(self, title: str, body: str, depth: int, scripts: t.Sequence[str] = ()) -> str:
        return page(title, body, depth=depth, project=self.site.project, scripts=scripts,
                    generated_at=self.site.generated_at)  # fmt: skip

    def all(self) -> t.Iterator[tuple[str, str]]:
        yield "data.js", script_data("WML_DOCS", self.data())
        yield "index.html", self.index()
        yield "nodes.html", self.node_list()
        yield "sources.html", self.sources()
        yield "ml.html", self.ml_models()
        for node in self.site.nodes.values():
            yield node_path(node), self.node_page(node)
        for versions in self.site.versions.values():
            for v in versions:
                yield card_path(v), self.card_page(v, versions)

    # -- data for the scripts ------------------------------------------------------------
    def data(self) -> dict[str, t.Any]:
        nodes = {}
        for node in self.site.nodes.values():
            e = node.entry
            nodes[node.uid] = {
                "name": node.label, "kind": node.kind, "href": node_path(node),
                "description": (e.get("description") or "")[:300], "tags": e.get("tags") or [],
                "path": e.get("original_file_path") or "", "status": node.status,
                "parents": node.parents, "children": node.children,
                "columns": list(node.columns)[:200],
            }  # fmt: skip
        return {"project": self.site.project, "generated_at": self.site.generated_at,
                "nodes": nodes}  # fmt: skip

    # -- the lineage -----------------------------------------------------------------------
    def index(self) -> str:
        present = [k for k in KINDS if any(n.kind == k for n in self.site.nodes.values())]
        present += sorted({n.kind for n in self.site.nodes.values()} - set(present))
        toggles = "".join(
            f'<label class="kind-toggle kind-{esc(k)}"><input type="checkbox" data-kind="{esc(k)}" '
            f'checked> {esc(lineage.KIND_LABEL.get(k, k))} '
            f"({sum(1 for n in self.site.nodes.values() if n.kind == k)})</label>"
            for k in present
        )
        graph = lineage.svg(self.site.nodes, node_path)
        notes = "".join(f'<p class="warning">{esc(w)}</p>' for w in self.site.warnings)
        body = (
            f"<h1>Lineage <small>{len(self.site.nodes)} nodes</small></h1>{notes}"
            '<div class="toolbar"><input id="search" type="search" placeholder="Search names, '
            'tags, columns, descriptions… (/ to focus)" autocomplete="off">'
            '<button id="zoom-out" title="zoom out">−</button><button id="zoom-in" '
            'title="zoom in">+</button><button id="zoom-fit">fit</button>'
            f'<button id="clear">clear focus</button></div><div class="kinds">{toggles}</div>'
            '<div class="lineage-layout"><div id="graph" class="graph">'
            f'{graph}</div><aside id="panel" class="panel"><p class="muted">Click a node to '
            "focus on its upstream and downstream; search to highlight matches. The URL "
            "keeps both (#focus=…, #search=…).</p></aside></div>"
            '<div id="matches" class="matches"></div>'
        )
        return self._page("Lineage", body, 0, ["data.js", "assets/site.js"])

    # -- lists -------------------------------------------------------------------------------
    def node_list(self) -> str:
        rows = [
            (link(node_path(n), n.label), lineage.KIND_LABEL.get(n.kind, n.kind),
             n.entry.get("original_file_path") or "", status_badge(n.status),
             (n.entry.get("description") or "")[:160])
            for n in sorted(self.site.nodes.values(), key=lambda n: (n.kind, n.label))
        ]  # fmt: skip
        body = (
            f"<h1>All nodes <small>{len(rows)}</small></h1>"
            '<input id="filter" type="search" placeholder="Filter this table…" autocomplete="off">'
            + table(["name", "kind", "file", "last result", "description"], rows, "filterable")
            + self._results_note()
        )
        return self._page("All nodes", body, 0, ["data.js", "assets/site.js"])

    def _results_note(self) -> str:
        if not self.site.run_results_at:
            return '<p class="muted">No run_results.json yet: run `wml build` to see results.</p>'
        return (
            f'<p class="muted">Results from the last invocation (`wml '
            f"{esc(self.site.run_results_command)}`, {esc(self.site.run_results_at)}); nodes "
            "it did not run show as not run.</p>"
        )

    def sources(self) -> str:
        rows = []
        for n in sorted(self.site.nodes.values(), key=lambda n: n.label):
            if n.kind != "source":
                continue
            rows.append((link(node_path(n), n.label), n.entry.get("relation_name") or "",
                         n.entry.get("loaded_at_field") or "", _criteria(n.entry),
                         *_freshness_cells(n)))  # fmt: skip
        if not rows:
            body = '<h1>Sources</h1><p class="muted">This project declares no sources.</p>'
        else:
            when = (f"last checked {self.site.freshness_at}" if self.site.freshness_at
                    else "never checked: run `wml source freshness`")  # fmt: skip
            body = (f"<h1>Sources <small>{len(rows)}</small></h1><p class='muted'>Freshness "
                    f"{esc(when)}.</p>" + table(["source", "relation", "loaded_at_field",
                    "criteria", "freshness", "newest row", "age"], rows))  # fmt: skip
        return self._page("Sources", body, 0)

    def ml_models(self) -> str:
        rows = []
        for name, versions in sorted(self.site.versions.items()):
            live = next((v for v in versions if v.deployed), versions[-1])
            key = live.objective or ""
            score = (live.metrics or {}).get(key)
            base = ((live.metrics or {}).get("baseline") or {}).get(key)
            node = self.site.model_node(name)
            rows.append((link(card_path(live), name), live.problem_type or "", live.model_type or "",
                         f"{key} {number(score)}", number(base), f"v{live.version}"
                         + (" (deployed)" if live.deployed else ""), str(len(versions)),
                         link(node_path(node), "lineage") if node else "created in SQL"))  # fmt: skip
        if not rows:
            body = ('<h1>ML models</h1><p class="muted">No model in the registry yet: train one '
                    "with `wml build` or CREATE MODEL.</p>")  # fmt: skip
        else:
            body = "<h1>ML models</h1>" + table(["model", "problem", "model type", "objective",
                   "baseline", "card", "versions", "node"], rows)  # fmt: skip
        return self._page("ML models", body, 0)

    # -- one node ----------------------------------------------------------------------------
    def node_page(self, node: SiteNode) -> str:
        e = node.entry
        facts = [("kind", lineage.KIND_LABEL.get(node.kind, node.kind)),
                 ("file", e.get("original_file_path")), ("relation", e.get("relation_name")),
                 ("materialized", (e.get("config") or {}).get("materialized")),
                 ("tags", ", ".join(e.get("tags") or [])), ("package", e.get("package_name")),
                 ("described in", e.get("patch_path"))]  # fmt: skip
        parts = [
            f'<h1>{esc(node.label)} {status_badge(node.status)}</h1>',
            f'<p><a href="../index.html#focus={esc(node.uid)}">show in the lineage</a></p>',
            table(["", ""], [(k, str(v)) for k, v in facts if v], "kv"),
            f'<section id="description"><h2>Description</h2>{markdown(e.get("description"))}</section>',
        ]
        if node.kind == "ml_model":
            parts.append(self._versions(node))
        if node.kind == "source":
            parts.append(self._freshness(node))
        if node.result and node.result.get("message"):
            parts.append(f'<p class="message">Last result: {esc(node.result.get("message"))}</p>')
        if node.columns:
            parts.append(self._columns(node))
        tests = [self.site.nodes[c] for c in node.children if self.site.nodes[c].is_test]
        if tests:
            parts.append("<section id='tests'><h2>Tests</h2>" + self._tests(tests) + "</section>")
        if node.is_test:
            parts.append(self._test_facts(node))
        parts.append(self._neighbours(node))
        parts.append(self._code(node))
        return self._page(node.label, "".join(parts), 1)

    def _versions(self, node: SiteNode) -> str:
        versions = self.site.versions.get(node.name) or []
        if not versions:
            return ("<section id='versions'><h2>Model cards</h2><p class='muted'>Not trained "
                    "yet: no version in the registry.</p></section>")  # fmt: skip
        items = "".join(
            f"<li>{link('../' + card_path(v), f'version {v.version}')} · {esc(v.created_at)} · "
            f"{esc(v.model_type)}{' ' + badge('deployed', 'ok') if v.deployed else ''}</li>"
            for v in reversed(versions)
        )
        return f"<section id='versions'><h2>Model cards</h2><ul>{items}</ul></section>"

    def _freshness(self, node: SiteNode) -> str:
        cells = _freshness_cells(node)
        rows = [("loaded_at_field", node.entry.get("loaded_at_field") or "none"),
                ("criteria", _criteria(node.entry)), ("last check", cells[0]),
                ("newest row", cells[1]), ("age", cells[2])]  # fmt: skip
        return "<section id='freshness'><h2>Freshness</h2>" + table(["", ""], rows, "kv") + "</section>"

    def _columns(self, node: SiteNode) -> str:
        tests_by_column: dict[str, list[SiteNode]] = {}
        for child in node.children:
            test = self.site.nodes[child]
            column = test.entry.get("column_name")
            if test.is_test and column:
                tests_by_column.setdefault(str(column).lower(), []).append(test)
        rows = []
        for name, col in node.columns.items():
            tests = tests_by_column.get(name.lower(), [])
            shown = Raw(" ".join(
                f'{link("../" + node_path(t), (t.entry.get("test_metadata") or {}).get("name") or t.name)} '
                f"{status_badge(t.status)}" for t in tests))  # fmt: skip
            kind = col.get("data_type") or col.get("warehouse_type") or ""
            rows.append((Raw(f"<code>{esc(name)}</code>"), kind, markdown(col.get("description"))
                         if col.get("description") else "", shown))  # fmt: skip
        return "<section id='columns'><h2>Columns</h2>" + table(["column", "type", "description", "tests"], rows) + "</section>"

    def _tests(self, tests: list[SiteNode]) -> str:
        rows = []
        for test in sorted(tests, key=lambda t: t.name):
            meta = test.entry.get("test_metadata") or {}
            result = test.result or {}
            rows.append((link("../" + node_path(test), test.name), meta.get("name") or "singular",
                         test.entry.get("column_name") or "",
                         (test.entry.get("config") or {}).get("severity") or "",
                         status_badge(test.status), number(result.get("failures")),
                         result.get("message") or ""))  # fmt: skip
        return table(["test", "type", "column", "severity", "last result", "failures", "message"], rows)

    def _test_facts(self, node: SiteNode) -> str:
        e = node.entry
        attached = self.site.nodes.get(e.get("attached_node") or "")
        meta = e.get("test_metadata") or {}
        kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model"}
        rows = [("attached to", link("../" + node_path(attached), attached.label) if attached else ""),
                ("test", meta.get("name") or "singular"), ("arguments", str(kwargs) if kwargs else ""),
                ("failures", number((node.result or {}).get("failures")))]  # fmt: skip
        return "<section id='test'><h2>Test</h2>" + table(["", ""], [r for r in rows if r[1]], "kv") + "</section>"

    def _neighbours(self, node: SiteNode) -> str:
        def items(ids: list[str]) -> str:
            nodes = [self.site.nodes[i] for i in ids if not self.site.nodes[i].is_test or node.is_test]
            if not nodes:
                return '<p class="muted">none</p>'
            return "<ul>" + "".join(f"<li>{link('../' + node_path(n), n.label)} "
                                    f"<span class='muted'>{esc(n.kind)}</span></li>" for n in nodes) + "</ul>"  # fmt: skip

        return (f"<section id='lineage' class='two'><div><h2>Depends on</h2>{items(node.parents)}</div>"
                f"<div><h2>Referenced by</h2>{items(node.children)}</div></section>")  # fmt: skip

    def _code(self, node: SiteNode) -> str:
        e = node.entry
        raw, compiled = e.get("raw_code"), e.get("compiled_code")
        if not raw and not compiled:
            return ""
        out = "<section id='code'><h2>SQL</h2>"
        if compiled:
            out += "<h3>Compiled</h3>" + code(compiled)
        if raw:
            out += f"<details{'' if compiled else ' open'}><summary>Source</summary>{code(raw)}</details>"
        return out + "</section>"

    # -- a model card ------------------------------------------------------------------------
    def card_page(self, v: ModelVersion, versions: list[ModelVersion]) -> str:
        node = self.site.model_node(v.name)
        body = card.card(
            v, versions, href=lambda h: f"v{h.version}.html",
            monitoring=self.site.monitoring.get((v.name, v.version), []),
            node_href=f"../../{node_path(node)}" if node else None,
        )
        return self._page(f"{v.name} v{v.version}", body, 2)


def _criteria(entry: dict[str, t.Any]) -> str:
    fresh = entry.get("freshness") or {}
    parts = []
    for key in ("warn_after", "error_after"):
        value = fresh.get(key) or {}
        if value.get("count") is not None:
            parts.append(f"{key.split('_')[0]} after {value['count']} {value['period']}")
    return ", ".join(parts) or "none"


def _freshness_cells(node: SiteNode) -> tuple[Raw, str, str]:
    result = node.freshness
    if result is None:
        return Raw('<span class="muted">not checked</span>'), "", ""
    age = result.get("max_loaded_at_time_ago_in_s")
    shown = "" if age is None else _age(float(age))
    return status_badge(str(result.get("status"))), str(result.get("max_loaded_at") or ""), shown


def _age(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"
