"""``type: postgres``: upsert into a table of an operational PostgreSQL database.

Each batch is one transaction: ``INSERT ... ON CONFLICT (key) DO UPDATE`` for added and
changed rows, ``DELETE`` for removed ones (unless ``delete_removed: false``). A missing
table is created with the source's column types and a primary key on the key columns; an
existing one needs a primary key or unique index on exactly those columns (what ON
CONFLICT matches). Needs psycopg 3: ``pip install 'warehouse-ml[postgres]'``.
"""

from __future__ import annotations

import typing as t

from warehouse_ml.errors import ConfigError
from warehouse_ml.sync import http_client
from warehouse_ml.sync.destinations.base import Delivery, Destination
from warehouse_ml.sync.diff import Change

_TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "HUGEINT": "numeric", "UTINYINT": "smallint", "USMALLINT": "integer",
    "UINTEGER": "bigint", "UBIGINT": "numeric", "FLOAT": "real", "DOUBLE": "double precision",
    "VARCHAR": "text", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz", "UUID": "uuid", "INTERVAL": "interval",
}  # fmt: skip


def pg_type(duckdb_type: str) -> str:
    """PostgreSQL's type for a DuckDB column (nested values as jsonb)."""
    text = duckdb_type.upper()
    if text.startswith("DECIMAL"):
        return text.replace("DECIMAL", "numeric")
    if text.endswith("]") or text.startswith(("STRUCT", "MAP", "UNION", "JSON")):
        return "jsonb"
    return _TYPES.get(text, "text")


def _psycopg() -> t.Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "the postgres sync destination needs psycopg 3, which is not installed.",
            hint="pip install 'warehouse-ml[postgres]' (or pip install 'psycopg[binary]').",
        ) from None
    return psycopg


class PostgresDestination(Destination):
    default_batch_size = 1000

    def __init__(self, *args: t.Any):
        super().__init__(*args)
        self.pg = _psycopg()
        self.schema = str(self.config.get("schema") or "public")
        self.table = str(self.config["table"])
        self.columns = list(self.ctx.column_types)
        self.con: t.Any = None

    @property
    def supports_delete(self) -> bool:
        return bool(self.config.get("delete_removed", True))

    def describe(self) -> str:
        return f"postgres -> {self.schema}.{self.table}"

    def _conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        parts = {k: self.config[k] for k in ("host", "port", "user", "password", "dbname")
                 if self.config.get(k) not in (None, "")}  # fmt: skip
        return make_conninfo(str(self.config.get("dsn") or ""), **parts)

    def _ident(self, *names: str) -> t.Any:
        return self.pg.sql.Identifier(*names)

    def open(self) -> None:
        try:
            self.con = self.pg.connect(self._conninfo(), connect_timeout=10)
        except self.pg.OperationalError as exc:
            raise http_client.Unavailable(f"cannot connect: {str(exc).strip()}") from None
        with self.con.transaction():
            if not self._exists():
                self._create()
            else:
                self._check_key()

    def _exists(self) -> bool:
        row = self.con.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
            [self.schema, self.table],
        ).fetchone()
        return row is not None

    def _create(self) -> None:
        sql = self.pg.sql
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(self._ident(c), sql.SQL(pg_type(ty)))
            for c, ty in self.ctx.column_types.items()
        )
        key = sql.SQL(", ").join(self._ident(k) for k in self.ctx.key)
        self.con.execute(sql.SQL("create schema if not exists {}").format(self._ident(self.schema)))
        self.con.execute(sql.SQL("create table {} ({}, primary key ({}))").format(
            self._ident(self.schema, self.table), cols, key))  # fmt: skip

    def _check_key(self) -> None:
        """ON CONFLICT (key) needs a unique index on exactly the key columns."""
        rows = self.con.execute(
            "select array_agg(a.attname::text order by a.attname) from pg_index i "
            "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
            "where i.indrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass "
            "and i.indisunique group by i.indexrelid",
            [self.schema, self.table],
        ).fetchall()
        if sorted(self.ctx.key) not in [sorted(r[0]) for r in rows]:
            raise ConfigError(
                f"sync '{self.spec.name}': table {self.schema}.{self.table} has no primary key "
                f"or unique index on ({', '.join(self.ctx.key)}), which the upsert matches on.",
                path=self.spec.path,
                hint=f"Add one (alter table ... add primary key ({', '.join(self.ctx.key)})), or "
                "name a new table and let the sync create it.",
            )

    def _upsert_sql(self) -> t.Any:
        sql = self.pg.sql
        cols = sql.SQL(", ").join(self._ident(c) for c in self.columns)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in self.columns)
        key = sql.SQL(", ").join(self._ident(k) for k in self.ctx.key)
        rest = [c for c in self.columns if c not in self.ctx.key]
        action = sql.SQL("do nothing") if not rest else sql.SQL("do update set {}").format(
            sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(self._ident(c)) for c in rest))
        return sql.SQL("insert into {} ({}) values ({}) on conflict ({}) {}").format(
            self._ident(self.schema, self.table), cols, marks, key, action)  # fmt: skip

    def _delete_sql(self) -> t.Any:
        sql = self.pg.sql
        match = sql.SQL(" and ").join(sql.SQL("{} = %s").format(self._ident(k)) for k in self.ctx.key)
        return sql.SQL("delete from {} where {}").format(self._ident(self.schema, self.table), match)

    def _value(self, value: t.Any) -> t.Any:
        if isinstance(value, (dict, list)):
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return value

    def preview(self, changes: list[Change]) -> list[t.Any]:
        return [{"delete" if c.removed else "upsert": c.key if c.removed else c.payload}
                for c in changes]  # fmt: skip

    def send(self, changes: list[Change]) -> Delivery:
        upserts = [[self._value((c.payload or {}).get(col)) for col in self.columns]
                   for c in changes if not c.removed]  # fmt: skip
        deletes = [[c.key[k] for k in self.ctx.key] for c in changes if c.removed]
        try:
            with self.con.transaction(), self.con.cursor() as cur:
                if upserts:
                    cur.executemany(self._upsert_sql(), upserts)
                if deletes:
                    cur.executemany(self._delete_sql(), deletes)
        except self.pg.OperationalError as exc:
            raise http_client.Unavailable(str(exc).strip()) from None
        except self.pg.Error as exc:  # a value the table refuses: this batch only
            reason = str(exc).strip().splitlines()[0]
            return Delivery(rejected=[(c, reason) for c in changes])
        return Delivery(delivered=list(changes))

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
