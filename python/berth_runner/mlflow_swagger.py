"""ServiceInput / ServiceOutput JSON schemas for an MLflow model, as Azure's no-code script derives
them: from the saved input example when there is one, else from the signature (columns → a pandas
split-orientation object, tensors → nested arrays with the batch dimension set to 1, params → an
object of typed values). A model with neither gets Azure's `{"type": "object", "example": {}}`.

The schemas use only keywords that Swagger 2.0, OpenAPI 3.0 and 3.1 all accept (type, format,
items, properties, required, example), so the runner can place them in any of the three documents.
"""

import copy
import logging
from typing import Any, Optional

import numpy as np

from berth_runner import mlflow_io
from berth_runner.mlflow_model import MlflowModel, predict
from berth_runner.mlflow_signature import ParamSpec, Schema, TensorSpec

logger = logging.getLogger("berth.mlflow")

EMPTY_SCHEMA = {"type": "object", "example": {}}
SPLIT_FORMAT = "pandas.DataFrame:split"

_COLUMN_SCHEMAS = {
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "long": {"type": "integer", "format": "int64"},
    "integer": {"type": "integer", "format": "int32"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "binary": {"type": "string", "format": "byte"},
    "datetime": {"type": "string", "format": "date-time"},
}
# The typed placeholders Azure's script uses for values it has no sample of.
_PLACEHOLDERS = {"double": 0.15, "float": 0.15, "long": 42, "integer": 42, "boolean": True,
                 "string": "sample string", "binary": "c2FtcGxl", "datetime": "2024-01-01T00:00:00"}


def _merge(schemas) -> dict:
    """One item schema for array elements: shared when equal, number for mixed numbers, else any."""
    schemas = list(schemas)
    if not schemas:
        return {}
    if all(s == schemas[0] for s in schemas):
        return copy.deepcopy(schemas[0])
    types = {s.get("type") for s in schemas}
    if types == {"integer"}:
        return {"type": "integer"}
    if types <= {"number", "integer"}:
        return {"type": "number"}
    return {}


def schema_for_value(value: Any) -> dict:
    """A JSON schema (without examples) describing a JSON value."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer", "format": "int64"}
    if isinstance(value, float):
        return {"type": "number", "format": "double"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": _merge(schema_for_value(v) for v in value)}
    if isinstance(value, dict):
        return {"type": "object", "required": [str(k) for k in value],
                "properties": {str(k): schema_for_value(v) for k, v in value.items()}}
    return {}


def _column_schema(col_type: str) -> dict:
    return copy.deepcopy(_COLUMN_SCHEMAS.get(col_type, {}))


def _dtype_schema(dtype: np.dtype):
    """(schema, placeholder) for one tensor element."""
    if dtype.kind == "f":
        return ({"type": "number", "format": "float" if dtype.itemsize <= 4 else "double"}, 0.15)
    if dtype.kind in "iu":
        return ({"type": "integer", "format": "int32" if dtype.itemsize <= 4 else "int64"}, 42)
    if dtype.kind == "b":
        return {"type": "boolean"}, True
    if dtype.kind == "S":
        return {"type": "string", "format": "byte"}, "c2FtcGxl"
    if dtype.kind == "M":
        return {"type": "string", "format": "date-time"}, "2024-01-01T00:00:00"
    return {"type": "string"}, "sample string"


def _tensor_schema(spec: TensorSpec):
    """(schema, example) for one tensor: nested arrays; free dimensions have size 1 in the
    example."""
    schema, example = _dtype_schema(spec.dtype)
    shape = spec.shape if spec.shape is not None else (-1,)
    for dim in reversed(shape):
        size = dim if dim > 0 else 1
        schema = {"type": "array", "items": schema}
        example = [copy.deepcopy(example) for _ in range(size)]
    return schema, example


def _split_schema(columns, row_schemas, row_example) -> dict:
    return {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "index": {"type": "array", "items": {"type": "integer", "format": "int64"}},
            "data": {"type": "array", "items": {"type": "array", "items": _merge(row_schemas)}},
        },
        "format": SPLIT_FORMAT,
        "example": {"columns": list(columns), "index": [0], "data": [row_example]},
    }


def _input_from_signature(schema: Schema) -> dict:
    specs = schema.specs
    if schema.is_tensor:
        if len(specs) == 1 and specs[0].name is None:
            tensor, example = _tensor_schema(specs[0])
            return dict(tensor, example=example)
        return _named_tensors_schema(specs)
    row_schemas = [_column_schema(s.type) for s in specs]
    row_example = [_PLACEHOLDERS.get(s.type) for s in specs]
    if schema.has_names:
        return _split_schema(schema.names(), row_schemas, row_example)
    return {"type": "array", "items": {"type": "array", "items": _merge(row_schemas)},
            "example": [row_example]}


def _named_tensors_schema(specs) -> dict:
    properties, example = {}, {}
    for spec in specs:
        properties[spec.name], example[spec.name] = _tensor_schema(spec)
    return {"type": "object", "required": [s.name for s in specs], "properties": properties,
            "example": example}


def _output_from_signature(schema: Schema) -> dict:
    specs = schema.specs
    if schema.is_tensor:
        return _input_from_signature(schema)
    if len(specs) == 1:
        # Single-column predictions come back as a bare list (Azure's no-code sample).
        return {"type": "array", "items": _column_schema(specs[0].type),
                "example": [_PLACEHOLDERS.get(specs[0].type)]}
    if schema.has_names:
        record = {"type": "object", "properties": {s.name: _column_schema(s.type) for s in specs}}
        return {"type": "array", "items": record,
                "example": [{s.name: _PLACEHOLDERS.get(s.type) for s in specs}]}
    return {"type": "array", "items": {"type": "array", "items": _merge(
        _column_schema(s.type) for s in specs)}, "example": [[_PLACEHOLDERS.get(s.type)
                                                               for s in specs]]}


def _param_schema(spec: ParamSpec):
    schema = _column_schema(spec.type)
    example = spec.default if spec.default is not None else _PLACEHOLDERS.get(spec.type)
    if spec.shape is not None:
        schema = {"type": "array", "items": schema}
        if example is not None and not isinstance(example, list):
            example = [example]
    return schema, example


def params_schema(specs) -> dict:
    properties, example = {}, {}
    for spec in specs:
        properties[spec.name], example[spec.name] = _param_schema(spec)
    return {"type": "object", "properties": properties, "example": example}


def _example_schema(value: Any) -> dict:
    example = mlflow_io.to_json(value)
    schema = schema_for_value(example)
    if isinstance(example, dict) and "columns" in example and "data" in example:
        schema["format"] = SPLIT_FORMAT
    return dict(schema, example=example)


def _output_from_example(model: MlflowModel) -> Optional[dict]:
    signature = model.signature
    try:
        data = model.input_example
        if signature is not None and signature.inputs is not None:
            data = mlflow_io.enforce_inputs(data, signature.inputs)
        params = mlflow_io.enforce_params(None, signature.params if signature else None)
        return _example_schema(predict(model, data, params))
    except Exception as e:  # a model that cannot score its own example still serves requests
        logger.warning("cannot derive the output schema from the input example: %s", e)
        return None


def swagger_schemas(model: MlflowModel) -> dict:
    """{"input": ServiceInput schema, "output": ServiceOutput schema} for the swagger documents."""
    signature = model.signature
    input_data = None
    if model.input_example is not None:
        input_data = _example_schema(mlflow_io.input_to_json(model.input_example))
    elif signature is not None and signature.inputs is not None and signature.inputs.specs:
        input_data = _input_from_signature(signature.inputs)

    output = None
    if signature is not None and signature.outputs is not None and signature.outputs.specs:
        output = _output_from_signature(signature.outputs)
    elif model.input_example is not None:
        output = _output_from_example(model)

    if input_data is None:
        logger.warning("the MLflow model has no signature and no input example; its swagger "
                       "documents describe the input as any object")
        service_input = copy.deepcopy(EMPTY_SCHEMA)
    else:
        properties = {"input_data": input_data}
        example = {"input_data": input_data["example"]}
        if signature is not None and signature.params:
            properties["params"] = params_schema(signature.params)
            example["params"] = properties["params"]["example"]
        service_input = {"type": "object", "required": ["input_data"], "properties": properties,
                         "example": example}
    return {"input": service_input,
            "output": output if output is not None else copy.deepcopy(EMPTY_SCHEMA)}
