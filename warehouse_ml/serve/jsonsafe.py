"""SQL that turns a column into a value DuckDB's ``to_json`` writes as valid, usual JSON.

DuckDB's ``to_json`` writes decimals as exact numbers, dates as ``"2026-07-01"`` and
lists and structs as arrays and objects, but also ``NaN`` / ``Infinity`` (not JSON),
timestamps with a space (``"2026-07-01 10:00:00"``, not ISO 8601) and blobs as escaped
text. Each column's expression is chosen from its Arrow type, recursing into lists and
structs, so the snapshot holds JSON any client parses.

>>> import pyarrow as pa
>>> expression('"x"', pa.float64())
'case when isnan("x") or isinf("x") then null else "x" end'
"""

from __future__ import annotations

import pyarrow as pa

from warehouse_ml.adapters.relation import quote


def expression(sql: str, kind: pa.DataType, depth: int = 0) -> str:
    """``sql`` (an expression of Arrow type ``kind``) made JSON-safe; unchanged if it is."""
    if pa.types.is_floating(kind):
        return f"case when isnan({sql}) or isinf({sql}) then null else {sql} end"
    if pa.types.is_timestamp(kind):
        # With TimeZone UTC (set by the publisher) a zoned value prints with "+00".
        return f"replace(cast({sql} as varchar), ' ', 'T')"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return f"base64({sql})"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        var = f"e{depth}"
        inner = expression(var, kind.value_type, depth + 1)
        # A list comprehension: DuckDB's one lambda-free form (the arrow form is deprecated
        # in 2.0 and `lambda x:` is new in 1.3).
        return sql if inner == var else f"[{inner} for {var} in {sql}]"
    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        parts = [expression(f"({sql}).{quote(f.name)}", f.type, depth + 1) for f in fields]
        if all(p == f"({sql}).{quote(f.name)}" for p, f in zip(parts, fields, strict=True)):
            return sql
        packed = ", ".join(f"{quote(f.name)} := {p}" for f, p in zip(fields, parts, strict=True))
        return f"case when {sql} is null then null else struct_pack({packed}) end"
    return sql


def object_sql(fields: list[tuple[str, str]]) -> str:
    """One JSON object per row, as text: ``fields`` are (label, JSON-safe expression)."""
    if not fields:
        return "'{}'"
    packed = ", ".join(f"{quote(label)} := {sql}" for label, sql in fields)
    return f"cast(to_json(struct_pack({packed})) as varchar)"
