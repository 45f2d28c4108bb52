"""Print an Arrow table as an aligned text table, CSV or JSON lines."""

from __future__ import annotations

import csv
import io
import json
import typing as t

import click
import pyarrow as pa
import pyarrow.csv as pacsv


def print_table(
    table: pa.Table, fmt: str = "table", *, max_rows: int = 100, out: t.TextIO | None = None
) -> None:
    if fmt == "csv":  # header quoted only where needed, like the rows
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(table.column_names)
        buffer = io.BytesIO()
        pacsv.write_csv(
            table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        click.echo(header.getvalue() + buffer.getvalue().decode("utf-8"), nl=False, file=out)
        return
    if fmt == "json":
        for row in table.to_pylist():
            click.echo(json.dumps(row, default=str), file=out)
        return
    shown = table.slice(0, max_rows).to_pylist()
    names = table.column_names
    cells = [[_cell(row[n]) for n in names] for row in shown]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    click.echo("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)), file=out)
    click.echo("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)
    if table.num_rows > max_rows:
        click.echo(
            f"... {table.num_rows - max_rows:,} more rows (use --max-rows or --format csv)",
            file=out,
        )
    click.echo(f"({table.num_rows:,} rows)", file=out)


def _cell(value: t.Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
