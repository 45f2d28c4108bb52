"""dbt's ``api.Relation`` and ``api.Column`` as models and package macros see them.

``DbtRelation`` is our :class:`Relation` (``str()`` stays ``"schema"."name"``, so the SQL
the engine writes does not change) with what dbt's relation offers on top: ``database``,
``type``, ``include()``, ``incorporate()``, ``render()``, the ``is_table``/``is_view``/
``is_cte`` tests, and the mapping shape dbt_utils' ``_is_relation`` checks
(``obj.get('metadata').get('type')`` ends with ``Relation``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import typing as t

from warehouse_ml.adapters.relation import Relation, quote

_TYPES = ("table", "view", "cte", "materialized_view", "external")


@dataclasses.dataclass(frozen=True, eq=True)
class DbtRelation(Relation, collections.abc.Mapping):  # type: ignore[misc]
    database: str | None = None
    type: str | None = None
    #: Which parts ``render()`` writes; the database is left out, as the engine's SQL does.
    include_policy: tuple[bool, bool, bool] = (False, True, True)

    # -- dbt's API -------------------------------------------------------------------
    @classmethod
    def create(
        cls, database: str | None = None, schema: str | None = None,
        identifier: str | None = None, type: str | None = None, **_: t.Any,
    ) -> DbtRelation:
        return cls(schema or "", identifier or "", database, type)

    @classmethod
    def add_ephemeral_prefix(cls, name: str) -> str:
        return EPHEMERAL_PREFIX + name

    @property
    def table(self) -> str:
        return self.identifier

    @property
    def path(self) -> dict[str, str | None]:
        return {"database": self.database, "schema": self.schema, "identifier": self.identifier}

    @property
    def is_table(self) -> bool:
        return self.type == "table"

    @property
    def is_view(self) -> bool:
        return self.type == "view"

    @property
    def is_cte(self) -> bool:
        return self.type == "cte"

    @property
    def is_materialized_view(self) -> bool:
        return self.type == "materialized_view"

    def include(
        self, database: bool | None = None, schema: bool | None = None,
        identifier: bool | None = None,
    ) -> DbtRelation:
        old = self.include_policy
        policy = tuple(o if n is None else bool(n) for o, n in zip(old, (database, schema, identifier), strict=False))
        return dataclasses.replace(self, include_policy=policy)  # type: ignore[arg-type]

    def incorporate(self, path: dict[str, t.Any] | None = None, type: str | None = None, **_: t.Any) -> DbtRelation:
        path = path or {}
        return dataclasses.replace(
            self,
            database=path.get("database", self.database),
            schema=path.get("schema", self.schema) or "",
            identifier=path.get("identifier", self.identifier) or "",
            type=type or self.type,
        )

    def without_identifier(self) -> DbtRelation:
        return self.include(identifier=False)

    def quote(self, *_: t.Any, **__: t.Any) -> DbtRelation:
        return self  # identifiers are always quoted here

    def render(self) -> str:
        parts = [self.database, self.schema, self.identifier]
        return ".".join(quote(str(p)) for p, keep in zip(parts, self.include_policy, strict=False) if keep and p)

    def __str__(self) -> str:
        return self.render()

    def __html__(self) -> str:
        return self.render()

    def replace_path(self, **parts: t.Any) -> DbtRelation:
        return self.incorporate(path=parts)

    # -- mapping (what dbt's relation serialises to) ----------------------------------
    def _as_dict(self) -> dict[str, t.Any]:
        return {
            "path": self.path, "type": self.type,
            "metadata": {"type": "DuckDBRelation"},
            "quote_policy": {"database": True, "schema": True, "identifier": True},
            "include_policy": dict(zip(("database", "schema", "identifier"), self.include_policy, strict=False)),
        }  # fmt: skip

    def __getitem__(self, key: str) -> t.Any:
        return self._as_dict()[key]

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())

    __hash__ = Relation.__hash__  # type: ignore[assignment]


EPHEMERAL_PREFIX = "__wml_eph_"  # the CTE name of an ephemeral model (jinja/renderer.py)


class CteRelation(str):
    """``ref()`` to an ephemeral model: the CTE's name, with dbt's relation attributes.

    A mapping to Jinja's ``is mapping`` test (registered below) with ``get``, so
    dbt_utils' ``_is_relation`` accepts it as dbt's ephemeral relation."""

    def get(self, key: str, default: t.Any = None) -> t.Any:
        shape = {
            "path": {"database": None, "schema": None, "identifier": str(self)},
            "type": "cte", "metadata": {"type": "DuckDBRelation"},
        }  # fmt: skip
        return shape.get(key, default)

    is_cte = True
    is_table = False
    is_view = False
    type = "cte"
    database = None
    schema = None

    @property
    def identifier(self) -> str:
        return str(self)

    @property
    def name(self) -> str:
        return str(self)

    def render(self) -> str:
        return str(self)

    def include(self, *_: t.Any, **__: t.Any) -> CteRelation:
        return self


collections.abc.Mapping.register(CteRelation)

# dbt's Column.TYPE_LABELS: the only label it translates is "string" (to TEXT).
_LABELS = {"STRING": "TEXT"}
_STRINGS = {"text", "character varying", "character", "varchar", "string", "char", "bpchar"}
_FLOATS = {"real", "float", "float4", "float8", "double", "double precision"}
_INTEGERS = {
    "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "uhugeint", "int1", "int2", "int4", "int8", "short", "int",
    "signed", "long",
}  # fmt: skip


class Column:
    """dbt's ``api.Column`` (dbt-duckdb's DuckDBColumn type tests)."""

    TYPE_LABELS = _LABELS

    def __init__(
        self, column: str, dtype: str, char_size: int | None = None,
        numeric_precision: t.Any = None, numeric_scale: t.Any = None,
    ):
        self.column = column
        self.dtype = dtype
        self.char_size = char_size
        self.numeric_precision = numeric_precision
        self.numeric_scale = numeric_scale

    @classmethod
    def translate_type(cls, dtype: str) -> str:
        return cls.TYPE_LABELS.get(dtype.upper(), dtype)

    @classmethod
    def create(cls, name: str, label_or_dtype: str) -> Column:
        return cls(name, cls.translate_type(label_or_dtype))

    @classmethod
    def numeric_type(cls, dtype: str, precision: t.Any, scale: t.Any) -> str:
        return dtype if precision is None or scale is None else f"{dtype}({precision},{scale})"

    @classmethod
    def string_type(cls, size: int) -> str:
        return f"character varying({size})"

    @property
    def name(self) -> str:
        return self.column

    @property
    def quoted(self) -> str:
        return quote(self.column)

    @property
    def _base(self) -> str:
        # dbt compares the whole type name: VARCHAR is a string, VARCHAR(10) and
        # DECIMAL(18,3) are kept as they are in data_type.
        return self.dtype.strip().lower()

    @property
    def data_type(self) -> str:
        if self.is_string():
            return self.string_type(self.string_size())
        if self.is_numeric():
            return self.numeric_type(self.dtype, self.numeric_precision, self.numeric_scale)
        return self.dtype

    @property
    def expanded_data_type(self) -> str:
        return self.data_type

    def is_string(self) -> bool:
        return self._base in _STRINGS

    def is_number(self) -> bool:
        return self.is_integer() or self.is_float() or self.is_numeric()

    def is_float(self) -> bool:
        return self._base in _FLOATS

    def is_integer(self) -> bool:
        return self._base in _INTEGERS

    def is_numeric(self) -> bool:
        return self._base in ("numeric", "decimal")

    def is_struct(self) -> bool:
        return bool(re.match(r"struct\b", self._base))

    def string_size(self) -> int:
        if not self.is_string():
            from warehouse_ml.errors import CompilationError

            raise CompilationError(f"string_size() called on non-string column {self.column!r}.")
        return 256 if self.char_size is None or self._base == "text" else int(self.char_size)

    def can_expand_to(self, other_column: Column) -> bool:
        if not (self.is_string() and other_column.is_string()):
            return False
        return other_column.string_size() > self.string_size()

    def literal(self, value: t.Any) -> str:
        return f"{value}::{self.data_type}"

    def __repr__(self) -> str:
        return f"<Column {self.column} ({self.data_type})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Column) and (self.column, self.dtype) == (other.column, other.dtype)

    def __hash__(self) -> int:
        return hash((self.column, self.dtype))


class Api:
    """``api`` in the Jinja context."""

    Relation = DbtRelation
    Column = Column


def relation_type(table_type: str) -> str:
    """information_schema.tables.table_type -> dbt's relation type."""
    return "view" if "VIEW" in table_type.upper() else "table"


__all__ = ["_TYPES", "Api", "Column", "CteRelation", "DbtRelation", "relation_type"]
