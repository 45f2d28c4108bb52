"""dbt packages: what ``packages.yml`` asks for and what is installed, loaded as our nodes.

A dbt project uses packages in two steps: ``dbt deps`` (our ``wml deps``, see
``dbt/deps.py``) copies them into ``packages-install-path`` (``dbt_packages/``), then every
command loads each folder there as a project of its own: its ``dbt_project.yml``, macros,
models, seeds and tests. ``local:`` packages also load straight from their folder, so a
package's ``integration_tests`` (``local: ../``) runs without a deps step.

Each package node keeps ``package_name`` (the package's ``name:``) and an fqn starting with
it; the root project's ``models: {<package>: {...}}`` blocks configure package nodes over
the package's own, as in dbt (https://docs.getdbt.com/reference/model-configs).
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError
from warehouse_ml.project import snapshots
from warehouse_ml.project.yamlio import expect_mapping, load_yaml

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import Project, ProjectSettings

log = logging.getLogger("warehouse_ml")

SPEC_FILES = ("packages.yml", "dependencies.yml")
SPEC_KINDS = ("package", "git", "local", "tarball", "private")


@dataclasses.dataclass
class PackageSpec:
    """One entry of ``packages.yml``: a hub package, a git repository or a local folder."""

    kind: str  # package | git | local | tarball | private
    value: str  # hub name, git URL, folder or tarball URL
    raw: dict[str, t.Any]  # the entry as written (written back to package-lock.yml)
    version: t.Any = None  # hub: a version or a list of ranges
    revision: str | None = None  # git: tag, branch or commit
    subdirectory: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.value}"


@dataclasses.dataclass
class Package:
    """A package as it loads: its own settings and files; ``root`` is absolute."""

    name: str
    root: Path
    settings: ProjectSettings
    local: bool = False  # loaded from a ``local:`` folder, not from dbt_packages/

    @property
    def macro_files(self) -> list[Path]:
        """Its macro-paths, and ``{% test %}`` blocks in ``<test path>/generic/`` (dbt's)."""
        generic = [f"{p}/generic" for p in self.settings.test_paths]
        return _files(self.root, self.settings.macro_paths + generic, (".sql",))


def spec_file(root: Path) -> Path | None:
    """``packages.yml`` or ``dependencies.yml`` (dbt refuses package entries in both)."""
    found = [root / name for name in SPEC_FILES if (root / name).is_file()]
    with_packages = [p for p in found if _raw_entries(p)]
    if len(with_packages) > 1:
        raise ConfigError(
            "both packages.yml and dependencies.yml list packages.",
            path=with_packages[1],
            hint="Keep the `packages:` list in one of them, as dbt requires.",
        )
    return (with_packages or found or [None])[0]


def read_specs(root: Path) -> list[PackageSpec]:
    """The entries of the project's packages file; none when there is no file."""
    path = spec_file(root)
    if path is None:
        return []
    doc = expect_mapping(load_yaml(path), path, path.name)
    for key in doc:
        if key == "projects":  # dbt Mesh cross-project refs (dbt Cloud only)
            log.warning("Warning: %s: `projects:` (dbt Mesh) is ignored: wml has no cross-project refs.", path.name)
        elif key != "packages":
            log.warning("Warning: %s: unknown key '%s' is ignored (dbt reads `packages:`).", path.name, key)
    return [_spec(entry, path, i) for i, entry in enumerate(_raw_entries(path), start=1)]


def _raw_entries(path: Path) -> list[t.Any]:
    doc = load_yaml(path)
    entries = doc.get("packages") if isinstance(doc, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError("`packages:` must be a list of entries.", path=path)
    return entries


def _spec(entry: t.Any, path: Path, index: int) -> PackageSpec:
    kinds = [k for k in SPEC_KINDS if isinstance(entry, dict) and k in entry]
    if len(kinds) != 1:
        raise ConfigError(
            f"package entry #{index} must have exactly one of: {', '.join(SPEC_KINDS)}.",
            path=path,
            hint="For example `- package: dbt-labs/dbt_utils` with `version: 1.3.0`, "
            "`- git: <url>` with `revision: <tag>`, or `- local: ../my_package`.",
        )
    kind = kinds[0]
    value = _render_env(str(entry[kind]), path)
    spec = PackageSpec(kind, value, dict(entry), version=entry.get("version"))
    if entry.get("revision") is not None:
        spec.revision = _render_env(str(entry["revision"]), path)
    if entry.get("subdirectory") is not None:
        spec.subdirectory = str(entry["subdirectory"])
    if kind == "package" and spec.version is None:
        raise ConfigError(
            f"package '{value}' has no version.",
            path=path,
            hint="Add `version:` (a version such as 1.3.0 or a range list), as dbt requires.",
        )
    return spec


def _render_env(text: str, path: Path) -> str:
    """dbt renders packages.yml with ``env_var`` (a git token in a URL, for instance)."""
    if "{{" not in text:
        return text
    import jinja2

    from warehouse_ml.project.profiles import env_var

    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(env_var=env_var)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"cannot render a packages entry: {exc}.", path=path) from None


def install_path(root: Path, settings: ProjectSettings) -> Path:
    return root / (getattr(settings, "packages_install_path", None) or "dbt_packages")


# -- loading -----------------------------------------------------------------------------
def discover(root: Path, settings: ProjectSettings) -> list[Package]:
    """Every package the project loads: dbt_packages/ folders and ``local:`` entries.

    A ``local:`` package also present in dbt_packages/ (an earlier deps copy) loads from
    its source folder, so edits show without another deps run.
    """
    specs = read_specs(root)
    packages: dict[str, Package] = {}
    for spec in specs:
        if spec.kind != "local":
            continue
        folder = (root / spec.value).resolve()
        if not (folder / "dbt_project.yml").is_file():
            raise ConfigError(
                f"local package '{spec.value}' has no dbt_project.yml (looked in {folder}).",
                path=spec_file(root),
                hint="Point `local:` at the folder holding the package's dbt_project.yml.",
            )
        package = _load_package(folder, local=True)
        packages.setdefault(package.name, package)
    installed = install_path(root, settings)
    if installed.is_dir():
        for folder in sorted(installed.iterdir()):
            if folder.is_dir() and not folder.name.startswith((".", "__")):
                if not (folder / "dbt_project.yml").is_file():
                    log.warning("Warning: %s has no dbt_project.yml: not a package, skipped.", folder)
                    continue
                package = _load_package(folder, local=False)
                packages.setdefault(package.name, package)
    packages.pop(settings.name, None)  # `local: ../` of a package's own integration tests
    _check_installed(root, settings, specs, packages)
    return list(packages.values())


def _check_installed(
    root: Path, settings: ProjectSettings, specs: list[PackageSpec], packages: dict[str, Package]
) -> None:
    # dbt compares counts only (a git package's name is known once cloned); so do we.
    expected = [s for s in specs if not (s.kind == "local" and (root / s.value).resolve() == root.resolve())]
    if len(expected) > len(packages):
        path = spec_file(root)
        missing = len(expected) - len(packages)
        raise ConfigError(
            f"{len(expected)} package(s) are listed in {path.name if path else 'packages.yml'}, "
            f"but {missing} of them are not installed in {install_path(root, settings).name}/.",
            path=path,
            hint="Run `wml deps` (or `dbt deps`) to install them.",
        )


def _load_package(folder: Path, *, local: bool) -> Package:
    settings = read_package_settings(folder)
    return Package(settings.name, folder, settings, local=local)


def read_package_settings(folder: Path) -> ProjectSettings:
    """A package's ``dbt_project.yml`` as our settings (dbt's default folders)."""
    from warehouse_ml.dbt import project_file

    # Keys such as clean-targets or log-path concern the package's own development.
    return project_file.read(folder / project_file.FILE, lambda message: log.debug("%s: %s", folder.name, message))


def _files(root: Path, folders: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        base = root / folder
        if base.is_dir():
            out += sorted(p for p in base.rglob("*") if p.suffix in suffixes and p.is_file())
    return out


def load_package_nodes(project: Project, yaml_cache: t.Any) -> list[Package]:
    """Add every package's models, seeds, tests and YAML properties to ``project``."""
    from warehouse_ml.project import loader

    root, settings = project.root, project.settings
    packages = discover(root, settings)
    for package in packages:
        trees = {
            "models": settings.models, "seeds": settings.seeds,
            "tests": loader.tests_config_tree(settings), "snapshots": settings.snapshots,
        }
        overrides = {k: root_tree(tree, package.name) for k, tree in trees.items()}
        for node in loader._discover(root, package.settings, package.root, overrides):
            loader._add_unique(project.nodes, node, root)
        found = snapshots.discover(
            package.root, package.settings, project_root=root, override=overrides["snapshots"]
        )
        for node in found:
            loader._add_unique(project.nodes, node, root)
        for folder in loader._properties_paths(package.settings):
            for yml in _files(package.root, [folder], (".yml", ".yaml")):
                fqn = [package.name, *yml.parent.relative_to(package.root / folder).parts]
                loader._apply_properties(project, yml, yaml_cache, fqn, package.settings)
    return packages


def root_tree(tree: t.Any, package: str) -> dict[str, t.Any]:
    """What of the root project's config tree applies to ``package``'s nodes: its
    top-level ``+`` keys and the block under the package's name (not its own folders)."""
    if not isinstance(tree, dict):
        return {}
    out = {k: v for k, v in tree.items() if isinstance(k, str) and k.startswith("+")}
    if isinstance(tree.get(package), dict):
        out[package] = tree[package]
    return out


# -- vars --------------------------------------------------------------------------------
def vars_for(
    root_settings: ProjectSettings,
    package: Package | None,
    cli_vars: dict[str, t.Any] | None,
) -> dict[str, t.Any]:
    """``var()`` for a node of ``package`` (None: the root project), lowest first:

    the package's own vars (global, then scoped under its name), the root project's global
    vars, the root's ``vars: {<package>: {...}}``, then ``--vars``; dbt's documented
    precedence (https://docs.getdbt.com/docs/build/project-variables#variable-precedence).
    """
    name = package.name if package else root_settings.name
    merged: dict[str, t.Any] = {}
    layers = [package.settings.vars] if package else []
    layers.append(root_settings.vars)
    for layer in layers:
        merged.update(layer)
        scoped = layer.get(name)
        if isinstance(scoped, dict):
            merged.update(scoped)
    merged.update(cli_vars or {})
    return merged
