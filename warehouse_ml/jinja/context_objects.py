"""Objects models see in their Jinja context: ``target`` and the ``wml.`` namespace."""

from __future__ import annotations

import typing as t

from warehouse_ml.errors import CompilationError


class TargetContext:
    """``target`` in models: the public fields only; any other raises a clear error.

    Raising (rather than rendering ``****``) keeps a model from silently running with a
    masked value; secrets stay in profiles.yml, or come from ``env_var()`` by choice.
    """

    def __init__(self, public: dict[str, t.Any]):
        self._public = public

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> t.Any:
        if name in self._public:
            return self._public[name]
        raise CompilationError(
            f"target.{name} is not available in models: only "
            f"{', '.join(sorted(self._public))} are (other target fields may be secrets).",
            hint=f"Use env_var('...') in the model if it really needs a value behind target.{name}.",
        )

    def get(self, name: str, default: t.Any = None) -> t.Any:
        return self._public.get(name, default) if name in self._public else self[name]

    def __str__(self) -> str:
        return str(self._public)


class _Namespace:
    """Attribute access to a dict of macros: ``wml.ab_variant(...)``."""

    def __init__(self, items: dict[str, t.Any]):
        self._items = items

    def __getattr__(self, name: str) -> t.Any:
        try:
            return self._items[name]
        except KeyError:
            raise CompilationError(
                f"wml.{name} is not a built-in macro.",
                hint=f"Built-ins: {', '.join(sorted(self._items)) or 'none'}.",
            ) from None
