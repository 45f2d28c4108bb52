"""Which engine scores a version's UDF: compiled trees when possible, else onnxruntime.

:func:`native_scorer` returns a :class:`NativeScorer` (which carries its artifact key and
library bytes, for the registry) or None, in which case the caller keeps onnxruntime. A model without a stored tree program (linear, MLP,
k-means, an imported ONNX file, one exported before this engine) is not a fallback: it
never had a native form. A tree model that cannot be compiled here (no compiler, a
compiler error) is: the reason is returned (serving tells it to the user) and logged,
once per reason.
"""

from __future__ import annotations

import logging
import threading
import typing as t

import onnx

from warehouse_ml.ml.native import build, codegen
from warehouse_ml.ml.native.program import METADATA_KEY, Unsupported, decode
from warehouse_ml.ml.native.scorer import NativeScorer

if t.TYPE_CHECKING:
    from warehouse_ml.ml import registry

log = logging.getLogger("warehouse_ml")
_SAID: set[str] = set()
_LOCK = threading.Lock()


def first_time(message: str) -> bool:
    """True the first time this process sees ``message`` (a fallback is told once)."""
    with _LOCK:
        if message in _SAID:
            return False
        _SAID.add(message)
        return True


def _fallback(message: str) -> str:
    if first_time(message):  # info: the CLI tells it through serving.sync's warn, once
        log.info(message)
    return message


def _metadata(onnx_bytes: bytes) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(onnx_bytes).metadata_props}


def native_scorer(
    version: registry.ModelVersion,
    cached: tuple[str, bytes] | None = None,
) -> NativeScorer | str | None:
    """Build (or load) the compiled scorer for ``version``. None: the version has no native
    form (onnxruntime is its engine); a string: why onnxruntime serves it instead."""
    meta = _metadata(version.onnx)
    text = meta.get(METADATA_KEY)
    if text is None:
        return None
    what = f"model '{version.name}' version {version.version}"
    try:
        program = decode(text)
    except Unsupported as exc:
        return _fallback(f"{what}: served by onnxruntime (float32): {exc}.")
    try:
        chain = build.toolchain()
    except build.Unavailable as exc:
        return _fallback(
            f"No C compiler for native tree scoring ({exc}); tree models are served by "
            "onnxruntime (float32, slower). Install a C compiler or set CC to use them."
        )
    key = f"{build.platform_tag()}|{chain.name}|{build.source_hash(text)}"
    if cached is not None and cached[0] != key:
        log.info("%s: rebuilding its compiled trees (stored for %s)", what, cached[0])
    # The registry's copy, then this machine's, then a fresh compile: the first that loads.
    stored = cached[1] if cached is not None and cached[0] == key else None
    for library in (stored, build.cached_build(key)):
        if library is None:
            continue
        try:
            trees = build.load(library)
            break
        except OSError as exc:
            log.info("%s: a cached copy of its compiled trees does not load (%s)", what, exc)
    else:
        try:
            library = build.compile_source(codegen.source(program), chain, key)
            trees = build.load(library)
        except (build.Unavailable, OSError) as exc:
            return _fallback(f"{what}: compiling its trees failed ({exc}); served by onnxruntime.")
    from warehouse_ml.ml.features import METADATA_PREFIX, Feature
    from warehouse_ml.ml.scoring import arrow_type

    label_type = arrow_type(meta.get(METADATA_PREFIX + "target_type", ""))
    features = [Feature(n, ty) for n, ty in version.features]
    return NativeScorer(
        program, trees, features, classes=version.classes,
        label_type=label_type, key=key, library=library,
    )  # fmt: skip
