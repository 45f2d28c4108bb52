"""Compile generated C with the system compiler and load it with ctypes.

The compiler is ``$CC`` when set, else ``cc`` on the PATH. An artifact is identified by
:func:`artifact_key`: this platform (OS, machine, C library), the compiler's identity (its
path and first ``--version`` line) and the hash of the source (which includes the code
generator's version), so a library built on another machine or by another compiler is
never loaded here: it is rebuilt. Libraries are written, atomically, into a per-user
cache folder (``$WML_NATIVE_CACHE``, else ``$XDG_CACHE_HOME/warehouse-ml/native``, else
``~/.cache/warehouse-ml/native``) so a process that finds no artifact in the registry
reuses one compiled earlier on this machine instead of compiling again.

ctypes releases the GIL while the C function runs, so DuckDB's threads score chunks in
parallel (measured in benchmarks/tree_engine.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import typing as t

from warehouse_ml.ml.native import codegen

# Flags: -O3 for speed, no fast-math and no FMA contraction so double arithmetic is IEEE's
# and sums equal scikit-learn's. Very large forests compile far faster at -O1.
_FLAGS = ("-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off")
LARGE_SOURCE = 4_000_000  # bytes of C above which -O1 is used
COMPILE_TIMEOUT = 600
_LOCK = threading.Lock()
_TOOLCHAINS: dict[str, Toolchain | str] = {}
_LIBRARIES: dict[str, ctypes.CDLL] = {}  # kept alive for the process: UDFs hold pointers


class Unavailable(Exception):
    """No usable C compiler (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Toolchain:
    path: str
    ident: str  # first line of --version

    @property
    def name(self) -> str:
        return f"{self.path} ({self.ident})"


def toolchain() -> Toolchain:
    """The compiler to use now (cached per ``$CC`` value); raises :class:`Unavailable`."""
    wanted = os.environ.get("CC") or "cc"
    with _LOCK:
        found = _TOOLCHAINS.get(wanted)
        if found is None:
            found = _probe(wanted)
            _TOOLCHAINS[wanted] = found
    if isinstance(found, str):
        raise Unavailable(found)
    return found


def _probe(wanted: str) -> Toolchain | str:
    origin = "$CC" if os.environ.get("CC") else "the default compiler"
    path = shutil.which(wanted)
    if path is None:
        return f"{origin} '{wanted}' was not found"
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        return f"{origin} '{wanted}' could not run ({exc})"
    first = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0 or not first:
        return f"{origin} '{wanted}' --version failed (exit {done.returncode})"
    return Toolchain(path, first[0].strip())


def platform_tag() -> str:
    libc = "-".join(x for x in platform.libc_ver() if x) or "nolibc"
    return f"{sys.platform}-{platform.machine()}-{libc}-py{sys.implementation.cache_tag}"


def source_hash(source: str) -> str:
    text = f"codegen {codegen.VERSION}\n{' '.join(_FLAGS)}\n{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def artifact_key(source: str, chain: Toolchain) -> str:
    return f"{platform_tag()}|{chain.name}|{source_hash(source)}"


def cache_dir() -> pathlib.Path:
    explicit = os.environ.get("WML_NATIVE_CACHE")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "warehouse-ml" / "native"


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:40]


def cached_build(key: str) -> bytes | None:
    """A library this machine compiled earlier for ``key``."""
    path = cache_dir() / f"key-{_digest(key)}.so"
    try:
        return path.read_bytes()
    except OSError:
        return None


def compile_source(source: str, chain: Toolchain, key: str) -> bytes:
    """Compile ``source`` to a shared library's bytes (raises :class:`Unavailable` on a
    compiler error, with its first lines), and keep a copy in the cache folder."""
    level = "-O1" if len(source) > LARGE_SOURCE else "-O3"
    with tempfile.TemporaryDirectory(prefix="wml-native-") as tmp:
        src, lib = os.path.join(tmp, "trees.c"), os.path.join(tmp, "trees.so")
        pathlib.Path(src).write_text(source)
        try:
            done = subprocess.run(
                [chain.path, level, *_FLAGS, "-o", lib, src],
                capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{chain.path} failed to run: {exc}") from exc
        if done.returncode != 0:
            detail = " ".join(done.stderr.strip().splitlines()[:3])[:300]
            raise Unavailable(f"{chain.path} exited {done.returncode}: {detail}")
        data = pathlib.Path(lib).read_bytes()
    _write(cache_dir() / f"key-{_digest(key)}.so", data)
    return data


def load(data: bytes) -> t.Callable[..., None]:
    """The ``wml_trees`` function of a library given as bytes (written to the cache folder
    under its content hash, since the loader needs a file)."""
    name = _digest(data)
    with _LOCK:
        lib = _LIBRARIES.get(name)
        if lib is None:
            path = cache_dir() / f"lib-{name}.so"
            if not path.exists() or path.read_bytes() != data:
                _write(path, data)
            lib = ctypes.CDLL(str(path))
            _LIBRARIES[name] = lib
    fn = lib.wml_trees
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_void_p]
    return fn


def _write(path: pathlib.Path, data: bytes) -> None:
    """Atomic: a concurrent reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
