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

from warehouse_ml import redaction
from warehouse_ml.errors import ConfigError, WmlError
from warehouse_ml.jinja.errors import wrap_template_error
from warehouse_ml.project.yamlio import expect_mapping, load_yaml_text

PROFILES_FILE = "profiles.yml"


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
        redaction.register(
            [v for k, v in self.settings.items() if k not in redaction.PUBLIC_FIELDS]
        )
        path = str(self.settings.get("path", ""))
        if "?" in path:
            redaction.register(path.split("?", 1)[1])
        redaction.forget(str(v) for v in self.redacted().values())


def env_var(name: str, default: t.Any = None) -> str:
    """dbt's ``env_var``: the variable's value, the default, or a clear error.

    A value taken from the environment is masked in everything wml writes (a default is
    written in the file, so it is no secret).
    """
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
    """Look in --profiles-dir, $WML_PROFILES_DIR, the project dir, then ~/.wml/."""
    candidates: list[Path] = []
    if profiles_dir:
        candidates.append(Path(profiles_dir))
    elif os.environ.get("WML_PROFILES_DIR"):
        candidates.append(Path(os.environ["WML_PROFILES_DIR"]))
    else:
        candidates += [project_dir, Path.home() / ".wml"]
    for directory in candidates:
        path = directory / PROFILES_FILE
        if path.is_file():
            return path
    looked = ", ".join(str(c / PROFILES_FILE) for c in candidates)
    raise ConfigError(
        f"no profiles.yml found (looked in {looked}).",
        hint="Create one (wml init writes a DuckDB default) or pass --profiles-dir.",
    )


def render_profiles(path: Path) -> dict[str, t.Any]:
    source = path.read_text(encoding="utf-8")
    name = str(path)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        loader=jinja2.FunctionLoader(lambda _: (source, name, lambda: True)),
    )
    env.globals["env_var"] = env_var
    try:
        rendered = env.get_template(name).render()
    except (WmlError, jinja2.TemplateError) as exc:
        raise wrap_template_error(exc, name, None, ConfigError) from None
    return expect_mapping(load_yaml_text(rendered, path), path, "profiles.yml")


def load_target(
    project_dir: Path,
    profile_name: str,
    profiles_dir: str | Path | None = None,
    target_name: str | None = None,
) -> Target:
    """Resolve the target to build into."""
    path = find_profiles_file(profiles_dir, project_dir)
    profiles = render_profiles(path)
    if profile_name not in profiles:
        if len(profiles) == 1:
            profile_name = next(iter(profiles))
        else:
            raise ConfigError(
                f"profile '{profile_name}' not found; it has {sorted(profiles)}.",
                path=path,
                hint="Set `profile:` in wml_project.yml to one of them.",
            )
    profile = expect_mapping(profiles[profile_name], path, f"profile '{profile_name}'")
    outputs = expect_mapping(profile.get("outputs"), path, f"profile '{profile_name}' outputs")
    name = target_name or profile.get("target") or "dev"
    if name not in outputs:
        raise ConfigError(
            f"target '{name}' not found in profile '{profile_name}'; outputs are {sorted(outputs)}.",
            path=path,
            hint="Pass --target with one of them or add the output.",
        )
    settings = dict(expect_mapping(outputs[name], path, f"output '{name}'"))
    kind = str(settings.pop("type", "duckdb"))
    schema = str(settings.pop("schema", "main"))
    threads = int(settings.pop("threads", 4))
    if kind == "duckdb":
        db_path = str(settings.get("path", "warehouse.duckdb"))
        if db_path != ":memory:" and not Path(db_path).is_absolute():
            db_path = str((project_dir / db_path).resolve())
        settings["path"] = db_path
    target = Target(name, kind, schema, max(1, threads), settings, path)
    target.register_secrets()
    return target
