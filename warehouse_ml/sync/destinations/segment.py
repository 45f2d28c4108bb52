"""``type: segment``: Segment's HTTP tracking API, ``POST {endpoint}/v1/batch``.

Each upserted row becomes an ``identify`` call (the row's fields as ``traits`` on
``userId``) or a ``track`` call (``event`` named in the config, the fields as
``properties``); ``user_id`` names the column holding the user id (the first key column
by default). The write key is sent as HTTP basic auth (user = write key, no password),
as Segment's docs say; ``messageId`` is the row version's idempotency key, which Segment
uses to drop duplicates. Segment's limits hold: a message over 32 KB is refused (counted
as failed, never sent) and a request stays under 500 KB, split as needed.
Removed rows are not sent: the tracking API has no call that deletes a user or a trait
(deleting users is the separate Public API's regulations endpoint); they leave the sync's
state, so a row that comes back is sent again.
https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import typing as t

from warehouse_ml import __version__
from warehouse_ml.errors import ConfigError
from warehouse_ml.sync import http_client
from warehouse_ml.sync.destinations.base import Delivery, Destination
from warehouse_ml.sync.diff import Change

DEFAULT_ENDPOINT = "https://api.segment.io"
MAX_MESSAGE = 32 * 1024
MAX_REQUEST = 500 * 1024
_CONTEXT = {"library": {"name": "warehouse-ml", "version": __version__}}


def _size(value: t.Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


class SegmentDestination(Destination):
    default_batch_size = 100

    def __init__(self, *args: t.Any):
        super().__init__(*args)
        self.call = str(self.config.get("call") or "identify")
        if self.call == "track" and not self.config.get("event"):
            raise ConfigError(f"sync '{self.spec.name}': a segment `call: track` needs "
                              "`event:` (the event name).", path=self.spec.path)  # fmt: skip
        self.user_id = str(self.config.get("user_id") or self.ctx.key[0])
        if self.user_id not in self.ctx.column_types:
            raise ConfigError(
                f"sync '{self.spec.name}': segment `user_id: {self.user_id}` is not a key "
                f"column or field ({', '.join(self.ctx.column_types)}).", path=self.spec.path,
            )  # fmt: skip
        self.url = str(self.config.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/") + "/v1/batch"
        token = base64.b64encode(f"{self.config['write_key']}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.client = http_client.Client(http_client.Policy.from_config(self.config),
                                         on_retry=self._retrying)  # fmt: skip

    @property
    def supports_delete(self) -> bool:
        return False

    def describe(self) -> str:
        return f"segment {self.call} -> {self.url}"

    def _retrying(self, message: str) -> None:
        self.ctx.warn(f"sync '{self.spec.name}': {message}")

    def message(self, change: Change) -> dict[str, t.Any]:
        payload = dict(change.payload or {})
        user = payload.pop(self.user_id)
        out: dict[str, t.Any] = {"type": self.call, "userId": str(user),
                                 "messageId": change.idempotency_key}  # fmt: skip
        if self.call == "identify":
            out["traits"] = payload
        else:
            out["event"] = str(self.config["event"])
            out["properties"] = payload
        out["timestamp"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        out["context"] = _CONTEXT
        return out

    def requests(self, changes: list[Change]) -> tuple[list[list[tuple[Change, dict]]], list[tuple[Change, str]]]:
        """Messages grouped into requests under 500 KB; messages over 32 KB refused."""
        groups: list[list[tuple[Change, dict]]] = []
        refused: list[tuple[Change, str]] = []
        size = MAX_REQUEST
        envelope = _size({"batch": [], "sentAt": "2026-01-01T00:00:00.000+00:00"})
        for change in changes:
            message = self.message(change)
            length = _size(message)
            if length > MAX_MESSAGE:
                refused.append((change, f"message of {length} bytes is over Segment's 32 KB limit"))
                continue
            if size + length + 1 > MAX_REQUEST:
                groups.append([])
                size = envelope
            groups[-1].append((change, message))
            size += length + 1
        return groups, refused

    def preview(self, changes: list[Change]) -> list[t.Any]:
        groups, _ = self.requests([c for c in changes if not c.removed])
        return [self.body([m for _, m in group]) for group in groups]

    @staticmethod
    def body(messages: list[dict]) -> dict[str, t.Any]:
        sent = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        return {"batch": messages, "sentAt": sent}

    def send(self, changes: list[Change]) -> Delivery:
        groups, refused = self.requests(changes)
        out = Delivery(rejected=refused)
        for group in groups:
            data = json.dumps(self.body([m for _, m in group]), separators=(",", ":")).encode()
            try:
                self.client.post(self.url, data, self.headers)
            except http_client.Rejected as exc:
                out.rejected += [(c, str(exc)) for c, _ in group]
                continue
            out.delivered += [c for c, _ in group]
        return out
