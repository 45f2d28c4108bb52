"""profiles.yml: where to connect, as in dbt (profile -> target -> outputs).

The file is rendered with Jinja first so ``{{ env_var('PASSWORD') }}`` keeps secrets out
of the file. Only :data:`~warehouse_ml.redaction.PUBLIC_FIELDS` of a target reach
artifacts or models; every other value, and every env_var() value, is registered with
:mod:`warehouse_ml.redaction` so that logs, artifacts and compiled SQL mask it.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t
from pathlib import Path

import jinja2
import jinja2.nativetypes

from warehouse_ml import redaction
from warehouse_ml.errors import ConfigError, WmlError
from warehouse_ml.jinja.errors import wrap_template_error
from warehouse_ml.project.yamlio import expect_mapping, load_yaml_text

PROFILES_FILE = "profiles.yml"
# dbt-duckdb keys that name things rather than hold credentials (URL tokens still masked).
_PUBLIC_DUCKDB = ("extensions", "external_root", "attach")
_PUBLIC_ATTACH = ("path", "alias", "type", "read_only")


@dataclasses.dataclass
class Target:
    """One output of a profile: a database to build into."""

    name: str
    type: str
    schema: str
    threads: int
    settings: dict[str, t.Any]
    profile_path: Path

    @property
    def dialect(self) -> str:
        """The sqlglot dialect the target's engine runs (its type, e.g. duckdb, redshift)."""
        return self.type

    def redacted(self) -> dict[str, t.Any]:
        """The allow-listed fields, safe to log, write to artifacts and read in models."""
        public: dict[str, t.Any] = {
            "type": self.type, "name": self.name, "schema": self.schema, "threads": self.threads,
        }  # fmt: skip
        if "path" in self.settings:  # a DuckDB URL's ?options can hold a token
            public["path"] = str(self.settings["path"]).split("?", 1)[0]
        database = self.settings.get("database", self.settings.get("dbname"))
        if isinstance(database, (str, int)):
            public["database"] = str(database)
        return public

    def register_secrets(self) -> None:
        """Mask every non-public value (env_var() registered its own), but the public ones."""
        public = (*redaction.PUBLIC_FIELDS, *_PUBLIC_DUCKDB)
        redaction.register([v for k, v in self.settings.items() if k not in public])
        attach = self.settings.get("attach")
        paths = [self.settings.get("path", "")]
        for entry in attach if isinstance(attach, list) else []:
            if isinstance(entry, dict):  # options and secret names may hold credentials
                redaction.register([v for k, v in entry.items() if k not in _PUBLIC_ATTACH])
                paths.append(entry.get("path", ""))
            else:
                redaction.register(entry)
        for path in map(str, paths):
            if "?" in path:
                redaction.register(path.split("?", 1)[1])
        redaction.forget(str(v) for v in self.redacted().values())


#: Every variable env_var() read in this process (run/compile_state.py fingerprints them).
ENV_READS: set[str] = set()


def env_var(name: str, default: t.Any = None) -> str:
    """dbt's ``env_var``: the variable's value, the default, or a clear error.

    A value taken from the environment is masked in everything wml writes (a default is
    written in the file, so it is no secret).
    """
    ENV_READS.add(name)
    value = os.environ.get(name)
    if value is not None:
        redaction.register(value)
        return value
    if default is not None:
        return str(default)
    raise ConfigError(
        f"environment variable '{name}' is not set and env_var() has no default.",
        hint=f"Export {name} or give a default: env_var('{name}', 'value').",
    )


def find_profiles_file(profiles_dir: str | Path | None, project_dir: Path) -> Path:
    """Look in --profiles-dir, $WML_PROFILES_DIR, or else the project dir, ~/.wml/, then
    where dbt looks: $DBT_PROFILES_DIR and ~/.dbt/ (a dbt user's profiles work as is)."""
    candidates = profiles_candidates(profiles_dir, project_dir)
    for directory in candidates:
        path = directory / PROFILES_FILE
        if path.is_file():
            return path
    looked = ", ".join(str(c / PROFILES_FILE) for c in candidates)
    raise ConfigError(
        f"no profiles.yml found (looked in {looked}).",
        hint="Create one (wml init writes a DuckDB default) or pass --profiles-dir.",
    )


def profiles_candidates(profiles_dir: str | Path | None, project_dir: Path) -> list[Path]:
    """The folders :func:`find_profiles_file` looks in, first to last."""
    candidates: list[Path] = []
    if profiles_dir:
        candidates.append(Path(profiles_dir))
    elif os.environ.get("WML_PROFILES_DIR"):
        candidates.append(Path(os.environ["WML_PROFILES_DIR"]))
    else:
        candidates += [project_dir, Path.home() / ".wml"]
        if os.environ.get("DBT_PROFILES_DIR"):
            candidates.append(Path(os.environ["DBT_PROFILES_DIR"]))
        candidates.append(Path.home() / ".dbt")
    return candidates


def _environment() -> jinja2.Environment:
    env = _ProfileEnvironment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = env_var
    env.filters.update(
        as_text=lambda v: _Typed(str(v)),
        as_number=lambda v: _Typed(_number(v)),
        as_bool=lambda v: _Typed(_boolean(v)),
        as_native=lambda v: _Typed(_native(v)),
    )
    return env


class _Typed:
    """A value a dbt filter (``| as_number``, ...) typed: kept when it is all the text."""

    def __init__(self, value: t.Any):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)


def _concat(parts: t.Iterable[t.Any]) -> t.Any:
    parts = list(parts)
    if len(parts) == 1 and isinstance(parts[0], _Typed):
        return parts[0].value
    return "".join(str(p) for p in parts)


class _ProfileEnvironment(jinja2.nativetypes.NativeEnvironment):
    """Text by default, as dbt renders profiles; a typing filter keeps its type."""

    concat = staticmethod(_concat)  # type: ignore[assignment]


class _ProfileTemplate(jinja2.nativetypes.NativeTemplate):
    environment_class = _ProfileEnvironment


_ProfileEnvironment.template_class = _ProfileTemplate


def _number(value: t.Any) -> t.Any:
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _boolean(value: t.Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _native(value: t.Any) -> t.Any:
    import ast

    try:
        return ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return value


def _render_value(env: jinja2.Environment, value: t.Any, path: Path, where: str) -> t.Any:
    """One YAML value with its strings rendered, as dbt renders a profile's output."""
    if isinstance(value, dict):
        return {k: _render_value(env, v, path, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(env, v, path, where) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        return env.from_string(value).render()
    except (WmlError, jinja2.TemplateError) as exc:
        err = wrap_template_error(exc, str(path), None, ConfigError)
        err.message = f"{where}: {err.message}"
        err.path, err.line = str(path), _line_of(path, value)
        raise err from None


def _line_of(path: Path, value: str) -> int | None:
    """The file's line holding ``value`` (YAML keeps no lines once read)."""
    first = value.strip().splitlines()[0] if value.strip() else ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if first and first in line:
            return number
    return None


def render_profiles(path: Path) -> dict[str, t.Any]:
    """The whole file rendered as text, then read: profiles that are not YAML until
    rendered (``{% if %}`` blocks, unquoted ``{{ }}``), as wml always read them."""
    source = path.read_text(encoding="utf-8")
    name = str(path)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        loader=jinja2.FunctionLoader(lambda _: (source, name, lambda: True)),
    )
    env.globals["env_var"] = env_var
    for filt in ("as_text", "as_number", "as_bool", "as_native"):
        env.filters[filt] = _environment().filters[filt]
    try:
        rendered = env.get_template(name).render()
    except (WmlError, jinja2.TemplateError) as exc:
        raise wrap_template_error(exc, name, None, ConfigError) from None
    return expect_mapping(load_yaml_text(rendered, path), path, "profiles.yml")


def _read_profiles(path: Path) -> tuple[dict[str, t.Any], bool]:
    """(profiles, whether still to render): YAML first, as dbt reads it, so only the chosen
    target is rendered; a file that is YAML only once rendered is rendered whole."""
    try:
        raw = load_yaml_text(path.read_text(encoding="utf-8"), path)
    except ConfigError:
        return render_profiles(path), False
    return expect_mapping(raw, path, "profiles.yml"), True


def load_target(
    project_dir: Path,
    profile_name: str,
    profiles_dir: str | Path | None = None,
    target_name: str | None = None,
    warn: t.Callable[[str], None] | None = None,
) -> Target:
    """Resolve the target to build into."""
    warn = warn or _warn
    path = find_profiles_file(profiles_dir, project_dir)
    profiles, raw = _read_profiles(path)
    if "config" in profiles:  # dbt < 1.8 kept its global flags here: not a profile
        profiles = {k: v for k, v in profiles.items() if k != "config"}
        warn(f"{path}: the top-level `config:` block (dbt's global flags) is ignored.")
    if profile_name not in profiles:
        if len(profiles) == 1:
            profile_name = next(iter(profiles))
        else:
            raise ConfigError(
                f"profile '{profile_name}' not found; it has {sorted(profiles)}.",
                path=path,
                hint="Set `profile:` in the project file to one of them, or pass --profile.",
            )
    env = _environment()
    profile = expect_mapping(profiles[profile_name], path, f"profile '{profile_name}'")
    outputs = expect_mapping(profile.get("outputs"), path, f"profile '{profile_name}' outputs")
    default = profile.get("target") or "dev"
    if raw:
        default = _render_value(env, default, path, f"profile '{profile_name}' target")
    name = str(target_name or default)
    if name not in outputs:
        raise ConfigError(
            f"target '{name}' not found in profile '{profile_name}'; outputs are {sorted(outputs)}.",
            path=path,
            hint="Pass --target with one of them or add the output.",
        )
    output = expect_mapping(outputs[name], path, f"output '{name}'")
    if raw:
        output = _render_value(env, output, path, f"output '{name}'")
    settings = dict(output)
    kind = str(settings.pop("type", "duckdb"))
    schema = str(settings.pop("schema", "main"))
    threads = int(settings.pop("threads", 4))
    if kind == "duckdb":
        _duckdb_paths(settings, project_dir)
        _warn_ignored_duckdb_keys(settings, path, name, warn)
    target = Target(name, kind, schema, max(1, threads), settings, path)
    target.register_secrets()
    return target


def _local_path(value: str, project_dir: Path) -> str:
    """A relative file path taken from the project folder (wml runs from anywhere, with
    --project-dir; dbt-duckdb takes it from the current folder, which is the project's
    when dbt runs). URLs (``md:``, ``s3://``) and ``:memory:`` stay as written."""
    if value == ":memory:" or ":" in value.split("/", 1)[0] or Path(value).is_absolute():
        return value
    return str((project_dir / value).resolve())


def _duckdb_paths(settings: dict[str, t.Any], project_dir: Path) -> None:
    settings["path"] = _local_path(str(settings.get("path", "warehouse.duckdb")), project_dir)
    attach = settings.get("attach")
    if isinstance(attach, list):
        settings["attach"] = [
            {**a, "path": _local_path(str(a["path"]), project_dir)}
            if isinstance(a, dict) and "path" in a else a
            for a in attach
        ]  # fmt: skip


# dbt-duckdb output keys wml does not apply (the others: adapters/duckdb.py).
_DUCKDB_IGNORED = {
    "plugins": "dbt-duckdb plugins are Python modules of dbt-duckdb; wml does not load them",
    "filesystems": "fsspec filesystems are not registered",
    "module_paths": "Python modules are not loaded",
    "retries": "wml does not retry",
    "disable_transactions": "wml always builds in a transaction",
    "keep_open": "wml keeps one connection open for the whole command",
}


def _warn_ignored_duckdb_keys(
    settings: dict[str, t.Any], path: Path, output: str, warn: t.Callable[[str], None]
) -> None:
    for key in settings:
        if key in _DUCKDB_IGNORED:
            warn(f"{path}: output '{output}': `{key}` is ignored: {_DUCKDB_IGNORED[key]}.")


def _warn(message: str) -> None:
    import sys

    print(redaction.mask(f"Warning: {message}"), file=sys.stderr)
