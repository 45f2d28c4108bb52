"""Which engine scores a version's UDF: compiled trees when possible, else onnxruntime.

:func:`native_scorer` returns a :class:`Built` (the scorer, its artifact key and library,
and whether the library is new, i.e. must be written beside the ONNX) or None, in which
case the caller keeps onnxruntime. A model without a stored tree program (linear, MLP,
k-means, an imported ONNX file, one exported before this engine) is not a fallback: it
never had a native form. A tree model that cannot be compiled here (no compiler, a
compiler error) is, and the log says so once per reason with that reason.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass
class Built:
    scorer: NativeScorer
    key: str
    library: bytes
    fresh: bool  # not what the registry holds: write it beside the ONNX


def _say_once(message: str) -> None:
    with _LOCK:
        if message in _SAID:
            return
        _SAID.add(message)
    log.warning(message)


def _metadata(onnx_bytes: bytes) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(onnx_bytes).metadata_props}


def native_scorer(
    version: registry.ModelVersion,
    cached: tuple[str, bytes] | None = None,
) -> Built | None:
    """Build (or load) the compiled scorer for ``version``; None means onnxruntime."""
    meta = _metadata(version.onnx)
    text = meta.get(METADATA_KEY)
    if text is None:
        return None
    what = f"model '{version.name}' version {version.version}"
    try:
        program = decode(text)
    except Unsupported as exc:
        _say_once(f"{what}: served by onnxruntime (float32): {exc}.")
        return None
    try:
        chain = build.toolchain()
    except build.Unavailable as exc:
        _say_once(
            f"No C compiler for native tree scoring ({exc}); tree models are served by "
            "onnxruntime (float32, slower). Install a C compiler or set CC to use them."
        )
        return None
    key = f"{build.platform_tag()}|{chain.name}|{build.source_hash(text)}"
    if cached is not None and cached[0] == key:
        library, fresh = cached[1], False
    else:
        if cached is not None:
            log.info("%s: rebuilding its compiled trees (stored for %s)", what, cached[0])
        library = build.cached_build(key)
        if library is None:
            try:
                library = build.compile_source(codegen.source(program), chain, key)
            except build.Unavailable as exc:
                _say_once(f"{what}: compiling its trees failed ({exc}); served by onnxruntime.")
                return None
        fresh = True
    try:
        trees = build.load(library)
    except OSError as exc:  # stored bytes that do not load here: compile them again
        if fresh:
            _say_once(f"{what}: its compiled trees do not load ({exc}); served by onnxruntime.")
            return None
        log.info("%s: its stored compiled trees do not load (%s); rebuilding", what, exc)
        return native_scorer(version, None)
    from warehouse_ml.ml.features import METADATA_PREFIX, Feature
    from warehouse_ml.ml.scoring import arrow_type

    label_type = arrow_type(meta.get(METADATA_PREFIX + "target_type", ""))
    features = [Feature(n, ty) for n, ty in version.features]
    scorer = NativeScorer(
        program, trees, features, classes=version.classes,
        label_type=label_type, key=key, library=library,
    )  # fmt: skip
    return Built(scorer, key, library, fresh)
