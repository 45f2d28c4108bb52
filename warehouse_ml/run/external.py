"""dbt-duckdb's ``external`` materialization: the model written to a file, and a view on it.

The query is built into a scratch table, COPY writes it to ``location`` (default
``<external_root>/<alias>.<format>``, or a folder when partitioned), and the model's
relation becomes a view over the file (``read_parquet`` / ``read_csv`` / ``read_json``).
``format`` is parquet, csv or json (else taken from the location's extension); ``options``
are COPY options (``partition_by``, ``codec``, ...), with dbt-duckdb's ``delimiter`` and
``format`` shortcuts. An empty result is written as one all-NULL row that the view
filters out, so the file keeps its columns, as dbt-duckdb does.
https://github.com/duckdb/dbt-duckdb#writing-to-external-files

The view swap is transactional; the file itself is written in place (as in dbt-duckdb).
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

from warehouse_ml.adapters.relation import Relation, quote
from warehouse_ml.errors import ConfigError

if t.TYPE_CHECKING:
    from warehouse_ml.run.materializations import BuildContext, BuildResult

FORMATS = ("parquet", "csv", "json")
_QUOTED = {"delimiter", "quote", "escape", "null"}
_READ_DEFAULTS = {
    "parquet": {"union_by_name": False},
    "csv": {"auto_detect": True},
    "json": {"auto_detect": True},
}
_IGNORED = ("plugin", "glue_register", "glue_database", "partition_columns")


def _settings(ctx: BuildContext) -> dict[str, t.Any]:
    session = ctx.extras.get("session")
    target = getattr(session, "target", None)
    return dict(getattr(target, "settings", {}) or {})


def _options(ctx: BuildContext) -> dict[str, t.Any]:
    config = ctx.node.config
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError("options must be a mapping of COPY options.", path=ctx.node.path, node=ctx.node.name)
    options = {str(k): v for k, v in options.items()}
    for key in ("format", "delimiter"):  # dbt-duckdb's legacy top-level write options
        if config.get(key):
            options[key] = config[key]
    return options


def location(ctx: BuildContext, options: dict[str, t.Any]) -> str:
    config, rel = ctx.node.config, ctx.relation
    loc = config.get("location")
    if not loc:
        root = str(_settings(ctx).get("external_root", "."))
        loc = f"{root}/{rel.identifier}"
        if options.get("partition_by") is None:
            loc += f".{config.get('format', 'parquet')}"
    loc = str(loc)
    # Relative to the project, where dbt users run dbt (DuckDB would use the process's cwd).
    if "://" not in loc and not os.path.isabs(loc) and ctx.project_root is not None:
        loc = (ctx.project_root / loc).as_posix()
    return loc


def _format(loc: str, options: dict[str, t.Any], node_path: t.Any, name: str) -> str:
    fmt = options.get("format")
    if fmt is None:
        ext = os.path.splitext(loc)[1].lower().lstrip(".")
        fmt = ext if ext in FORMATS else ("csv" if "delimiter" in options else "parquet")
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ConfigError(
            f"Invalid format: {fmt}. Allowed formats are: {', '.join(FORMATS)}.",
            path=node_path, node=name,
        )  # fmt: skip
    return fmt


def write_options(options: dict[str, t.Any], fmt: str) -> str:
    opts = {**options, "format": fmt}
    if fmt == "csv":
        opts.setdefault("header", 1)
    part = opts.get("partition_by")
    if isinstance(part, (list, tuple)):
        opts["partition_by"] = f"({', '.join(map(str, part))})"
    elif part is not None and "," in str(part) and not str(part).startswith("("):
        opts["partition_by"] = f"({part})"
    out = []
    for key, value in opts.items():
        text = str(value)
        if key.lower() in _QUOTED and not text.startswith("'"):
            text = "'" + text.replace("'", "''") + "'"
        out.append(f"{key} {text}")
    return ", ".join(out)


def read_location(loc: str, options: dict[str, t.Any], fmt: str) -> str:
    if options.get("partition_by") or options.get("per_thread_output"):
        globs = [loc, "*"]
        part = options.get("partition_by")
        if part:
            count = len(part) if isinstance(part, (list, tuple)) else len(str(part).split(","))
            globs.extend(["*"] * count)
        return ".".join(["/".join(globs), fmt])
    return loc


def _read_args(values: dict[str, t.Any]) -> str:
    parts = []
    for key, value in values.items():
        text = "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)
        parts.append(f", {key}={text}")
    return "".join(parts)


def build_external(ctx: BuildContext) -> BuildResult:
    from warehouse_ml.run.materializations import BuildResult, _swap_with

    a, cur, node = ctx.adapter, ctx.cursor, ctx.node
    options = _options(ctx)
    loc = location(ctx, options)
    fmt = _format(loc, options, node.path, node.name)
    ignored = [k for k in _IGNORED if node.config.get(k)]
    session = ctx.extras.get("session")
    if ignored and session is not None:
        session.warn(
            f"{node.fqn_path}: {', '.join(ignored)} ignored for '{node.name}': wml registers "
            "no external catalogs (dbt-duckdb's plugins); the file and the view are written."
        )
    read_opts = node.config.get(f"{fmt}_read_options") or _READ_DEFAULTS[fmt]
    sql = ctx.render(False)
    scratch = ctx.relation.with_suffix("__wml_ext")
    if "://" not in loc and options.get("partition_by") is None:
        Path(loc).parent.mkdir(parents=True, exist_ok=True)
    rows: list[int] = []

    def build(tmp: Relation) -> None:
        if a.relation_type(scratch, cur):
            a.execute(a.drop_sql(scratch, "table"), cursor=cur)
        a.execute(a.create_table_as_sql(scratch, sql), cursor=cur)
        columns = [c for c, _ in a.columns(scratch, cur)]
        rows.append(a.row_count(scratch, cur))
        if rows[0] == 0:  # keep the columns in the file: one NULL row, filtered by the view
            a.execute(f"insert into {scratch} values ({', '.join('null' for _ in columns)})", cursor=cur)
        target = loc.replace("'", "''")
        a.execute(f"copy {scratch} to '{target}' ({write_options(options, fmt)})", cursor=cur)
        source = read_location(loc, options, fmt).replace("'", "''")
        where = ""
        if rows[0] == 0:
            where = " where " + " and ".join(f"{quote(c)} is not null" for c in columns)
        a.execute(
            f"create view {tmp} as (select * from read_{fmt}('{source}'{_read_args(read_opts)}){where})",
            cursor=cur,
        )
        a.execute(a.drop_sql(scratch, "table"), cursor=cur)

    _swap_with(ctx, build, "view")
    return BuildResult(rows[0] if rows else None, f"wrote {loc} and created view {ctx.relation}")
