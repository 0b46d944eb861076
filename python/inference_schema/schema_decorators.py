"""`@input_schema` and `@output_schema`, compatible with inference-schema's decorators.

`@input_schema(name, type)` converts the argument `name` (a parsed JSON value) with the type's
`deserialize_input` before calling the function, and records the parameter's JSON schema;
`@output_schema(type)` records the output's. The Azure ML inference server (and berth's runner)
binds each top-level key of the request object to the parameter of the same name and builds the
deployment's OpenAPI document from these schemas.
"""

import copy
import functools
import inspect

from ._constants import INPUT_SCHEMA_ATTR, OUTPUT_SCHEMA_ATTR, SCHEMA_RECORD_ATTR
from .parameter_types.abstract_parameter_type import AbstractParameterType
from .schema_util import _new_record

# Parameters the inference server fills itself; they are not part of the request body.
_SERVER_PARAMETERS = ("request_headers",)


class InputConversionError(ValueError):
    """An argument could not be converted to its declared parameter type (a client error)."""

    def __init__(self, param_name, error):
        super().__init__(f"Invalid value for the '{param_name}' parameter: {error}")
        self.param_name = param_name


def _deserialize_input_argument(value, param_type):
    """Converts `value` as inference-schema does: dict and list samples convert their nested
    parameter types, other types go through deserialize_input unless already of the sample type."""
    sample_type = param_type.sample_data_type
    if sample_type is dict:
        if not isinstance(value, dict):
            raise ValueError(f"Invalid input data type to parse. Expected: {sample_type} but got "
                             f"{type(value)}")
        for key, nested in getattr(param_type, "sample_data_type_map", {}).items():
            if key in value:
                value[key] = _deserialize_input_argument(value[key], nested)
        return value
    if sample_type in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"Invalid input data type to parse. Expected: {sample_type} but got "
                             f"{type(value)}")
        nested_types = getattr(param_type, "sample_data_type_list", [])
        if nested_types:
            return [_deserialize_input_argument(item, nested_types[0]) for item in value]
        return param_type.deserialize_input(value) if sample_type is tuple else value
    if isinstance(value, sample_type):
        return value
    return param_type.deserialize_input(value)


def _check_type(param_type):
    if not isinstance(param_type, AbstractParameterType):
        raise Exception(
            "Error, provided param_type must be a subclass of the AbstractParameterType.")


def input_schema(param_name, param_type, convert_to_provided_type=True, optional=False):
    """Declares the type of parameter `param_name` of the decorated function.

    With `convert_to_provided_type`, the argument is converted before the call (an
    InputConversionError, a ValueError, says why it could not be). With `optional`, a missing or
    empty argument is passed through unconverted.
    """
    _check_type(param_type)
    param_schema = copy.deepcopy(param_type.input_to_swagger())
    example = param_schema.pop("example", None)
    versions = list(param_type.supported_versions())

    def decorate(func):
        signature = inspect.signature(inspect.unwrap(func))
        if param_name not in signature.parameters:
            raise ValueError(
                f'Error, provided param_name "{param_name}" is not in the decorated function.')

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if convert_to_provided_type:
                bound = signature.bind(*args, **kwargs)
                if param_name in bound.arguments:
                    value = bound.arguments[param_name]
                    if not (optional and not _has_value(value)):
                        try:
                            bound.arguments[param_name] = _deserialize_input_argument(
                                value, param_type)
                        except InputConversionError:
                            raise
                        except Exception as error:  # the type's own validation failure
                            raise InputConversionError(param_name, error) from error
                    return func(*bound.args, **bound.kwargs)
            return func(*args, **kwargs)

        record = _new_record(func)
        schema = record[INPUT_SCHEMA_ATTR]
        if schema is None:
            names = [n for n in record["arg_names"] if n not in _SERVER_PARAMETERS]
            schema = {"type": "object", "properties": {n: {} for n in names},
                      "example": {n: "" for n in names}}
            record[INPUT_SCHEMA_ATTR] = schema
        schema["properties"][param_name] = param_schema
        schema["example"][param_name] = example
        record["input_versions"][param_name] = versions
        record["parameter_types"][param_name] = param_type
        setattr(wrapper, SCHEMA_RECORD_ATTR, record)
        return wrapper

    return decorate


def _has_value(value):
    try:
        return bool(value)
    except (TypeError, ValueError):  # numpy arrays and data frames have no truth value
        return True


def output_schema(output_type):
    """Declares the type of the decorated function's output (recorded for the OpenAPI document)."""
    _check_type(output_type)
    schema = copy.deepcopy(output_type.output_to_swagger())
    versions = list(output_type.supported_versions())

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        record = _new_record(func)
        if record[OUTPUT_SCHEMA_ATTR] is not None:
            raise Exception(f"Error, output schema already defined for function: "
                            f"{record['function']}.")
        record[OUTPUT_SCHEMA_ATTR] = schema
        record["output_versions"] = versions
        setattr(wrapper, SCHEMA_RECORD_ATTR, record)
        return wrapper

    return decorate
