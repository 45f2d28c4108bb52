"""Register deployed models as vectorized SQL functions on a DuckDB connection.

``predict_x(...)`` returns the prediction and, for classifiers, ``predict_x_prob(...)`` the
positive-class probability (binary) or a MAP of class -> probability (multiclass).

Measured (FINDINGS.md): DuckDB hands an Arrow UDF 2,048 rows per call; parameters are
declared DOUBLE/VARCHAR/BOOLEAN so DuckDB casts integer columns itself; ``null_handling=
'special'`` passes NULLs through, so a missing value is imputed exactly as in training
instead of the row silently becoming NULL. The Python signature must have the model's
arity, so it is set explicitly rather than using ``*args``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import os
import re
import threading
import typing as t

import duckdb
import pyarrow as pa

from warehouse_ml.ml import registry
from warehouse_ml.ml.features import Feature
from warehouse_ml.ml.scoring import OnnxScorer

if t.TYPE_CHECKING:
    from warehouse_ml.ml.native.scorer import NativeScorer

_SQL_TYPES = {"DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR", "BOOLEAN": "BOOLEAN", "TIMESTAMP": "TIMESTAMP"}
_NO_MATCH = re.compile(
    r"(?:No function matches the given name and argument types '|Macro )(\w+)\(", re.I
)


@dataclasses.dataclass
class Bound:
    name: str
    version: int
    function: str
    features: list[Feature]


# Scorers are cached by the ONNX bytes' digest (and $CC, which decides the engine):
# building an onnxruntime session costs ~10 ms and every command re-registers the functions.
_SCORERS: dict[tuple[bytes, str], tuple[Scorer, str | None]] = {}  # (scorer, fallback)
_LOCK = threading.Lock()
Scorer = t.Union[OnnxScorer, "NativeScorer"]


@dataclasses.dataclass
class Engine:
    """The scorer serving a version, and a compiled library to store beside its ONNX."""

    scorer: Scorer
    note: str
    artifact: tuple[str, bytes] | None = None  # (key, library) not yet in the registry
    fallback: str | None = None  # why onnxruntime serves a tree model


def engine_for(version: registry.ModelVersion, cached: tuple[str, bytes] | None = None) -> Engine:
    """Compiled trees (exact, float64) when the version has a tree program and a C compiler
    is here; onnxruntime otherwise (ml/native/engine.py says why in the log)."""
    from warehouse_ml.ml.native import engine

    key = (hashlib.blake2b(version.onnx, digest_size=16).digest(), os.environ.get("CC", ""))
    with _LOCK:
        scorer, fallback = _SCORERS.get(key, (None, None))
    if scorer is None:
        native = engine.native_scorer(version, cached)
        if isinstance(native, str) or native is None:
            fallback = native
            features = [Feature(n, ty) for n, ty in version.features]
            scorer = OnnxScorer(version.onnx, features, classes=version.classes)
        else:
            scorer = native
        with _LOCK:
            scorer, fallback = _SCORERS.setdefault(key, (scorer, fallback))
    artifact = None
    if getattr(scorer, "engine", "") == "native" and (cached is None or cached != (scorer.key, scorer.library)):
        artifact = (scorer.key, scorer.library)  # missing or built elsewhere: (re)write it
    return Engine(scorer, _note(scorer, fallback), artifact, fallback)


def _note(scorer: Scorer, fallback: str | None) -> str:
    if getattr(scorer, "engine", "") == "native":
        return "engine: compiled C trees (float64, exact)"
    return "engine: onnxruntime" + (f" ({fallback})" if fallback else "")


def scorer_for(version: registry.ModelVersion) -> Scorer:
    return engine_for(version).scorer


def _duck_type(sql_type: str) -> duckdb.sqltype.DuckDBPyType:  # type: ignore[name-defined]
    return duckdb.sqltype(_SQL_TYPES[sql_type])


def _with_arity(impl: t.Callable[..., pa.Array], n: int) -> t.Callable[..., pa.Array]:
    def call(*columns: t.Any) -> pa.Array:
        return impl(columns)

    params = [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(n)]
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return call


def _return_type(arrow_type: pa.DataType) -> t.Any:
    """The DuckDB type for an Arrow output type (labels keep the target's type)."""
    con = duckdb.connect()
    try:
        return con.from_arrow(pa.table({"x": pa.array([], type=arrow_type)})).types[0]
    finally:
        con.close()


@dataclasses.dataclass
class Prepared:
    """A version's Arrow UDFs, built and checked before anything is written."""

    version: registry.ModelVersion
    features: list[Feature]
    outputs: list[tuple[str, t.Callable[..., pa.Array], t.Any]]  # (name, impl, return type)
    engine: Engine | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.outputs]


def prepare(
    version: registry.ModelVersion, cached: tuple[str, bytes] | None = None
) -> Prepared:
    """Load the model (compiled trees or the ONNX graph) and score one all-NULL row: a
    broken model fails here, early. ``cached`` is the registry's stored library, if any."""
    chosen = engine_for(version, cached)
    scorer = chosen.scorer
    null_row = [pa.array([None], type=_arrow_type(f)) for f in scorer.features]
    outputs = [(version.function, scorer.predict, scorer.predict(null_row).type)]
    if scorer.classes is not None and version.problem_type != "clustering":
        proba = scorer.predict_proba(null_row)
        outputs.append((f"{version.function}_prob", scorer.predict_proba, proba.type))
    typed = [(n, f, _return_type(ty)) for n, f, ty in outputs]
    return Prepared(version, scorer.features, typed, chosen)


def register(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> Bound:
    """Register prepared UDFs on ``con`` (replacing this process's older ones)."""
    arg_types = [_duck_type(f.sql_type) for f in prepared.features]
    for fn_name, impl, return_type in prepared.outputs:
        remove(con, fn_name)
        con.create_function(
            fn_name,
            _with_arity(impl, len(arg_types)),
            arg_types,
            return_type,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
    v = prepared.version
    return Bound(v.name, v.version, v.function, prepared.features)


def bind_version(
    con: duckdb.DuckDBPyConnection,
    version: registry.ModelVersion,
    cached: tuple[str, bytes] | None = None,
) -> Bound:
    """Register one model version's functions on ``con`` (replacing older ones)."""
    return register(con, prepare(version, cached))


def _arrow_type(feature: Feature) -> pa.DataType:
    return {
        "DOUBLE": pa.float64(),
        "VARCHAR": pa.string(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMP": pa.timestamp("us"),
    }[feature.sql_type]


def remove(con: duckdb.DuckDBPyConnection, name: str) -> None:
    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function(name)


def explain_call_error(con: duckdb.DuckDBPyConnection, message: str) -> str | None:
    """For DuckDB's 'No function matches' on a model function: name the expected features."""
    match = _NO_MATCH.search(message)
    if not match:
        return None
    fn = match.group(1)
    cursor = con.cursor()
    try:
        version = registry.find_by_function(
            cursor, fn.removesuffix("_prob")
        ) or registry.find_by_function(cursor, fn)
    finally:
        cursor.close()
    if version is None:
        return None
    args = ", ".join(f"{n} {ty}" for n, ty in version.features)
    return (
        f"{fn}() takes {len(version.features)} arguments, in this order: {args} "
        f"(model '{version.name}' version {version.version}). {message.splitlines()[0]}"
    )


def unbind(con: duckdb.DuckDBPyConnection, function: str) -> None:
    """Remove a model's functions from ``con`` (after DROP MODEL)."""
    for name in (function, f"{function}_prob"):
        remove(con, name)
