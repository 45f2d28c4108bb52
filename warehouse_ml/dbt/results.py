"""Query results shaped like the agate tables dbt's ``run_query`` / ``load_result`` give.

Macros read ``table.columns[0].values()``, ``table.rows``, ``table.column_names``,
iterate rows and index them by position or name; this is that surface over a pyarrow
table, without agate.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import pyarrow as pa


class Row(tuple):  # noqa: SLOT001 - a tuple with names, as agate's Row
    _names: tuple[str, ...] = ()

    def __new__(cls, values: t.Iterable[t.Any], names: tuple[str, ...]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: t.Any) -> t.Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise KeyError(key) from None
        return tuple.__getitem__(self, key)

    def __getattr__(self, name: str) -> t.Any:
        if name in self._names:
            return self[name]
        raise AttributeError(name)

    def keys(self) -> tuple[str, ...]:
        return self._names

    def values(self) -> tuple[t.Any, ...]:
        return tuple(self)

    def items(self) -> list[tuple[str, t.Any]]:
        return list(zip(self._names, self, strict=False))

    def get(self, key: str, default: t.Any = None) -> t.Any:
        return self[key] if key in self._names else default

    def dict(self) -> dict[str, t.Any]:
        return dict(zip(self._names, self, strict=False))


class ResultColumn:
    def __init__(self, name: str, data_type: str, values: tuple[t.Any, ...]):
        self.name = name
        self.data_type = data_type
        self._values = values

    def values(self) -> tuple[t.Any, ...]:
        return self._values

    def values_distinct(self) -> tuple[t.Any, ...]:
        return tuple(dict.fromkeys(self._values))

    def values_without_nulls(self) -> tuple[t.Any, ...]:
        return tuple(v for v in self._values if v is not None)

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, i: int) -> t.Any:
        return self._values[i]

    def __repr__(self) -> str:
        return f"<Column {self.name}>"


class _Columns(tuple):  # noqa: SLOT001 - columns by position or by name
    def __getitem__(self, key: t.Any) -> t.Any:  # type: ignore[override]
        if isinstance(key, str):
            for column in self:
                if column.name == key:
                    return column
            raise KeyError(key)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return [c.name for c in self]

    def values(self) -> list[ResultColumn]:
        return list(self)

    def items(self) -> list[tuple[str, ResultColumn]]:
        return [(c.name, c) for c in self]


class Table:
    """An agate-like table of query results."""

    def __init__(self, names: list[str], types: list[str], rows: list[tuple[t.Any, ...]]):
        self.column_names = tuple(names)
        self.column_types = tuple(types)
        self.rows = tuple(Row(r, self.column_names) for r in rows)
        by_column = list(zip(*rows, strict=False)) if rows else [() for _ in names]
        self.columns = _Columns(
            ResultColumn(n, ty, tuple(v)) for n, ty, v in zip(names, types, by_column, strict=False)
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Table:
        names = list(table.column_names)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        rows = list(zip(*columns, strict=False)) if columns else []
        return cls(names, [str(f.type) for f in table.schema], rows)

    def __iter__(self) -> t.Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return True  # an empty result is still a result (agate tables are truthy)

    def print_table(self, max_rows: int = 20, max_columns: int = 6, **_: t.Any) -> str:
        names = self.column_names[:max_columns]
        lines = [" | ".join(names)]
        lines += [" | ".join(str(v) for v in row[:max_columns]) for row in self.rows[:max_rows]]
        print("\n".join(lines))
        return ""

    def __repr__(self) -> str:
        return f"<Table {len(self.rows)} rows x {len(self.column_names)} columns>"


class Response:
    """dbt's AdapterResponse: ``_message``, ``code``, ``rows_affected``."""

    def __init__(self, code: str, rows_affected: int):
        self.code = code
        self.rows_affected = rows_affected
        self._message = f"{code} {rows_affected}"

    def __getitem__(self, key: str) -> t.Any:
        return getattr(self, key)

    def __str__(self) -> str:
        return self._message


class Lenient:
    """What a query gives while parsing (nothing runs then), as dbt's parse-time
    Undefined: every attribute, item or call is itself, it iterates as empty and is falsy."""

    def __getattr__(self, name: str) -> Lenient:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: t.Any) -> Lenient:
        return self

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> Lenient:
        return self

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""

    def __html__(self) -> str:
        return ""
