"""JSON-schema generation from Python sample values, shared by the parameter types."""

import base64
import datetime
import math

from .._constants import ALL_VERSIONS
from ._constants import ERR_PYTHON_DATA_NOT_JSON_SERIALIZABLE


def _utc_if_naive(value):
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value


def to_jsonable(value):
    """Converts a sample value (possibly holding numpy/pandas scalars) into plain JSON data.

    Raises TypeError for values with no JSON form.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # JSON has no NaN/Infinity; a schema example must still be valid JSON.
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.datetime):
        return _utc_if_naive(value).isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [to_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        converted = item()
        if converted is not value:
            return to_jsonable(converted)
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return to_jsonable(tolist())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _split_example(schema):
    """Removes and returns the `example` of a generated schema (nested schemas carry none)."""
    example = schema.pop("example", None)
    return schema, example


def handle_standard_types(sample_input):
    """Returns the schema (with `example`) of a standard Python sample value."""
    from .abstract_parameter_type import AbstractParameterType

    sample_type = type(sample_input)
    if isinstance(sample_input, AbstractParameterType):
        return sample_input.input_to_swagger()
    if sample_type is bool:
        return {"type": "boolean", "example": sample_input}
    if sample_type is int:
        return {"type": "integer", "format": "int64", "example": sample_input}
    if sample_type is float:
        return {"type": "number", "format": "double", "example": to_jsonable(sample_input)}
    if sample_type is str:
        return {"type": "string", "example": sample_input}
    if sample_type in (bytes, bytearray):
        return {"type": "string", "format": "byte", "example": to_jsonable(sample_input)}
    if sample_type is datetime.datetime:
        return {"type": "string", "format": "date-time", "example": to_jsonable(sample_input)}
    if sample_type is datetime.date:
        return {"type": "string", "format": "date", "example": sample_input.isoformat()}
    if sample_type is datetime.time:
        example = _utc_if_naive(sample_input).isoformat()
        return {"type": "string", "format": "time", "example": example}
    if sample_type in (list, tuple, range):
        return get_swagger_for_list(sample_input)
    if sample_type is dict:
        return get_swagger_for_nested_dict(sample_input)
    # Anything else is described as an object, provided its sample has a JSON form.
    try:
        example = to_jsonable(sample_input)
    except TypeError as error:
        raise TypeError(ERR_PYTHON_DATA_NOT_JSON_SERIALIZABLE.format(error)) from None
    return {"type": "object", "example": example}


def get_swagger_for_list(python_data):
    """Schema of a list sample: items from its elements; mixed element types give `oneOf`."""
    item_schemas = []
    examples = []
    for element in python_data:
        schema, example = _split_example(handle_standard_types(element))
        examples.append(example)
        if schema not in item_schemas:
            item_schemas.append(schema)
    if not item_schemas:
        items = {}
    elif len(item_schemas) == 1:
        items = item_schemas[0]
    else:
        items = {"oneOf": item_schemas}
    return {"type": "array", "items": items, "example": examples}


def get_swagger_for_nested_dict(python_data):
    """Schema of a dict sample: one required property per key."""
    properties = {}
    examples = {}
    for key, value in python_data.items():
        schema, example = _split_example(handle_standard_types(value))
        properties[str(key)] = schema
        examples[str(key)] = example
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "example": examples,
    }


def get_supported_versions_from_schema(schema):
    """The OpenAPI versions able to express `schema` (Swagger 2 has no `oneOf`/`anyOf`)."""

    def needs_openapi3(node):
        if isinstance(node, dict):
            if "oneOf" in node or "anyOf" in node:
                return True
            return any(needs_openapi3(v) for k, v in node.items() if k != "example")
        if isinstance(node, list):
            return any(needs_openapi3(v) for v in node)
        return False

    if needs_openapi3(schema):
        return [v for v in ALL_VERSIONS if v != "2.0"]
    return list(ALL_VERSIONS)
