"""``type: http``: a webhook receiving JSON batches of changes.

Each request is ``{"sync": ..., "batch_id": ..., "rows": [...]}``; a row is
``{"op": "upsert" | "delete", "change": "added" | "changed" | "resent" | "removed",
"idempotency_key": ..., "key": {...}, "data": {...}}`` (``data`` holds the key columns and
the mapped fields; a delete has none). ``idempotency_key`` is the same for every delivery
of one row version (``sync/diff.py``), so a receiver drops a batch it already applied;
the ``Idempotency-Key`` header is the batch's (a hash of its rows' keys), stable across
retries of that batch. Removed rows are sent as deletes unless ``send_removed: false``.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from urllib.parse import urlsplit

from warehouse_ml.sync import http_client
from warehouse_ml.sync.destinations.base import Delivery, Destination
from warehouse_ml.sync.diff import Change


def row(change: Change) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {
        "op": "delete" if change.removed else "upsert", "change": change.op,
        "idempotency_key": change.idempotency_key, "key": change.key,
    }  # fmt: skip
    if not change.removed:
        out["data"] = change.payload
    return out


class HttpDestination(Destination):
    default_batch_size = 100

    def __init__(self, *args: t.Any):
        super().__init__(*args)
        self.client = http_client.Client(http_client.Policy.from_config(self.config),
                                         on_retry=self._retrying)  # fmt: skip
        self.headers = {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}

    @property
    def supports_delete(self) -> bool:
        return bool(self.config.get("send_removed", True))

    def describe(self) -> str:
        parts = urlsplit(str(self.config["url"]))
        return f"http -> {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def _retrying(self, message: str) -> None:
        self.ctx.warn(f"sync '{self.spec.name}': {message}")

    def body(self, changes: list[Change]) -> dict[str, t.Any]:
        batch_id = hashlib.sha256("".join(c.idempotency_key for c in changes).encode())
        return {"sync": self.spec.name, "batch_id": batch_id.hexdigest()[:32],
                "rows": [row(c) for c in changes]}  # fmt: skip

    def preview(self, changes: list[Change]) -> list[t.Any]:
        return [self.body(changes)] if changes else []

    def send(self, changes: list[Change]) -> Delivery:
        body = self.body(changes)
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {**self.headers, "Idempotency-Key": body["batch_id"]}
        method = str(self.config.get("method") or "POST").upper()
        try:
            self.client.post(str(self.config["url"]), data, headers, method)
        except http_client.Rejected as exc:
            return Delivery(rejected=[(c, str(exc)) for c in changes])
        return Delivery(delivered=list(changes))
