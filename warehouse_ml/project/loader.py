"""Load a project folder: its settings, its files, and the YAML that describes them.

This step reads files only; rendering (refs, config) happens in ``jinja/renderer.py``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing as t
from pathlib import Path, PurePosixPath

from warehouse_ml import redaction
from warehouse_ml.dbt import docs_blocks, project_file
from warehouse_ml.errors import ConfigError, located
from warehouse_ml.project import config as cfg
from warehouse_ml.project import generic_tests, snapshots, syncs, unit_test_specs
from warehouse_ml.project.nodes import Node, NodeKind, SourceTable
from warehouse_ml.project.yamlio import ParsedYamlCache, expect_mapping, load_yaml

PROJECT_FILE = "wml_project.yml"
DIALECTS = ("duckdb", "redshift", "postgres", "snowflake", "bigquery")
_PATH_LISTS = (
    "model_paths", "macro_paths", "seed_paths", "test_paths", "snapshot_paths",
    "analysis_paths", "docs_paths",
)  # fmt: skip


@dataclasses.dataclass
class ProjectSettings:
    """``wml_project.yml`` (every key optional) or ``dbt_project.yml`` (dbt/project_file.py)."""

    name: str = "warehouse_ml"
    profile: str | None = None
    sql_dialect: str = "duckdb"
    model_paths: list[str] = dataclasses.field(default_factory=lambda: ["models_sql"])
    macro_paths: list[str] = dataclasses.field(default_factory=lambda: ["macros"])
    seed_paths: list[str] = dataclasses.field(default_factory=lambda: ["seeds"])
    test_paths: list[str] = dataclasses.field(default_factory=lambda: ["tests/sql"])
    target_path: str = "target"
    vars: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    models: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    seeds: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    tests: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    # dbt_project.yml keys (warehouse_ml/dbt/project_file.py); wml_project.yml takes them too.
    snapshot_paths: list[str] = dataclasses.field(default_factory=lambda: ["snapshots"])
    analysis_paths: list[str] = dataclasses.field(default_factory=lambda: ["analyses"])
    docs_paths: list[str] = dataclasses.field(default_factory=list)
    on_run_start: list[str] = dataclasses.field(default_factory=list)
    on_run_end: list[str] = dataclasses.field(default_factory=list)
    dispatch: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    flags: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    query_comment: t.Any = None
    packages_install_path: str = "dbt_packages"
    snapshots: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    sources: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    data_tests: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    require_dbt_version: t.Any = None
    #: The ``profile_api:`` block as written (serve/config.py validates it; its token
    #: stays unrendered until `wml serve` starts, so builds never need the variable).
    profile_api: t.Any = None
    #: The file the settings came from: "wml_project.yml", "dbt_project.yml" or "".
    source_file: str = ""
    #: wml's own format fails on an unknown config key or a YAML entry for a missing
    #: file; dbt_project.yml projects get a warning, as dbt gives.
    strict: bool = True
    # How `schema: x` names a schema without a generate_schema_name macro: "verbatim"
    # (wml: `x`) or "dbt" (`<target.schema>_x`); the dbt reader sets "dbt".
    schema_naming: str = "verbatim"
    # How seeds' column types are found: "sniff" (DuckDB's sniffer, wml's format) or
    # "agate" (the types dbt-duckdb gives: integer, float8, ...); the dbt reader sets "agate".
    seed_type_inference: str = "sniff"


@dataclasses.dataclass
class Project:
    root: Path
    settings: ProjectSettings
    nodes: dict[str, Node]
    sources: dict[tuple[str, str], SourceTable]
    macro_files: list[Path]
    packages: list[t.Any] = dataclasses.field(default_factory=list)  # dbt/packages.py Package
    _warned: set[str] = dataclasses.field(default_factory=set, repr=False)
    #: dbt's exposures by name: name, type, owner, description, depends_on (as written).
    exposures: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    #: ``syncs:`` entries by name, as written (project/syncs.py validates them).
    syncs: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)

    @property
    def target_dir(self) -> Path:
        return self.root / self.settings.target_path

    def warn(self, message: str) -> None:
        """A load-time warning, printed once per project load."""
        if message not in self._warned:
            self._warned.add(message)
            _warn(message)

    def validate_config(self, config: dict[str, t.Any], *, path: t.Any, node: str | None) -> None:
        """``config.validate`` with this project's policy (see ProjectSettings.strict)."""
        cfg.validate(config, path=path, node=node, warn=self.warn, strict=self.settings.strict)


def load_settings(
    root: Path,
    warn: t.Callable[[str], None] | None = None,
    cli_vars: dict[str, t.Any] | None = None,
    target: dict[str, t.Any] | None = None,
) -> ProjectSettings:
    """The settings of the project at ``root``: wml_project.yml, else dbt_project.yml
    (rendered with ``cli_vars`` and the ``target``'s public fields, as dbt renders it)."""
    warn = warn or _warn
    path = _project_file(root)
    if path.name == PROJECT_FILE:
        if (root / project_file.FILE).is_file():
            warn(
                f"{root} has both {PROJECT_FILE} and {project_file.FILE}: {PROJECT_FILE} "
                f"wins and {project_file.FILE} is not read."
            )
        return _load_wml_settings(path)
    return project_file.read(path, warn, cli_vars, target)


def profile_name(root: str | Path) -> str:
    """The profile the project at ``root`` builds with (read before its target is)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"project directory {root} does not exist.", hint="Pass --project-dir.")
    path = _project_file(root)
    if path.name == project_file.FILE:
        return project_file.profile_name(path) or root.name
    raw = expect_mapping(load_yaml(path), path, PROJECT_FILE)
    return str(raw.get("profile") or raw.get("name") or ProjectSettings().name)


def _project_file(root: Path) -> Path:
    for name in (PROJECT_FILE, project_file.FILE):
        if (root / name).is_file():
            return root / name
    raise ConfigError(
        f"{root} is not a project: it has no {PROJECT_FILE} or {project_file.FILE}.",
        hint="Run wml in a project folder, pass --project-dir, or create a project with "
        "`wml init`.",
    )


def _warn(message: str) -> None:
    print(redaction.mask(f"Warning: {message}"), file=sys.stderr)


def _load_wml_settings(path: Path) -> ProjectSettings:
    raw = expect_mapping(load_yaml(path), path, PROJECT_FILE)
    fields = {f.name for f in dataclasses.fields(ProjectSettings)} - {"source_file", "strict"}
    values: dict[str, t.Any] = {"source_file": PROJECT_FILE}
    for key, value in raw.items():
        attr = key.replace("-", "_")
        if attr not in fields:
            raise ConfigError(
                f"unknown key '{key}'.", path=path, hint=f"Known keys: {sorted(fields)}."
            )
        values[attr] = value
    settings = ProjectSettings(**values)
    if settings.sql_dialect not in DIALECTS:
        raise ConfigError(
            f"sql_dialect '{settings.sql_dialect}' is not supported.",
            path=path,
            hint=f"Use one of: {', '.join(DIALECTS)}.",
        )
    if settings.schema_naming not in ("verbatim", "dbt"):
        raise ConfigError(
            f"schema_naming '{settings.schema_naming}' is not supported.",
            path=path,
            hint="Use verbatim (schema: x builds in x) or dbt (in <target schema>_x).",
        )
    if settings.seed_type_inference not in ("sniff", "agate"):
        raise ConfigError(
            f"seed_type_inference '{settings.seed_type_inference}' is not supported.",
            path=path,
            hint="Use sniff (DuckDB's CSV sniffer) or agate (the types dbt-duckdb gives).",
        )
    for attr in _PATH_LISTS:
        value = getattr(settings, attr)
        setattr(settings, attr, [value] if isinstance(value, str) else list(value))
    return settings


def load_project(
    root: str | Path,
    cli_vars: dict[str, t.Any] | None = None,
    target: dict[str, t.Any] | None = None,
) -> Project:
    """Read every file of the project at ``root`` into nodes (not yet rendered);
    ``cli_vars`` and ``target`` (public fields) render dbt_project.yml."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"project directory {root} does not exist.", hint="Pass --project-dir.")
    project = Project(root, ProjectSettings(), {}, {}, [])
    settings = project.settings = load_settings(root, project.warn, cli_vars, target)
    nodes = project.nodes
    for node in _discover(root, settings):
        _add_unique(nodes, node, root)
    yaml_cache = ParsedYamlCache(root / settings.target_path / "yaml_cache")
    for folder in _properties_paths(settings):
        for yml in _files(root, [folder], (".yml", ".yaml")):
            fqn = [settings.name, *yml.parent.relative_to(root / folder).parts]
            _apply_properties(project, yml, yaml_cache, fqn)
    project.macro_files = list(_files(root, settings.macro_paths, (".sql",)))
    # `{% test %}` blocks in <test path>/generic/ are macros, as in dbt.
    project.macro_files += _files(root, [f"{p}/generic" for p in settings.test_paths], (".sql",))
    from warehouse_ml.dbt.packages import load_package_nodes

    project.packages = load_package_nodes(project, yaml_cache)
    for node in nodes.values():  # every node kind: the root project's unless a package's
        node.package_name = node.package_name or settings.name
    docs_blocks.apply(project)  # {{ doc('...') }} in descriptions
    return project


# YAML sections of dbt properties files that wml reads without applying (warned once).
IGNORED_SECTIONS = {
    "semantic_models": "dbt's semantic layer (MetricFlow) is not part of wml",
    "metrics": "dbt's semantic layer (MetricFlow) is not part of wml",
    "saved_queries": "dbt's semantic layer (MetricFlow) is not part of wml",
    "groups": "model groups and access are not enforced",
    "macros": "macro properties are documentation only (wml macros document themselves)",
}


def _properties_paths(settings: ProjectSettings) -> list[str]:
    """Folders whose YAML files hold properties: models', seeds' and snapshots' in wml's
    format; in a dbt project also analyses' and tests' (dbt reads YAML in every
    resource path; macros' YAML documents macros only)."""
    paths = settings.model_paths + settings.seed_paths + settings.snapshot_paths
    if not settings.strict:
        paths += settings.analysis_paths + settings.test_paths
    return list(dict.fromkeys(paths))


def _files(root: Path, folders: list[str], suffixes: tuple[str, ...]) -> t.Iterator[Path]:
    for folder in folders:
        base = root / folder
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*") if p.suffix in suffixes and p.is_file())


def _discover(
    root: Path, settings: ProjectSettings, base_dir: Path | None = None,
    overrides: dict[str, t.Any] | None = None,
) -> t.Iterator[Node]:
    """The files of a project; for a dbt package, ``base_dir`` is its folder and
    ``overrides`` the root project's config trees that apply over the package's own."""
    base_dir = base_dir or root
    kinds = (
        (settings.model_paths, ".sql", NodeKind.MODEL, settings.models, "models"),
        (settings.seed_paths, ".csv", NodeKind.SEED, settings.seeds, "seeds"),
        (settings.test_paths, ".sql", NodeKind.TEST, tests_config_tree(settings), "tests"),
        (settings.analysis_paths, ".sql", NodeKind.ANALYSIS, {}, None),
    )
    for folders, suffix, kind, tree, section in kinds:
        trees = [tree, *([overrides[section]] if overrides and section else [])]
        for folder in folders:
            base = base_dir / folder
            if not base.is_dir():
                continue
            for path in sorted(base.rglob(f"*{suffix}")):
                rel = PurePosixPath(path.relative_to(base).as_posix())
                if kind is NodeKind.TEST and rel.parts[0] in ("generic", "fixtures"):
                    continue  # dbt: generic test definitions ({% test %}) and unit test fixtures
                config = cfg.merge(*(cfg.folder_config(tree, rel, settings.name) for tree in trees))
                if kind is NodeKind.SEED:
                    config.setdefault("materialized", "seed")
                elif kind is NodeKind.MODEL:
                    config.setdefault("materialized", "view")
                node = Node(path.stem, kind, _relative(path, root), config=config)
                node.fqn = [settings.name, *rel.parent.parts, path.stem]
                node.package_name = settings.name
                if kind is not NodeKind.SEED:
                    with located(node.fqn_path, node.name, kind.value):
                        node.raw_sql = path.read_text(encoding="utf-8")
                yield node
    if base_dir == root:  # a package's snapshots: dbt/packages.py, with the root's override
        yield from snapshots.discover(root, settings)


def _relative(path: Path, root: Path) -> Path:
    """Relative to the project root; a ``local: ../`` package's files get ``../``."""
    if ".." not in path.parts:  # most files: no getcwd() call, as os.path.relpath makes
        try:
            return path.relative_to(root)
        except ValueError:
            pass
    return Path(os.path.relpath(path, root))


def _add_unique(nodes: dict[str, Node], node: Node, root: Path) -> None:
    key = node.unique_id
    clash = nodes.get(key) or _other_kind_clash(nodes, node)
    if clash is not None:
        raise ConfigError(
            f"two resources are named '{node.name}': {clash.fqn_path} and {node.fqn_path}.",
            path=node.path,
            node=node.name,
            hint="Rename one file: names must be unique across folders, as refs use the name only.",
        )
    nodes[key] = node


def _other_kind_clash(nodes: dict[str, Node], node: Node) -> Node | None:
    """A seed and a model with one name would make ``ref`` ambiguous."""
    if node.kind in (NodeKind.TEST, NodeKind.ANALYSIS):
        return None
    for kind in (NodeKind.SEED, NodeKind.MODEL, NodeKind.SNAPSHOT):
        other = nodes.get(f"{kind.value}.{node.name}")
        if other is not None and other.kind is not node.kind:
            return other
    return None


def _apply_properties(
    project: Project, yml: Path, yaml_cache: ParsedYamlCache, fqn: list[str],
    settings: ProjectSettings | None = None,
) -> None:
    """Descriptions, config and tests from one YAML file; ``fqn`` is its folder's (its
    first part the project or package the file belongs to)."""
    root, nodes = project.root, project.nodes
    rel = _relative(yml, root)
    doc = expect_mapping(yaml_cache.load(yml), rel, "a properties file")
    settings = settings or project.settings  # a dbt package's own for its files
    tests_tree, name = tests_config_tree(settings), settings.name
    sections = (
        ("models", NodeKind.MODEL), ("seeds", NodeKind.SEED), ("snapshots", NodeKind.SNAPSHOT),
        ("analyses", NodeKind.ANALYSIS),
    )  # fmt: skip
    for section, kind in sections:
        for entry in _entries(doc.get(section), rel, section):
            node = nodes.get(f"{kind.value}.{entry['name']}")
            if node is None and kind is NodeKind.SNAPSHOT and "relation" in entry:
                node = snapshots.from_yaml(project.settings, entry, rel, tuple(fqn[1:]))
                _add_unique(nodes, node, root)
                entry = {k: v for k, v in entry.items() if k != "config"}  # merged already
            if node is None:
                _missing_file(project, rel, section, kind, entry["name"])
                continue
            _describe(project, node, entry, rel)
            for test in generic_tests.from_properties(node, entry, rel, fqn, tests_tree, name):
                test.package_name = fqn[0]
                _add_unique(nodes, test, root)
    for entry in _entries(doc.get("exposures"), rel, "exposures"):
        project.exposures[entry["name"]] = {**entry, "path": rel, "fqn": [*fqn, entry["name"]]}
    for entry in _entries(doc.get("syncs"), rel, "syncs"):
        syncs.read_entry(project, entry, rel, fqn)
    for section, why in IGNORED_SECTIONS.items():
        if doc.get(section):
            project.warn(f"{rel}: `{section}:` is accepted and ignored: {why}.")
    for entry in _entries(doc.get("sources"), rel, "sources"):
        for table in _entries(entry.get("tables"), rel, f"source '{entry['name']}' tables"):
            src = _source_table(project, entry, table, rel, fqn)
            project.sources[(src.source, src.name)] = src
            for test in generic_tests.from_source(src, table, rel, fqn, tests_tree, name):
                test.package_name = fqn[0]
                _add_unique(nodes, test, root)
    for test in unit_test_specs.from_properties(
        doc.get("unit_tests"),
        rel,
        nodes,
        fqn,
        [root / p / "fixtures" for p in settings.test_paths],
        project.warn,
    ):
        _add_unique(nodes, test, root)


def tests_config_tree(settings: ProjectSettings) -> dict[str, t.Any]:
    """The project file's ``tests:`` and ``data_tests:`` blocks as one config tree."""
    tree = dict(settings.tests or {})
    for key, value in (getattr(settings, "data_tests", None) or {}).items():
        both = tree.get(key)
        tree[key] = {**both, **value} if isinstance(both, dict) and isinstance(value, dict) else value
    return tree


def _external_location(entry: dict[str, t.Any], table: dict[str, t.Any], rel: Path) -> str | None:
    """dbt-duckdb's ``external_location`` (table meta/config over the source's), with its
    ``{name}``, ``{identifier}``, ``{schema}`` and meta placeholders filled (``str.format``)."""
    meta: dict[str, t.Any] = {}
    for layer in (entry, table):
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        for value in (layer.get("meta"), config, config.get("meta")):
            if isinstance(value, dict):
                meta.update({k: v for k, v in value.items() if k != "meta"})
        if layer.get("external_location"):
            meta["external_location"] = layer["external_location"]
    template = meta.get("external_location")
    if not template:
        return None
    values = {
        "name": table["name"],
        "identifier": str(table.get("identifier", table["name"])),
        "schema": str(table.get("schema", entry.get("schema", entry["name"]))),
        "database": entry.get("database"),
        "tags": table.get("tags", []),
        **meta,
    }
    try:
        return str(template).format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"external_location {template!r} of source '{entry['name']}.{table['name']}' has "
            f"a placeholder with no value: {exc}.",
            path=rel,
            hint="Use {name}, {identifier}, {schema} or a key of the source's meta.",
        ) from None


def _missing_file(project: Project, rel: Path, section: str, kind: NodeKind, name: str) -> None:
    message = f"{section} entry '{name}' has no matching file."
    hint = f"Create the {kind.value} file or fix the name."
    if project.settings.strict:
        raise ConfigError(message, path=rel, hint=hint)
    project.warn(f"{rel}: {message} {hint}")  # dbt warns and goes on


def _source_table(
    project: Project, entry: dict[str, t.Any], table: dict[str, t.Any], rel: Path,
    fqn: list[str],
) -> SourceTable:  # fmt: skip
    """One source table, its config merged as dbt does: the project's ``sources:`` tree,
    then the source's ``config:``, then the table's (freshness and loaded_at_field also
    as plain keys; a table's ``freshness: null`` turns the source's off)."""
    settings = project.settings
    table_fqn = [*fqn, entry["name"], table["name"]]
    tree = cfg.folder_config(settings.sources, PurePosixPath(*table_fqn[1:]), settings.name)
    layers = [tree]
    for level in (entry, table):
        plain = {k: level[k] for k in ("freshness", "loaded_at_field") if k in level}
        layers += [plain, expect_mapping(level.get("config"), rel, "source config")]
    config = cfg.merge(*layers)
    freshness = _merge_freshness([layer for layer in layers if "freshness" in layer])
    if freshness is not None or "freshness" in config:
        config["freshness"] = freshness
    return SourceTable(
        source=entry["name"],
        name=table["name"],
        schema=str(table.get("schema", entry.get("schema", entry["name"]))),
        identifier=str(table.get("identifier", table["name"])),
        external_location=_external_location(entry, table, rel),
        path=rel,
        columns={c["name"]: c for c in _entries(table.get("columns"), rel, "columns")},
        config=config,
        fqn=table_fqn,
        description=str(table.get("description", entry.get("description", "")) or ""),
    )


def _merge_freshness(layers: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    """dbt merges freshness key by key (warn_after and error_after one level deeper);
    ``freshness: null`` at a level turns it off there and below."""
    merged: dict[str, t.Any] | None = None
    for layer in layers:
        value = layer["freshness"]
        if value is None or not isinstance(value, dict):
            merged = None
            continue
        merged = dict(merged or {})
        for key, sub in value.items():
            old = merged.get(key)
            both = isinstance(old, dict) and isinstance(sub, dict)
            merged[key] = {**old, **sub} if both else sub
    return merged


def _describe(project: Project, node: Node, entry: dict[str, t.Any], rel: Path) -> None:
    layer = expect_mapping(entry.get("config"), rel, f"config of '{node.name}'")
    project.validate_config(cfg.normalise(layer), path=rel, node=node.name)
    node.config = cfg.merge(node.config, layer)
    node.description = str(entry.get("description", ""))
    node.patch_path = Path(rel).as_posix()
    node.columns = {c["name"]: c for c in _entries(entry.get("columns"), rel, "columns")}
    node.constraints = list(entry.get("constraints") or [])


def _entries(value: t.Any, path: Path, what: str) -> list[dict[str, t.Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) and "name" in v for v in value):
        raise ConfigError(f"{what} must be a list of mappings, each with a 'name'.", path=path)
    return value
