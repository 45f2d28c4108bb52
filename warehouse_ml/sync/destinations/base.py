"""What every destination offers the runner: preview, send a batch, close."""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

from warehouse_ml.project.syncs import SyncSpec
from warehouse_ml.sync.diff import Change


@dataclasses.dataclass
class Context:
    """What a destination may need beyond its config."""

    project_root: Path
    cursor: t.Any  # the warehouse cursor (the file destination COPYs with it)
    column_types: dict[str, str]  # destination field -> DuckDB type, in payload order
    key: list[str]
    warn: t.Callable[[str], None]


@dataclasses.dataclass
class Delivery:
    """A batch's outcome: acknowledged changes, and refused ones with the reason."""

    delivered: list[Change] = dataclasses.field(default_factory=list)
    rejected: list[tuple[Change, str]] = dataclasses.field(default_factory=list)


class Destination:
    """A destination type; subclasses set the class constants and implement ``send``."""

    #: Writes the whole current relation (file) rather than the changes one by one.
    snapshot: t.ClassVar[bool] = False
    default_batch_size: t.ClassVar[int] = 100

    def __init__(self, spec: SyncSpec, config: dict[str, t.Any], ctx: Context):
        self.spec, self.config, self.ctx = spec, config, ctx
        self.batch_size = int(config.get("batch_size") or self.default_batch_size)

    @property
    def supports_delete(self) -> bool:
        """Whether removed rows are sent (else they only leave the sync's state)."""
        return True

    def describe(self) -> str:
        """Where rows go, for the log (no secret: values from env_var are masked)."""
        return self.spec.type

    def preview(self, changes: list[Change]) -> list[t.Any]:
        """The request bodies (or rows) these changes would become."""
        raise NotImplementedError

    def open(self) -> None:
        """Connect or check the destination before the first batch."""

    def send(self, changes: list[Change]) -> Delivery:
        """Deliver one batch; raise ``http_client.Unavailable`` when it cannot be reached."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""
