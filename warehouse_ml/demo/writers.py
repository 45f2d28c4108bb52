"""Streaming writers: one file per table, chunks appended as they are generated.

The bytes written depend only on the rows, never on how generation was chunked: CSV is
plain text, and Parquet row groups always hold exactly ROW_GROUP_ROWS rows (the last
one fewer), rebuffered across chunks.
"""

from __future__ import annotations

import pathlib
import typing as t

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

if t.TYPE_CHECKING:
    from warehouse_ml.demo.generator import DemoData

TABLES = ("identifies", "tracks", "store_sales", "products")
ROW_GROUP_ROWS = 1 << 20


class _Sink(t.Protocol):
    def write_table(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _CsvSink:
    """CSV with a header, timestamps as 'YYYY-MM-DD HH:MM:SS', NULL as an empty field."""

    def __init__(self, path: pathlib.Path, schema: pa.Schema) -> None:
        self._schema = pa.schema(
            [
                pa.field(f.name, pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f
                for f in schema
            ]
        )
        # No quoting: the generator never emits commas, quotes or line breaks in text
        # (the writer would raise if it did), and quotes would add 15% to the files.
        options = pacsv.WriteOptions(quoting_style="none")
        self._writer = pacsv.CSVWriter(str(path), self._schema, write_options=options)

    def write_table(self, table: pa.Table) -> None:
        self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        self._writer.close()


class _ParquetSink:
    """zstd Parquet with row groups of exactly ROW_GROUP_ROWS rows, whatever the chunks."""

    def __init__(self, path: pathlib.Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        self._pending: list[pa.Table] = []
        self._rows = 0

    def write_table(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables(self._pending)
        full = table.num_rows if final else table.num_rows - table.num_rows % ROW_GROUP_ROWS
        for offset in range(0, full, ROW_GROUP_ROWS):
            part = table.slice(offset, min(ROW_GROUP_ROWS, full - offset)).combine_chunks()
            self._writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
        rest = table.slice(full)
        self._pending, self._rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

    def close(self) -> None:
        if self._pending:
            self._flush(final=True)
        self._writer.close()


def write(chunks: t.Iterator[DemoData], out_dir: pathlib.Path, fmt: str) -> dict[str, int]:
    """Write every chunk's tables to `<out_dir>/<table>.<fmt>` (products once).

    Returns the row count per table.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sink_type = _CsvSink if fmt == "csv" else _ParquetSink
    sinks: dict[str, _Sink] = {}
    counts = dict.fromkeys(TABLES, 0)
    try:
        for i, chunk in enumerate(chunks):
            for name in TABLES:
                if name == "products" and i > 0:
                    continue
                table = chunk.table(name)
                if name not in sinks:
                    sinks[name] = sink_type(out_dir / f"{name}.{fmt}", table.schema)
                sinks[name].write_table(table)
                counts[name] += table.num_rows
    finally:
        for sink in sinks.values():
            sink.close()
    return counts
