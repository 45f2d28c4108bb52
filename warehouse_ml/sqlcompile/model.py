"""The compiler's options and its result, :class:`CompiledModel`."""

from __future__ import annotations

import dataclasses
import enum
import typing as t

from sqlglot import exp

from warehouse_ml.sqlcompile import sqlexpr as sx

DEFAULT_NULL_SENTINEL = "__wml_null__"


class TreeEncoding(str, enum.Enum):
    """How one decision tree becomes SQL.

    ``NESTED``: ``CASE WHEN split THEN <left> ELSE <right> END`` at every split.
    ``SPINE``: one CASE per chain of splits: each split puts its smaller subtree in a
    ``WHEN`` and continues the chain into the larger one, so a tree of depth d needs far
    fewer CASE expressions (measured faster in DuckDB, and shallower SQL).
    """

    NESTED = "nested"
    SPINE = "spine"


class Output(str, enum.Enum):
    PREDICT = "predict"
    PROBA = "proba"


@dataclasses.dataclass(frozen=True)
class Options:
    """Knobs of one compilation (see :func:`warehouse_ml.sqlcompile.compile_model`)."""

    output: Output = Output.PREDICT
    classes: t.Any = None
    null_sentinel: str = DEFAULT_NULL_SENTINEL
    tree_encoding: TreeEncoding = TreeEncoding.SPINE
    exact_float32: bool = True
    # A float32 running sum is one flat list_reduce in DuckDB but a chain of additions
    # elsewhere (two levels per tree; parsers limit depth), so longer ensembles are
    # summed in double, pairwise, instead.
    max_exact_trees: int = 400


class Parameter(t.NamedTuple):
    """One function parameter ``(name, sql type)``: the raw feature column an input reads."""

    name: str
    type: exp.DataType


@dataclasses.dataclass
class Stats:
    """Size of the compiled model, to judge SQL against the Arrow UDF (FINDINGS.md)."""

    sql_nodes: int = 0
    depth: int = 0
    trees: int = 0
    tree_splits: int = 0
    tree_leaves: int = 0


@dataclasses.dataclass
class CompiledModel:
    """One scalar SQL expression equivalent to one output of an ONNX graph."""

    expression: exp.Expression
    parameters: list[Parameter]
    returns: exp.DataType
    output: Output
    class_labels: list[t.Any] | None = None
    probability_of: t.Any = None
    stats: Stats = dataclasses.field(default_factory=Stats)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def node_count(self) -> int:
        return self.stats.sql_nodes

    def sql(self, dialect: str = "duckdb") -> str:
        """The expression alone, rendered for ``dialect`` (see :func:`render`)."""
        from warehouse_ml.sqlcompile.ddl import render

        return render(self, dialect)


def finish_stats(model: CompiledModel) -> None:
    model.stats.sql_nodes, model.stats.depth = sx.size(model.expression)
