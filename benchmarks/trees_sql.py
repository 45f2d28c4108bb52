"""Tree ensembles as SQL: the float32 form, the float64 form and the Arrow UDF, per size.

Models: HistGradientBoosting ``--trees`` ensembles (ITERSxLEAVES, default 10x15, 100x31,
300x31; early stopping off, so exactly ITERS trees), trained by our ``train()`` on
``--train-rows`` generated rows (8 DOUBLE features, x0 1% NULL) and exported by our ONNX
code. Each form scores the same ``--rows`` rows (default 1,000,000) of one in-memory
DuckDB table in CREATE TABLE ... AS SELECT, round-robin, ``--runs`` times (medians):

- ``float32 (old)``: ``compile_model(tree_precision='float32')``, the form before: the ONNX
  trees' float32 splits as double midpoint comparisons, NULL routed by
  ``COALESCE(x, +-4e38)``, the float32 running sum (REAL leaves) as one ``list_reduce``;
- ``float64 (new)``: what ``ddl(compiled, name, 'duckdb')`` installs now for our exported
  trees (sqlcompile/trees64.py): the stored float64 program, DOUBLE splits and leaves,
  the sum in scikit-learn's order (one ``list_reduce`` of 32 trees or more), no casts;
- ``UDF``: ``predict_x`` as ``functions.bind_version`` registers it (compiled C trees).

Before timing, the float32 form is checked against onnxruntime and the float64 form
against the UDF on the first 100,000 rows (equal floats, counted: the float64 form must
equal the UDF on every row). Per form the table shows rows/s, the ratio to the UDF,
compile time, DDL bytes and plan time (a CTAS over one row: binding and optimizing the
macro, which every query pays). The 'auto' line says which form ``deploy='auto'`` picks
for each size (``portable.AUTO_MAX_TREE_SPLITS``) and whether that was the faster one.

PostgreSQL (the Redshift stand-in; skipped when Debian's postgresql is absent):
``--pg-rows`` rows (default 100,000) loaded into a throwaway server, each model installed
as ``ddl(compiled, name, 'postgres')`` in both precisions (plain SQL Redshift runs: CASE,
COALESCE, a chain of additions), timed by ``CREATE TEMP TABLE ... AS SELECT`` (medians of
``--runs``), plan time by ``EXPLAIN``; float32 checked against onnxruntime, float64
against scikit-learn's ``predict``.

    python benchmarks/trees_sql.py                      # ~25 min on 2 busy cores
    python benchmarks/trees_sql.py --rows 300000 --pg-rows 30000
    python benchmarks/trees_sql.py --skip-old --skip-postgres --trees 10x15,20x31,30x31,50x31
    python benchmarks/trees_sql.py --quick              # smoke run, ~1 min
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
import typing as t
from pathlib import Path

import _predict_support as sup  # next to this script (its folder is on sys.path)
import duckdb
import numpy as np

from warehouse_ml.ml import functions, portable
from warehouse_ml.ml.spec import ModelType
from warehouse_ml.sqlcompile import compile_model, ddl, sql_size

CHECK_ROWS = 100_000
OLD, NEW = "float32 (old)", "float64 (new)"
FORMS = {OLD: "float32", NEW: "float64"}  # name: tree_precision


@dataclasses.dataclass
class Form:
    model: str
    name: str
    call: str
    compile_seconds: float = 0.0
    sql_bytes: int = 0
    plan_seconds: float = float("nan")
    equal: str = ""
    times: list[float] = dataclasses.field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)


def _args(model: sup.BenchModel) -> str:
    return ", ".join(f.name for f in model.features)


def _timed(fn: t.Callable[[], t.Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _compile(model: sup.BenchModel, precision: str) -> tuple[t.Any, float]:
    started = time.perf_counter()
    with np.errstate(over="ignore"):
        compiled = compile_model(model.version.onnx, tree_precision=precision)
    return compiled, time.perf_counter() - started


def _scikit_learn(model: sup.BenchModel, source: t.Any, rows: int) -> np.ndarray:
    """scikit-learn's predict on the float64 rows (what the UDF and the float64 SQL give)."""
    from warehouse_ml.ml.features import column_to_numpy, feed_to_matrix

    part = source.slice(0, rows)
    feed = {
        f.name: column_to_numpy(part.column(f.name), f.sql_type, np.float64).reshape(-1, 1)
        for f in model.features
    }
    return model.trained.pipeline.predict(feed_to_matrix(feed, model.features))


def _expected(model: sup.BenchModel, source: t.Any, rows: int) -> np.ndarray:
    feed = sup.column_feed(source.slice(0, rows), model.features)
    (out,) = model.scorer.session.run(model.scorer.output_names[:1], feed)
    return np.asarray(out, dtype=np.float64).ravel()


def duckdb_forms(
    con: duckdb.DuckDBPyConnection, model: sup.BenchModel, source: t.Any, old: bool = True
) -> list[Form]:
    """Install the SQL forms of ``model`` (``old``: the float32 one too) and its UDF; check
    the float32 SQL against onnxruntime and the float64 SQL against the UDF."""
    args, forms = _args(model), []
    m = min(CHECK_ROWS, source.num_rows)
    functions.bind_version(con, model.version)
    udf = Form(model.key, "UDF", f"{model.version.function}({args})")
    sample = f"(SELECT * FROM src LIMIT {m})"
    references = {
        OLD: ("onnxruntime", _expected(model, source, m)),
        NEW: ("the UDF", con.sql(f"SELECT {udf.call} AS p FROM {sample}").fetchnumpy()["p"]),
    }
    for name, precision in FORMS.items():
        if not old and name != NEW:
            continue
        compiled, seconds = _compile(model, precision)
        function = f"f_{model.key}_{len(forms)}"
        con.execute(ddl(compiled, function, "duckdb"))
        form = Form(model.key, name, f"{function}({args})", seconds, sql_size(compiled, "duckdb", function))
        form.plan_seconds = _timed(lambda f=form: _ctas(con, f.call, "(SELECT * FROM src LIMIT 1)"))
        got = con.sql(f"SELECT {form.call} AS p FROM {sample}").fetchnumpy()["p"]
        what, expected = references[name]
        same = int(np.sum(got == expected))
        form.equal = f"{same:,}/{m:,} {what}"
        if same != m:
            raise SystemExit(f"{model.key} {name}: {m - same} rows differ from {what}")
        forms.append(form)
    forms.append(udf)
    return forms


def _ctas(con: t.Any, call: str, source: str = "src") -> None:
    con.execute(f"CREATE OR REPLACE TABLE bench_out AS SELECT {call} AS p FROM {source}")


def measure(con: duckdb.DuckDBPyConnection, forms: list[Form], runs: int) -> None:
    for run in range(runs):
        began = time.perf_counter()
        for form in forms:
            form.times.append(_timed(lambda f=form: _ctas(con, f.call)))
        print(f"  run {run + 1}/{runs}: {time.perf_counter() - began:.0f} s, load {_load()}", flush=True)


def report(forms: list[Form], models: list[sup.BenchModel], rows: int) -> list[str]:
    lines = [
        "| model | splits | form | M rows/s | vs UDF | compile s | DDL bytes | plan s | equal rows |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model in models:
        mine = [f for f in forms if f.model == model.key]
        udf = next(f for f in mine if f.name == "UDF")
        splits = model.sql.splits if model.sql else 0
        for f in mine:
            speed = udf.seconds / f.seconds
            extra = "" if f.name == "UDF" else (
                f"{f.compile_seconds:.2f} | {f.sql_bytes:,} | {f.plan_seconds:.2f} | {f.equal}"
            )
            lines.append(
                f"| {model.key} | {splits:,} | {f.name} | {rows / f.seconds / 1e6:.3f} | "
                f"{speed:.2f}x | {extra or ' | | | '} |"
            )
    return lines


def auto_lines(forms: list[Form], models: list[sup.BenchModel]) -> list[str]:
    """What ``deploy='auto'`` picks per model, and whether the pick was the faster form."""
    lines = []
    for model in models:
        mine = {f.name: f for f in forms if f.model == model.key}
        splits = model.sql.splits if model.sql else 0
        pick = "sql" if splits <= portable.AUTO_MAX_TREE_SPLITS else "udf"
        ratio = mine["UDF"].seconds / mine[NEW].seconds
        faster = "sql" if ratio > 1 else "udf"
        verdict = "right" if pick == faster else "WRONG"
        lines.append(
            f"{model.key}: {splits:,} splits, auto picks {pick} (AUTO_MAX_TREE_SPLITS = "
            f"{portable.AUTO_MAX_TREE_SPLITS:,}); float64 SQL / UDF speed {ratio:.2f}: {verdict}"
        )
    return lines


def targets(forms: list[Form], models: list[sup.BenchModel]) -> list[str]:
    lines = []
    for model in models:
        mine = {f.name: f for f in forms if f.model == model.key}
        ratio = mine[NEW].seconds / mine["UDF"].seconds  # > 1: SQL slower
        iters = int(model.key[3:].split("x")[0])
        if iters >= 300:
            ok, goal = ratio <= 1.5, "within 1.5x of the UDF"
        else:
            ok, goal = ratio < 1.0, "faster than the UDF"
        lines.append(f"[{'PASS' if ok else 'FAIL'}] {model.key}: float64 SQL {goal}: time ratio {ratio:.2f}")
    return lines


# -- PostgreSQL --------------------------------------------------------------------------------


def postgres_table(models: list[sup.BenchModel], source: t.Any, rows: int, runs: int) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import pg_bin, postgres_server

    if pg_bin() is None:
        return ["PostgreSQL is not installed: skipped (apt-get install postgresql)"]
    import psycopg

    part = source.slice(0, rows)
    lines = [
        f"PostgreSQL, {rows:,} rows, CREATE TEMP TABLE AS SELECT, median of {runs}:",
        "| model | form | rows/s | vs float32 | DDL bytes | plan s (EXPLAIN) | equal rows |",
        "|---|---|---|---|---|---|---|",
    ]
    with postgres_server() as dsn, psycopg.connect(dsn, autocommit=True) as pg:
        names = [f.name for f in models[0].features]
        pg.execute(f"CREATE TABLE src (i int, {', '.join(f'{n} double precision' for n in names)})")
        with pg.cursor().copy(f"COPY src (i, {', '.join(names)}) FROM STDIN") as copy:
            for i, values in enumerate(zip(*(part.column(n).to_pylist() for n in names), strict=True)):
                copy.write_row((i, *values))
        pg.execute("ANALYZE src")
        for model in models:
            references = {
                OLD: ("onnxruntime", _expected(model, source, rows)),
                NEW: ("scikit-learn", _scikit_learn(model, source, rows)),
            }
            timed: dict[str, list[float]] = {}
            meta: dict[str, tuple[int, float, str]] = {}
            args = _args(model)
            for name, precision in FORMS.items():
                compiled, _ = _compile(model, precision)
                function = f"f_{model.key}_{precision}"
                pg.execute(ddl(compiled, function, "postgres"))
                explain = f"EXPLAIN SELECT {function}({args}) FROM src"
                plan = _timed(lambda q=explain: pg.execute(q))
                got = np.array(
                    [r[0] for r in pg.execute(f"SELECT {function}({args}) FROM src ORDER BY i").fetchall()]
                )
                what, expected = references[name]
                same = int(np.sum(got == expected))
                if same != rows:
                    raise SystemExit(f"PostgreSQL {model.key} {name}: {rows - same} rows differ from {what}")
                meta[name] = (sql_size(compiled, "postgres", function), plan, f"{same:,}/{rows:,} {what}")
                timed[name] = []
            for _ in range(runs):
                for name, precision in FORMS.items():
                    function = f"f_{model.key}_{precision}"
                    pg.execute("DROP TABLE IF EXISTS out")
                    sql = f"CREATE TEMP TABLE out AS SELECT {function}({args}) AS p FROM src"
                    timed[name].append(_timed(lambda s=sql: pg.execute(s)))
            base = statistics.median(timed[OLD])
            for name in FORMS:
                seconds = statistics.median(timed[name])
                size, plan, equal = meta[name]
                lines.append(
                    f"| {model.key} | {name} | {rows / seconds:,.0f} | {base / seconds:.2f}x | "
                    f"{size:,} | {plan:.2f} | {equal} |"
                )
    return lines


# -- main ---------------------------------------------------------------------------------------


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _tree_specs(text: str) -> list[tuple[int, int]]:
    try:
        specs = [tuple(int(v) for v in p.lower().split("x")) for p in text.split(",") if p]
    except ValueError:
        specs = [()]
    if not specs or any(len(s) != 2 or min(s) < 1 for s in specs):
        raise argparse.ArgumentTypeError(f"expected ITERSxLEAVES[,...], e.g. 10x15,100x31: {text!r}")
    return [(s[0], s[1]) for s in specs]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--pg-rows", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--skip-old", action="store_true", help="time only the float64 form and the UDF (crossover probes)"
    )
    parser.add_argument("--trees", type=_tree_specs, default="10x15,100x31,300x31")
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 run, 10x15 and 100x31")
    args = parser.parse_args(argv)
    if args.quick:
        parser.set_defaults(rows=100_000, runs=1, train_rows=20_000, pg_rows=10_000,
                            trees="10x15,100x31")
        args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"duckdb {duckdb.__version__}; {os.cpu_count()} CPUs, load average {_load()}", flush=True)
    session = sup.BatchSession()
    con = session.connection()
    try:
        models = []
        for iters, leaves in args.trees:
            key = f"hgb{iters}x{leaves}"
            params = {"max_iter": iters, "max_leaf_nodes": leaves, "early_stopping": False}
            model = sup.train_model(con, key, ModelType.HIST_GRADIENT_BOOSTING, args.train_rows,
                                    hyperparameters=params, groups=frozenset({"sql"}))
            models.append(sup.compile_for_sql(model))
            print(f"trained {key}: {model.describe()}, {models[-1].sql.splits:,} splits", flush=True)
        con.execute(f"CREATE TABLE src AS {sup.source_sql(args.rows)}")
        source = con.sql("SELECT * FROM src").to_arrow_table()
        forms = [f for m in models for f in duckdb_forms(con, m, source, not args.skip_old)]
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        print(f"timing {len(forms)} forms x {args.runs} runs on {args.rows:,} rows, threads={threads}")
        measure(con, forms, args.runs)
    finally:
        session.close()
    print(f"\nDuckDB, {args.rows:,} rows, CTAS, median of {args.runs}:")
    print("\n".join(report(forms, models, args.rows)))
    print("\n" + "\n".join(auto_lines(forms, models)))
    if not args.skip_postgres:
        print()
        print("\n".join(postgres_table(models, source, min(args.pg_rows, args.rows), args.runs)))
    lines = targets(forms, models)
    print("\ntargets:\n" + "\n".join(lines))
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average now {_load()}")
    return 1 if any(line.startswith("[FAIL]") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
