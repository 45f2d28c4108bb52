"""The small members of dbt's Jinja context: JSON/YAML helpers, ``zip``/``set``,
``local_md5``, the profile filters, ``modules``, ``log``/``print``, ``exceptions`` and
``flags``. Each follows dbt's documented behaviour (a ``default`` instead of an error
where dbt has one)."""

from __future__ import annotations

import collections.abc
import datetime as dt
import hashlib
import itertools
import json
import re
import sys
import typing as t

from warehouse_ml import redaction
from warehouse_ml.errors import CompilationError


def fromjson(value: str, default: t.Any = None) -> t.Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def tojson(value: t.Any, default: t.Any = None, sort_keys: bool = False) -> t.Any:
    try:
        return json.dumps(value, sort_keys=sort_keys, default=json_default)
    except (TypeError, ValueError):
        return default


def json_default(value: t.Any) -> t.Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, collections.abc.Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def fromyaml(value: str, default: t.Any = None) -> t.Any:
    import yaml

    try:
        return yaml.safe_load(value)
    except (yaml.YAMLError, TypeError, AttributeError):
        return default


def toyaml(value: t.Any, default: t.Any = None, sort_keys: bool = False) -> t.Any:
    import yaml

    try:
        return yaml.safe_dump(value, sort_keys=sort_keys)
    except yaml.YAMLError:
        return default


def zip_lenient(*args: t.Any, default: t.Any = None) -> t.Any:
    try:
        return list(zip(*args))  # noqa: B905 - dbt zip is lenient
    except TypeError:
        return default


def zip_strict(*args: t.Any) -> list[tuple[t.Any, ...]]:
    try:
        return list(zip(*args))  # noqa: B905 - as dbt, lengths may differ
    except TypeError as exc:
        raise CompilationError(f"zip_strict: {exc}") from None


def set_lenient(value: t.Any, default: t.Any = None) -> t.Any:
    try:
        return set(value)
    except TypeError:
        return default


def set_strict(value: t.Any) -> set[t.Any]:
    try:
        return set(value)
    except TypeError as exc:
        raise CompilationError(f"set_strict: {exc}") from None


def try_or_compiler_error(message_if_exception: str, func: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
    try:
        return func(*args, **kwargs)
    except Exception:
        raise CompilationError(str(message_if_exception)) from None


def local_md5(value: str) -> str:
    return hashlib.md5(str(value).encode("utf-8")).hexdigest()  # noqa: S324 - dbt's checksum, not security


def as_bool(value: t.Any) -> t.Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def as_number(value: t.Any) -> t.Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def as_native(value: t.Any) -> t.Any:
    import ast

    if isinstance(value, str):
        try:
            return ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return as_bool(value)
    return value


def modules() -> dict[str, t.Any]:
    import importlib.util

    modules: dict[str, t.Any] = {"datetime": dt, "re": re, "itertools": itertools}
    if importlib.util.find_spec("pytz") is not None:  # dbt ships pytz
        import pytz

        modules["pytz"] = pytz
    else:
        modules["pytz"] = Pytz()
    return modules


class Pytz:
    """``modules.pytz`` without pytz installed: ``utc`` and ``timezone(name)`` (zoneinfo),
    what dbt projects use it for (``run_started_at.astimezone(modules.pytz.utc)``)."""

    utc = UTC = dt.timezone.utc

    @staticmethod
    def timezone(name: str) -> dt.tzinfo:
        import zoneinfo

        if str(name).upper() == "UTC":
            return dt.timezone.utc
        try:
            return zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CompilationError(f"modules.pytz.timezone('{name}'): unknown time zone.") from None


def print_message(*args: t.Any) -> str:
    print(redaction.mask(" ".join(str(a) for a in args)))
    return ""


def log(msg: t.Any, info: bool = False) -> str:
    if info:  # dbt: info=True goes to the terminal, otherwise to the debug log only
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        print(redaction.mask(f"{stamp}  {msg}"))
    else:
        import logging

        logging.getLogger("warehouse_ml").debug(redaction.mask(str(msg)))
    return ""


class Exceptions:
    """``exceptions.*`` as in dbt: errors raised as wml's CompilationError."""

    @staticmethod
    def raise_compiler_error(msg: t.Any, node: t.Any = None) -> t.NoReturn:
        raise CompilationError(str(msg))

    @staticmethod
    def raise_not_implemented(msg: t.Any) -> t.NoReturn:
        raise CompilationError(f"not implemented: {msg}")

    @staticmethod
    def raise_fail_fast_error(msg: t.Any, node: t.Any = None) -> t.NoReturn:
        raise CompilationError(str(msg))

    @staticmethod
    def column_type_missing(column_names: t.Any) -> t.NoReturn:
        raise CompilationError(f"contracted columns have no data_type: {list(column_names)}.")

    @staticmethod
    def warn(msg: t.Any, node: t.Any = None) -> str:
        print(redaction.mask(f"Warning: {msg}"), file=sys.stderr)
        return ""


class Flags:
    """``flags``: the command's flags as dbt names them (FULL_REFRESH, WHICH, ...)."""

    def __init__(self, values: dict[str, t.Any]):
        self._values = values

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name.upper())

    def set(self, **values: t.Any) -> None:
        self._values.update({k.upper(): v for k, v in values.items()})


def command_flags(project_flags: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """Flags of the running command, read from its click context (if any)."""
    import click

    values: dict[str, t.Any] = {
        "FULL_REFRESH": False, "STORE_FAILURES": False, "WARN_ERROR": False,
        "FAIL_FAST": False, "EMPTY": False, "DEBUG": False, "INTROSPECT": True,
        "PARTIAL_PARSE": True, "SEND_ANONYMOUS_USAGE_STATS": False, "USE_COLORS": True,
        "LOG_FORMAT": "default", "WHICH": None, "SELECT": None, "EXCLUDE": None,
    }  # fmt: skip
    values.update({str(k).upper(): v for k, v in (project_flags or {}).items()})
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        values["WHICH"] = ctx.info_name
        for c in (ctx.find_root(), ctx):
            values.update({k.upper(): v for k, v in c.params.items() if v is not None})
    return values
