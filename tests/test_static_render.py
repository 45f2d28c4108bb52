"""jinja/static_render.py renders what Jinja renders, and hands Jinja every other file."""

from __future__ import annotations

import doctest

import jinja2
import pytest

from warehouse_ml.jinja import static_render


class _Namespace:
    def __init__(self, **members):
        self.__dict__.update(members)


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    macros = env.from_string("{% macro money(col, places=2) %}round({{ col }}, {{ places }}){% endmacro %}")
    env.globals.update(
        money=macros.module.money,
        ref=lambda name, *more: f'"main"."{(more or (name,))[-1]}"',
        config=lambda **kwargs: "",
        show=lambda *args, **kwargs: f"{args!r}|{sorted(kwargs.items())!r}",
        wml=_Namespace(money=macros.module.money),
        table="orders",
        none_value=None,
    )
    return env


SAME_AS_JINJA = [
    "select 1\n",
    "select 1\n\n",  # one trailing newline dropped, not two
    "select 1\r\nfrom t\r\n",  # newlines normalised
    "{{ config(tags=['a', 'b'], enabled=true) }}\nselect * from {{ ref('orders') }}\n",
    "select {{ money('amount') }}, {{ money('x', places=4) }} from {{ ref('pkg', 'orders') }}",
    "select {{ wml.money('amount') }} from {{ table }}",
    "{{ show('a', 1, 0, [1, [2, 'x']], none, True, k=False, j=None, z=[]) }}",
    "{{ show() }} and {{ show('trailing',) }}",
    "select '{{ none_value }}'",
    "{{ show('é ü 😀') }}",
]


@pytest.mark.parametrize("source", SAME_AS_JINJA)
def test_renders_what_jinja_renders(env, source):
    plan = static_render.parse(source)
    assert plan is not None
    assert static_render.render(plan, env, "m.sql", {}) == env.from_string(source).render()


LEFT_TO_JINJA = [
    "{% if x %}y{% endif %}",
    "{# a comment #} select 1",
    "{{- ref('a') }}",
    "{{ ref('a') -}}",
    "{{ ref(name) }}",  # a variable argument
    "{{ ref('a') ~ 'b' }}",
    "{{ ref('a')['x'] }}",
    "{{ money('a\\'b') }}",  # a backslash in a string
    "{{ money('{x}') }}",
    "{{ money(1.5) }}",
    "{{ money(-1) }}",
    "{{ money(007) }}",
    "{{ money(a=1, a=2) }}",
    "{{ money(a=1, 2) }}",
    "{{ true }}",
    "{{ ref('a') }",
    "select '}}'",
    "{{ }}",
]


@pytest.mark.parametrize("source", LEFT_TO_JINJA)
def test_leaves_everything_else_to_jinja(source):
    assert static_render.parse(source) is None


def test_an_unknown_name_is_left_to_jinja_to_tell(env):
    plan = static_render.parse("select {{ nothing_here('x') }}")
    with pytest.raises(static_render.NotStatic):
        static_render.render(plan, env, "m.sql", {})
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("select {{ nothing_here('x') }}").render()


def test_module_doctest() -> None:
    assert doctest.testmod(static_render).failed == 0


def test_a_model_error_keeps_jinjas_line(project):
    project.write({"models_sql/a.sql": "select 1 as id\n\nfrom {{ ref('nope') }}\n"})
    result = project.wml("compile")
    assert result.exit_code != 0
    assert "models_sql/a.sql:3 model 'a': ref('nope') names no model or seed" in result.output


def test_a_render_jinja_finishes_records_each_ref_once(project):
    """dbt's lenient Undefined: the static render stops at `maybe` (config and ref already
    called), Jinja renders the file again from scratch and `maybe` is ''."""
    import json

    project.remove("wml_project.yml")
    project.write({
        "dbt_project.yml": "name: t\nprofile: test\nmodel-paths: [models]\n",
        "models/a.sql": "select 1 as id\n",
        "models/b.sql": "{{ config(tags=['x']) }}select * from {{ ref('a') }}{{ maybe }}\n",
    })  # fmt: skip
    result = project.wml("compile")
    assert result.exit_code == 0, result.output
    node = json.loads((project.root / "target/manifest.json").read_text())["nodes"]["model.t.b"]
    assert node["depends_on"]["nodes"] == ["model.t.a"] and node["refs"] == [{"name": "a", "package": None, "version": None}]
    assert node["config"]["tags"] == ["x"]
    assert (project.root / "target/compiled/models/b.sql").read_text().strip().endswith('"a"')
