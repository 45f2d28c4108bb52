"""The package macros' reference (warehouse_ml/macro_docs.py): `wml macros` and macros/README.md."""

from __future__ import annotations

import jinja2
import pytest
from click.testing import CliRunner

from warehouse_ml.cli.main import main
from warehouse_ml.jinja import macro_docs

DOCS = macro_docs.package_macros()


def _wml(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_readme_reference_is_generated_from_the_macros() -> None:
    readme = macro_docs.README.read_text(encoding="utf-8")
    assert macro_docs.readme_with_reference(readme, DOCS) == readme, (
        "warehouse_ml/macros/README.md is out of date: run python -m warehouse_ml.jinja.macro_docs"
    )


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_package_macro_is_documented(name: str) -> None:
    doc = DOCS[name]
    assert doc.problems == [], f"{doc.file}: wml.{name}: {doc.problems}"
    if name.startswith("test_"):  # a generic test: its example is the YAML that declares it
        assert f"wml.{name[len('test_'):]}:" in doc.example
        return
    example = jinja2.Environment().parse(doc.example)  # the example is valid Jinja
    assert any(getattr(n.node, "attr", None) == name for n in example.find_all(jinja2.nodes.Call))


def test_signature_comes_from_the_code() -> None:
    doc = DOCS["identity_graph"]
    assert [a.name for a in doc.arguments][:2] == ["relations", "identifiers"]
    assert doc.defaults["identifiers"] == ["user_id", "email", "anonymous_id"]
    assert "identifiers=['user_id', 'email', 'anonymous_id']" in doc.signature
    assert [a.required for a in DOCS["rfm_scores"].arguments] == [True] * 5 + [False]


def test_shared_arguments_are_documented_once_per_file() -> None:
    meanings = {DOCS[m].arguments[-1].meaning for m in ("event_counter", "unique_list_count")}
    assert meanings == {"the column holding the event time"}


def test_wml_macros_lists_every_macro() -> None:
    code, output = _wml("macros")
    assert code == 0
    for name, doc in DOCS.items():
        assert f"wml.{name} " in output and doc.file in output


def test_wml_macros_name_shows_arguments_and_example() -> None:
    code, output = _wml("macros", "event_counter")
    assert code == 0
    assert output.startswith("wml.event_counter(event=none, within=none, where=none")
    assert "timestamp (default 'timestamp'" in output and "the column holding the event time" in output
    assert "{{ wml.event_counter('Order Completed', within='90 days') }}" in output
    assert _wml("macros", "wml.rfm_scores")[1].startswith("wml.rfm_scores(relation, recency_col")


def test_wml_macros_unknown_name_suggests() -> None:
    code, output = _wml("macros", "event_countr")
    assert code == 2 and "wml.event_countr is not a package macro" in output
    assert "Did you mean event_counter?" in output and "Traceback" not in output


def test_markdown_option_prints_the_reference() -> None:
    code, output = _wml("macros", "--markdown")
    assert code == 0 and output == macro_docs.markdown(DOCS)
    assert "| `within` | `none` |" in output


def test_rendering_does_not_parse_doc_comments(project, monkeypatch) -> None:
    """Compile speed: doc comments are read for `wml macros` only."""
    def fail(*_: object) -> None:
        raise AssertionError("macro docs parsed while rendering")

    monkeypatch.setattr(macro_docs, "package_macros", fail)
    project.write({"seeds/t.csv": "x\n1\n", "models_sql/m.sql": "select {{ wml.event_counter() }} as n from {{ ref('t') }}\n"})
    assert project.wml("compile").exit_code == 0


def test_wml_macros_name_shows_the_project_defaults(project) -> None:
    project.write({"wml_project.yml": "name: test\nvars:\n  wml:\n    timestamp: event_at\n"})
    code, output = _wml("macros", "event_counter", "--project-dir", str(project.root))
    assert code == 0 and "timestamp (default 'timestamp'; this project: 'event_at')" in output
    project.write({"wml_project.yml": "name: test\nvars:\n  wml:\n    timestmp: event_at\n"})
    code, output = _wml("macros", "event_counter", "--project-dir", str(project.root))
    assert code == 2 and "vars.wml.timestmp is not an argument" in output
