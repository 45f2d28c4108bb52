"""What a sync run sends, computed in SQL: rows added, changed and removed since the
last acknowledged delivery (``wml.sync_state``), checked for NULL keys and duplicates.

The source's rows are projected once into a temporary table: each row's key as JSON
(``key_json``, the state's key), its payload as JSON (the key columns plus the mapped
fields, as DuckDB's ``to_json`` writes them) and the payload's md5 (``row_hash``, the row
version). Comparing hashes to the state gives the changes, numbered in key order so
batches are deterministic; ``--full-resync`` also sends rows whose hash is unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing as t

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError, ExecutionError
from warehouse_ml.project.nodes import NodeKind
from warehouse_ml.project.syncs import SyncSpec
from warehouse_ml.sync import state

OPS = ("added", "changed", "resent", "removed")


@dataclasses.dataclass
class Change:
    """One row to deliver: an upsert (added, changed, resent) or a removal."""

    op: str
    key_json: str
    row_hash: str
    payload: dict[str, t.Any] | None  # None for a removal
    idempotency_key: str

    @property
    def removed(self) -> bool:
        return self.op == "removed"

    @property
    def key(self) -> dict[str, t.Any]:
        return json.loads(self.key_json)


def idempotency_key(sync: str, epoch: int, key_json: str, row_hash: str, removed: bool) -> str:
    """The same for every delivery of one row version, whatever run or batch sends it."""
    text = "\x1f".join((sync, str(epoch), key_json, "removed" if removed else "upsert", row_hash))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def source_sql(session: t.Any, spec: SyncSpec, source_uid: str) -> str:
    """What FROM reads for the sync's source: its relation (or a source's location)."""
    node = session.nodes[source_uid]
    if node.kind is NodeKind.SOURCE:
        src = session.project.sources[(node.source_info["source"], node.source_info["table"])]
        if src.external_location:
            location = src.external_location
            return location if "(" in location else "'" + location.replace("'", "''") + "'"
        return str(Relation(src.schema, src.identifier))
    if node.materialized == "ephemeral":
        raise ConfigError(
            f"sync '{spec.name}': its source '{spec.source}' is ephemeral, so no relation "
            "holds its rows.", path=spec.path,
            hint=f"Materialize '{spec.source}' as a view or table.",
        )  # fmt: skip
    return str(session.relation(node))


class Diff:
    """The changes of one sync run, in temporary tables on ``cursor``'s connection."""

    def __init__(self, cursor: t.Any, spec: SyncSpec, source: str, columns: list[str]):
        self.cursor, self.spec, self.source = cursor, spec, source
        self.columns = columns
        self.fields = spec.fields if spec.fields is not None else {
            c: c for c in columns if c not in spec.key}  # fmt: skip
        self._check_columns()
        self.current = quote(f"__wml_sync_current_{spec.name}")
        self.changes = quote(f"__wml_sync_changes_{spec.name}")

    def _check_columns(self) -> None:
        wanted = [*self.spec.key, *self.fields.values(), *self.spec.required]
        missing = [c for c in dict.fromkeys(wanted) if c not in self.columns]
        if missing:
            raise ConfigError(
                f"sync '{self.spec.name}': column '{missing[0]}' is not a column of its source "
                f"'{self.spec.source}' ({', '.join(self.columns)}).", path=self.spec.path,
                hint="Fix `key:`, `fields:` or `required:`, or build the source first.",
            )  # fmt: skip

    def projection(self) -> str:
        """The select list a file destination writes: key columns, then the fields."""
        cols = [f"{quote(k)}" for k in self.spec.key]
        cols += [f"{quote(col)} as {quote(name)}" for name, col in self.fields.items()]
        return ", ".join(cols)

    def valid_rows_sql(self) -> str:
        """The rows the destination should hold now (invalid ones left out), projected."""
        return f"select {self.projection()} from {self.source} where {self._valid()}"

    def _valid(self) -> str:
        cols = [*self.spec.key, *self.spec.required]
        return " and ".join(f"{quote(c)} is not null" for c in dict.fromkeys(cols))

    def snapshot(self) -> None:
        key = ", ".join(f"{quote(k)} := {quote(k)}" for k in self.spec.key)
        items = [*(f"{quote(k)} := {quote(k)}" for k in self.spec.key),
                 *(f"{quote(n)} := {quote(c)}" for n, c in self.fields.items())]  # fmt: skip
        null_key = " or ".join(f"{quote(k)} is null" for k in self.spec.key)
        null_req = " or ".join(f"{quote(c)} is null" for c in self.spec.required) or "false"
        self.cursor.execute(
            f"create or replace temp table {self.current} as select key_json, payload, "
            "md5(payload) as row_hash, null_key, null_required from (select "
            f"to_json(struct_pack({key}))::varchar as key_json, "
            f"to_json(struct_pack({', '.join(items)}))::varchar as payload, "
            f"({null_key}) as null_key, ({null_req}) and not ({null_key}) as null_required "
            f"from {self.source})"
        )

    def invalid(self) -> tuple[int, int]:
        """(rows with a NULL key, rows with a NULL required field)."""
        row = self.cursor.execute(
            f"select count(*) filter (where null_key), count(*) filter (where null_required) "
            f"from {self.current}"
        ).fetchone()
        return int(row[0]), int(row[1])

    def check_duplicates(self) -> None:
        row = self.cursor.execute(
            f"select key_json, count(*) from {self.current} where not null_key "
            "group by key_json having count(*) > 1 order by 2 desc, 1 limit 1"
        ).fetchone()
        if row:
            raise ExecutionError(
                f"sync '{self.spec.name}': key {row[0]} appears {row[1]} times in "
                f"'{self.spec.source}', so which row the destination should hold is unclear; "
                "nothing was sent.", path=self.spec.path,
                hint="Make the key unique (dedupe the source, or add a column to `key:`).",
            )  # fmt: skip

    def compute(self, sync_state_exists: bool, full_resync: bool) -> dict[str, int]:
        """Number the changes into a temporary table; the count per op."""
        # Without the state table (a dry run on a fresh database) the state is empty.
        prior = state.STATE if sync_state_exists else (
            "(select null::varchar as sync, null::varchar as key_json, "
            "null::varchar as row_hash where false)"
        )  # fmt: skip
        self.cursor.execute(
            f"create or replace temp table {self.changes} as select row_number() over "
            "(order by key_json, op) as rn, * from ("
            "select case when s.key_json is null then 'added' when s.row_hash <> c.row_hash "
            "then 'changed' else 'resent' end as op, c.key_json, c.payload, c.row_hash "
            f"from {self.current} as c left join {prior} as s "
            "on s.sync = $sync and s.key_json = c.key_json "
            "where not (c.null_key or c.null_required) "
            "and (s.key_json is null or s.row_hash <> c.row_hash or $full) "
            "union all select 'removed', s.key_json, null, s.row_hash "
            f"from {prior} as s where s.sync = $sync and not exists "
            f"(select 1 from {self.current} as c where c.key_json = s.key_json)) "
            "order by rn",  # stored in rn order: each page reads only its row groups
            {"sync": self.spec.name, "full": full_resync},
        )
        rows = self.cursor.execute(f"select op, count(*) from {self.changes} group by op").fetchall()
        found = dict(rows)
        return {op: int(found.get(op, 0)) for op in OPS}

    def total(self) -> int:
        return int(self.cursor.execute(f"select count(*) from {self.changes}").fetchone()[0])

    def page(self, after: int, size: int, epoch: int) -> list[Change]:
        """Changes ``after < rn <= after + size`` (in key order)."""
        rows = self.cursor.execute(
            f"select op, key_json, payload, row_hash from {self.changes} "
            "where rn > ? and rn <= ? order by rn",
            [after, after + size],
        ).fetchall()
        return [
            Change(op, key_json, row_hash, json.loads(payload) if payload else None,
                   idempotency_key(self.spec.name, epoch, key_json, row_hash, op == "removed"))
            for op, key_json, payload, row_hash in rows
        ]  # fmt: skip

    def samples(self, per_op: int, epoch: int) -> list[Change]:
        rows = self.cursor.execute(
            f"select op, key_json, payload, row_hash from {self.changes} "
            "qualify row_number() over (partition by op order by rn) <= ? order by rn",
            [per_op],
        ).fetchall()
        return [
            Change(op, k, h, json.loads(p) if p else None,
                   idempotency_key(self.spec.name, epoch, k, h, op == "removed"))
            for op, k, p, h in rows
        ]  # fmt: skip

    def drop(self) -> None:
        for table in (self.current, self.changes):
            self.cursor.execute(f"drop table if exists {table}")
