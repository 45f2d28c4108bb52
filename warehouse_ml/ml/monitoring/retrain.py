"""The ``retrain:`` policy of an ML model: when a build trains a new version, and why.

Without a policy a model retrains whenever its training data change (the fingerprint of
its rows, query and settings), as before. A policy makes that explicit and adds triggers:

    retrain: {on_data_change: false, every: '30 days', on_drift: true, psi_threshold: 0.2}

A build trains a new version when there is none yet, when the model's query or settings
changed (a new definition always trains), or, when only its data changed, when a trigger
holds: ``on_data_change`` (default true), the deployed version being at least ``every``
old, or (``on_drift``) the newest recorded scoring run of the deployed version drifting
above ``psi_threshold`` on some column. Unchanged data never retrains (the same rows give
the same model); ``--full-refresh`` always does. The reason is stored with the version
(``wml.models.retrain_reason``) and shown by ``wml show``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import typing as t

from warehouse_ml.errors import ConfigError

KEYS = ("on_data_change", "every", "on_drift", "psi_threshold")
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(minute|hour|day|week)s?\s*$", re.I)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


@dataclasses.dataclass(frozen=True)
class Policy:
    on_data_change: bool = True
    every: dt.timedelta | None = None
    on_drift: bool = False
    psi_threshold: float = 0.2

    def describe(self) -> str:
        parts = [f"on_data_change: {str(self.on_data_change).lower()}"]
        if self.every is not None:
            parts.append(f"every: {_duration(self.every)}")
        if self.on_drift:
            parts.append(f"on_drift: true (PSI above {self.psi_threshold:g})")
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class Decision:
    train: bool
    reason: str


def parse(value: t.Any, *, path: t.Any = None, node: str | None = None) -> Policy:
    """``retrain:`` as written in config; an unknown key or a bad value names file and key."""
    if value is None:
        return Policy()

    def fail(message: str, hint: str) -> t.NoReturn:
        raise ConfigError(message, path=path, node=node, hint=hint)

    if not isinstance(value, dict):
        fail(f"retrain must be a mapping, got {value!r}.",
             "Write retrain: {on_data_change: false, every: '30 days', on_drift: true}.")  # fmt: skip
    for key in value:
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), KEYS, n=1)
            fail(f"unknown retrain key '{key}'.",
                 (f"Did you mean '{close[0]}'? " if close else "") + f"Keys: {', '.join(KEYS)}.")  # fmt: skip
    flags = {}
    for key in ("on_data_change", "on_drift"):
        raw = value.get(key, key == "on_data_change")
        if not isinstance(raw, bool):
            fail(f"retrain.{key} must be true or false, got {raw!r}.", f"Write {key}: true.")
        flags[key] = raw
    every = None
    if value.get("every") is not None:
        every = parse_every(value["every"])
        if every is None:
            fail(f"retrain.every must be a duration like '30 days', got {value['every']!r}.",
                 "Use a number and minutes, hours, days or weeks ('12 hours', '2 weeks'); a bare number is days.")  # fmt: skip
    threshold = value.get("psi_threshold", 0.2)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        fail(f"retrain.psi_threshold must be a positive number, got {threshold!r}.",
             "0.1 is a moderate shift, 0.2 (the default) a significant one.")  # fmt: skip
    return Policy(flags["on_data_change"], every, flags["on_drift"], float(threshold))


def parse_every(value: t.Any) -> dt.timedelta | None:
    """'30 days', '12 hours', '2 weeks', '90 minutes', or a number of days."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return dt.timedelta(days=float(value)) if value > 0 else None
    match = _EVERY.match(str(value))
    if not match or float(match.group(1)) <= 0:
        return None
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def _duration(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else f"{delta.total_seconds() / 3600:g} hours"


def definition_changed(deployed: t.Any, query_hash: str, settings: dict[str, t.Any]) -> bool:
    """Whether the model's query or training settings differ from the deployed version's."""
    if deployed.query_hash != query_hash:
        return True
    new = json.loads(json.dumps(settings, default=str))
    # Serving adds its own notes to a version's settings: compare the training keys only.
    old = {k: (deployed.settings or {}).get(k) for k in new}
    return _canonical(old) != _canonical(new)


def _canonical(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def decide(
    policy: Policy,
    deployed: t.Any | None,
    *,
    changed_definition: bool,
    now: dt.datetime | None = None,
    drift: t.Callable[[], str | None] = lambda: None,
) -> Decision:
    """Whether a build whose data differ from the deployed version's trains, and why.

    ``drift()`` names the worst drifting column of the newest scoring run above the
    policy's threshold (or None); it is asked only under ``on_drift``.
    """
    if deployed is None:
        return Decision(True, "first version")
    if changed_definition:
        return Decision(True, "the model's query or settings changed")
    reasons = []
    if policy.on_data_change:
        reasons.append("the training data changed")
    age = _age(deployed, now)
    if policy.every is not None and age is not None and age >= policy.every:
        reasons.append(
            f"scheduled: version {deployed.version} is {_duration(age)} old "
            f"(every {_duration(policy.every)})"
        )
    if policy.on_drift:
        found = drift()
        if found:
            reasons.append(f"drift: {found}")
    if reasons:
        return Decision(True, "; ".join(reasons))
    return Decision(False, _not_due(policy, deployed, age))


def _age(deployed: t.Any, now: dt.datetime | None) -> dt.timedelta | None:
    if deployed.created_at is None:
        return None
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now - deployed.created_at


def _not_due(policy: Policy, deployed: t.Any, age: dt.timedelta | None) -> str:
    why = []
    if policy.every is not None and age is not None:
        due = deployed.created_at + policy.every
        why.append(f"next scheduled retrain {due:%Y-%m-%d %H:%M} UTC")
    if policy.on_drift:
        why.append(f"no column drifts above PSI {policy.psi_threshold:g} in the newest scoring run")
    tail = f" ({'; '.join(why)})" if why else ""
    return (
        f"kept version {deployed.version}: the training data changed, but the retrain policy "
        f"({policy.describe()}) does not call for a new version yet{tail}"
    )


def for_build(con: t.Any, node: t.Any, name: str, query_hash: str, settings: dict[str, t.Any]) -> Decision:
    """The decision for an ML model node whose data differ from its deployed version's."""
    from warehouse_ml.ml import registry

    policy = parse(node.config.get("retrain"), path=node.path, node=node.name)
    cursor = con.cursor()
    try:
        deployed = next((v for v in registry.list_versions(cursor, name) if v.deployed), None)
    finally:
        cursor.close()
    changed = deployed is not None and definition_changed(deployed, query_hash, settings)

    def drift() -> str | None:
        from warehouse_ml.ml.monitoring import report

        return report.worst_drift(con, name, deployed.version, policy.psi_threshold)

    return decide(policy, deployed, changed_definition=changed, drift=drift)
