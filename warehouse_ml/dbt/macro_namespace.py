"""Macros by package, resolved for the node being rendered, as dbt resolves them.

dbt gives every node a macro namespace (dbt-core's ``MacroNamespace``): an unqualified name
is looked up in the node's own package first, then in the root project, then in dbt's
global macros; ``dbt_utils.star(...)`` names a package (``dbt/context.py``'s
``PackageNamespace``), and ``adapter.dispatch`` searches the packages registered in
``dbt/adapter.py``'s ``MacroRegistry``.

Macro files of the root project and of packages load with a live :class:`MacroScope` as
their globals: a name is resolved when a macro runs, for the node being rendered, so files
and packages may call each other in any order, and a package's model sees its package's
macros unqualified.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping


class MacroScope(Mapping):  # type: ignore[type-arg]
    """What a macro file sees: the rendering node's package macros over ``env.globals``."""

    def __init__(self, macros: PackageMacros, globals_: dict[str, t.Any]):
        self._macros = macros
        self._globals = globals_

    def _local(self, key: str) -> t.Any:
        package = self._macros.current_package()
        if package and package != self._macros.root:
            return self._macros.packages.get(package, {}).get(key)
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


class PackageMacros:
    """Every project's and package's macros by package; the root project's name is ``root``."""

    def __init__(
        self, root: str, globals_: dict[str, t.Any], current_package: t.Callable[[], str | None]
    ):
        self.root = root
        self.current_package = current_package
        self.packages: dict[str, dict[str, t.Any]] = {root: {}}
        self.scope = MacroScope(self, globals_)

    def add(self, package: str, macros: dict[str, t.Any]) -> None:
        self.packages.setdefault(package, {}).update(macros)

    def locals_for(self, package: str | None) -> dict[str, t.Any]:
        """Names a node of ``package`` sees unqualified over the root's (none for the root)."""
        if not package or package == self.root:
            return {}
        return self.packages.get(package, {})

    def get_from_package(self, package: str | None, name: str) -> t.Any:
        """A macro by package; ``None``: as an unqualified name in the node being rendered
        (dbt/test_blocks.py finds a package's own generic tests so)."""
        if package is None:
            return self.scope.get(name)
        return self.packages.get(package, {}).get(name)
