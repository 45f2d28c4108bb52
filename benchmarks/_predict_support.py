"""Setup for benchmarks/predict_udf.py: data, models, baseline UDFs and the memory worker.

Here: what the timed cases need (data, models, baseline UDFs, a session for the batch
path, compiled and hand-written SQL for portable models) and the two measurements made
apart from the timed loop (memory, AUTO training).
Data comes from SQL over ``range()`` with ``hash()``: deterministic, and a view over it
costs no memory, which the 10M-row memory check relies on. Models are trained by the real
:func:`warehouse_ml.ml.trainer.train` and exported by our ONNX code.

Run as a script, this module is the memory worker: it scores generated rows in a fresh
process and prints its RSS after setup and its peak RSS while scoring, as JSON::

    python benchmarks/_predict_support.py memory --path plain|ctas|batch --rows N --onnx FILE
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa

from warehouse_ml.adapters.duckdb import DuckDBAdapter
from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import functions, registry
from warehouse_ml.ml.features import Feature
from warehouse_ml.ml.scoring import OnnxScorer
from warehouse_ml.ml.spec import ModelType, TrainingSpec
from warehouse_ml.project.profiles import Target

if t.TYPE_CHECKING:  # the memory worker never trains: keep scikit-learn out of its RSS
    from warehouse_ml.ml.trainer import TrainedModel
    from warehouse_ml.sqlcompile import CompiledModel

NUMERIC = [f"x{j}" for j in range(8)]
TEXT = "c"
TRAIN_OFFSET = 1_000_000_000  # training rows come from another part of the hash stream
WARMUP_ROWS = 10_000
UDF_CHUNK = 2048  # rows per Arrow UDF call (DuckDB's vector size)
# How the memory worker scores: plain SQL of the same output size (DuckDB's own share),
# predict_x in CREATE TABLE AS, and batch.predict_to_table.
MEMORY_PATHS = ("plain", "ctas", "batch")
# Case groups (predict_udf.CASE_BUILDERS keys) a model is timed with unless told otherwise.
UDF_GROUPS = frozenset({"onnxruntime", "udf", "row", "batch"})


def _unit(key: int) -> str:
    """A deterministic pseudo-random DOUBLE in [0, 1) per row ``i``."""
    return f"((hash(i, {key}) % 1000003)::DOUBLE / 1000003)"


def source_sql(rows: int, *, offset: int = 0, target: bool = False) -> str:
    """SELECT of ``rows`` rows: x0..x7 DOUBLE (x0 1% NULL), c VARCHAR (6 values, 1% NULL),
    and with ``target`` a regression target y that every feature influences."""
    cols = [f"{_unit(j)} * {j + 1} AS x{j}" for j in range(8)]
    cols[0] = f"CASE WHEN hash(i, 100) % 100 = 0 THEN NULL ELSE {_unit(0)} END AS x0"
    cols.append(
        "CASE WHEN hash(i, 101) % 100 = 0 THEN NULL ELSE 'c' || (hash(i, 8) % 6)::VARCHAR END AS c"
    )
    cols.append(f"{_unit(9)} AS noise")
    inner = f"SELECT {', '.join(cols)} FROM range({offset}, {offset + rows}) t(i)"
    features = ", ".join([*NUMERIC, TEXT])
    if not target:
        return f"SELECT {features} FROM ({inner})"
    y = (
        "3 * coalesce(x0, 1) + x1 * x2 / 6 + 2 * sin(x3) + sqrt(x4) - 0.5 * x5 + 0.05 * x6 * x7"
        " + CASE c WHEN 'c1' THEN 1 WHEN 'c2' THEN -1 WHEN 'c3' THEN 0.5 ELSE 0 END + 0.2 * noise"
    )
    return f"SELECT {features}, {y} AS y FROM ({inner})"


@dataclasses.dataclass
class BenchModel:
    """One trained model under test and what the cases need to call it."""

    key: str  # short label in the table, e.g. 'linear'
    version: registry.ModelVersion
    trained: TrainedModel
    scorer: OnnxScorer
    diagnostics: bool = True  # also time the breakdown cases (chunked / matrix / no-SQL)
    groups: frozenset[str] = UDF_GROUPS  # which case builders time this model
    sql: CompiledSQL | None = None  # set by compile_for_sql for the "sql" group

    @property
    def features(self) -> list[Feature]:
        return self.scorer.features

    @property
    def numeric_only(self) -> bool:
        return not any(f.is_text for f in self.features)

    def describe(self) -> str:
        """Model size in words, e.g. '100 trees x 31 leaves' or '8 coefficients'."""
        model = self.trained.pipeline.steps[-1][1] if self.trained.pipeline else None
        if hasattr(model, "_predictors"):  # HistGradientBoosting
            leaves = max(p.nodes["is_leaf"].sum() for (p,) in model._predictors)
            return f"{model.n_iter_} trees x <= {leaves} leaves"
        return f"{np.size(getattr(model, 'coef_', []))} coefficients"


def train_model(
    con: duckdb.DuckDBPyConnection,
    key: str,
    model_type: ModelType,
    train_rows: int,
    *,
    text: bool = False,
    hyperparameters: dict[str, t.Any] | None = None,
    diagnostics: bool = True,
    groups: frozenset[str] = UDF_GROUPS,
) -> BenchModel:
    """Train through the real ``train()`` on generated rows and wrap it as a registry version."""
    from warehouse_ml.ml.trainer import train

    exclude = [] if text else [TEXT]
    spec = TrainingSpec(
        name=f"bench_{key}",
        function=f"predict_{key}",
        query=source_sql(train_rows, offset=TRAIN_OFFSET, target=True),
        target="y",
        model_type=model_type,
        hyperparameters=dict(hyperparameters or {}),
        exclude=exclude,
    )
    trained = train(con.sql(spec.query).to_arrow_table(), spec)
    version = make_version(trained)
    scorer = OnnxScorer(version.onnx, None, classes=version.classes)  # the raw-ORT cases need its session
    return BenchModel(key, version, trained, scorer, diagnostics, frozenset(groups))


def make_version(trained: TrainedModel) -> registry.ModelVersion:
    """The registry row ``materialize.train_and_register`` would write for ``trained``."""
    from warehouse_ml.ml.materialize import version_from_trained

    version = version_from_trained(trained, source="config")
    version.version = 1
    return version


def version_from_onnx(onnx_bytes: bytes, name: str = "bench_mem") -> registry.ModelVersion:
    """A registry version rebuilt from the ``wml.*`` metadata our exporter writes."""
    scorer = OnnxScorer(onnx_bytes)
    return registry.ModelVersion(
        name=name,
        version=1,
        function=f"predict_{name}",
        problem_type=scorer.problem_type,
        model_type=None,
        target="y",
        features=[[f.name, f.sql_type] for f in scorer.features],
        classes=scorer.classes,
        onnx=onnx_bytes,
    )


# -- portable models: compiled and hand-written SQL ------------------------------------------


@dataclasses.dataclass
class CompiledSQL:
    """A model compiled to one SQL expression, and what installing and checking it cost.

    ``patched`` counts infinite tree thresholds clipped by :func:`finite_tree_thresholds`
    before the compiler accepted the graph (0: compiled as exported). The fields after it
    are filled in by the benchmark when it installs and checks the macro.
    """

    compiled: CompiledModel
    compile_seconds: float
    patched: int = 0
    function: str = ""
    sql_bytes: int = 0
    macro_seconds: float = float("nan")  # CREATE OR REPLACE MACRO
    plan_seconds: float = float("nan")  # CTAS over one row: binding and planning the macro
    max_rel_diff: float = float("nan")  # against raw onnxruntime, see rel_diff
    hand_rel_diff: float | None = None  # the hand-written SQL's, for linear models

    @property
    def splits(self) -> int:
        return self.compiled.stats.tree_splits


def _compile(onnx_bytes: bytes) -> tuple[CompiledModel, float]:
    from warehouse_ml.sqlcompile import compile_model

    started = time.perf_counter()
    with np.errstate(over="ignore"):  # the compiler's nextafter(FLT_MAX, inf) is handled
        compiled = compile_model(onnx_bytes)
    return compiled, time.perf_counter() - started


def finite_tree_thresholds(onnx_bytes: bytes) -> tuple[bytes, int]:
    """``onnx_bytes`` with every infinite tree threshold clipped to +-FLT_MAX, and how many.

    HistGradientBoosting trained on data with NULLs splits "NULL against any value" as
    ``x <= +inf`` (NULL goes right), which ``compile_model`` refuses ("non-finite
    constant"). For finite inputs ``x <= FLT_MAX`` is the same split, so onnxruntime and
    the SQL score the patched graph alike; both the UDF and the SQL cases use it.
    """
    proto = onnx.load_from_string(onnx_bytes)
    top = float(np.finfo(np.float32).max)
    count = 0
    for node in proto.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        for attribute in node.attribute:
            if attribute.name != "nodes_values":
                continue
            values = np.array(attribute.floats, dtype=np.float64)
            count += int(np.isinf(values).sum())
            del attribute.floats[:]
            attribute.floats.extend(np.clip(values, -top, top).tolist())
    return proto.SerializeToString(), count


def compile_for_sql(model: BenchModel) -> BenchModel:
    """``model`` with ``sql`` set: its ONNX compiled to SQL (see :class:`CompiledSQL`).

    When the compiler refuses infinite tree thresholds, the model comes back with the
    patched graph of :func:`finite_tree_thresholds` as its version and scorer.
    """
    patched = 0
    try:
        compiled, seconds = _compile(model.version.onnx)
    except CompilationError as exc:
        onnx_bytes, patched = finite_tree_thresholds(model.version.onnx)
        if not patched or "non-finite" not in exc.message:
            raise
        version = dataclasses.replace(model.version, onnx=onnx_bytes)
        model = dataclasses.replace(model, version=version, scorer=OnnxScorer(version.onnx, None, classes=version.classes))
        compiled, seconds = _compile(onnx_bytes)
    model.sql = CompiledSQL(compiled, seconds, patched)
    return model


def _double(value: float) -> str:
    """A DOUBLE literal: DuckDB reads ``1.5e0`` as DOUBLE, plain ``1.5`` as DECIMAL."""
    text = repr(float(value))
    return text if "e" in text else f"{text}e0"


def handwritten_linear_sql(model: BenchModel) -> str:
    """The linear model as a person would write it from the fitted pipeline, one term per
    feature: ``(coalesce(x, median) - mean) / scale * coefficient``, plus the intercept."""
    pipeline = model.trained.pipeline
    if pipeline is None or not model.numeric_only:
        raise ValueError(f"{model.key}: hand-written SQL covers numeric linear pipelines only")
    numeric = pipeline.named_steps["prep"].named_transformers_["num"]
    imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
    estimator = pipeline.named_steps["model"]
    coefficients = np.ravel(estimator.coef_)
    terms = [
        f"(coalesce({f.name}, {_double(median)}) - {_double(mean)}) / {_double(scale)} "
        f"* {_double(coefficient)}"
        for f, median, mean, scale, coefficient in zip(
            model.features,
            imputer.statistics_,
            scaler.mean_,
            scaler.scale_,
            coefficients,
            strict=True,
        )
    ]
    return " + ".join([*terms, _double(np.ravel(estimator.intercept_)[0])])


def rel_diff(values: np.ndarray, expected: np.ndarray) -> float:
    """Largest ``|values - expected| / max(|expected|, 1)``: relative, absolute near 0."""
    values = np.asarray(values, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64).ravel()
    if values.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(values - expected) / np.maximum(np.abs(expected), 1.0)))


# -- onnxruntime baselines --------------------------------------------------------------------


def session_options() -> ort.SessionOptions:
    """The options OnnxScorer uses (one intra- and one inter-op thread, sequential)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def column_feed(table: pa.Table, features: t.Sequence[Feature]) -> dict[str, np.ndarray]:
    """Our graph's inputs, prepared in advance: one ``[n, 1]`` array per feature."""
    feed: dict[str, np.ndarray] = {}
    for f in features:
        column = table.column(f.name)
        if f.is_text:
            values = column.fill_null("__wml_null__").to_numpy(zero_copy_only=False)
            feed[f.name] = values.astype(object).reshape(-1, 1)
        else:
            values = column.to_numpy(zero_copy_only=False)  # NULL -> NaN
            feed[f.name] = values.astype(np.float32).reshape(-1, 1)
    return feed


def matrix_model(onnx_bytes: bytes, names: t.Sequence[str]) -> bytes:
    """Our exported graph behind one ``[n, k]`` float32 input split into its k columns.

    This is what "raw onnxruntime on a float32 matrix" runs: the same model, fed the
    way a scikit-learn-style export would be.
    """
    inner = onnx.load_from_string(onnx_bytes)
    width = len(names)
    split = onnx.helper.make_node("Split", ["X"], [f"split_{n}" for n in names], axis=1)
    head = onnx.helper.make_graph(
        [split],
        "split_columns",
        [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, width])],
        [
            onnx.helper.make_tensor_value_info(f"split_{n}", onnx.TensorProto.FLOAT, [None, 1])
            for n in names
        ],
    )
    head_model = onnx.helper.make_model(head, opset_imports=list(inner.opset_import))
    head_model.ir_version = inner.ir_version
    merged = onnx.compose.merge_models(head_model, inner, io_map=[(f"split_{n}", n) for n in names])
    return merged.SerializeToString()


def chunked(feed: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    """``feed`` cut into ``size``-row slices (views), as DuckDB hands them to a UDF."""
    rows = len(next(iter(feed.values())))
    return [{k: v[s : s + size] for k, v in feed.items()} for s in range(0, rows, size)]


# -- baseline SQL functions -------------------------------------------------------------------


def _with_arity(impl: t.Callable[..., t.Any], n: int) -> t.Callable[..., t.Any]:
    """DuckDB reads a UDF's arity from its signature (a bare ``*args`` is refused)."""

    def call(*args: t.Any) -> t.Any:
        return impl(*args)

    params = [inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(n)]
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return call


def _arg_types(features: t.Sequence[Feature]) -> list[t.Any]:
    return [duckdb.sqltype(f.sql_type) for f in features]


def register_noop(
    con: duckdb.DuckDBPyConnection,
    name: str,
    features: t.Sequence[Feature],
    null_handling: str,
) -> None:
    """An Arrow UDF over the same columns that returns zeros of the right length.

    Registered like predict_x (same argument types, DOUBLE result, ``side_effects=False``);
    ``null_handling`` 'special' is predict_x's contract, 'default' DuckDB's.
    """
    zeros = pa.array(np.zeros(2048))

    def noop(first: t.Any, *_: t.Any) -> pa.Array:
        n = len(first)
        return zeros.slice(0, n) if n <= len(zeros) else pa.array(np.zeros(n))

    with contextlib.suppress(duckdb.Error):  # not registered yet
        con.remove_function(name)
    con.create_function(
        name,
        _with_arity(noop, len(features)),
        _arg_types(features),
        duckdb.sqltype("DOUBLE"),
        type="arrow",
        null_handling=null_handling,
        side_effects=False,
    )


def register_preconverted_udf(
    con: duckdb.DuckDBPyConnection,
    name: str,
    model: BenchModel,
    chunk: dict[str, np.ndarray],
) -> None:
    """An Arrow UDF that runs onnxruntime on an input converted beforehand (``chunk``, one
    2,048-row feed) and returns zeros: a UDF's and onnxruntime's share of predict_x's time,
    without converting the columns it is given."""
    session = model.scorer.session
    output = model.scorer.output_names[:1]
    zeros = pa.array(np.zeros(len(next(iter(chunk.values())))))

    def preconverted(first: t.Any, *_: t.Any) -> pa.Array:
        n = len(first)
        session.run(output, {k: v[:n] for k, v in chunk.items()})
        return zeros.slice(0, n)

    with contextlib.suppress(duckdb.Error):  # not registered yet
        con.remove_function(name)
    con.create_function(
        name,
        _with_arity(preconverted, len(model.features)),
        _arg_types(model.features),
        duckdb.sqltype("DOUBLE"),
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


def register_row_udf(con: duckdb.DuckDBPyConnection, name: str, model: BenchModel) -> None:
    """A native (row-at-a-time) Python UDF: one onnxruntime call per row."""
    session = model.scorer.session
    output = model.scorer.output_names[:1]
    kinds = [(f.name, f.is_text) for f in model.features]

    def per_row(*values: t.Any) -> float:
        feed = {}
        for (fname, is_text), value in zip(kinds, values, strict=True):
            if is_text:
                feed[fname] = np.array([["__wml_null__" if value is None else value]], object)
            else:
                feed[fname] = np.array([[np.nan if value is None else value]], np.float32)
        return float(session.run(output, feed)[0].ravel()[0])

    with contextlib.suppress(duckdb.Error):  # not registered yet
        con.remove_function(name)
    con.create_function(
        name,
        _with_arity(per_row, len(kinds)),
        _arg_types(model.features),
        duckdb.sqltype("DOUBLE"),
        type="native",
        null_handling="special",
        side_effects=False,
    )


# -- the batch path ---------------------------------------------------------------------------


class BatchSession:
    """What ``batch.predict_to_table`` reads from a session, over one DuckDB
    database opened by our real DuckDB adapter: ``connection()``, ``target``, ``adapter`` and
    ``warn()``."""

    def __init__(self, path: str = ":memory:", settings: dict[str, t.Any] | None = None) -> None:
        self.target = Target(
            name="bench",
            type="duckdb",
            schema="main",
            threads=2,
            settings={"path": path, "settings": dict(settings or {})},
            profile_path=Path("profiles.yml"),
        )
        self.adapter = DuckDBAdapter(self.target)

    def connection(self) -> duckdb.DuckDBPyConnection:
        return self.adapter.connection

    def warn(self, message: str) -> None:  # batch's monitoring hook reports through it
        print(f"warning: {message}", flush=True)

    def close(self) -> None:
        self.adapter.close()


def register_version(con: duckdb.DuckDBPyConnection, version: registry.ModelVersion) -> None:
    """Store ``version`` in ``wml.models`` (deployed), as the batch path looks it up there."""
    cursor = con.cursor()
    try:
        registry.add_version(cursor, version, deploy=True)
    finally:
        cursor.close()


# -- memory worker ----------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_worker(path: str, rows: int, onnx_file: str) -> dict[str, t.Any]:
    """Score ``rows`` generated rows through ``path`` and report RSS figures in MB.

    Setup: open a file database with DuckDB's default settings, register the model,
    create a view generating the rows (no input is materialized) and score WARMUP_ROWS once
    so onnxruntime's and DuckDB's first allocations count as setup. DuckDB keeps the new
    table's blocks cached (up to its memory_limit) whatever computes them: the 'plain' path
    measures that share, so the others can be judged by what they add to it.
    """
    from warehouse_ml.ml.batch import predict_to_table

    version = version_from_onnx(Path(onnx_file).read_bytes())
    features = ", ".join(n for n, _ in version.features)
    with tempfile.TemporaryDirectory() as tmp:
        session = BatchSession(str(Path(tmp) / "mem.duckdb"))
        con = session.connection()
        con.execute(f"CREATE VIEW src AS {source_sql(rows)}")
        con.execute(f"CREATE VIEW warm AS {source_sql(WARMUP_ROWS)}")
        register_version(con, version)
        functions.bind_version(con, version)
        plain = " + ".join(n for n, _ in version.features)
        runners: dict[str, t.Callable[[str], t.Any]] = {
            "plain": lambda rel: con.execute(
                f"CREATE OR REPLACE TABLE out AS SELECT {plain} AS p FROM {rel}"
            ),
            "ctas": lambda rel: con.execute(
                f"CREATE OR REPLACE TABLE out AS SELECT {version.function}({features}) AS p "
                f"FROM {rel}"
            ),
            "batch": lambda rel: predict_to_table(session, version.name, rel, "out", []),
        }
        run = runners[path]
        run("warm")
        reset = _reset_peak()
        setup = _status_mb("VmRSS")
        started = time.perf_counter()
        run("src")
        seconds = time.perf_counter() - started
        peak = _status_mb("VmHWM")
        scored = con.execute("SELECT count(*) FROM out").fetchall()[0][0]
        session.close()
    return {
        "path": path,
        "rows": scored,
        "seconds": seconds,
        "setup_mb": setup,
        "peak_mb": peak,
        "peak_reset": reset,
    }


def memory_check(onnx_bytes: bytes, rows_small: int, rows_big: int) -> list[dict[str, t.Any]]:
    """Peak RSS of fresh subprocesses scoring generated rows through predict_x and batch."""
    worker = Path(__file__)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.onnx"
        model_file.write_bytes(onnx_bytes)
        for path in MEMORY_PATHS:
            for rows in (rows_small, rows_big):
                cmd = [sys.executable, str(worker), "memory", "--path", path]
                cmd += ["--rows", str(rows), "--onnx", str(model_file)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
                if done.returncode != 0 or not lines:
                    raise SystemExit(f"memory worker failed:\n{done.stdout}\n{done.stderr}")
                results.append(json.loads(lines[-1]))
    return results


def auto_training(rows: int) -> tuple[float, str]:
    """Seconds for model_type AUTO (regression) on ``rows`` generated rows, and a summary."""
    con = duckdb.connect()
    try:
        table = con.sql(source_sql(rows, offset=TRAIN_OFFSET, target=True)).to_arrow_table()
    finally:
        con.close()
    from warehouse_ml.ml.trainer import train

    spec = TrainingSpec(name="bench_auto", function="predict_auto", query="-", target="y")
    started = time.perf_counter()
    trained = train(table, spec)
    seconds = time.perf_counter() - started
    search = trained.metrics["search"]
    summary = (
        f"winner {trained.model_type}, {search['run']}/{search['candidates']} candidates run, "
        f"r2 {trained.metrics.get('r2', float('nan')):.3f}"
    )
    return seconds, summary


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="predict_udf.py memory worker")
    parser.add_argument("mode", choices=["memory"])
    parser.add_argument("--path", choices=list(MEMORY_PATHS), required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--onnx", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(memory_worker(args.path, args.rows, args.onnx)), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
