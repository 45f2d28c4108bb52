"""The package macros' reference, read from the macro files themselves.

A public macro in ``warehouse_ml/macros/*.sql`` is documented by the comment right above it:

    {#- @doc Event Counter: the number of matching events.
        @arg event: an event name or a list of names; none counts every event
        @example {{ wml.event_counter('Order Completed', within='90 days') }}
    -#}
    {% macro event_counter(event=none, ...) %}

Arguments shared by a file's macros are described once, in a ``{#- @args ... -#}`` comment
with ``@arg`` lines; a macro's own ``@arg`` wins. Signatures (names, order, defaults) come
from Jinja's parse of the macro, so they cannot disagree with the code.

Only ``wml macros`` and the tests read this: rendering never parses doc comments.

>>> doc = package_macros()["event_counter"]
>>> doc.signature.startswith("wml.event_counter(event=none, within=none")
True
"""

from __future__ import annotations

import dataclasses
import functools
import re
import textwrap
import typing as t
from pathlib import Path

import jinja2
from jinja2 import nodes

MACRO_DIR = Path(__file__).parent.parent / "macros"
README = MACRO_DIR / "README.md"
BEGIN, END = "<!-- BEGIN wml macros -->", "<!-- END wml macros -->"

_COMMENT = re.compile(r"\{#-?(.*?)-?#\}", re.S)
_MACRO = re.compile(r"\s*\{%-?\s*macro\s+(\w+)\s*\(")
_TAG = re.compile(r"^@(doc|args|arg|example)\b\s*(.*)$")


@dataclasses.dataclass(frozen=True)
class ArgDoc:
    name: str
    default: str | None  # Jinja source of the default; None: required
    meaning: str

    @property
    def required(self) -> bool:
        return self.default is None


@dataclasses.dataclass(frozen=True)
class MacroDoc:
    name: str
    file: str
    line: int
    summary: str
    arguments: list[ArgDoc]
    example: str
    defaults: dict[str, t.Any]  # argument -> default value (constants only), for errors

    @property
    def signature(self) -> str:
        parts = [a.name if a.required else f"{a.name}={a.default}" for a in self.arguments]
        return f"wml.{self.name}({', '.join(parts)})"

    @property
    def problems(self) -> list[str]:
        """What its documentation lacks (the test suite requires none)."""
        missing = [a.name for a in self.arguments if not a.meaning]
        out = [f"argument {a} has no @arg" for a in missing]
        return out + [f"no {k}" for k, v in (("@doc", self.summary), ("@example", self.example)) if not v]


@functools.lru_cache(maxsize=4)
def package_macros(directory: Path = MACRO_DIR) -> dict[str, MacroDoc]:
    """Every public package macro (names not starting with '_'), by name (do not modify)."""
    docs: dict[str, MacroDoc] = {}
    for path in sorted(directory.glob("*.sql")):
        docs.update(_file_macros(path))
    return docs


def _file_macros(path: Path) -> dict[str, MacroDoc]:
    source = path.read_text(encoding="utf-8")
    comments, shared = _doc_comments(source)
    out = {}
    for node in jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]).parse(
        source
    ).find_all(nodes.Macro):
        if node.name.startswith("_"):
            continue
        doc = comments.get(node.name, {})
        args, defaults = _arguments(node, {**shared, **doc.get("args", {})})
        out[node.name] = MacroDoc(
            node.name, path.name, node.lineno, doc.get("summary", ""), args,
            doc.get("example", ""), defaults,
        )  # fmt: skip
    return out


def _arguments(node: nodes.Macro, meanings: dict[str, str]) -> tuple[list[ArgDoc], dict]:
    names = [a.name for a in node.args]
    first_default = len(names) - len(node.defaults)
    args, values = [], {}
    for i, name in enumerate(names):
        default = None
        if i >= first_default:
            expr = node.defaults[i - first_default]
            try:
                values[name] = expr.as_const()
                default = jinja_literal(values[name])
            except nodes.Impossible:
                default = "<expression>"
        args.append(ArgDoc(name, default, meanings.get(name, "")))
    return args, values


def jinja_literal(value: t.Any) -> str:
    """A Python value as Jinja source: none, true, 'text', ['a', 'b']."""
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jinja_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{jinja_literal(k)}: {jinja_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _doc_comments(source: str) -> tuple[dict[str, dict[str, t.Any]], dict[str, str]]:
    """``@doc`` comments by the macro that follows each, and the file's shared ``@args``."""
    docs: dict[str, dict[str, t.Any]] = {}
    shared: dict[str, str] = {}
    for match in _COMMENT.finditer(source):
        text = textwrap.dedent(match.group(1)).strip()
        if text.startswith("@args"):
            shared.update(_sections(text)["args"])
        elif text.startswith("@doc"):
            follows = _MACRO.match(source, match.end())
            if follows:
                docs[follows.group(1)] = _sections(text)
    return docs, shared


def _sections(text: str) -> dict[str, t.Any]:
    """Split a doc comment into its summary, @arg meanings and @example."""
    summary: list[str] = []
    args: dict[str, list[str]] = {}
    example: list[str] = []
    current = summary
    for raw in text.splitlines():
        line = raw.strip()
        tag = _TAG.match(line)
        if tag and tag.group(1) == "arg":
            name, _, meaning = tag.group(2).partition(":")
            current = args.setdefault(name.strip(), [])
            line = meaning.strip()
        elif tag and tag.group(1) == "example":
            current, line = example, tag.group(2)
        elif tag:
            line = tag.group(2)
        if current is example:
            example.append(raw.rstrip() if raw.strip() and tag is None else line)
        elif line:
            current.append(line)
    return {
        "summary": " ".join(summary),
        "args": {k: " ".join(v) for k, v in args.items()},
        "example": textwrap.dedent("\n".join(example)).strip(),
    }


# -- output ----------------------------------------------------------------------------------
def text_list(docs: dict[str, MacroDoc]) -> str:
    width = max(len(n) for n in docs) + 4
    lines = [
        f"{'wml.' + name:<{width}} {d.file:<16} {textwrap.shorten(d.summary, 72) or '(undocumented)'}"
        for name, d in docs.items()
    ]
    return "\n".join(lines + ["", "`wml macros NAME` shows one macro's arguments and an example."])


def project_defaults(root: Path, docs: dict[str, MacroDoc]) -> dict[str, dict[str, t.Any]]:
    """The defaults a project's ``vars: {wml: ...}`` gives each macro ({} outside a project)."""
    from types import SimpleNamespace

    from warehouse_ml.jinja.macro_calls import project_defaults as resolve
    from warehouse_ml.project.yamlio import load_yaml

    path = root / "wml_project.yml"
    settings = (load_yaml(path) or {}) if path.is_file() else {}
    wml = (settings.get("vars") or {}).get("wml") if isinstance(settings, dict) else None
    signatures = {n: SimpleNamespace(arguments=[a.name for a in d.arguments]) for n, d in docs.items()}
    return resolve(wml, signatures)  # type: ignore[arg-type]


def text_one(doc: MacroDoc, project: dict[str, t.Any] | None = None) -> str:
    """One macro's signature, summary, arguments (with ``project`` defaults) and example."""
    lines = [doc.signature, "", textwrap.fill(doc.summary, 90), "", "Arguments:"]
    for a in doc.arguments:
        kind = "required" if a.required else f"default {a.default}"
        if project and a.name in project:
            kind += f"; this project: {jinja_literal(project[a.name])}"
        lines.append(f"  {a.name} ({kind})")
        lines += textwrap.wrap(a.meaning, 86, initial_indent="    ", subsequent_indent="    ")
    lines += ["", "Example:", textwrap.indent(doc.example, "  "), "", _DEFAULTS_NOTE]
    return "\n".join(lines)


_DEFAULTS_NOTE = (
    "An argument left out can take a project-wide default: vars: {wml: {ARGUMENT: value}} "
    "or vars: {wml: {MACRO: {ARGUMENT: value}}} in wml_project.yml; an explicit argument wins."
)


def markdown(docs: dict[str, MacroDoc]) -> str:
    out = [BEGIN, "## Reference", "",
           "Generated from the `@doc` comments in these files by `wml macros --markdown`;",
           "tests/test_macro_docs.py fails when it is out of date. " + _DEFAULTS_NOTE, ""]  # fmt: skip
    for doc in docs.values():
        out += [f"### wml.{doc.name}", "", f"`{doc.signature}` ({doc.file})", "", doc.summary, "",
                "| argument | required / default | meaning |", "|---|---|---|"]  # fmt: skip
        for a in doc.arguments:
            kind = "required" if a.required else f"`{a.default}`"
            out.append(f"| `{a.name}` | {kind} | {a.meaning.replace('|', '&#124;')} |")
        out += ["", "```sql", doc.example, "```", ""]
    return "\n".join(out + [END]) + "\n"


def readme_with_reference(readme: str, docs: dict[str, MacroDoc]) -> str:
    """``readme`` with its generated section replaced (or appended)."""
    head = readme.split(BEGIN)[0].rstrip("\n")
    tail = readme.split(END, 1)[1].lstrip("\n") if END in readme else ""
    return head + "\n\n" + markdown(docs) + (("\n" + tail) if tail else "")


if __name__ == "__main__":  # python -m warehouse_ml.jinja.macro_docs: rewrite the README section
    README.write_text(readme_with_reference(README.read_text(encoding="utf-8"), package_macros()),
                      encoding="utf-8")  # fmt: skip
