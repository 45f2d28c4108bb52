"""``wml compile`` over unchanged inputs: the last compile's files are still right.

A rerun of ``wml compile`` on a project where nothing changed (a scheduled job, an
editor's save hook, CI after a no-op commit) writes what is already in ``target/``. After
each compile this keeps a fingerprint of everything the run could have read, and the next
compile whose fingerprint matches only says so: nothing is loaded, rendered, transpiled or
rewritten but the manifest's run metadata (a new invocation id and time, as dbt writes).

The fingerprint is the stat (mtime, ctime, size, inode, as make and git trust them) of
every file under the project root but ``target/`` and hidden folders, of every package
folder outside it, of the profiles.yml candidates, of wml's own code and of the libraries
that render and transpile; the command's options; and keyed hashes (never the values) of
every variable ``env_var()`` read, every ``WML_*`` and ``DBT_*`` variable, ``HOME`` and
``XDG_CACHE_HOME``. The outputs it wrote are stat'ed too, so an edited or deleted compiled
file is written again. A compile that touched the database (a dynamic node), read a name
that differs per run (``run_started_at``, ``invocation_id``, ``modules``...: see
``jinja/render_cache.py``), used ``--state`` or ``--defer`` keeps no fingerprint, and a file
that changed while the compile ran voids the one it would have kept.

The fingerprint lives in the user's cache folder (``files.key_directory()``, one file per
project folder), signed like every wml cache. Warnings the compile printed are kept
(masked, as printed) and printed again; what a model's ``log()`` printed is not, as dbt's
partial parsing does not log again either.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import marshal
import os
import sys
import time
import typing as t
from pathlib import Path

from warehouse_ml import __version__
from warehouse_ml.files import cache_key, key_directory, load_cache, save_cache, write_atomically

_KIND = "compile-state-1"
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "logs"})
# A database file is no input to compile: a node that reads it is dynamic and keeps no state.
_SKIP_SUFFIXES = (".duckdb", ".duckdb.wal", ".tmp")
_ENV_PREFIXES = ("WML_", "DBT_")
_ENV_ALWAYS = ("HOME", "XDG_CACHE_HOME")
_LIBRARIES = ("jinja2", "markupsafe", "sqlglot", "sqlglotc", "yaml", "click")
_PACKAGE = Path(__file__).resolve().parent.parent  # warehouse_ml/
_NODES = b',"nodes":{'  # where the manifest's metadata ends (manifest_writer.py writes it first)
_PER_RUN = ("generated_at", "invocation_id", "invocation_started_at", "run_started_at")
_RACY_NS = 2_000_000_000  # coarser file times than this (FAT: 2 s) are not trusted

Stat = tuple[int, int, int, int]


class CompileState:
    """The fingerprint for one ``wml compile`` command line in one project folder."""

    def __init__(self, root: Path, options: t.Sequence[t.Any]):
        self.root = root
        self.started_ns = time.time_ns()
        secret = cache_key()
        self.enabled = secret is not None
        self._secret = (secret or b"")[:64]
        self.options = repr((__version__, sys.version, str(root), *options))
        self.path = key_directory() / "compile" / f"{self._hash(str(root).encode())}.bin"
        self._saved = self._load() if self.enabled else None
        self._start: tuple[tuple[t.Any, ...], str, list[t.Any]] | None = None

    def _hash(self, data: bytes) -> str:
        return hashlib.blake2b(data, key=self._secret, digest_size=16).hexdigest()

    # -- the next run ---------------------------------------------------------------------
    def replay(self) -> dict[str, t.Any] | None:
        """The last compile's record when its inputs and outputs are unchanged, else None."""
        saved = self._saved
        recipe = (
            (saved["target"], saved["dirs"], saved["probes"], saved["env"]) if saved is not None
            else (str(self.root / "target"), [], [], [])
        )  # fmt: skip
        fingerprint, _, files = self._fingerprint(*recipe)
        self._start = (recipe, fingerprint, files)  # to tell, at the end, that nothing changed meanwhile
        if saved is None or fingerprint != saved["fingerprint"]:
            return None
        for path, stat in saved["outputs"]:
            if _stat(path) != stat:
                return None  # an output was edited or removed: compile again
        if not self._refresh_manifest(saved):
            return None
        return saved

    def many_models(self) -> bool:
        """After :meth:`replay` found changes: whether the project folder holds enough .sql
        files to start a second process for sqlglot now (adapters/transpile_ahead.py): on a
        cold compile it shares the transpiling, after an edit it transpiles the edited
        models while this process loads the project, which then never imports sqlglot."""
        from warehouse_ml.adapters.transpile_ahead import MIN_JOBS

        if self._start is None:
            return False
        return sum(1 for f in self._start[2] if f[0].endswith(".sql")) >= MIN_JOBS

    def _refresh_manifest(self, saved: dict[str, t.Any]) -> bool:
        """A new invocation id and time in the manifest's metadata; the rest as written."""
        from warehouse_ml.run.manifest import SCHEMA_VERSION, metadata
        from warehouse_ml.run.manifest_writer import _dumps

        path = saved["manifest"]
        try:
            text = Path(path).read_bytes()
            end = text.find(_NODES)
            head = json.loads(text[len(b'{"metadata":') : end]) if end > 0 else None
        except (OSError, ValueError):
            return False
        if not text.startswith(b'{"metadata":') or not isinstance(head, dict):
            return False
        fresh = metadata(SCHEMA_VERSION)
        head.update({k: fresh[k] for k in _PER_RUN if k in head and k in fresh})
        # The env block stays as masked when written (its DBT_ variables are fingerprinted).
        body = _dumps({"metadata": head})[:-1].encode("utf-8")
        write_atomically(Path(path), body + text[end:])
        stat = _stat(path)
        saved["outputs"] = [(p, stat if p == path else s) for p, s in saved["outputs"]]
        self._write(saved)
        return True

    # -- after a full compile -------------------------------------------------------------
    def record(
        self, session: t.Any, outputs: t.Iterable[Path], message: str, warnings: str,
        manifest_path: Path,
    ) -> None:
        """Keep what the next run compares, unless this one may not be repeated."""
        if not self.enabled or self._start is None or session.renderer.volatile_seen:
            return
        from warehouse_ml.project import profiles

        project = session.project
        target = str(project.target_dir.resolve())
        # Did an input change while this run read it? The project's files as they were at
        # the start (the target folder known only now: target-path may name another), then
        # the rest of the start's inputs.
        recipe, started, files = self._start
        inside = target.rstrip(os.sep) + os.sep
        if [f for f in files if not f[0].startswith(inside)] != _walk(str(self.root), frozenset({recipe[0], target})):
            return
        if self._fingerprint(*recipe, root_files=files)[0] != started:
            return
        dirs = sorted({str(p.root.resolve()) for p in project.packages} - {str(self.root)})
        candidates = profiles.profiles_candidates(session.profiles_dir, self.root)
        probes = [str(c / profiles.PROFILES_FILE) for c in candidates] + _library_files()
        env = sorted(profiles.ENV_READS)
        fingerprint, newest, _ = self._fingerprint(target, dirs, probes, env)
        # Racy git's rule, where file times are coarse (whole seconds: FAT, some network
        # filesystems): a file changed just before the run may change again within the
        # same tick, with a stat the next run would take as unchanged.
        if newest >= self.started_ns - _RACY_NS:
            return
        record = {
            "target": target, "dirs": dirs, "probes": probes, "env": env,
            "fingerprint": fingerprint,
            "outputs": [(str(p), _stat(str(p))) for p in dict.fromkeys([*outputs, manifest_path])],
            "manifest": str(manifest_path),
            "message": message, "warnings": warnings,
        }  # fmt: skip
        self._write(record)

    def forget(self) -> None:
        """A failed compile: the next one must not replay the last success."""
        if self._saved is not None:
            self.path.unlink(missing_ok=True)

    # -- the fingerprint ------------------------------------------------------------------
    def _fingerprint(
        self, target: str, dirs: list[str], probes: list[str], env: list[str],
        root_files: list[tuple[str, int, int, int, int]] | None = None,
    ) -> tuple[str, int, list[tuple[str, int, int, int, int]]]:
        """The digest of the inputs, the newest mtime or ctime among those files whose times
        are whole seconds (a finer time tells a later change apart by itself), and the
        project folder's files (``root_files``: as walked before)."""
        digest = hashlib.blake2b(self.options.encode(), key=self._secret, digest_size=16)
        newest = 0
        if root_files is None:
            root_files = _walk(str(self.root), frozenset({target}))
        for files in [root_files, *(_walk(d, frozenset()) for d in [str(_PACKAGE), *dirs])]:
            digest.update(marshal.dumps(files))
            newest = max([newest, *(_coarse(f[1], f[2]) for f in files)])
        stats = [(p, _stat(p)) for p in probes]
        digest.update(marshal.dumps(stats))
        newest = max([newest, *(_coarse(s[0], s[1]) for _, s in stats if s is not None)])
        names = sorted({*env, *_ENV_ALWAYS, *(k for k in os.environ if k.startswith(_ENV_PREFIXES))})
        for name in names:  # keyed hashes of the values: the file never holds one
            value = os.environ.get(name)
            digest.update(b"\0" + name.encode() + (b"\1" if value is None else b"=" + value.encode()))
        return digest.hexdigest(), newest, root_files

    # -- the file -------------------------------------------------------------------------
    def _load(self) -> dict[str, t.Any] | None:
        payload = load_cache(self.path, _KIND)
        if payload is None:
            return None
        try:
            record = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        if not isinstance(record, dict) or record.get("options") != self.options:
            return None
        return record

    def _write(self, record: dict[str, t.Any]) -> None:
        record["options"] = self.options
        save_cache(self.path, marshal.dumps(record), _KIND)


class StderrTee(io.TextIOBase):
    """What is printed to stderr, printed and kept (the warnings a replay prints again)."""

    def __init__(self, stream: t.TextIO):
        self.stream = stream
        self.kept = io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _coarse(*times: int) -> int:
    """The newest of ``times`` that is a whole second, or 0."""
    return max((ns for ns in times if ns % 1_000_000_000 == 0), default=0)


def _stat(path: str) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _walk(root: str, skip: frozenset[str]) -> list[tuple[str, int, int, int, int]]:
    """Every file under ``root`` with its stat, but hidden ones and the ``skip`` folders
    (absolute paths); symlinked folders are followed once."""
    out: list[tuple[str, int, int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if name not in _SKIP_DIRS and entry.path not in skip:
                        stack.append(entry.path)
                elif not name.endswith(_SKIP_SUFFIXES):
                    st = entry.stat()
                    out.append((entry.path, st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
            except OSError:
                continue
    out.sort()
    return out


def _library_files() -> list[str]:
    """The installed libraries' ``__init__`` files: an upgrade rewrites them."""
    found = []
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(spec.origin)
    return found
