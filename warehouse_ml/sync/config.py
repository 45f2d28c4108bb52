"""A sync's destination rendered when it runs: ``env_var()`` and ``var()`` filled in.

Rendering happens here and nowhere else, so a secret read by ``env_var()`` exists only in
this process's memory while the sync runs; ``profiles.env_var`` registers every value it
reads with :mod:`warehouse_ml.redaction`, so logs and errors show ``****`` instead.
"""

from __future__ import annotations

import typing as t

import jinja2
import jinja2.sandbox

from warehouse_ml.errors import ConfigError, WmlError
from warehouse_ml.project import syncs
from warehouse_ml.project.profiles import env_var
from warehouse_ml.project.syncs import SyncSpec

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "", "none")


class Renderer:
    """Renders sync templates with ``env_var``, ``var`` (the project's and --vars)."""

    def __init__(self, variables: t.Mapping[str, t.Any]):
        self.variables = dict(variables)
        self.env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
        self.env.globals.update(env_var=env_var, var=self._var)

    def _var(self, name: str, default: t.Any = None) -> t.Any:
        if name in self.variables:
            return self.variables[name]
        if default is not None:
            return default
        raise ConfigError(f"var('{name}') has no value and no default.")

    def value(self, spec: SyncSpec, value: t.Any, where: str) -> t.Any:
        if isinstance(value, dict):
            return {k: self.value(spec, v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(spec, v, where) for v in value]
        if not syncs.is_template(value):
            return value
        try:
            return self.env.from_string(value).render()
        except WmlError as exc:
            raise ConfigError(f"sync '{spec.name}' {where}: {exc.message}", path=spec.path,
                              hint=exc.hint) from None  # fmt: skip
        except jinja2.TemplateError as exc:
            raise ConfigError(f"sync '{spec.name}' {where}: {exc}.", path=spec.path) from None


def enabled(spec: SyncSpec, renderer: Renderer) -> bool:
    """``enabled:`` as rendered now (a template such as ``{{ env_var('X', '') != '' }}``)."""
    value = renderer.value(spec, spec.enabled, "enabled")
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(
        f"sync '{spec.name}': `enabled:` rendered {value!r}, which is not true or false.",
        path=spec.path,
    )


def destination(spec: SyncSpec, renderer: Renderer) -> dict[str, t.Any]:
    """The destination with its templates rendered, typed and checked again."""
    rendered = renderer.value(spec, spec.destination, "destination")
    out = {key: _typed(key, value) if syncs.is_template(spec.destination.get(key)) else value
           for key, value in rendered.items()}  # fmt: skip

    def fail(message: str, hint: str | None = None) -> t.NoReturn:
        raise ConfigError(f"sync '{spec.name}': {message}", path=spec.path, hint=hint)

    syncs.check_destination(out, fail, rendered=True)
    return out


def _typed(key: str, text: t.Any) -> t.Any:
    """A rendered template is text; numbers and booleans are read back as such."""
    if not isinstance(text, str):
        return text
    if key in syncs.NUMBERS:
        try:
            return int(text) if text.strip().lstrip("-").isdigit() else float(text)
        except ValueError:
            return text  # the check names the key and the value
    if key in syncs.BOOLEANS and text.strip().lower() in _TRUE + _FALSE:
        return text.strip().lower() in _TRUE
    return text
