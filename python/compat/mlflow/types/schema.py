"""mlflow.types.schema (berth's compatibility subset): the schema classes of model signatures,
read-only views of what berth_runner.mlflow_signature parsed from an MLmodel file."""

import json
from enum import Enum

import numpy as np

from mlflow import _berth


class DataType(Enum):
    """MLflow's column types."""

    boolean = (1, np.dtype("bool"), bool)
    integer = (2, np.dtype("int32"), int)
    long = (3, np.dtype("int64"), int)
    float = (4, np.dtype("float32"), float)
    double = (5, np.dtype("float64"), float)
    string = (6, np.dtype("str"), str)
    binary = (7, np.dtype("bytes"), bytes)
    datetime = (8, np.dtype("datetime64[ns]"), np.datetime64)

    def __repr__(self):
        return self.name

    def to_numpy(self) -> np.dtype:
        return self.value[1]

    def to_python(self):
        return self.value[2]


def _column_type(name: str):
    """A DataType for MLflow's scalar types; nested types (array, object, map, any) stay text."""
    return DataType[name] if name in DataType.__members__ else name


def _type_name(value) -> str:
    return value.name if isinstance(value, DataType) else str(value)


class ColSpec:
    """A column of a column-based schema."""

    def __init__(self, type, name=None, required=True, optional=None):
        self.type = _column_type(type) if isinstance(type, str) else type
        self.name = name
        self.required = required if optional is None else not optional

    @property
    def optional(self) -> bool:
        return not self.required

    def to_dict(self) -> dict:
        result = {"type": _type_name(self.type)}
        if self.name is not None:
            result["name"] = self.name
        if not self.required:
            result["optional"] = True  # MLflow 2.9's spelling
        return result

    def __eq__(self, other):
        return isinstance(other, ColSpec) and self.to_dict() == other.to_dict()

    def __repr__(self):
        text = repr(self.type)
        text = f"{self.name!r}: {text}" if self.name is not None else text
        return f"{text} (optional)" if not self.required else text

    __getattr__ = _berth.instance_getattr


class TensorSpec:
    """A tensor of a tensor-based schema: numpy dtype, shape (-1 for a free dimension), name."""

    def __init__(self, type, shape, name=None):
        self.type = np.dtype(type)
        self.shape = tuple(shape) if shape is not None else None
        self.name = name

    def to_dict(self) -> dict:
        spec = {"dtype": str(self.type)}
        if self.shape is not None:
            spec["shape"] = list(self.shape)
        result = {"type": "tensor", "tensor-spec": spec}
        if self.name is not None:
            result["name"] = self.name
        return result

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and self.to_dict() == other.to_dict()

    def __repr__(self):
        text = f"Tensor({self.type.name!r}, {self.shape})"
        return f"{self.name!r}: {text}" if self.name is not None else text

    __getattr__ = _berth.instance_getattr


class Schema:
    """A list of all-column or all-tensor specs."""

    def __init__(self, inputs):
        self.inputs = list(inputs)

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and all(spec.name is not None for spec in self.inputs)

    def input_names(self):
        return [spec.name if spec.name is not None else i for i, spec in enumerate(self.inputs)]

    def required_input_names(self):
        return [name for name, spec in zip(self.input_names(), self.inputs)
                if getattr(spec, "required", True)]

    def optional_input_names(self):
        return [name for name, spec in zip(self.input_names(), self.inputs)
                if not getattr(spec, "required", True)]

    def input_types(self):
        return [spec.type for spec in self.inputs]

    def input_types_dict(self) -> dict:
        return dict(zip(self.input_names(), self.input_types()))

    def input_dict(self) -> dict:
        return dict(zip(self.input_names(), self.inputs))

    def numpy_types(self):
        if self.is_tensor_spec():
            return [spec.type for spec in self.inputs]
        return [spec.type.to_numpy() if isinstance(spec.type, DataType) else np.dtype("object")
                for spec in self.inputs]

    def to_dict(self):
        return [spec.to_dict() for spec in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, json_str: str) -> "Schema":
        from mlflow.models.signature import schema_from_value

        return schema_from_value(json_str, "schema")

    def __len__(self):
        return len(self.inputs)

    def __eq__(self, other):
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return repr(self.inputs)

    __getattr__ = _berth.instance_getattr


class ParamSpec:
    """A parameter of a params schema."""

    def __init__(self, name, dtype, default, shape=None):
        self.name = name
        self.dtype = _column_type(dtype) if isinstance(dtype, str) else dtype
        self.default = default
        self.shape = tuple(shape) if shape is not None else None

    def to_dict(self) -> dict:
        return {"name": self.name, "type": _type_name(self.dtype), "default": self.default,
                "shape": list(self.shape) if self.shape is not None else None}

    def __eq__(self, other):
        return isinstance(other, ParamSpec) and self.to_dict() == other.to_dict()

    def __repr__(self):
        shape = f" (shape: {self.shape})" if self.shape is not None else ""
        return f"{self.name!r}: {_type_name(self.dtype)!r} (default: {self.default}){shape}"

    __getattr__ = _berth.instance_getattr


class ParamSchema:
    """The params of a signature."""

    def __init__(self, params):
        self.params = list(params)

    def to_dict(self):
        return [param.to_dict() for param in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __eq__(self, other):
        return isinstance(other, ParamSchema) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return repr(self.params)

    __getattr__ = _berth.instance_getattr


__getattr__ = _berth.module_getattr(__name__)
