"""Seed column types as dbt-duckdb infers them (``seed_type_inference: agate``).

dbt reads a seed with agate and tries, per column, Integer, Number, Date (``%Y-%m-%d``),
DateTime (``%Y-%m-%d %H:%M:%S``), ISO-8601 DateTime (``2024-01-31T10:00:00``), Boolean
(``true``/``false``) and Text, keeping the first type every non-empty value fits
(dbt-common ``clients/agate_helper.py``). dbt-duckdb then creates the table with
``convert_type``: a Number without decimals is ``integer`` (32-bit), with decimals
``float8``; DateTime is ``timestamp``; and it COPYs the file in (its ``seed.sql``).
``column_types`` overrides a column's inferred type. Here one DuckDB scan of the file
as text decides every column, so the types match dbt's without agate's per-value Python.

wml's own format keeps DuckDB's sniffer (``seed_type_inference: sniff``).
"""

from __future__ import annotations

import typing as t

from warehouse_ml.adapters.relation import quote

# In agate's order; each test holds for a non-NULL text value VAL.
_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
_FRACTION = r"[+-]?\d*\.\d*[1-9]\d*"  # decimals that survive Decimal.normalize()
_ISO = r"\d{4}-\d{1,2}-\d{1,2}T\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?"
_TESTS = (
    ("number", f"regexp_full_match(trim(VAL), '{_NUMBER}')"),
    ("date", "try_strptime(trim(VAL), '%Y-%m-%d') is not null"),
    (
        "datetime",
        f"(try_strptime(trim(VAL), '%Y-%m-%d %H:%M:%S') is not null "
        f"or regexp_full_match(trim(VAL), '{_ISO}'))",
    ),
    ("boolean", "lower(trim(VAL)) in ('true', 'false')"),
)
_TYPES = {"date": "DATE", "datetime": "TIMESTAMP", "boolean": "BOOLEAN"}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reader(path: str, delim: str, columns: dict[str, str], *, as_copy: bool = False) -> str:
    """``read_csv`` of the file with exactly ``columns`` (name -> type).

    agate reads values with Python's csv module (quote ``"``); ``as_copy`` reads them as
    dbt-duckdb's ``COPY ... (FORMAT CSV, HEADER TRUE, DELIMITER d)`` does, with DuckDB
    sniffing the quote and escape characters (a file quoted with ``'`` reads ``''`` as
    NULL, as in dbt_utils' ``data_nullcheck_table``).
    """
    struct = ", ".join(f"{_literal(name)}: {_literal(typ)}" for name, typ in columns.items())
    dialect = "" if as_copy else "auto_detect = false, quote = '\"', escape = '\"', "
    return (
        f"read_csv({_literal(path)}, header = true, {dialect}"
        f"delim = {_literal(delim)}, columns = {{{struct}}})"
    )


def infer_sql(path: str, delim: str, header: list[str]) -> str:
    """One scan: per column, whether every value fits each agate type (and has decimals).

    NULL (empty) values fit every type, as agate skips them: an empty column is integer.
    """
    text = reader(path, delim, {f"c{i}": "VARCHAR" for i in range(len(header))})
    checks = []
    for i in range(len(header)):
        col = quote(f"c{i}")
        for _, test in _TESTS:
            # agate skips NULL (empty) cells: they fit every type, also the tests that
            # would be false on NULL (try_strptime(...) is not null)
            checks.append(f"coalesce(bool_and(nullif(trim({col}), '') is null or {test.replace('VAL', col)}), true)")
        fraction = f"regexp_full_match(trim({col}), {_literal(_FRACTION)})"
        checks.append(f"coalesce(bool_or({fraction}), false)")
    return f"select {', '.join(checks)} from {text}"


def pick(row: t.Sequence[bool], header: list[str], overrides: dict[str, str]) -> dict[str, str]:
    """Column name -> type from :func:`infer_sql`'s row, ``column_types`` winning."""
    width = len(_TESTS) + 1
    out: dict[str, str] = {}
    for i, name in enumerate(header):
        fits = row[i * width : (i + 1) * width]
        number, has_fraction = fits[0], fits[-1]
        if name in overrides:
            out[name] = str(overrides[name])
        elif number:
            out[name] = "DOUBLE" if has_fraction else "INTEGER"
        else:
            kind = next((k for (k, _), ok in zip(_TESTS[1:], fits[1:-1], strict=True) if ok), None)
            out[name] = _TYPES.get(kind or "", "VARCHAR")
    return out
