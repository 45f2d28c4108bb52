"""POST with retries, for the http and segment destinations (stdlib ``urllib`` only).

Retried: 408, 425, 429 and every 5xx answer, timeouts and dropped connections, with
exponential backoff and jitter (``backoff * 2**attempt`` capped at ``max_backoff``, then a
random half to all of it, so many clients do not retry in step). A ``Retry-After`` header
(seconds or an HTTP date, RFC 9110 10.2.3) replaces the backoff for that attempt; one
longer than ``max_retry_after`` ends the batch's attempts. Any other 4xx is a rejection,
not retried: the same rows would be refused again. ``rate_limit`` spaces requests to at
most that many per second.
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import random
import socket
import time
import typing as t
import urllib.error
import urllib.request

from warehouse_ml import __version__

RETRY_STATUS = frozenset({408, 425, 429})
USER_AGENT = f"warehouse-ml/{__version__}"


@dataclasses.dataclass
class Policy:
    timeout: float = 10.0
    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    rate_limit: float | None = None  # requests per second

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Policy:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in fields and v is not None})


class Rejected(Exception):
    """The destination refused the request (a 4xx other than 408/425/429)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}".rstrip(": "))
        self.status = status


class Unavailable(Exception):
    """Every attempt failed (5xx, 429, timeouts, connection errors) or the server asked to
    wait longer than ``max_retry_after``."""


@dataclasses.dataclass
class Response:
    status: int
    body: str
    attempts: int


class Client:
    def __init__(self, policy: Policy, on_retry: t.Callable[[str], None] | None = None):
        self.policy = policy
        self.on_retry = on_retry or (lambda _message: None)
        self._last_request = 0.0
        self.sleep = time.sleep

    def post(self, url: str, body: bytes, headers: t.Mapping[str, str],
             method: str = "POST") -> Response:  # fmt: skip
        """Send until acknowledged (2xx); raise Rejected or Unavailable."""
        policy = self.policy
        attempt = 0
        while True:
            self._respect_rate_limit()
            try:
                status, text, retry_after = self._once(url, body, headers, method)
            except (TimeoutError, ConnectionError, http.client.HTTPException, urllib.error.URLError) as exc:  # fmt: skip
                status, text, retry_after = 0, _reason(exc), None
            if 200 <= status < 300:
                return Response(status, text, attempt + 1)
            if status and status not in RETRY_STATUS and status < 500:
                raise Rejected(status, text)
            what = f"HTTP {status}" if status else text
            if attempt >= policy.max_retries:
                raise Unavailable(f"{what} after {attempt + 1} attempts")
            delay = self._delay(attempt, retry_after, what)
            self.on_retry(f"{what}; retrying in {delay:.1f}s (attempt {attempt + 2} of "
                          f"{policy.max_retries + 1})")  # fmt: skip
            self.sleep(delay)
            attempt += 1

    def _once(self, url: str, body: bytes, headers: t.Mapping[str, str],
              method: str) -> tuple[int, str, str | None]:  # fmt: skip
        request = urllib.request.Request(url, data=body, method=method, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.policy.timeout) as response:
                return response.status, response.read().decode("utf-8", "replace"), None
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace") if exc.fp else ""
            return exc.code, text, exc.headers.get("Retry-After") if exc.headers else None

    def _delay(self, attempt: int, retry_after: str | None, what: str) -> float:
        policy = self.policy
        asked = parse_retry_after(retry_after)
        if asked is not None:
            if asked > policy.max_retry_after:
                raise Unavailable(f"{what} with Retry-After {asked:.0f}s, more than "
                                  f"max_retry_after ({policy.max_retry_after:g}s)")  # fmt: skip
            return asked
        ceiling = min(policy.max_backoff, policy.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _respect_rate_limit(self) -> None:
        if self.policy.rate_limit:
            wait = self._last_request + 1.0 / self.policy.rate_limit - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_request = time.monotonic()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(reason).__name__}: {reason}"
