"""``wml compile-model NAME --dialect redshift`` for a recommender: the tables' DDL and
the SQL that serves from them.

Redshift has no table macros, so the two functions become prepared statements
(``PREPARE recommend_m (type, INTEGER) AS ...; EXECUTE recommend_m('u1', 10);``). Factor
arrays become one REAL column per factor (``f0`` ... ``fN``) outside DuckDB. Load the
tables' rows with your usual path (``COPY`` from the files ``COPY wml."m__v1__neighbors"
TO 'x.parquet'`` writes in DuckDB). The live, item-based form is transpiled by sqlglot
from the DuckDB macro (with the k check left out: Redshift has no error()).
"""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ErrorLevel

from warehouse_ml.adapters.relation import quote
from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import registry
from warehouse_ml.ml.recs import serve

_ARROW = {"int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR", "large_string": "VARCHAR",
          "double": "DOUBLE", "int16": "SMALLINT"}  # fmt: skip


def statements(v: registry.ModelVersion, dialect: str) -> list[str]:
    if dialect == "duckdb":
        return [sql for _, sql in serve.macros(v)]
    s = v.settings or {}
    user = _type(s.get("user_type"), v.name, "user")
    item = _type(s.get("item_type"), v.name, "item")
    tables = s.get("tables") or []
    out = []
    columns = {
        "popular": f"item_id {item}, score DOUBLE PRECISION, rank INTEGER",
        "neighbors": f"item_id {item}, neighbor_id {item}, score DOUBLE PRECISION, rank INTEGER",
        "top": f"user_id {user}, item_id {item}, score DOUBLE PRECISION, rank INTEGER",
    }
    factors = int(s.get("factors") or 0)
    fcols = ", ".join(f"f{j} REAL" for j in range(factors))
    columns["item_factors"] = f"id {item}, {fcols}"
    columns["user_factors"] = f"id {user}, {fcols}"
    ucol, icol = (quote(s.get(k) or k) for k in ("user_column", "item_column"))
    columns["top"] = f"{ucol} {user}, {icol} {item}, score DOUBLE PRECISION, rank INTEGER, reason VARCHAR"
    parts = list(dict.fromkeys([*tables, "top"]))
    out.append("CREATE SCHEMA IF NOT EXISTS wml")
    for part in parts:
        out.append(f"CREATE TABLE {serve.table(v.name, v.version, part)} ({columns[part]})")
    sim = s.get("similar_function") or f"similar_{v.name}"
    top, nb = serve.table(v.name, v.version, "top"), serve.table(v.name, v.version, "neighbors")
    out.append(
        f"PREPARE {v.function} ({user}, INTEGER) AS SELECT {icol}, score, rank, reason "
        f"FROM {top} WHERE {ucol} = $1 AND rank <= $2 ORDER BY rank"
    )
    out.append(
        f"PREPARE {sim} ({item}, INTEGER) AS SELECT neighbor_id AS {icol}, score, rank "
        f"FROM {nb} WHERE item_id = $1 AND rank <= $2 ORDER BY rank"
    )
    out.append(f"PREPARE {v.function}_live ({user}, INTEGER) AS {_live(v, dialect)}")
    out.append(
        f"PREPARE {v.function}_popular (INTEGER) AS SELECT item_id, score, rank "
        f"FROM {serve.table(v.name, v.version, 'popular')} WHERE rank <= $1 ORDER BY rank"
    )
    return out


def _live(v: registry.ModelVersion, dialect: str) -> str:
    """The item-based query over the user's current interactions, in ``dialect``."""
    spec = serve.spec_of(v)
    body = serve.recommend_sql(spec, v.training_query or "", v.name, v.version)
    _, rest = body.split("), wml_mine as (", 1)
    body = "with wml_limit as (select cast(wml_k as bigint) as k), wml_mine as (" + rest
    body = body.replace("exclude_seen", "true").replace("wml_user", "$1").replace("wml_k", "$2")
    try:
        out = sqlglot.transpile(body, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)[0]
        return out.replace("%(1)s", "$1").replace("%(2)s", "$2")
    except Exception as exc:
        raise CompilationError(
            f"recommender '{v.name}': its live query does not translate to {dialect}: "
            f"{str(exc).splitlines()[0]}",
            hint="Serve from the precomputed tables (the other statements) instead.",
        ) from None


def _type(arrow: str | None, name: str, what: str) -> str:
    if arrow not in _ARROW:
        raise CompilationError(
            f"recommender '{name}': its {what} ids are {arrow}, which has no portable column type here.",
            hint="Cast the ids to BIGINT or VARCHAR in the training query.",
        )
    return _ARROW[arrow]
