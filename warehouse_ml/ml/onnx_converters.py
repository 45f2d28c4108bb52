"""ONNX converters skl2onnx lacks, registered through its public extension API.

- ``MissingIndicator(features='all')`` (the indicator half of Redshift ML's
  ImputerWithIndicator): ``IsNaN`` then ``Cast`` to float, one 0/1 column per input column.
  skl2onnx 1.20 has no converter for it, and its SimpleImputer converter ignores
  ``add_indicator``, so the preprocessors build imputer and indicator as a FeatureUnion.
- The guarded log-link GLMs (``ml/link_guard.py``): their parents' converters, the guard's
  ``Clip`` inserted after conversion.
"""

from __future__ import annotations

import functools
import typing as t

import onnx


@functools.cache
def install() -> None:
    """Register the converters (once per process)."""
    from skl2onnx import update_registered_converter
    from sklearn.impute import MissingIndicator

    update_registered_converter(
        MissingIndicator, "WmlMissingIndicator", _indicator_shape, _convert_indicator
    )
    from warehouse_ml.ml import link_guard

    link_guard.register_converters()  # the guarded GLMs convert as their parents


def _indicator_shape(operator: t.Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    rows = operator.inputs[0].get_first_dimension()
    columns = operator.inputs[0].get_second_dimension()
    operator.outputs[0].type = FloatTensorType([rows, columns])


def _convert_indicator(scope: t.Any, operator: t.Any, container: t.Any) -> None:
    indicator = operator.raw_operator
    if indicator.features != "all" or not _is_nan(indicator.missing_values):
        raise NotImplementedError("only MissingIndicator(features='all') of NaN is converted")
    flags = scope.get_unique_variable_name("is_nan")
    container.add_node(
        "IsNaN", operator.inputs[0].full_name, flags, name=scope.get_unique_operator_name("IsNaN")
    )
    container.add_node(
        "Cast",
        flags,
        operator.outputs[0].full_name,
        to=onnx.TensorProto.FLOAT,
        name=scope.get_unique_operator_name("Cast"),
    )


def _is_nan(value: t.Any) -> bool:
    return isinstance(value, float) and value != value
