"""What every request passes before a route: URL and body size limits, bearer-token auth.

A plain ASGI middleware (no per-request objects): it reads the ``Authorization`` header,
compares it with every configured token in constant time (``hmac.compare_digest``, all
tokens compared so the time does not tell which one nearly matched), and puts the token's
scopes in the ASGI scope for the routes. ``/healthz``, ``/openapi.json`` and ``/docs``
hold no profile data and answer without a token, so load balancers can probe them.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import typing as t

MAX_URL = 4096  # bytes of path + query string
PUBLIC = ("/healthz", "/openapi.json", "/docs")
_PROFILE = "/v1/profiles/"


@dataclasses.dataclass(frozen=True)
class Limits:
    max_batch: int = 100
    max_page: int = 1000
    max_body: int = 256 * 1024  # bytes


def _reply(status: int, code: str, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> tuple[dict, dict]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    return start, {"type": "http.response.body", "body": body}


class Guard:
    def __init__(self, app: t.Any, tokens: list[tuple[str, str, t.Any]] | None, limits: Limits,
                 profile: t.Callable[..., t.Awaitable[None]] | None = None):  # fmt: skip
        self.app = app
        self.profile = profile  # GET /v1/profiles/{id}, answered without the router
        self.limits = limits
        # (secret as bytes, scopes as a frozenset or None for every scope)
        self.tokens = None if tokens is None else [
            (secret.encode(), None if scopes is None else frozenset(scopes)) for _, secret, scopes in tokens
        ]  # fmt: skip

    async def __call__(self, scope: dict, receive: t.Callable, send: t.Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if len(scope["raw_path"] if scope.get("raw_path") else scope["path"]) + len(scope.get("query_string", b"")) > MAX_URL:
            return await self._send(send, *_reply(414, "too_large", f"the URL is longer than {MAX_URL} bytes."))
        headers = scope["headers"]
        if self.tokens is not None and scope["path"] not in PUBLIC:
            allowed = self._authorize(headers)
            if allowed is False:
                return await self._send(send, *_reply(
                    401, "unauthorized", "a valid bearer token is required: Authorization: Bearer <token>.",
                    [(b"www-authenticate", b'Bearer realm="wml"')],
                ))  # fmt: skip
            scope["wml.scopes"] = allowed
        else:
            scope["wml.scopes"] = None
        for name, value in headers:
            too_big = name == b"content-length" and (not value.isdigit() or int(value) > self.limits.max_body)
            if too_big:
                return await self._send(send, *_reply(
                    413, "too_large", f"the body is larger than {self.limits.max_body} bytes."))  # fmt: skip
        path = scope["path"]
        if self.profile is not None and scope["method"] == "GET" and path.startswith(_PROFILE):
            pid = path[len(_PROFILE):]
            if pid and "/" not in pid:
                return await self.profile(scope, send, pid)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _authorize(self, headers: list[tuple[bytes, bytes]]) -> t.Any:
        """The matching token's scopes (None: all), or False when no token matches."""
        given = b""
        for name, value in headers:
            if name == b"authorization":
                scheme, _, rest = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = rest.strip()
        match: t.Any = False
        for secret, scopes in t.cast(list, self.tokens):
            if hmac.compare_digest(given, secret) and given:
                match = scopes
        return match

    def _counting(self, receive: t.Callable) -> t.Callable:
        """A chunked body (no Content-Length) is cut off past the limit too."""
        seen = 0
        limit = self.limits.max_body

        async def wrapped() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        return wrapped

    @staticmethod
    async def _send(send: t.Callable, start: dict, body: dict) -> None:
        await send(start)
        await send(body)


class BodyTooLarge(Exception):
    """Raised while reading a chunked body past the limit; the batch route answers 413."""
