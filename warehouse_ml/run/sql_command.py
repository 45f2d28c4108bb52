"""``wml sql``: run a script of statements, Redshift ML's own included.

``CREATE MODEL``, ``SHOW MODEL`` and ``DROP MODEL`` are handled here; every other
statement is transpiled from the project's dialect and runs on the target database with
every deployed model's functions registered. The last statement's result is returned.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

import pyarrow as pa
import sqlglot
from sqlglot import exp

from warehouse_ml.adapters import dialects
from warehouse_ml.errors import ExecutionError, TrainingError, WmlError
from warehouse_ml.ml import registry
from warehouse_ml.ml.create_model import CreateModel, DropModel, ShowModel, split_statements
from warehouse_ml.ml.spec import TrainingSpec


@dataclasses.dataclass
class ScriptResult:
    table: pa.Table | None
    messages: list[str]


def run_script(
    session: t.Any,
    script: str,
    *,
    path: str | None = None,
    dialect: str | None = None,
    warn: t.Callable[[str], None] | None = None,
    limit: int | None = None,
    progress: t.Callable[[str], None] | None = None,
) -> ScriptResult:
    """Run every statement of ``script``; stop at the first failure with its line.

    ``limit`` caps the rows fetched of a query's result (``wml show --inline``);
    ``progress`` hears a CREATE MODEL's training steps.
    """
    con = session.connection()
    read = dialect or session.project.settings.sql_dialect
    messages: list[str] = []
    last: pa.Table | None = None
    for stmt in split_statements(script, path=path):
        parsed = stmt.parse(path=path)
        try:
            if isinstance(parsed, CreateModel):
                last = _create_model(session, parsed, read, messages, warn, progress)
            elif isinstance(parsed, ShowModel):
                last = show_model_table(con, parsed)
            elif isinstance(parsed, DropModel):
                last = _drop_model(con, parsed, messages)
            else:
                sql = dialects.transpile(stmt.text, read, session.adapter.dialect, path=path)
                for schema in written_schemas(sql, session.adapter.dialect):
                    registry.guard(schema, "this statement")
                last = _execute(con, sql, limit)
        except WmlError as exc:
            exc.path, exc.line = exc.path or path, exc.line or stmt.line
            raise
        except Exception as exc:  # database error: one paragraph, with the statement's line
            raise ExecutionError(
                session.explain_error(exc), path=path or "<sql>", line=stmt.line
            ) from None
    return ScriptResult(last, messages)


_JINJA = ("{{", "{%", "{#")


def has_jinja(script: str) -> bool:
    return any(mark in script for mark in _JINJA)


def render_script(session: t.Any, script: str, *, path: str | None = None) -> str:
    """The script with its Jinja rendered as ``dbt show --inline`` does (ref, source, var,
    macros); a script without ``{{``/``{%``/``{#`` is returned as is, parsing nothing, so
    ``wml sql 'select 1'`` stays fast. An ephemeral model's CTE goes into each statement
    that names it."""
    from warehouse_ml.jinja.renderer import EPHEMERAL_PREFIX, inject_ctes

    if not has_jinja(script):
        return script
    session.graph  # noqa: B018  (parse: ref() needs every model's final config)
    sql, ctes = session.renderer.render_inline(script, path or "<sql>")
    if not ctes:
        return sql
    statements = [s.text for s in split_statements(sql, path=path)]
    return ";\n".join(inject_ctes(s, ctes) if EPHEMERAL_PREFIX in s else s for s in statements)


def written_schemas(sql: str, dialect: str) -> list[str | None]:
    """The schemas a DDL/DML statement writes into (None: the default schema)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        return []  # the database reports it
    if not isinstance(
        tree,
        (exp.Create, exp.Drop, exp.Insert, exp.Update, exp.Delete, exp.Alter, exp.Merge,
         exp.TruncateTable, exp.Copy),
    ):
        return []
    if isinstance(tree, exp.Copy) and not tree.args.get("kind"):
        return []  # COPY ... TO a file reads
    targets = [tree.this, *(tree.args.get("tables") or []), *(tree.expressions or [])]
    schemas: list[str | None] = []
    for target in targets:
        table = target.this if isinstance(target, exp.Schema) else target
        if isinstance(table, exp.Table):
            schemas.append(table.db or None)
    return schemas


# Statements that only read; anything else (and whatever sqlglot cannot parse) needs write.
_READS = (exp.Query, exp.Subquery, exp.Values, exp.Show, exp.Describe, exp.Summarize)
_EXPLAIN = re.compile(r"^\s*explain(\s+analy[sz]e)?\s+", re.I)


def is_read_only(script: str, dialect: str, *, path: str | None = None) -> bool:
    """Whether every statement only reads: SELECT/WITH/VALUES, SHOW, DESCRIBE, SUMMARIZE,
    EXPLAIN of one of those, a PRAGMA that sets nothing, and Redshift ML's SHOW MODEL.

    ``wml sql`` then opens the database read-only, so it runs beside other readers and on
    a file it cannot write. CREATE/DROP MODEL and every other statement need write.
    """
    for stmt in split_statements(script, path=path):
        parsed = stmt.parse(path=path)
        if isinstance(parsed, ShowModel):
            continue
        if parsed is not None or not _reads(stmt.text, dialect):
            return False
    return True


def _reads(sql: str, dialect: str) -> bool:
    explained = _EXPLAIN.match(sql)
    if explained:
        return _reads(sql[explained.end() :], dialect)
    try:
        expressions = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return False
    return all(_reads_expression(e) for e in expressions if e is not None)


def _reads_expression(expression: exp.Expression) -> bool:
    if isinstance(expression, exp.Pragma):
        return "=" not in expression.sql()  # PRAGMA table_info(t) reads; PRAGMA x = 1 sets
    if not isinstance(expression, _READS):
        return False
    # A data-modifying statement nested in a query (DuckDB allows none, Postgres does).
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter)
    return expression.find(*writes) is None and not expression.args.get("into")


def _execute(con: t.Any, sql: str, limit: int | None = None) -> pa.Table | None:
    cursor = con.cursor()
    try:
        relation = cursor.sql(sql)
        if relation is None:
            return None
        # A lazy DuckDB relation: the limit is pushed into the query, not cut after it.
        return (relation if limit is None else relation.limit(limit)).to_arrow_table()
    finally:
        cursor.close()


def _create_model(
    session: t.Any,
    stmt: CreateModel,
    read: str,
    messages: list[str],
    warn: t.Callable[[str], None] | None,
    progress: t.Callable[[str], None] | None = None,
) -> pa.Table:
    from warehouse_ml.ml.clv.spec import ClvSpec
    from warehouse_ml.ml.materialize import describe, train_and_register

    spec = stmt.spec
    clv = isinstance(spec, ClvSpec)  # MODEL_TYPE CLV (ml/clv/create.py)
    recommender = not isinstance(spec, TrainingSpec) and not clv
    if not recommender and not clv:
        spec.function = spec.function.split(".")[-1]
    spec.query = dialects.transpile(spec.query, read, session.adapter.dialect)
    for warning in stmt.warnings:
        (warn or messages.append)(warning)
    declared = stmt.declared_argument_types
    if clv and declared and len(declared) != 4:
        raise TrainingError(
            f"FUNCTION {spec.function} declares {len(declared)} argument types; a MODEL_TYPE CLV "
            "function takes 4 (frequency, recency, T, monetary_value).",
            hint="List four types, e.g. FUNCTION f (int, float8, float8, float8), or leave them out.",
        )

    def check(version: registry.ModelVersion) -> None:
        if declared and len(declared) != len(version.features):
            names = ", ".join(n for n, _ in version.features)
            raise TrainingError(
                f"FUNCTION {spec.function} declares {len(declared)} argument types but the "
                f"query gives {len(version.features)} feature columns ({names}).",
                hint="List one type per feature column, or leave the types out.",
            )

    version = train_and_register(
        session, spec, source="create_model", check=check, progress=progress,
        reason="CREATE MODEL in wml sql",
    )
    call = (
        f"select * from {spec.function}(user, k) and {spec.similar_function}(item, k)"
        if recommender
        else f"call it as {spec.function}(frequency, recency, T, monetary_value) (expected spend), "
        f"{spec.function}_prob(frequency, recency, T) and {spec.function}_purchases(...)"
        if clv else f"call it as {spec.function}(...)"
    )
    messages.append(f"model {spec.name}: {describe(version)}; {call}")
    return pa.table({"status": [f"model {spec.name} version {version.version} is READY"]})


def _drop_model(con: t.Any, stmt: DropModel, messages: list[str]) -> pa.Table:
    from warehouse_ml.ml import serving

    removed = serving.drop(con, stmt.name, if_exists=stmt.if_exists)
    messages.append(f"dropped model {stmt.name} ({removed} versions)")
    return pa.table({"status": [f"DROP MODEL {stmt.name}"]})


def show_model_table(con: t.Any, stmt: ShowModel) -> pa.Table:
    """Redshift's SHOW MODEL: key/value rows for one model, or one row per model for ALL."""
    cursor = con.cursor()
    try:
        if stmt.all or stmt.name is None:
            rows = [v for v in registry.list_versions(cursor) if v.deployed]
            return pa.table(
                {
                    "model_name": [v.name for v in rows],
                    "version": [v.version for v in rows],
                    "function_name": [v.function for v in rows],
                    "model_type": [v.model_type for v in rows],
                    "problem_type": [v.problem_type for v in rows],
                    "creation_time": [str(v.created_at) for v in rows],
                }
            )
        version = registry.get(cursor, stmt.name)
    finally:
        cursor.close()
    pairs = show_model_fields(version)
    return pa.table({"Key": [k for k, _ in pairs], "Value": [v for _, v in pairs]})


def show_model_fields(v: registry.ModelVersion) -> list[tuple[str, str]]:
    key = v.objective or ""
    metric = (v.metrics or {}).get(key)
    baseline = ((v.metrics or {}).get("baseline") or {}).get(key)
    ignored = (v.settings or {}).get("ignored_settings") or {}
    fields = [
        ("Model Name", v.name),
        ("Version", str(v.version)),
        ("Creation Time", str(v.created_at)),
        ("Trained Because", v.retrain_reason or "(not recorded)"),
        ("Model State", "READY" if v.deployed else "READY (not deployed)"),
        ("Served As", _serving(v)),
        ("Pinned", _pinned(v)),
        (f"validation:{key}", _fmt(metric)),
        (f"baseline:{key}", _fmt(baseline)),
        ("Estimated Cost", "0 (trained locally)"),
        ("TRAINING DATA:", ""),
        ("Query", (v.training_query or "").strip()),
        ("Target Column", v.target or ""),
        ("PARAMETERS:", ""),
        ("Model Type", v.model_type or ""),
        ("Problem Type", v.problem_type or ""),
        ("Objective", key),
        ("Function Name", v.function),
        ("Function Parameters", " ".join(n for n, _ in v.features)),
        ("Function Parameter Types", " ".join(ty.lower() for _, ty in v.features)),
        ("Training Rows", str(v.rows_train)),
        ("Evaluation Rows", str(v.rows_eval)),
        *(_recs_card().fields(v) if v.problem_type == "recommendation"
          else _evaluation_fields(evaluation_summary(v))),
        ("Training Seconds", _fmt(v.training_seconds)),
    ]
    fields += _checks(v.metrics or {})
    fields += [(f"{k} (ignored locally)", str(val)) for k, val in ignored.items()]
    return fields


def _checks(metrics: dict[str, t.Any]) -> list[tuple[str, str]]:
    """Calibration (ml/calibration.py) and guard-rail warnings (ml/guards.py), when recorded."""
    out = []
    calibration = metrics.get("calibration")
    if calibration:
        out.append(("Calibration", f"{calibration['method']} (requested {calibration['requested']})"))
    rails = metrics.get("guard_rails") or []
    if rails:
        named = sorted({r["feature"] or "target" for r in rails})
        out.append(("Guard Rail Warnings", f"{len(rails)}: {', '.join(named)} (wml show NAME)"))
    return out


def _recs_card() -> t.Any:
    from warehouse_ml.ml.recs import card

    return card


def _pinned(v: registry.ModelVersion) -> str:
    if not v.pinned:
        return "no"
    return "yes, by wml deploy: builds keep this version until its training data or query change"


def evaluation_summary(v: registry.ModelVersion) -> dict[str, t.Any]:
    """Where the split cut and how many rows each fit saw (``wml show``, SHOW MODEL).

    Read from the version's metrics; versions trained before the split was recorded, and
    imported models, simply have fewer keys.
    """
    if v.problem_type == "recommendation":
        return _recs_card().evaluation(v)
    metrics = v.metrics or {}
    split, fit = metrics.get("split") or {}, metrics.get("deployed_fit") or {}
    out: dict[str, t.Any] = {
        "split_method": split.get("method"),
        "eval_fraction": split.get("eval_fraction"),
    }
    if split.get("method") == "temporal":
        out["split_column"] = split.get("column")
        for key in ("cut_value", "rows_before_cut", "rows_at_or_after_cut"):
            if key in split:
                out[key] = split[key]
    out |= {"rows_train": v.rows_train, "rows_eval": v.rows_eval}
    if fit:
        out |= {"refit": fit.get("refit"), "rows_deployed": fit.get("rows")}
    out["note"] = _evaluation_note(out)
    return out


def _evaluation_note(e: dict[str, t.Any]) -> str | None:
    """'evaluated on N rows held out; deployed model refit on all M rows' (or why not)."""
    if e.get("rows_eval") is None:
        return None
    held = f"evaluated on {e['rows_eval']} rows held out"
    if e.get("refit"):
        return f"{held}; deployed model refit on all {e['rows_deployed']} rows"
    if e.get("refit") is False:
        return (
            f"{held}; deployed model is the evaluated fit on {e['rows_train']} rows (refit=false)"
        )
    return f"{held}; deployed model trained on {e['rows_train']} rows"


def _evaluation_fields(e: dict[str, t.Any]) -> list[tuple[str, str]]:
    method = e.get("split_method")
    if method == "temporal" and "cut_value" in e:
        fields = [
            ("Split", _cut_sentence(e)),
            ("Split Column", str(e.get("split_column"))),
            ("Split Cut Value", str(e["cut_value"])),
            ("Rows Before Cut", str(e["rows_before_cut"])),
            ("Rows At Or After Cut", str(e["rows_at_or_after_cut"])),
        ]
    elif method == "temporal":  # trained before the cut was recorded
        fields = [("Split", f"temporal on {e.get('split_column')}")]
    elif method:
        fields = [("Split", f"{method}, eval_fraction {e.get('eval_fraction')}")]
    else:
        fields = []
    if e.get("rows_deployed") is not None:
        fields.append(("Deployed Model Rows", str(e["rows_deployed"])))
    if e.get("note"):
        fields.append(("Evaluation", str(e["note"])))
    return fields


def _cut_sentence(e: dict[str, t.Any]) -> str:
    return (
        f"temporal on {e.get('split_column')}, cut at {e['cut_value']}: "
        f"{e['rows_before_cut']} rows before it trained, "
        f"{e['rows_at_or_after_cut']} at or after it evaluated"
    )


def _serving(v: registry.ModelVersion) -> str:
    form = {"sql": "SQL macro", "udf": "Arrow UDF"}.get(v.deploy_mode, v.deploy_mode)
    note = (v.settings or {}).get("deploy_note")
    return f"{form} ({note})" if note else form


def _fmt(value: t.Any) -> str:
    return (
        f"{value:.6g}" if isinstance(value, (int, float)) else ("" if value is None else str(value))
    )
