"""Macros by package, resolved as dbt resolves them.

dbt gives every node a macro namespace (dbt-core's ``MacroNamespace``): an unqualified name
is looked up in the node's own package first, then in the root project, then in dbt's
global macros; ``dbt_utils.star(...)`` names a package; ``adapter.dispatch`` walks a
search order per namespace, set by the root project's ``dispatch:`` block
(https://docs.getdbt.com/reference/dbt-jinja-functions/dispatch).

Jinja copies the globals into a macro file's context when the file loads, which would fix
each macro's view at load order. Macro files load here with a live :class:`MacroScope`
instead: a name is resolved when a macro runs, for the node being rendered, so files and
packages may call each other in any order.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from warehouse_ml.errors import CompilationError

GLOBAL_PACKAGE = "dbt"  # dbt's own macros (dbt.type_string(), dbt.dateadd(), ...)


class MacroScope(Mapping):  # type: ignore[type-arg]
    """What a macro file sees: the rendering node's package macros over ``env.globals``."""

    def __init__(self, registry: PackageMacros, globals_: dict[str, t.Any]):
        self._registry = registry
        self._globals = globals_

    def _local(self, key: str) -> t.Any:
        package = self._registry.current_package()
        if package and package != self._registry.root:
            return self._registry.packages.get(package, {}).get(key)
        return None

    def __getitem__(self, key: str) -> t.Any:
        found = self._local(key)
        return found if found is not None else self._globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self._globals or (isinstance(key, str) and self._local(key) is not None)

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._globals)

    def __len__(self) -> int:
        return len(self._globals)


def file_macros(template: t.Any, scope: MacroScope) -> dict[str, t.Any]:
    """A macro file's top-level names, ``_private`` ones too (dbt_utils calls its own
    ``dbt_utils._is_relation``; Jinja's module would hide them), resolving names in
    ``scope`` when each macro runs."""
    context = template.new_context(vars=scope, shared=True)
    for _ in template.root_render_func(context):
        pass
    return dict(context.vars)


class PackageNamespace:
    """``dbt_utils.star(...)``: one package's macros as attributes (looked up when called)."""

    def __init__(self, package: str, macros: dict[str, t.Any]):
        self._package = package
        self._macros = macros

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._macros[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self._macros), n=3)
            hint = f"Did you mean {', '.join(f'{self._package}.{c}' for c in close)}?" if close else (
                f"Check the macro name and that the installed {self._package} version has it."
            )
            raise CompilationError(f"{self._package}.{name} is not a macro of package '{self._package}'.", hint=hint) from None

    def __contains__(self, name: str) -> bool:
        return name in self._macros

    def __repr__(self) -> str:
        return f"<macros of package {self._package}>"


class PackageMacros:
    """Every project's and package's macros; the root project's name is ``root``."""

    def __init__(
        self,
        root: str,
        dispatch: list[dict[str, t.Any]] | None,
        globals_: dict[str, t.Any],
        current_package: t.Callable[[], str | None],
    ):
        self.root = root
        self.dispatch = dispatch or []
        self.current_package = current_package
        self.packages: dict[str, dict[str, t.Any]] = {}
        self.scope = MacroScope(self, globals_)
        self._globals = globals_

    def add(self, package: str, macros: dict[str, t.Any]) -> None:
        self.packages.setdefault(package, {}).update(macros)

    def namespaces(self) -> dict[str, PackageNamespace]:
        return {name: PackageNamespace(name, macros) for name, macros in self.packages.items()}

    def locals_for(self, package: str | None) -> dict[str, t.Any]:
        """Names a node of ``package`` sees unqualified over the root's (none for the root)."""
        if not package or package == self.root:
            return {}
        return self.packages.get(package, {})

    def get_from_package(self, package: str | None, name: str) -> t.Any:
        """A macro by package (None: as an unqualified name in the node being rendered)."""
        if package is None:
            return self.scope.get(name)
        return self.packages.get(package, {}).get(name)

    def search_order(self, namespace: str | None) -> list[str | None]:
        """Packages ``adapter.dispatch(name, namespace)`` searches, in order."""
        if namespace is None:
            return [None]
        for entry in self.dispatch:
            if isinstance(entry, dict) and entry.get("macro_namespace") == namespace:
                return [str(p) for p in entry.get("search_order") or []]
        if namespace in self.packages and namespace != self.root:
            return [self.root, namespace]
        return [namespace]
