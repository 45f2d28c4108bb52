"""The one interface wml uses to talk to a database.

Adapters differ by class constants and small overrides (as sqlglot's dialects do):
the SQL for swaps, merges and schema changes is written once here in the target's
dialect-neutral form and only specialised where a warehouse needs it.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import typing as t

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ExecutionError, Interrupted
from warehouse_ml.project.profiles import Target

if t.TYPE_CHECKING:
    import pyarrow as pa


class Cursor(t.Protocol):
    def execute(self, sql: str, parameters: t.Any = None) -> t.Any: ...


# Values per multi-row INSERT when loading rows (PostgreSQL binds at most 65,535 parameters).
INSERT_VALUES = 20_000
MAX_VARCHAR = 65_535  # Redshift's longest VARCHAR, in bytes
_ARROW_TYPES = {
    "bool": "BOOLEAN", "int8": "SMALLINT", "int16": "SMALLINT", "int32": "INTEGER",
    "int64": "BIGINT", "float": "REAL", "double": "DOUBLE", "date32[day]": "DATE",
}  # fmt: skip


class Adapter(abc.ABC):
    """Executes SQL in ``dialect`` against one target."""

    dialect: t.ClassVar[str]
    #: Whether DDL (CREATE/DROP/RENAME) is transactional, so swaps can be atomic.
    transactional_ddl: t.ClassVar[bool] = True
    #: Whether the engine supports MERGE INTO (else delete+insert is used for merge).
    supports_merge: t.ClassVar[bool] = True
    #: Whether the engine reads the project's CSV files itself (else seeds are inserted).
    reads_local_files: t.ClassVar[bool] = False

    def __init__(self, target: Target, *, read_only: bool = False):
        self.target = target
        self.read_only = read_only  # a command that only reads: open the database read-only
        self.cancelled = threading.Event()
        self._schemas: set[str] = set()  # schemas known to exist (created by this adapter)

    def cancel(self) -> None:
        """Ctrl-C: from now on no statement starts and no transaction commits (the build
        in progress rolls back). Adapters that can also stop a running statement do."""
        self.cancelled.set()

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Interrupted("interrupted (Ctrl-C); rolled back.")

    # -- connection --------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def cursor(self) -> t.Any:
        """A cursor for the calling thread; each worker thread uses its own."""

    @abc.abstractmethod
    def fetch_arrow(self, sql: str, cursor: t.Any = None) -> pa.Table: ...

    def execute(self, sql: str, parameters: t.Any = None, cursor: t.Any = None) -> list[tuple]:
        self.check_cancelled()
        cur = cursor or self.cursor()
        cur.execute(sql, parameters) if parameters is not None else cur.execute(sql)
        try:
            return list(cur.fetchall())
        except Exception:  # statements without a result set
            return []

    @contextlib.contextmanager
    def transaction(self, cursor: t.Any) -> t.Iterator[t.Any]:
        """BEGIN ... COMMIT, rolling back on any error so nothing half-built remains.

        A Ctrl-C that arrived while the body ran also rolls back: the work was asked to
        stop, so it is not committed after the signal.
        """
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield cursor
            self.check_cancelled()
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    # -- catalog ---------------------------------------------------------------------
    def relation_type(self, relation: Relation, cursor: t.Any = None) -> str | None:
        """'table', 'view' or None when the relation does not exist."""
        rows = self.execute(
            "select table_type from information_schema.tables "
            "where table_schema = ? and table_name = ?" + _catalog(relation),
            [relation.schema, relation.identifier, *_catalog_value(relation)],
            cursor,
        )
        if not rows:
            return None
        return "view" if "VIEW" in str(rows[0][0]).upper() else "table"

    def relation_types(
        self, relations: t.Sequence[Relation], cursor: t.Any = None
    ) -> list[str | None]:
        """:meth:`relation_type` of several relations of one schema in one catalog query:
        each lookup scans every relation in the database (~10 ms at 1,000 relations on
        DuckDB, far more under load), so a swap asks once for the new and the old name."""
        first = relations[0]
        if any((r.database, r.schema) != (first.database, first.schema) for r in relations):
            return [self.relation_type(r, cursor) for r in relations]
        names = [r.identifier for r in relations]
        rows = self.execute(
            "select table_name, table_type from information_schema.tables "
            f"where table_schema = ? and table_name in ({', '.join('?' * len(names))})"
            + _catalog(first),
            [first.schema, *names, *_catalog_value(first)],
            cursor,
        )
        kinds = {str(name): "view" if "VIEW" in str(kind).upper() else "table" for name, kind in rows}
        return [kinds.get(name) for name in names]

    def swap_lookup(
        self, scratch: Relation, relation: Relation, cursor: t.Any = None
    ) -> tuple[str | None, str | None]:
        """The kinds at the two names a swap touches: its scratch relation (committed only
        when an older run crashed outside a transaction) and the relation it replaces."""
        stale, existing = self.relation_types([scratch, relation], cursor)
        return stale, existing

    def columns(self, relation: Relation, cursor: t.Any = None) -> list[tuple[str, str]]:
        rows = self.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?" + _catalog(relation)
            + " order by ordinal_position",
            [relation.schema, relation.identifier, *_catalog_value(relation)],
            cursor,
        )
        return [(str(name), str(dtype)) for name, dtype in rows]

    def ensure_schema(self, schema: str, cursor: t.Any = None, database: str | None = None) -> None:
        """CREATE SCHEMA once per adapter: even IF NOT EXISTS writes the catalog, and two
        threads doing it at once fail with a write-write conflict (DuckDB)."""
        name = f"{quote(database)}.{quote(schema)}" if database else quote(schema)
        if name in self._schemas:
            return
        self.execute(f"create schema if not exists {name}", cursor=cursor)
        self._schemas.add(name)

    # -- SQL snippets (override where a warehouse differs) ---------------------------------
    def drop_sql(self, relation: Relation, kind: str) -> str:
        return f"drop {kind} if exists {relation}"

    def rename_sql(self, relation: Relation, new_identifier: str, kind: str) -> str:
        return f"alter {kind} {relation} rename to {quote(new_identifier)}"

    def create_table_as_sql(self, relation: Relation, sql: str) -> str:
        return f"create table {relation} as (\n{sql}\n)"

    def create_view_sql(self, relation: Relation, sql: str) -> str:
        return f"create view {relation} as (\n{sql}\n)"

    def row_count(self, relation: Relation, cursor: t.Any = None) -> int:
        return int(self.execute(f"select count(*) from {relation}", cursor=cursor)[0][0])

    def load_table(self, relation: Relation, table: pa.Table, cursor: t.Any = None) -> None:
        """Create ``relation`` with ``table``'s columns and insert its rows.

        Rows go in multi-row INSERTs with bound parameters (never pasted into the SQL),
        about INSERT_VALUES values per statement, as dbt's seeds do on warehouses that
        cannot read a local file.
        """
        columns = ", ".join(f"{quote(f.name)} {self.column_type(f, table)}" for f in table.schema)
        self.execute(f"create table {relation} ({columns})", cursor=cursor)
        if not table.num_rows or not table.num_columns:
            return
        row = "(" + ", ".join("?" * table.num_columns) + ")"
        step = max(1, INSERT_VALUES // table.num_columns)
        for start in range(0, table.num_rows, step):
            chunk = table.slice(start, step).to_pylist()
            values = [value for record in chunk for value in record.values()]
            self.execute(
                f"insert into {relation} values {', '.join([row] * len(chunk))}",
                values,
                cursor=cursor,
            )

    def column_type(self, field: pa.Field, table: pa.Table) -> str:
        """The warehouse type for an Arrow column, written by sqlglot in this dialect."""
        import pyarrow as pa
        import pyarrow.compute as pc
        from sqlglot import exp

        kind = field.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            lengths = pc.binary_length(table.column(field.name).cast(pa.binary()))
            longest = pc.max(lengths).as_py() or 1
            name = f"VARCHAR({min(max(longest, 1), MAX_VARCHAR)})"
        elif pa.types.is_decimal(kind):
            name = f"DECIMAL({kind.precision}, {kind.scale})"
        elif pa.types.is_timestamp(kind):
            name = "TIMESTAMP" if kind.tz is None else "TIMESTAMPTZ"
        else:
            name = _ARROW_TYPES.get(str(kind), "")
        if not name:
            raise ExecutionError(
                f"column '{field.name}' has type {kind}, which cannot be loaded into {self.dialect}.",
                hint="Declare a plain type for it under column_types.",
            )
        return exp.DataType.build(name).sql(self.dialect)

    def friendly_error(self, exc: BaseException) -> str | None:
        """A one-line message for a database error, or None to use the original text."""
        return None


def _catalog(relation: Relation) -> str:
    """The catalog filter for a relation in another database (dbt's ``database``)."""
    return " and table_catalog = ?" if relation.database else ""


def _catalog_value(relation: Relation) -> list[str]:
    return [relation.database] if relation.database else []
