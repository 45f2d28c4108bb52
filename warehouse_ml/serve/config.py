"""The ``profile_api:`` block of ``wml_project.yml`` (or ``dbt_project.yml``), validated.

Parsing is pure: no database, no environment. Token values stay as written (usually
``"{{ env_var('WML_API_TOKEN') }}"``) until :func:`resolve_tokens` renders them when the
server starts, so a build on a machine without the variable never fails because of them.

    profile_api:
      key: profile_id
      relations: [profile_traits, {name: customer_scores, columns: [churn_probability]}]
      audiences: [high_value_at_risk, {name: vip, relation: customer_scores, where: "..."}]
      recommendations: {relation: profile_recs, order_by: rank, columns: [product_id]}
      token: "{{ env_var('WML_API_TOKEN') }}"
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from warehouse_ml.errors import ConfigError

BLOCK = "profile_api"
#: Names the profile document uses itself: a relation cannot take them.
RESERVED = ("id", "audiences")
_TOP = {
    "key", "relations", "audiences", "recommendations", "token", "tokens", "max_batch",
    "max_page", "max_k", "in_memory", "keep_snapshots",
}  # fmt: skip
_RELATION = {"name", "key", "columns", "scope"}
_AUDIENCE = {"name", "relation", "key", "where", "columns", "scope"}
_RECS = {"relation", "key", "order_by", "columns", "scope", "max_k"}
_TOKEN = {"name", "token", "scopes"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclasses.dataclass(frozen=True)
class RelationSpec:
    """A relation served under its name in each profile: ``{"<name>": {column: value}}``."""

    name: str
    key: str
    columns: tuple[str, ...] | None  # None: every column but the key
    scope: str | None = None


@dataclasses.dataclass(frozen=True)
class AudienceSpec:
    """An audience: the rows of ``relation`` (those matching ``where``, a SQL condition
    in the project's dialect) are its members, as in Hightouch's audiences over a parent model."""

    name: str
    relation: str
    key: str
    where: str | None = None
    columns: tuple[str, ...] = ()  # listed beside each member's id in /v1/audiences/{name}
    scope: str | None = None


@dataclasses.dataclass(frozen=True)
class RecsSpec:
    """Recommendations: one row per (profile, item) in ``relation``, best first by ``order_by``."""

    relation: str
    key: str
    order_by: str
    columns: tuple[str, ...] | None
    max_k: int
    scope: str | None = None


@dataclasses.dataclass(frozen=True)
class TokenSpec:
    name: str
    template: str  # as written: rendered by resolve_tokens
    scopes: tuple[str, ...] | None  # None: every scope


@dataclasses.dataclass(frozen=True)
class ApiConfig:
    path: str  # the project file, for errors
    key: str
    relations: tuple[RelationSpec, ...]
    audiences: tuple[AudienceSpec, ...] = ()
    recommendations: RecsSpec | None = None
    tokens: tuple[TokenSpec, ...] = ()
    max_batch: int = 100
    max_page: int = 1000
    in_memory: str = "auto"  # auto | true | false
    keep_snapshots: int = 2

    def source_relations(self) -> list[str]:
        """Every project relation the snapshot reads (for "was a served relation rebuilt?")."""
        names = [r.name for r in self.relations] + [a.relation for a in self.audiences]
        if self.recommendations:
            names.append(self.recommendations.relation)
        return list(dict.fromkeys(names))


def parse(raw: t.Any, path: str) -> ApiConfig | None:
    """The block as an :class:`ApiConfig` (None when absent); every error names ``path``."""
    if raw is None:
        return None
    block = _mapping(raw, path, BLOCK)
    _known(block, _TOP, path, BLOCK)
    key = _name(block.get("key"), path, f"{BLOCK}.key")
    relations = tuple(_relation(e, i, key, path) for i, e in enumerate(_list(block, "relations", path)))
    if not relations:
        raise ConfigError(
            f"`{BLOCK}.relations` is empty: the API would serve nothing.",
            path=path,
            hint="List the models whose rows are profiles, e.g. relations: [profile_traits].",
        )
    _unique([r.name for r in relations], path, "relations")
    audiences = tuple(_audience(e, i, key, path) for i, e in enumerate(_list(block, "audiences", path)))
    _unique([a.name for a in audiences], path, "audiences")
    max_k = _int(block.get("max_k", 100), path, f"{BLOCK}.max_k", 1, 1000)
    recs = _recs(block.get("recommendations"), key, max_k, path)
    tokens = _tokens(block, path)
    in_memory = str(block.get("in_memory", "auto")).lower()
    if in_memory not in ("auto", "true", "false"):
        raise ConfigError(
            f"`{BLOCK}.in_memory` is {block.get('in_memory')!r}.",
            path=path,
            hint="Use auto (in memory up to 1,000,000 rows), true or false (DuckDB lookups).",
        )
    return ApiConfig(
        path=path, key=key, relations=relations, audiences=audiences, recommendations=recs,
        tokens=tokens, in_memory=in_memory,
        max_batch=_int(block.get("max_batch", 100), path, f"{BLOCK}.max_batch", 1, 10_000),
        max_page=_int(block.get("max_page", 1000), path, f"{BLOCK}.max_page", 1, 100_000),
        keep_snapshots=_int(block.get("keep_snapshots", 2), path, f"{BLOCK}.keep_snapshots", 2, 100),
    )  # fmt: skip


def _relation(entry: t.Any, i: int, key: str, path: str) -> RelationSpec:
    where = f"{BLOCK}.relations[{i}]"
    if isinstance(entry, str):
        entry = {"name": entry}
    entry = _mapping(entry, path, where)
    _known(entry, _RELATION, path, where)
    name = _name(entry.get("name"), path, f"{where}.name")
    if name in RESERVED:
        raise ConfigError(
            f"`{where}`: a relation cannot be named '{name}': the profile document uses that key.",
            path=path,
            hint=f"Rename the model, or serve another relation; reserved: {', '.join(RESERVED)}.",
        )
    return RelationSpec(
        name=name,
        key=_name(entry.get("key", key), path, f"{where}.key"),
        columns=_columns(entry.get("columns"), path, f"{where}.columns"),
        scope=_scope(entry.get("scope"), path, f"{where}.scope"),
    )


def _audience(entry: t.Any, i: int, key: str, path: str) -> AudienceSpec:
    where = f"{BLOCK}.audiences[{i}]"
    if isinstance(entry, str):
        entry = {"name": entry}
    entry = _mapping(entry, path, where)
    _known(entry, _AUDIENCE, path, where)
    name = _name(entry.get("name"), path, f"{where}.name")
    condition = entry.get("where")
    if condition is not None and (not isinstance(condition, str) or not condition.strip()):
        raise ConfigError(f"`{where}.where` must be a SQL condition (text).", path=path)
    return AudienceSpec(
        name=name,
        relation=_name(entry.get("relation", name), path, f"{where}.relation"),
        key=_name(entry.get("key", key), path, f"{where}.key"),
        where=condition,
        columns=_columns(entry.get("columns"), path, f"{where}.columns") or (),
        scope=_scope(entry.get("scope"), path, f"{where}.scope"),
    )


def _recs(entry: t.Any, key: str, max_k: int, path: str) -> RecsSpec | None:
    where = f"{BLOCK}.recommendations"
    if entry is None:
        return None
    entry = _mapping(entry, path, where)
    _known(entry, _RECS, path, where)
    return RecsSpec(
        relation=_name(entry.get("relation"), path, f"{where}.relation"),
        key=_name(entry.get("key", key), path, f"{where}.key"),
        order_by=_name(entry.get("order_by"), path, f"{where}.order_by"),
        columns=_columns(entry.get("columns"), path, f"{where}.columns"),
        max_k=_int(entry.get("max_k", max_k), path, f"{where}.max_k", 1, 1000),
        scope=_scope(entry.get("scope"), path, f"{where}.scope"),
    )


def _tokens(block: dict[str, t.Any], path: str) -> tuple[TokenSpec, ...]:
    tokens: list[TokenSpec] = []
    if block.get("token") is not None:
        tokens.append(TokenSpec("token", _template(block["token"], path, f"{BLOCK}.token"), None))
    for i, entry in enumerate(_list(block, "tokens", path)):
        where = f"{BLOCK}.tokens[{i}]"
        entry = _mapping(entry, path, where)
        _known(entry, _TOKEN, path, where)
        scopes = entry.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ConfigError(
                f"`{where}.scopes` must be a list of scope names.",
                path=path,
                hint="e.g. scopes: [recommendations]; the main `token:` has every scope.",
            )
        name = str(entry.get("name") or f"tokens[{i}]")
        tokens.append(TokenSpec(name, _template(entry.get("token"), path, f"{where}.token"), tuple(scopes)))
    return tuple(tokens)


def resolve_tokens(config: ApiConfig) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(name, secret, scopes) per token, rendering ``env_var()``; raises ConfigError
    naming the variable when one is unset. Values read are masked in everything wml prints."""
    import jinja2

    from warehouse_ml.project.profiles import env_var

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = env_var
    resolved = []
    for spec in config.tokens:
        try:
            secret = env.from_string(spec.template).render().strip()
        except ConfigError as exc:
            raise ConfigError(
                f"`{BLOCK}` {spec.name}: {exc.message}",
                path=config.path,
                hint=(exc.hint or "") + " Or pass --no-auth to serve on a loopback address "
                "without a token.",
            ) from None
        except jinja2.TemplateError as exc:
            raise ConfigError(f"`{BLOCK}` {spec.name}: {exc}.", path=config.path) from None
        if not secret:
            raise ConfigError(
                f"`{BLOCK}` {spec.name} is empty: every request would need an empty token.",
                path=config.path,
                hint="Set the environment variable to a long random value, e.g. "
                "`export WML_API_TOKEN=$(openssl rand -hex 32)`.",
            )
        resolved.append((spec.name, secret, spec.scopes))
    return resolved


# -- small validators ------------------------------------------------------------------------
def _mapping(value: t.Any, path: str, where: str) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"`{where}` must be a mapping, got {value!r}.", path=path)
    return value


def _known(entry: dict[str, t.Any], known: set[str], path: str, where: str) -> None:
    for key in entry:
        if key not in known:
            raise ConfigError(
                f"unknown key '{key}' in `{where}`.", path=path, hint=f"Known keys: {sorted(known)}."
            )


def _list(block: dict[str, t.Any], key: str, path: str) -> list[t.Any]:
    value = block.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"`{BLOCK}.{key}` must be a list, got {value!r}.", path=path)
    return value


def _name(value: t.Any, path: str, where: str) -> str:
    if value is None:
        raise ConfigError(f"`{where}` is required.", path=path)
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(
            f"`{where}` must be a name (letters, digits, underscores), got {value!r}.",
            path=path,
            hint="Name a model, seed or snapshot (or source.table), and its columns as they are.",
        )
    return value


def _columns(value: t.Any, path: str, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
        raise ConfigError(f"`{where}` must be a non-empty list of column names.", path=path)
    if len(set(value)) != len(value):
        raise ConfigError(f"`{where}` names a column twice.", path=path)
    return tuple(value)


def _scope(value: t.Any, path: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`{where}` must be a scope name (text).", path=path)
    return value


def _int(value: t.Any, path: str, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"`{where}` must be a whole number from {low} to {high}, got {value!r}.", path=path)
    return value


def _template(value: t.Any, path: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"`{where}` must be text, e.g. \"{{{{ env_var('WML_API_TOKEN') }}}}\".", path=path
        )
    if "{{" not in value:
        raise ConfigError(
            f"`{where}` is written in the project file: a token there is in version control.",
            path=path,
            hint="Read it from the environment: token: \"{{ env_var('WML_API_TOKEN') }}\".",
        )
    return value


def _unique(names: list[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"`{BLOCK}.{what}` lists '{name}' twice.", path=path)
        seen.add(name)
