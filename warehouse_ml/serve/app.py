"""The Profile API as a Starlette application over the current snapshot.

Every answer is assembled from JSON text the publisher wrote, so a lookup does no type
conversion: ``{"id": "...", "<relation>": {...} | null, ..., "audiences": [...]}``.
Lookups never build SQL from request text: in memory they are dict accesses, in DuckDB
prepared statements with the id bound. Auth and size limits are in ``guard.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
import typing as t

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from warehouse_ml.serve import openapi
from warehouse_ml.serve.guard import BodyTooLarge, Guard, Limits
from warehouse_ml.serve.store import Current, Snapshot, SnapshotError

MAX_ID = 512  # characters; longer ids are refused before any lookup
_JSON = "application/json"
Allowed = frozenset | None  # a token's scopes; None: every scope


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _visible(scope: str | None, allowed: Allowed) -> bool:
    return scope is None or allowed is None or scope in allowed


def _check_id(value: t.Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(400, "bad_request", "ids are text (or whole numbers).")
    text = str(value)
    if not text or len(text) > MAX_ID:
        raise ApiError(400, "bad_request", f"an id has 1 to {MAX_ID} characters.")
    return text


# -- documents, from the snapshot's JSON text --------------------------------------------------
def profile_json(snap: Snapshot, pid: str, allowed: Allowed) -> str | None:
    """The profile document, or None when no relation the token may read has ``pid``."""
    row = snap.profiles.get(pid)
    if row is None:
        return None
    parts = ['{"id":', json.dumps(pid)]
    found = False
    for entry, value in zip(snap.relations, row, strict=False):  # row ends with the audiences
        if not _visible(entry["scope"], allowed):
            continue
        found = found or value is not None
        parts += [",", json.dumps(entry["name"]), ":", value or "null"]
    if not found:
        return None
    if snap.audience_names:
        member = row[-1] or ()
        names = [snap.audience_names[i] for i in member if _visible(snap.audience_scopes[i], allowed)]
        parts += [',"audiences":', json.dumps(names)]
    parts.append("}")
    return "".join(parts)


def recommendations_json(snap: Snapshot, pid: str, k: int | None, allowed: Allowed) -> str:
    if snap.recs is None:
        raise ApiError(404, "not_found", "this API serves no recommendations (profile_api.recommendations).")
    entry, table = snap.recs
    if not _visible(entry["scope"], allowed):
        raise ApiError(403, "forbidden", f"this token lacks the scope '{entry['scope']}'.")
    k = _bounded(k, 1, entry["max_k"], min(10, entry["max_k"]), "k")
    items = table.get(pid)
    if items is None and profile_json(snap, pid, None) is None:
        raise ApiError(404, "not_found", f"no profile has id {json.dumps(pid)}.")
    body = ",".join(list(items or ())[:k])
    return f'{{"id":{json.dumps(pid)},"k":{k},"recommendations":[{body}]}}'


def audience_json(snap: Snapshot, name: str, limit: int | None, cursor: str | None,
                  max_page: int, allowed: Allowed) -> str:  # fmt: skip
    found = snap.audiences.get(name)
    if found is None:
        raise ApiError(404, "not_found", f"no audience is named {json.dumps(name)}.")
    entry, table = found
    if not _visible(entry["scope"], allowed):
        raise ApiError(403, "forbidden", f"this token lacks the scope '{entry['scope']}'.")
    limit = _bounded(limit, 1, max_page, min(100, max_page), "limit")
    rows = table.page(_decode_cursor(cursor), limit + 1)  # one more: is there a next page?
    more = len(rows) > limit
    rows = rows[:limit]
    following = json.dumps(_encode_cursor(rows[-1][0])) if more else "null"
    members = ",".join(doc for _, doc in rows)
    return (f'{{"audience":{json.dumps(name)},"count":{entry["rows"]},"profiles":[{members}],'
            f'"next_cursor":{following}}}')  # fmt: skip


def _bounded(value: int | None, low: int, high: int, default: int, name: str) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"{name} must be from {low} to {high}, got {value}.")
    return value


def _encode_cursor(last_id: str) -> str:
    """Keyset paging: the cursor is the last id of the page (members are sorted by id),
    so a page never repeats or skips a member even when a new build changes others."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = value["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ApiError(400, "bad_request", "cursor is not one this API returned.") from None
    if not isinstance(after, str):
        raise ApiError(400, "bad_request", "cursor is not one this API returned.")
    return after


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a whole number, got {raw[:40]!r}.") from None


# -- the application ------------------------------------------------------------------------
def create_app(current: Current, limits: Limits, tokens: list[tuple[str, str, t.Any]] | None) -> t.Any:
    """The ASGI app: routes behind the guard (``tokens`` None: no auth, loopback only)."""

    async def answer(request: Request, build: t.Callable[[Snapshot, Allowed], str | None]) -> Response:
        allowed = request.scope.get("wml.scopes")
        try:
            snap = current.acquire()
        except SnapshotError:
            return Response(error_body("unavailable", "no snapshot is loaded yet."), 503, media_type=_JSON)
        try:
            text = await run_in_threadpool(build, snap, allowed) if snap.blocking else build(snap, allowed)
        except ApiError as exc:
            return Response(error_body(exc.code, exc.message), exc.status, media_type=_JSON)
        finally:
            snap.release()
        return Response(text, media_type=_JSON)

    def one_profile(snap: Snapshot, pid: str, allowed: Allowed) -> str:
        pid = _check_id(pid)
        doc = profile_json(snap, pid, allowed)
        if doc is None:
            raise ApiError(404, "not_found", f"no profile has id {json.dumps(pid)}.")
        return doc

    async def profile(request: Request) -> Response:
        return await answer(request, lambda snap, allowed: one_profile(snap, request.path_params["id"], allowed))

    async def hot_profile(scope: dict, send: t.Callable, pid: str) -> None:
        """GET /v1/profiles/{id} straight from the guard, without Starlette's request and
        routing objects: the busiest call, about 1.6x the requests/s (benchmarks/profile_api.py)."""
        allowed = scope.get("wml.scopes")
        status, text = 200, ""
        try:
            snap = current.acquire()
        except SnapshotError:
            status, text = 503, error_body("unavailable", "no snapshot is loaded yet.").decode()
        else:
            try:
                if snap.blocking:
                    text = await run_in_threadpool(one_profile, snap, pid, allowed)
                else:
                    text = one_profile(snap, pid, allowed)
            except ApiError as exc:
                status, text = exc.status, error_body(exc.code, exc.message).decode()
            finally:
                snap.release()
        body = text.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def recommendations(request: Request) -> Response:
        def build(snap: Snapshot, allowed: Allowed) -> str:
            pid = _check_id(request.path_params["id"])
            return recommendations_json(snap, pid, _int_param(request, "k"), allowed)

        return await answer(request, build)

    async def batch(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except BodyTooLarge:
            return Response(error_body("too_large", f"the body is larger than {limits.max_body} bytes."),
                            413, media_type=_JSON)  # fmt: skip
        except (ValueError, UnicodeDecodeError):
            return Response(error_body("bad_request", 'the body must be JSON: {"ids": [...]}.'), 400,
                            media_type=_JSON)  # fmt: skip
        ids = payload.get("ids") if isinstance(payload, dict) else None

        def build(snap: Snapshot, allowed: Allowed) -> str:
            if not isinstance(ids, list):
                raise ApiError(400, "bad_request", 'the body must be {"ids": [...]}.')
            if len(ids) > limits.max_batch:
                raise ApiError(413, "too_large", f"at most {limits.max_batch} ids per batch, got {len(ids)}.")
            wanted = list(dict.fromkeys(_check_id(i) for i in ids))
            docs, missing = [], []
            for pid in wanted:
                doc = profile_json(snap, pid, allowed)
                docs.append(doc) if doc is not None else missing.append(pid)
            return f'{{"profiles":[{",".join(docs)}],"not_found":{json.dumps(missing)}}}'

        return await answer(request, build)

    async def audiences(request: Request) -> Response:
        def build(snap: Snapshot, allowed: Allowed) -> str:
            listed = [{"name": e["name"], "count": e["rows"]}
                      for e, _ in snap.audiences.values() if _visible(e["scope"], allowed)]  # fmt: skip
            return json.dumps({"audiences": listed})

        return await answer(request, build)

    async def audience(request: Request) -> Response:
        def build(snap: Snapshot, allowed: Allowed) -> str:
            return audience_json(snap, request.path_params["name"], _int_param(request, "limit"),
                                 request.query_params.get("cursor"), limits.max_page, allowed)  # fmt: skip

        return await answer(request, build)

    async def healthz(request: Request) -> Response:
        snap = current.snapshot
        if snap is None:
            return Response(json.dumps({"status": "starting"}), 503, media_type=_JSON)
        meta = snap.meta
        body = {
            "status": "ok",
            "snapshot": {
                "file": snap.path.name, "build_id": meta["build_id"], "built_at": meta["built_at"],
                "published_at": snap.pointer.get("published_at"), "profiles": meta["profiles"],
                "in_memory": snap.in_memory,
            },
            "loaded_at": current.loaded_at,
            "last_reload_error": current.last_error,
        }  # fmt: skip
        return Response(json.dumps(body), media_type=_JSON)

    def spec() -> dict[str, t.Any]:
        snap = current.snapshot
        return openapi.document(snap.meta if snap else None, limits, auth=tokens is not None)

    async def openapi_json(request: Request) -> Response:
        return Response(json.dumps(spec(), indent=2), media_type=_JSON)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(openapi.html(spec()))

    routes = [
        Route("/v1/profiles:batch", batch, methods=["POST"]),
        Route("/v1/profiles/{id}", profile, methods=["GET"]),
        Route("/v1/profiles/{id}/recommendations", recommendations, methods=["GET"]),
        Route("/v1/audiences", audiences, methods=["GET"]),
        Route("/v1/audiences/{name}", audience, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = "method_not_allowed" if status == 405 else "not_found"
        return Response(error_body(code, f"{request.method} {request.url.path} is not part of this API; "
                                   "see /docs."), status, media_type=_JSON)  # fmt: skip

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return Guard(app, tokens, limits, hot_profile)
