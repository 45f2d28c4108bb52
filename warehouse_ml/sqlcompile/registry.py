"""The operator registry: one small translator per ONNX operator.

A translator takes the symbolic values of a node's inputs (a :class:`Tensor` per
batch tensor, a numpy array per constant) and returns its outputs the same way.

>>> @register("Identity")
... def identity(ctx, node, inputs):
...     return [inputs[0]]
"""

from __future__ import annotations

import dataclasses
import typing as t

import numpy as np
import onnx
from onnx import helper

from warehouse_ml.errors import CompilationError
from warehouse_ml.sqlcompile.model import Options, Stats
from warehouse_ml.sqlcompile.symbolic import Tensor, Value

ML = "ai.onnx.ml"

Translator = t.Callable[["Context", onnx.NodeProto, list[Value | None]], list[Value]]
REGISTRY: dict[tuple[str, str], Translator] = {}


def register(*op_types: str, domain: str = "") -> t.Callable[[Translator], Translator]:
    """Register a translator for ``op_types`` in ``domain`` ('' is the default domain)."""

    def deco(fn: Translator) -> Translator:
        for op_type in op_types:
            REGISTRY[(domain, op_type)] = fn
        return fn

    return deco


@dataclasses.dataclass
class Context:
    """State shared by the translators of one compilation."""

    options: Options
    stats: Stats = dataclasses.field(default_factory=Stats)
    notes: list[str] = dataclasses.field(default_factory=list)
    class_labels: list[t.Any] | None = None

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)


def describe(node: onnx.NodeProto) -> str:
    return f"{node.op_type} (node '{node.name or node.output[0]}')"


def fail(node: onnx.NodeProto, problem: str, hint: str | None = None) -> CompilationError:
    """An error naming the operator and node, as users see it in ``wml compile``."""
    return CompilationError(
        f"cannot compile ONNX operator {describe(node)} to SQL: {problem}", hint=hint
    )


def attrs(node: onnx.NodeProto) -> dict[str, t.Any]:
    """The node's attributes as Python values; strings decoded from bytes."""
    out: dict[str, t.Any] = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8") for v in value]
        elif isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        out[attribute.name] = value
    return out


def tensor_input(node: onnx.NodeProto, value: Value | None, position: int = 0) -> Tensor:
    """The batch tensor at ``position``; constants there are not supported."""
    if not isinstance(value, Tensor):
        raise fail(node, f"input {position} must depend on the features, not be a constant")
    return value


def const_input(node: onnx.NodeProto, value: Value | None, position: int) -> np.ndarray:
    """The constant at ``position`` (an initializer); feature-dependent values fail."""
    if not isinstance(value, np.ndarray):
        raise fail(node, f"input {position} must be a constant (an initializer)")
    return value
