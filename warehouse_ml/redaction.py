"""Secrets never leave profiles.yml: the values to mask wherever wml writes text.

A secret is every value that came from ``env_var()`` (in profiles.yml or in a model) and
every value of a target field outside :data:`PUBLIC_FIELDS` (``password``, ``api_key``,
a DSN, anything under ``settings:``...). An allow-list, not a list of secret-sounding
names: a field we never heard of (``motherduck_token``) is a secret too. Artifacts, logs,
error messages and compiled SQL files pass through :func:`mask`; the SQL sent to the
database keeps the real values.

>>> register("s3cr3t-value")
>>> mask("password=s3cr3t-value")
'password=****'
"""

from __future__ import annotations

import json
import re
import threading
import typing as t
from urllib.parse import urlsplit

MASK = "****"
#: Target fields that are safe to write to artifacts and to read in models.
PUBLIC_FIELDS = ("type", "name", "schema", "threads", "path", "database")
# Shorter values would mask unrelated text ('dev', '4', 'eu'); no credential is that short.
MIN_LENGTH = 4
_DSN_PASSWORD = re.compile(r"(?:password|pwd)\s*=\s*'?([^\s';]+)", re.IGNORECASE)

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def register(value: t.Any) -> None:
    """Mask ``value`` (and every string inside it) from now on, in this process."""
    found = [s for s in _strings(value) if len(s) >= MIN_LENGTH]
    found += [p for s in found for p in _embedded_passwords(s) if len(p) >= MIN_LENGTH]
    forms = {f for s in found for f in (s, json.dumps(s)[1:-1])}  # as text and inside JSON
    if not forms - _secrets:
        return
    global _ordered
    with _lock:
        _secrets.update(forms)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def forget(values: t.Iterable[str]) -> None:
    """Values that are published anyway (a schema name that came from env_var)."""
    global _ordered
    with _lock:
        _secrets.difference_update(values)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``****``."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in _ordered)


def _strings(value: t.Any) -> t.Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _strings(item)


def _embedded_passwords(value: str) -> list[str]:
    """The password inside a URL DSN (``postgresql://u:pw@host``) or ``password=pw``."""
    found = _DSN_PASSWORD.findall(value)
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found
