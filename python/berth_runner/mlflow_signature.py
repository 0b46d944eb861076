"""MLflow model signatures (the `signature` block of an `MLmodel` file), read without mlflow.

MLflow stores `inputs` and `outputs` as JSON strings holding either a list of column specs
(`[{"name": "a", "type": "double"}, ...]`) or a list of tensor specs
(`[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]`), and `params` as a
JSON list of `{"name", "type", "default", "shape"}`. Hand-written MLmodel files sometimes hold the
lists directly as YAML, so both spellings are accepted.
"""

import dataclasses
import json
from typing import Any, Optional, Tuple

import numpy as np

# Column types MLflow's DataType knows and that berth converts request values to. Other column
# types (array, object, map, any) are accepted in signatures and passed through unconverted.
SCALAR_COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary",
                       "datetime")


class SignatureError(ValueError):
    """The MLmodel signature cannot be understood; the message names the offending part."""


@dataclasses.dataclass(frozen=True)
class ColSpec:
    name: Optional[str]
    type: str
    required: bool = True


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: Optional[str]
    dtype: np.dtype
    # None when the signature gives no shape (nothing is checked then); -1 marks a free dimension.
    shape: Optional[Tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class Schema:
    """Either all column specs or all tensor specs, as MLflow requires."""

    specs: Tuple[Any, ...]

    @property
    def is_tensor(self) -> bool:
        return bool(self.specs) and isinstance(self.specs[0], TensorSpec)

    @property
    def has_names(self) -> bool:
        return bool(self.specs) and all(spec.name is not None for spec in self.specs)

    def names(self):
        return [spec.name for spec in self.specs]


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any = None
    # None for a scalar parameter, a tuple such as (-1,) for a list-valued one.
    shape: Optional[Tuple[int, ...]] = None


@dataclasses.dataclass(frozen=True)
class Signature:
    inputs: Optional[Schema]
    outputs: Optional[Schema]
    params: Optional[Tuple[ParamSpec, ...]]


def _load_list(value: Any, where: str) -> Optional[list]:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise SignatureError(f"signature.{where} is not valid JSON: {e}") from None
    if value is None:
        return None
    if not isinstance(value, list):
        raise SignatureError(f"signature.{where} must be a list of specs, got "
                             f"{type(value).__name__}")
    return value


def _parse_shape(shape: Any, where: str) -> Optional[Tuple[int, ...]]:
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise SignatureError(f"{where}: shape must be a list of integers, got {shape!r}")
    return tuple(shape)


def _parse_tensor(item: dict, where: str) -> TensorSpec:
    tensor = item.get("tensor-spec")
    if not isinstance(tensor, dict) or "dtype" not in tensor:
        raise SignatureError(f"{where}: a tensor spec needs a 'tensor-spec' with a 'dtype'")
    try:
        dtype = np.dtype(tensor["dtype"])
    except TypeError:
        raise SignatureError(f"{where}: unknown tensor dtype {tensor['dtype']!r}") from None
    return TensorSpec(name=item.get("name"), dtype=dtype,
                      shape=_parse_shape(tensor.get("shape"), where))


def _parse_column(item: dict, where: str) -> ColSpec:
    col_type = item.get("type")
    if not isinstance(col_type, str):
        raise SignatureError(f"{where}: a column spec needs a string 'type'")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        name = str(name)
    # MLflow 2.4-2.9 wrote "optional": true; 2.10+ writes "required": false.
    required = bool(item.get("required", not item.get("optional", False)))
    return ColSpec(name=name, type=col_type, required=required)


def parse_schema(value: Any, where: str) -> Optional[Schema]:
    """Parses `signature.inputs` or `signature.outputs`; None when absent."""
    items = _load_list(value, where)
    if items is None:
        return None
    specs = []
    for i, item in enumerate(items):
        item_where = f"signature.{where}[{i}]"
        if not isinstance(item, dict):
            raise SignatureError(f"{item_where} must be an object")
        if item.get("type") == "tensor":
            specs.append(_parse_tensor(item, item_where))
        else:
            specs.append(_parse_column(item, item_where))
    kinds = {isinstance(spec, TensorSpec) for spec in specs}
    if len(kinds) > 1:
        raise SignatureError(f"signature.{where} mixes column and tensor specs")
    names = [spec.name for spec in specs if spec.name is not None]
    if len(names) != len(set(names)):
        raise SignatureError(f"signature.{where} names an input more than once")
    if names and len(names) != len(specs):
        raise SignatureError(f"signature.{where}: either every spec is named or none is")
    if len(specs) > 1 and not names and isinstance(specs[0], TensorSpec):
        raise SignatureError(f"signature.{where}: several tensors must be named")
    return Schema(specs=tuple(specs))


def parse_params(value: Any) -> Optional[Tuple[ParamSpec, ...]]:
    items = _load_list(value, "params")
    if items is None:
        return None
    specs = []
    for i, item in enumerate(items):
        where = f"signature.params[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SignatureError(f"{where} must be an object with a string 'name'")
        if not isinstance(item.get("type"), str):
            raise SignatureError(f"{where} ('{item['name']}') needs a string 'type'")
        specs.append(ParamSpec(name=item["name"], type=item["type"], default=item.get("default"),
                               shape=_parse_shape(item.get("shape"), where)))
    return tuple(specs)


def parse_signature(block: Any) -> Optional[Signature]:
    """Parses the `signature` mapping of an MLmodel file; None when there is none."""
    if block is None:
        return None
    if not isinstance(block, dict):
        raise SignatureError("signature must be a mapping with inputs, outputs and params")
    signature = Signature(inputs=parse_schema(block.get("inputs"), "inputs"),
                          outputs=parse_schema(block.get("outputs"), "outputs"),
                          params=parse_params(block.get("params")))
    if signature.inputs is None and signature.outputs is None and signature.params is None:
        return None
    return signature
