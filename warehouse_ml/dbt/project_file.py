"""``dbt_project.yml`` read into our own :class:`ProjectSettings`.

dbt's defaults apply (``models/``, ``seeds/``, ``tests/``, ...), config trees keep dbt's
shape (the project name as first level, ``+`` optional before a scalar config), and every
key dbt accepts is either honoured or reported as ignored: never a failure.
Keys: https://docs.getdbt.com/reference/dbt_project.yml
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from warehouse_ml.errors import ConfigError, WmlError
from warehouse_ml.project.yamlio import expect_mapping, load_yaml

if t.TYPE_CHECKING:
    from warehouse_ml.project.loader import ProjectSettings

FILE = "dbt_project.yml"

# dbt_project.yml key -> (ProjectSettings field, dbt's default).
_PATHS = {
    "model-paths": ("model_paths", ["models"]),
    "seed-paths": ("seed_paths", ["seeds"]),
    "test-paths": ("test_paths", ["tests"]),
    "macro-paths": ("macro_paths", ["macros"]),
    "snapshot-paths": ("snapshot_paths", ["snapshots"]),
    "analysis-paths": ("analysis_paths", ["analyses"]),
    "docs-paths": ("docs_paths", None),  # dbt: every resource path
}
# dbt < 1.0 spellings dbt still reads when the new key is absent.
_OLD_PATHS = {"source-paths": "model-paths", "data-paths": "seed-paths"}
# Config trees, as dbt nests them: resource type -> project/package -> folders -> node.
_TREES = {
    "models": "models",
    "seeds": "seeds",
    "snapshots": "snapshots",
    "sources": "sources",
    "tests": "data_tests",
    "data_tests": "data_tests",
}
# Keys dbt reads that change nothing wml does; each says why when present.
_IGNORED = {
    "clean-targets": "wml has no `clean` command; delete the folders yourself",
    "log-path": "wml writes no log files",
    "asset-paths": "wml generates no docs site to copy assets into",
    "function-paths": "user-defined SQL functions are not supported yet",
    "quoting": "wml always quotes identifiers the way the DuckDB adapter does",
    "restrict-access": "model groups and access are not enforced",
    "analyses": "analysis configs are not applied yet",
    "unit_tests": "project-level unit test configs are not applied yet",
    "metrics": "the semantic layer is not supported",
    "semantic-models": "the semantic layer is not supported",
    "saved-queries": "the semantic layer is not supported",
    "exposures": "exposure configs are not applied",
    "functions": "user-defined SQL functions are not supported yet",
    "packages": "declare packages in packages.yml",
}
# Keys with no run-time effect in dbt either.
_SILENT = {"version", "config-version", "dbt-cloud", "project-root"}


def read(
    path: Path,
    warn: t.Callable[[str], None],
    cli_vars: dict[str, t.Any] | None = None,
    target: dict[str, t.Any] | None = None,
) -> ProjectSettings:
    """The settings in ``path`` (a dbt_project.yml); ``warn`` hears each ignored key.

    Values are rendered as dbt renders the file: ``env_var()``, ``var()`` (the --vars
    only) and ``target`` (public fields), a result such as ``False`` read as a value;
    hooks, ``vars`` and ``query-comment`` are left for run time.
    """
    from warehouse_ml.project.loader import ProjectSettings

    raw = render(expect_mapping(load_yaml(path), path, FILE), path, cli_vars or {}, target)
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(
            f"`name` must be a project name (letters, digits, underscores), got {name!r}.",
            path=path,
            hint="dbt requires it: add `name: my_project` at the top of dbt_project.yml.",
        )
    settings = ProjectSettings(name=name, source_file=FILE, strict=False)
    # dbt's conventions: `schema: x` builds in <target schema>_x; seeds typed as dbt-duckdb.
    settings.schema_naming, settings.seed_type_inference = "dbt", "agate"
    settings.profile = _text(raw.get("profile"), "profile", path)
    for key, (attr, default) in _PATHS.items():
        value = raw.get(key)
        if value is None and key in _OLD_PATHS.values():
            old = next(k for k, v in _OLD_PATHS.items() if v == key)
            value = raw.get(old)
        setattr(settings, attr, _paths(value, key, path) if value is not None else default)
    if settings.docs_paths is None:
        settings.docs_paths = _unique(
            settings.model_paths + settings.seed_paths + settings.snapshot_paths
            + settings.analysis_paths + settings.macro_paths + settings.test_paths
        )  # fmt: skip
    settings.target_path = _text(raw.get("target-path"), "target-path", path) or "target"
    settings.packages_install_path = (
        _text(raw.get("packages-install-path"), "packages-install-path", path) or "dbt_packages"
    )
    # dbt's vars are global or scoped by package name; the project's own scope wins.
    settings.vars = dict(expect_mapping(raw.get("vars"), path, "vars"))
    if isinstance(settings.vars.get(name), dict):
        settings.vars.update(settings.vars[name])
    if raw.get("tests") and raw.get("data_tests"):
        raise ConfigError(
            "both `tests:` and `data_tests:` are set; dbt accepts only one.",
            path=path,
            hint="Move the `tests:` block under `data_tests:` (its newer name).",
        )
    for key, attr in _TREES.items():
        if key in raw:
            setattr(settings, attr, dbt_tree(expect_mapping(raw[key], path, key), name))
    settings.tests = settings.data_tests  # the singular tests read `tests` (loader.py)
    settings.on_run_start = _hooks(raw.get("on-run-start"), "on-run-start", path)
    settings.on_run_end = _hooks(raw.get("on-run-end"), "on-run-end", path)
    settings.dispatch = _dispatch(raw.get("dispatch"), path)
    settings.flags = expect_mapping(raw.get("flags"), path, "flags")
    settings.query_comment = raw.get("query-comment")
    settings.require_dbt_version = raw.get("require-dbt-version")
    settings.profile_api = raw.get("profile_api")  # wml's own block (serve/config.py)
    known = {*_PATHS, *_OLD_PATHS, *_TREES, *_SILENT, "name", "profile", "target-path"}
    known |= {"packages-install-path", "vars", "on-run-start", "on-run-end", "dispatch"}
    known |= {"flags", "query-comment", "require-dbt-version", "profile_api"}
    if settings.query_comment is not None:
        warn(f"{FILE}: `query-comment` is ignored: wml adds no comment to the SQL it runs.")
    if settings.flags:
        warn(f"{FILE}: `flags` ({', '.join(map(str, settings.flags))}) are ignored: they "
             "switch dbt-core behaviours that wml does not have.")
    for key in raw:
        if key in _IGNORED:
            warn(f"{FILE}: `{key}` is ignored: {_IGNORED[key]}.")
        elif key not in known:
            warn(f"{FILE}: unknown key `{key}` is ignored.")
    return settings


def profile_name(path: Path) -> str | None:
    """The ``profile:`` (else ``name:``) of a dbt_project.yml, read before the target is
    known (dbt reads it first too)."""
    raw = expect_mapping(load_yaml(path), path, FILE)
    value = raw.get("profile") or raw.get("name")
    rendered = _render_value(value, (), path, {}, None) if isinstance(value, str) else value
    return str(rendered) if rendered else None


# Rendered when used: hooks at run time, profile_api's token when `wml serve` starts.
_LATE = {"on-run-start", "on-run-end", "query-comment", "vars", "profile_api"}
_HOOKS = {"pre-hook", "post-hook", "pre_hook", "post_hook"}


def render(
    raw: dict[str, t.Any], path: Path, cli_vars: dict[str, t.Any], target: dict[str, t.Any] | None
) -> dict[str, t.Any]:
    return {
        k: v if k in _LATE else _render_value(v, (k,), path, cli_vars, target)
        for k, v in raw.items()
    }


def _render_value(
    value: t.Any, keypath: tuple[t.Any, ...], path: Path, cli_vars: dict[str, t.Any],
    target: dict[str, t.Any] | None,
) -> t.Any:  # fmt: skip
    if isinstance(value, dict):
        return {
            k: v if str(k).lstrip("+ ") in _HOOKS
            else _render_value(v, (*keypath, k), path, cli_vars, target)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_render_value(v, keypath, path, cli_vars, target) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    import ast

    import jinja2

    from warehouse_ml.jinja.errors import wrap_template_error
    from warehouse_ml.project.profiles import env_var

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(env_var=env_var, var=_var(cli_vars, keypath))
    if target is not None:
        from warehouse_ml.jinja.renderer import TargetContext

        env.globals["target"] = TargetContext(target)
    try:
        text = env.from_string(value).render()
    except (WmlError, jinja2.TemplateError) as exc:
        err = wrap_template_error(exc, str(path), None, ConfigError)
        err.message = f"`{'.'.join(map(str, keypath))}`: {err.message}"
        raise err from None
    try:  # dbt renders the file natively: "False" is a boolean, "3" a number
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _var(cli_vars: dict[str, t.Any], keypath: tuple[t.Any, ...]) -> t.Callable[..., t.Any]:
    missing = object()

    def var(name: str, default: t.Any = missing) -> t.Any:
        if name in cli_vars:
            return cli_vars[name]
        if default is not missing:
            return default
        raise ConfigError(
            f"var('{name}') in `{'.'.join(map(str, keypath))}` has no value: dbt_project.yml "
            "sees only --vars.",
            hint=f"Pass --vars '{{{name}: ...}}' or give a default: var('{name}', ...).",
        )

    return var


def dbt_tree(tree: dict[str, t.Any], project: str) -> dict[str, t.Any]:
    """A dbt config tree in the shape ``project/config.py:folder_config`` reads.

    dbt takes a key as config when it starts with ``+`` or its value is not a mapping,
    and as a folder (or package, or node) name otherwise; the first level under the
    resource type names a package. Here every config key gets its ``+`` and the
    project level always exists, so folder names never match outside it.
    """
    out = _plus(tree)
    out.setdefault(project, {})
    return out


def _plus(tree: dict[str, t.Any]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    for key, value in tree.items():
        key = str(key)
        if key.startswith("+"):
            out["+" + key[1:].strip()] = value
        elif isinstance(value, dict):
            out[key] = _plus(value)
        else:
            out["+" + key] = value
    return out


def _text(value: t.Any, key: str, path: Path) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"`{key}` must be text, got {value!r}.", path=path)


def _paths(value: t.Any, key: str, path: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _unique(value)
    raise ConfigError(f"`{key}` must be a list of folders, got {value!r}.", path=path)


def _unique(paths: list[str]) -> list[str]:
    seen: list[str] = []
    for p in paths:
        p = p.rstrip("/") or p
        if p not in seen:
            seen.append(p)
    return seen


def _hooks(value: t.Any, key: str, path: Path) -> list[str]:
    hooks = [] if value is None else value if isinstance(value, list) else [value]
    for i, hook in enumerate(hooks, start=1):
        if not isinstance(hook, str):
            raise ConfigError(
                f"{key} #{i} must be SQL text, got {hook!r}.",
                path=path,
                hint=f"Write {key}: \"<sql>\" or a list of SQL strings.",
            )
    return list(hooks)


def _dispatch(value: t.Any, path: Path) -> list[dict[str, t.Any]]:
    entries = value or []
    ok = isinstance(entries, list) and all(
        isinstance(e, dict)
        and isinstance(e.get("macro_namespace"), str)
        and isinstance(e.get("search_order"), list)
        for e in entries
    )
    if not ok:
        raise ConfigError(
            f"`dispatch` must be a list of {{macro_namespace, search_order}}, got {value!r}.",
            path=path,
            hint="e.g. dispatch: [{macro_namespace: dbt_utils, search_order: [my_project, "
            "dbt_utils]}].",
        )
    return [dict(e) for e in entries]
