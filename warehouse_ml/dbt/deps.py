"""``wml deps``: install packages.yml into dbt_packages/ as ``dbt deps`` does.

- ``local:`` folders are copied into ``dbt_packages/<name>`` (its ``dbt_project.yml`` name).
- ``git:`` repositories are cloned (``git`` on PATH), checked out at ``revision:``, and
  ``subdirectory:`` taken when given.
- Hub packages (``package: dbt-labs/dbt_utils``) resolve to their GitHub repository: the
  dbt Hub API is not used, so a small map names the popular packages' repositories, the
  version is the highest tag satisfying ``version:``. ``WML_PACKAGES_GIT_BASE`` names a
  mirror laid out as GitHub is (``<base>/dbt-labs/dbt-utils.git``).
- Each package's own packages.yml is installed too (dbt installs dependencies flat).
- ``package-lock.yml`` records what was installed (dbt 1.7+): a later ``wml deps`` with an
  unchanged packages.yml installs the same commits; ``--upgrade`` resolves again.

Everything is installed into a staging folder first, swapped in only when every package
arrived: a failed deps leaves dbt_packages/ and package-lock.yml as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import yaml

from warehouse_ml.dbt import packages as pkgs
from warehouse_ml.errors import ConfigError, ExecutionError
from warehouse_ml.files import write_atomically

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import ProjectSettings

LOCK_FILE = "package-lock.yml"
# Hub name -> GitHub repository, for packages whose repository name differs from the hub's.
HUB_REPOSITORIES = {
    "dbt-labs/dbt_utils": "dbt-labs/dbt-utils",
    "dbt-labs/codegen": "dbt-labs/dbt-codegen",
    "dbt-labs/audit_helper": "dbt-labs/dbt-audit-helper",
    "dbt-labs/dbt_external_tables": "dbt-labs/dbt-external-tables",
    "dbt-labs/dbt_project_evaluator": "dbt-labs/dbt-project-evaluator",
    "dbt-labs/spark_utils": "dbt-labs/spark-utils",
    "calogica/dbt_expectations": "calogica/dbt-expectations",
    "metaplane/dbt_expectations": "metaplane/dbt-expectations",
    "calogica/dbt_date": "calogica/dbt-date",
    "godatadriven/dbt_date": "godatadriven/dbt-date",
    "elementary-data/elementary": "elementary-data/dbt-data-reliability",
    "dbt-msft/tsql_utils": "dbt-msft/tsql-utils",
    "Snowflake-Labs/dbt_constraints": "Snowflake-Labs/dbt_constraints",
}
# What a package copy leaves out: its VCS data, build outputs and its own packages.
_SKIP = {".git", "target", "dbt_packages", "dbt_modules", "logs", "__pycache__", ".venv"}
_NETWORK = re.compile(
    r"could not resolve host|unable to access|failed to connect|connection (timed out|refused)"
    r"|network is unreachable|could not read from remote",
    re.IGNORECASE,
)


@dataclasses.dataclass
class Installed:
    name: str
    spec: pkgs.PackageSpec
    lock: dict[str, t.Any]  # this package's package-lock.yml entry
    source: Path  # the folder copied (for a package's own local: entries)
    detail: str  # what was installed: a version, a commit, a folder


def install(
    root: Path, settings: ProjectSettings, *, upgrade: bool = False,
    echo: t.Callable[[str], None] = print,
) -> list[Installed]:
    """Install every package of ``root``'s packages.yml; returns them in install order."""
    root = root.resolve()
    specs = pkgs.read_specs(root)
    if not specs:
        return []  # dbt: "no packages found"; dbt_packages/ untouched
    target = pkgs.install_path(root, settings)
    locked = [] if upgrade else _locked_specs(root, specs)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # A lock lists the dependencies of dependencies already: install exactly it.
        installed = _install_all(root, locked or specs, staging, echo, recurse=not locked)
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _write_lock(root, specs, installed)
    return installed


def _install_all(
    root: Path, specs: list[pkgs.PackageSpec], staging: Path, echo: t.Callable[[str], None],
    *, recurse: bool,
) -> list[Installed]:
    queue = [(spec, root) for spec in specs]
    done: dict[str, Installed] = {}
    seen: set[str] = set()
    while queue:
        spec, base = queue.pop(0)
        key = f"{spec.kind}:{spec.value}:{spec.subdirectory or ''}"
        if key in seen:
            continue
        seen.add(key)
        if spec.kind == "local" and (base / spec.value).resolve() == root:
            continue  # a package's integration tests listing the project itself
        if spec.kind == "git" and spec.revision is None and spec.raw.get("warn-unpinned") is not False:
            echo(  # as dbt warns: the default branch moves under the project
                f"Warning: git package {_redact(spec.value)} is not pinned (no `revision:`): "
                "installing its default branch. Add `revision: <tag or commit>` (or "
                "`warn-unpinned: false`)."
            )
        result = _install_one(root, spec, base, staging)
        if result.name in done:
            continue  # first one wins (dbt would reconcile versions; we keep the root's)
        done[result.name] = result
        echo(f"Installed {result.name} ({result.detail})")
        if recurse:
            queue += [(dep, result.source) for dep in pkgs.read_specs(staging / result.name)]
    return list(done.values())


def _install_one(root: Path, spec: pkgs.PackageSpec, base: Path, staging: Path) -> Installed:
    if spec.kind == "local":
        source = (base / spec.value).resolve()
        name = _package_name(source, spec)
        _copy(source, staging / name, skip=root)
        lock = {"local": spec.raw["local"]}
        return Installed(name, spec, lock, source, f"local {spec.value}")
    if spec.kind == "git":
        return _install_git(spec, spec.value, spec.revision, staging)
    if spec.kind == "package":
        return _install_hub(spec, staging)
    raise ConfigError(
        f"`{spec.kind}:` packages ({spec.value}) are not installed by wml deps.",
        path="packages.yml",
        hint="Run `dbt deps` (wml loads dbt_packages/ as it leaves it), or use a git: entry.",
    )


def _install_hub(spec: pkgs.PackageSpec, staging: Path) -> Installed:
    url = hub_url(spec.value)
    tags = _remote_tags(url, spec)
    version = pick_version(tags, spec.version, prerelease=bool(spec.raw.get("install-prerelease")))
    if version is None:
        raise ConfigError(
            f"no release of {spec.value} matches version {spec.version!r} "
            f"(tags in {url}: {', '.join(sorted(tags)[-8:]) or 'none'}).",
            path="packages.yml",
            hint="Widen the `version:` range, or pin a git: entry with `revision:`.",
        )
    result = _install_git(spec, url, tags[version], staging)
    result.lock = {"package": spec.value, "version": version}
    result.detail = f"version {version}"
    return result


def hub_url(name: str) -> str:
    """The GitHub repository of a dbt Hub package (the Hub API is not used)."""
    repo = HUB_REPOSITORIES.get(name)
    if repo is None:
        org, _, package = name.partition("/")
        repo = f"{org}/{package.replace('_', '-')}"  # the usual naming; the map has exceptions
    # A mirror of GitHub's layout (`<base>/<org>/<repo>.git`) may stand in for it.
    base = os.environ.get("WML_PACKAGES_GIT_BASE", "https://github.com").rstrip("/")
    return f"{base}/{repo}.git"


def _install_git(
    spec: pkgs.PackageSpec, url: str, revision: str | None, staging: Path
) -> Installed:
    with tempfile.TemporaryDirectory(prefix="wml-deps-") as tmp:
        clone = Path(tmp) / "repo"
        _git(["clone", "--quiet", url, str(clone)], spec, url)
        if revision:
            _git(["-C", str(clone), "checkout", "--quiet", revision], spec, url, revision=revision)
        commit = _git(["-C", str(clone), "rev-parse", "HEAD"], spec, url).strip()
        source = clone / spec.subdirectory if spec.subdirectory else clone
        name = _package_name(source, spec)
        _copy(source, staging / name)
    lock: dict[str, t.Any] = {"git": spec.raw.get("git", url), "revision": commit}
    if spec.subdirectory:
        lock["subdirectory"] = spec.subdirectory
    return Installed(name, spec, lock, staging / name, f"{revision or 'default branch'} @ {commit[:10]}")


def _git(args: list[str], spec: pkgs.PackageSpec, url: str, revision: str | None = None) -> str:
    if shutil.which("git") is None:
        raise ExecutionError(
            f"cannot install {_redact(spec.label)}: git is not installed.",
            hint="Install git, or run `dbt deps` (wml loads dbt_packages/ as it leaves it).",
        )
    proc = subprocess.run(
        ["git", "-c", "advice.detachedHead=false", *args],
        capture_output=True, text=True, env=_git_env(),
    )
    if proc.returncode == 0:
        return proc.stdout
    reason = _redact(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git failed")
    if _NETWORK.search(proc.stderr):
        raise ExecutionError(
            f"cannot reach {_redact(url)} to install {_redact(spec.label)} ({reason}); "
            "dbt_packages/ is left as it was.",
            hint="This machine has no access to it: install the package with `dbt deps` where "
            "the network allows (wml loads dbt_packages/ as dbt leaves it), or use a git: entry "
            "naming a reachable copy (a local clone's path or a mirror)"
            + (", or set WML_PACKAGES_GIT_BASE to a mirror laid out as GitHub is." if spec.kind == "package" else "."),
        )
    what = f"revision '{revision}' of " if revision else ""
    raise ExecutionError(
        f"cannot install {what}{_redact(spec.label)}: {reason}.",
        hint="Check the URL and the revision (a tag, branch or full commit).",
    )


def _git_env() -> dict[str, str]:
    # Never prompt for credentials: a private repository must fail, not hang the command.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0"}


def _redact(text: str) -> str:
    """A token in a git URL (``https://user:token@host``) never reaches the terminal."""
    return re.sub(r"(://)[^/@\s]+@", r"\1****@", text)


def _remote_tags(url: str, spec: pkgs.PackageSpec) -> dict[str, str]:
    """Version -> tag name of a repository's release tags."""
    out = _git(["ls-remote", "--tags", "--refs", url], spec, url)
    tags: dict[str, str] = {}
    for line in out.splitlines():
        ref = line.split("\t")[-1].removeprefix("refs/tags/")
        version = ref.removeprefix("v")
        if _parse(version) is not None:
            tags[version] = ref
    return tags


def _package_name(source: Path, spec: pkgs.PackageSpec) -> str:
    if not (source / "dbt_project.yml").is_file():
        raise ConfigError(
            f"{_redact(spec.label)} has no dbt_project.yml"
            + (f" in subdirectory '{spec.subdirectory}'" if spec.subdirectory else "") + ".",
            path="packages.yml",
            hint="Point the entry at a dbt package (use `subdirectory:` for one inside a repository).",
        )
    return pkgs.read_package_settings(source).name


def _copy(source: Path, dest: Path, skip: Path | None = None) -> None:
    """Copy a package folder, leaving out build outputs and (``local: ../``) the project."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        return {n for n in names if n in _SKIP or (skip is not None and (here / n).resolve() == skip)}

    shutil.copytree(source, dest, ignore=ignore, symlinks=True)


def _swap(staging: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


# -- versions ----------------------------------------------------------------------------
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-.]?([0-9A-Za-z.-]+))?$")


def _parse(version: str) -> tuple[tuple[int, int, int], str] | None:
    match = _VERSION.match(str(version).strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor or 0), int(patch or 0)), pre or ""


def _key(version: str) -> tuple[tuple[int, int, int], int, str]:
    parsed = _parse(version)
    assert parsed is not None
    numbers, pre = parsed
    return numbers, 0 if pre else 1, pre  # a prerelease sorts before its release


def pick_version(tags: t.Iterable[str], wanted: t.Any, *, prerelease: bool = False) -> str | None:
    """The highest version satisfying ``wanted``: ``"1.3.0"`` or ``[">=1.0.0", "<2.0.0"]``.

    >>> pick_version(["0.9.1", "1.1.1", "1.3.0", "2.0.0b1"], [">=1.0.0", "<2.0.0"])
    '1.3.0'
    """
    ranges = wanted if isinstance(wanted, list) else [wanted]
    ok = [
        v for v in tags
        if (prerelease or not _parse(v)[1]) and all(_satisfies(v, str(r)) for r in ranges)  # type: ignore[index]
    ]
    return max(ok, key=_key) if ok else None


def _satisfies(version: str, rule: str) -> bool:
    match = re.match(r"^\s*(>=|<=|==|>|<|=)?\s*(.+?)\s*$", rule)
    if match is None or _parse(match.group(2)) is None:
        raise ConfigError(f"cannot read version '{rule}'.", path="packages.yml",
                          hint="Use a version such as 1.3.0 or comparisons such as '>=1.0.0'.")  # fmt: skip
    op, bound = match.group(1) or "==", _key(match.group(2))
    have = _key(version)
    return {
        ">=": have >= bound, "<=": have <= bound, ">": have > bound, "<": have < bound,
        "==": have == bound, "=": have == bound,
    }[op]


# -- package-lock.yml --------------------------------------------------------------------
# The fields dbt's PackageSpec classes serialize, per kind, with their defaults: the lock's
# sha1_hash is over them, so dbt and wml accept each other's package-lock.yml.
_HASH_FIELDS: dict[str, dict[str, t.Any]] = {
    "local": {},
    "git": {"revision": None, "subdirectory": None, "warn-unpinned": None},
    "package": {"install_prerelease": False, "version": None},
    "tarball": {"name": None},
    "private": {"provider": None, "revision": None, "subdirectory": None, "warn-unpinned": None},
}


def spec_hash(specs: list[pkgs.PackageSpec]) -> str:
    """The packages.yml digest a lock file is valid for, computed as dbt computes it
    (dbt-core ``task/deps.py``: sorted JSON of each rendered entry and its unrendered form)."""
    rows = []
    for spec in specs:
        entry = {**_HASH_FIELDS[spec.kind], **spec.raw, spec.kind: spec.value, "unrendered": spec.raw}
        if "revision" in spec.raw:
            entry["revision"] = spec.revision
        rows.append(json.dumps(entry, sort_keys=True, default=str))
    return hashlib.sha1("\n".join(sorted(rows)).encode()).hexdigest()


class _LockDumper(yaml.SafeDumper):
    """Lists indented under their key, as dbt writes package-lock.yml."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> t.Any:
        return super().increase_indent(flow, False)


def _write_lock(root: Path, specs: list[pkgs.PackageSpec], installed: list[Installed]) -> None:
    entries = [{**i.lock, "name": i.name} for i in installed]
    doc = {"packages": entries, "sha1_hash": spec_hash(specs)}
    text = yaml.dump(doc, Dumper=_LockDumper, sort_keys=True, default_flow_style=False)
    write_atomically(root / LOCK_FILE, text.encode())


def _locked_specs(root: Path, specs: list[pkgs.PackageSpec]) -> list[pkgs.PackageSpec]:
    """package-lock.yml's pinned entries when it was written for this packages.yml."""
    path = root / LOCK_FILE
    if not path.is_file() or not specs:
        return []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict) or doc.get("sha1_hash") != spec_hash(specs):
        return []
    out = []
    for i, entry in enumerate(doc.get("packages") or [], start=1):
        spec = pkgs._spec(entry, path, i)
        if spec.kind == "package":  # a hub pin: exactly the version installed before
            spec.version = str(spec.version)
        spec.raw = {k: v for k, v in entry.items() if k != "name"}
        out.append(spec)
    return out
