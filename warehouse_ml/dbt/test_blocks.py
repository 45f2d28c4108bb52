"""dbt's ``{% test name(model, column_name) %}`` blocks, and generic tests rendered by them.

A test block is a macro named ``test_<name>`` (dbt compiles it so): :class:`TestBlocks`
rewrites the two tags before Jinja parses a file, so blocks load from macro-paths,
``tests/generic/`` and packages like any macro. A generic test from YAML then renders by
calling that macro with dbt's arguments: ``model`` (the tested relation, filtered by the
``where`` config), ``column_name`` and the test's keyword arguments, each string argument
rendered first as dbt renders them (``ref('x')`` becomes the relation).

Lookup follows the renderer's macro registry (its globals and package namespaces), so
tests from packages work wherever their macros load. The four built-ins render without
Jinja (``project/generic_tests.py``) unless the root project defines its own
``test_<name>``, which then wins, as in dbt.
"""

from __future__ import annotations

import re
import typing as t
import weakref

import jinja2.ext

from warehouse_ml.errors import CompilationError
from warehouse_ml.project import generic_tests
from warehouse_ml.project.nodes import Node

if t.TYPE_CHECKING:
    from warehouse_ml.jinja.renderer import Renderer

_OPEN = re.compile(r"(\{%[-+]?\s*)test(\s+)([A-Za-z_]\w*)(\s*\()")
_CLOSE = re.compile(r"(\{%[-+]?\s*)endtest(\s*[-+]?%\})")
# dbt renders a string argument that looks like one of these calls (add_rendered_test_kwargs).
_LOOKS_LIKE_CALL = re.compile(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$", re.S)


def rewrite(source: str) -> str:
    """``{% test x(...) %}...{% endtest %}`` -> ``{% macro test_x(...) %}...{% endmacro %}``."""
    if "test" not in source:
        return source
    source = _OPEN.sub(r"\1macro\2test_\3\4", source)
    return _CLOSE.sub(r"\1endmacro\2", source)


class TestBlocks(jinja2.ext.Extension):
    """Jinja extension: every template may hold dbt test blocks."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return rewrite(source)


def find_macro(renderer: Renderer, node: Node) -> t.Any:
    """The ``test_<name>`` macro a generic test calls, or None for a built-in rendered
    without Jinja. Raises CompilationError for an unknown test."""
    meta = t.cast(dict, node.test_metadata)
    name, namespace = meta["name"], meta.get("namespace")
    found = _lookup(renderer, namespace, f"test_{name}")
    builtin = not namespace and name in generic_tests.GENERIC_TESTS
    if builtin and not _is_root_project_macro(renderer, found):
        return None  # the built-in, unless the root project overrides it
    if found is None:
        label = f"{namespace}.{name}" if namespace else name
        err = CompilationError(
            f"unknown generic test '{label}'.",
            path=node.path,
            node=node.name,
            hint=(
                f"Define it with {{% test {name}(model, column_name) %}} in macros/ or "
                "tests/generic/"
                + (f", or install the package '{namespace}'" if namespace else "")
                + f"; built-in tests: {', '.join(generic_tests.GENERIC_TESTS)}."
            ),
        )
        err.node_kind = "test"
        raise err
    return found


def _lookup(renderer: Renderer, namespace: str | None, name: str) -> t.Any:
    """A macro as the node being rendered sees it: through the package registry when the
    renderer has one (a package's own tests resolve in that package first), else the
    Jinja globals and their package namespaces."""
    registry = getattr(renderer, "macros", None)
    if registry is not None and hasattr(registry, "get_from_package"):
        try:
            found = registry.get_from_package(namespace, name)
        except Exception:  # an unknown package or name: not found
            found = None
        if found is not None:
            return found
    if namespace:
        return _member(renderer.env.globals.get(namespace), name)
    return renderer.env.globals.get(name)


def _member(namespace: t.Any, name: str) -> t.Any:
    if namespace is None:
        return None
    if isinstance(namespace, dict):
        return namespace.get(name)
    try:
        return getattr(namespace, name)
    except Exception:  # a namespace raising for an unknown member (CompilationError)
        return None


def _is_root_project_macro(renderer: Renderer, macro: t.Any) -> bool:
    """Whether ``macro`` was defined by one of the root project's own files."""
    if macro is None:
        return False
    func = getattr(macro, "_func", None) or getattr(getattr(macro, "macro", None), "_func", None)
    filename = getattr(getattr(func, "__code__", None), "co_filename", "")
    return filename in _root_macro_files(renderer)


_ROOT_FILES: weakref.WeakKeyDictionary[t.Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _root_macro_files(renderer: Renderer) -> frozenset[str]:
    """The root project's macro files (not its installed packages'), computed once."""
    files = _ROOT_FILES.get(renderer)
    if files is None:
        project = renderer.project
        packages = str(getattr(project.settings, "packages_install_path", "dbt_packages"))
        rel = (
            p.relative_to(project.root).as_posix()
            for p in project.macro_files
            if p.is_relative_to(project.root)
        )
        files = _ROOT_FILES[renderer] = frozenset(
            f for f in rel if not f.startswith(f"{packages}/")
        )
    return files


def render(renderer: Renderer, node: Node) -> str:
    """The SQL of a generic test node (inside the renderer's call for ``node``)."""
    meta = t.cast(dict, node.test_metadata)
    macro = find_macro(renderer, node)
    if macro is None:
        meta["builtin_sql"] = True
        return generic_tests.render_sql(node, renderer.resolve_reference)
    meta["builtin_sql"] = False
    kwargs = {k: _render_argument(renderer, k, v) for k, v in meta["kwargs"].items()}
    relation = renderer.resolve_relation(meta["model"])
    override = _lookup(renderer, None, "get_where_subquery")
    if _is_root_project_macro(renderer, override):  # the project's own, as dbt calls it
        kwargs["model"] = override(relation)
    elif where := node.config.get("where"):
        kwargs["model"] = generic_tests.where_subquery(str(relation), where)
    else:
        kwargs["model"] = relation
    return str(macro(**kwargs))


def _render_argument(renderer: Renderer, key: str, value: t.Any) -> t.Any:
    """A string argument rendered as dbt renders it: ``ref('x')`` (and env_var, var,
    source, doc calls) evaluated to its value; other Jinja rendered; column_name kept."""
    if isinstance(value, dict):
        return {k: _render_argument(renderer, "", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_argument(renderer, "", v) for v in value]
    if not isinstance(value, str) or key == "column_name":
        return value
    if _LOOKS_LIKE_CALL.match(value):
        return renderer.env.compile_expression(value)()
    if "{{" in value or "{%" in value:
        return renderer.env.from_string(value).render()
    return value
