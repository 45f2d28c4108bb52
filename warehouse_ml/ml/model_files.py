"""Redshift ML's ``CREATE MODEL`` kept in a project file, as an ML-model node.

A ``models_sql/<name>.sql`` file whose rendered text is one ``CREATE MODEL <name> ...``
statement (``{{ ref() }}`` inside FROM included) is an ML model exactly like a
``config(materialized='ml_model')`` one: it trains in DAG order, so a downstream model
calling its function builds on a fresh database. The file's name is the model's name, as
for every other model; ``config()`` in the file (or folder ``+config``) may still set tags,
``deploy``, ``auto_deploy`` and the split, which CREATE MODEL has no clause for. Keys the
statement decides (target, model type, ...) come from the statement; a config value for
one of them is reported as ignored.
"""

from __future__ import annotations

import re
import typing as t

from warehouse_ml.errors import ConfigError
from warehouse_ml.ml.spec import TrainingSpec

if t.TYPE_CHECKING:
    from warehouse_ml.ml.create_model import CreateModel
    from warehouse_ml.project.nodes import Node

_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_CREATE_MODEL = re.compile(r"create\s+(?:or\s+replace\s+)?model\b", re.I)
# What CREATE MODEL says itself: the same key in config() would be a second answer.
_STATEMENT_KEYS = (
    "target", "function", "problem_type", "model_type", "objective", "max_runtime",
    "hyperparameters", "preprocessors", "k",
)  # fmt: skip


def is_create_model(sql: str | None) -> bool:
    """Whether ``sql`` (rendered) starts with CREATE MODEL, after comments."""
    if not sql:
        return False
    return bool(_CREATE_MODEL.match(sql, _LEADING.match(sql).end()))


def overridden(node: Node) -> list[str]:
    """Config keys (from config() or folder +config) the statement's clauses decide."""
    return sorted(k for k in _STATEMENT_KEYS if node.config.get(k) is not None)


def parse(sql: str, node: Node) -> CreateModel:
    """The file's one CREATE MODEL statement, named like its file."""
    from warehouse_ml.ml.create_model import CreateModel, split_statements

    path = node.fqn_path or None
    statements = split_statements(sql, path=path)
    parsed = statements[0].parse(path=path) if len(statements) == 1 else None
    if not isinstance(parsed, CreateModel):
        raise ConfigError(
            "a model file holding CREATE MODEL must hold that one statement only.",
            path=node.path,
            node=node.name,
            hint="Move other statements to their own model files or to hooks.",
        )
    name = parsed.spec.name.split(".")[-1].strip('"')
    if name.lower() != node.name.lower():
        raise ConfigError(
            f"the file creates model '{name}', but a model file is named after its model.",
            path=node.path,
            line=parsed.line,
            node=node.name,
            hint=f"Rename the file to {name}.sql, or write CREATE MODEL {node.name}.",
        )
    parsed.spec.name = node.name
    if isinstance(parsed.spec, TrainingSpec):  # a recommender's functions follow its name
        parsed.spec.function = parsed.spec.function.split(".")[-1]
    return parsed
