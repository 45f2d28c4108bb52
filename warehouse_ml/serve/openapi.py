"""The OpenAPI 3.1 document of the Profile API, and a page that shows it without a network.

The document describes the snapshot being served: each relation becomes a property of
the profile schema with its columns, and the audience names are listed, so a client
generator sees the real shape. ``/docs`` renders the same document as plain HTML with
inline CSS: no script, no CDN (Swagger UI needs both), so it works on an offline host.
"""

from __future__ import annotations

import html as _html
import json
import typing as t

from warehouse_ml import __version__

if t.TYPE_CHECKING:
    from warehouse_ml.serve.guard import Limits

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, t.Any], description: str) -> dict[str, t.Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, t.Any]:
    text = {400: "Bad request (an id, k, limit or cursor out of bounds)", 401: "Missing or wrong bearer token",
            403: "The token lacks this resource's scope", 404: "Unknown id or name",
            413: "Body or batch too large"}  # fmt: skip
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def _profile_schema(meta: dict[str, t.Any] | None) -> dict[str, t.Any]:
    props: dict[str, t.Any] = {"id": {"type": "string"}}
    for rel in (meta or {}).get("relations", []):
        cols = {c: {} for c in rel["columns"]}
        props[rel["name"]] = {"type": ["object", "null"], "properties": cols,
                              "description": f"Row of {rel['name']}" + (f" (scope {rel['scope']})" if rel["scope"] else "")}  # fmt: skip
    if (meta or {}).get("audiences"):
        props["audiences"] = {"type": "array", "items": {"type": "string",
                              "enum": [a["name"] for a in meta["audiences"]]}}  # type: ignore[index]  # fmt: skip
    return {"type": "object", "properties": props, "required": ["id"]}


def document(meta: dict[str, t.Any] | None, limits: Limits, *, auth: bool) -> dict[str, t.Any]:
    pid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 512}}
    recs = (meta or {}).get("recommendations") or {}
    max_k = recs.get("max_k", 100)
    paths = {
        "/v1/profiles/{id}": {"get": {
            "summary": "One profile: every served relation's row, and its audiences",
            "parameters": [pid],
            "responses": {"200": _json({"$ref": "#/components/schemas/Profile"}, "The profile"),
                          **_errors(400, 401, 404)},
        }},
        "/v1/profiles/{id}/recommendations": {"get": {
            "summary": "The profile's next best items, best first",
            "parameters": [pid, {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                 "maximum": max_k, "default": min(10, max_k)}}],
            "responses": {"200": _json({"type": "object", "properties": {
                "id": {"type": "string"}, "k": {"type": "integer"},
                "recommendations": {"type": "array", "items": {"type": "object"}}}}, "Up to k items"),
                **_errors(400, 401, 403, 404)},
        }},
        "/v1/profiles:batch": {"post": {
            "summary": f"Up to {limits.max_batch} profiles in one call",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["ids"], "properties": {"ids": {
                    "type": "array", "maxItems": limits.max_batch, "items": {"type": "string"}}}}}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "profiles": {"type": "array", "items": {"$ref": "#/components/schemas/Profile"}},
                "not_found": {"type": "array", "items": {"type": "string"}}}},
                "The profiles found, in request order, and the ids not found"), **_errors(400, 401, 413)},
        }},
        "/v1/audiences": {"get": {
            "summary": "The audiences and their sizes",
            "responses": {"200": _json({"type": "object"}, "Audience names and member counts"), **_errors(401)},
        }},
        "/v1/audiences/{name}": {"get": {
            "summary": "An audience's members, a page at a time (sorted by id)",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                 "maximum": limits.max_page, "default": min(100, limits.max_page)}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"},
                 "description": "next_cursor of the previous page"},
            ],
            "responses": {"200": _json({"type": "object", "properties": {
                "audience": {"type": "string"}, "count": {"type": "integer"},
                "profiles": {"type": "array", "items": {"type": "object"}},
                "next_cursor": {"type": ["string", "null"]}}}, "One page of members"),
                **_errors(400, 401, 403, 404)},
        }},
        "/healthz": {"get": {"summary": "Liveness and the served snapshot's build time", "security": [],
                             "responses": {"200": _json({"type": "object"}, "The snapshot served")}}},
    }  # fmt: skip
    doc: dict[str, t.Any] = {
        "openapi": "3.1.0",
        "info": {"title": "warehouse-ml Profile API", "version": __version__,
                 "description": "Profiles assembled from the project's published snapshot "
                 + (f"(build {meta['build_id']}, built {meta['built_at']})." if meta else "(none loaded).")},
        "paths": paths,
        "components": {"schemas": {
            "Profile": _profile_schema(meta),
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}},
        }},
    }  # fmt: skip
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


_STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
h2{margin-top:2rem;font-family:monospace}.m{display:inline-block;padding:0 .5em;border-radius:4px;
background:#246;color:#fff;font-size:.85em}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:.2em .6em;text-align:left}pre{background:#f4f4f4;padding:.6em;overflow:auto}"""


def html(spec: dict[str, t.Any]) -> str:
    """The document as one self-contained HTML page (every value escaped)."""
    esc = _html.escape
    out = [f"<!doctype html><meta charset=utf-8><title>{esc(spec['info']['title'])}</title>",
           f"<style>{_STYLE}</style><h1>{esc(spec['info']['title'])}</h1>",
           f"<p>{esc(spec['info']['description'])}</p>",
           '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.'
           + (" Send <code>Authorization: Bearer &lt;token&gt;</code>." if spec.get("security") else "")
           + "</p>"]  # fmt: skip
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append(f"<h2><span class=m>{esc(method.upper())}</span> {esc(path)}</h2><p>{esc(op['summary'])}</p>")
            params = op.get("parameters") or []
            if params:
                out.append("<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>")
                for p in params:
                    out.append(f"<tr><td>{esc(p['name'])}</td><td>{esc(p['in'])}</td>"
                               f"<td><code>{esc(json.dumps(p['schema']))}</code></td></tr>")  # fmt: skip
                out.append("</table>")
            codes = ", ".join(f"{esc(c)} {esc(r['description'])}" for c, r in op["responses"].items())
            out.append(f"<p>Responses: {codes}.</p>")
    profile = spec["components"]["schemas"]["Profile"]
    out.append(f"<h2>Profile</h2><pre>{esc(json.dumps(profile, indent=2))}</pre>")
    return "\n".join(out)
