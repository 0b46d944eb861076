"""StandardPythonParameterType: a parameter of a plain Python type (scalars, lists, dicts)."""

import base64
import binascii
import datetime
import json

from ._constants import ERR_PYTHON_DATA_NOT_JSON_SERIALIZABLE
from ._util import handle_standard_types
from .abstract_parameter_type import AbstractParameterType


def _parse_iso(kind, value):
    if not isinstance(value, str):
        raise ValueError(f"Invalid input data type to parse. Expected an ISO {kind.__name__} "
                         f"string but got {type(value)}")
    try:
        if kind is datetime.datetime:
            # fromisoformat in 3.11 accepts the usual forms, including a trailing "Z".
            return datetime.datetime.fromisoformat(value)
        if kind is datetime.date:
            return datetime.date.fromisoformat(value)
        return datetime.time.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"Invalid {kind.__name__} value {value!r}: {error}") from None


class StandardPythonParameterType(AbstractParameterType):
    """A parameter whose sample is a standard Python value.

    Dict and list samples may nest other parameter types (for example a dict of
    NumpyParameterType); those nested values are converted by the decorator as in inference-schema:
    `sample_data_type_map` keeps the nested types of a dict sample and `sample_data_type_list` those
    of a list sample.
    """

    def __init__(self, sample_input):
        super().__init__(sample_input)
        self.sample_data_type_map = {}
        self.sample_data_type_list = []
        if self.sample_data_type is dict:
            for key, value in sample_input.items():
                if isinstance(value, AbstractParameterType):
                    self.sample_data_type_map[key] = value
        elif self.sample_data_type in (list, tuple):
            for value in sample_input:
                if isinstance(value, AbstractParameterType):
                    self.sample_data_type_list.append(value)

    def deserialize_input(self, input_data):
        expected = self.sample_data_type
        if expected in (datetime.datetime, datetime.date, datetime.time):
            return _parse_iso(expected, input_data)
        if expected in (bytes, bytearray):
            if not isinstance(input_data, str):
                raise ValueError("Invalid input data type to parse. Expected a base64 string but "
                                 f"got {type(input_data)}")
            try:
                decoded = base64.b64decode(input_data.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError) as error:
                raise ValueError(f"Invalid base64 input: {error}") from None
            return decoded if expected is bytes else bytearray(decoded)
        if expected is float and type(input_data) is int:
            return input_data  # ints are accepted where floats are expected, as upstream
        if expected is tuple and isinstance(input_data, list):
            return tuple(input_data)
        if not isinstance(input_data, expected):
            raise ValueError("Invalid input data type to parse. Expected: {0} but got {1}".format(
                expected, type(input_data)))
        return input_data

    def input_to_swagger(self):
        if self.sample_input is None:
            raise ValueError("Sample input cannot be None")
        schema = handle_standard_types(self.sample_input)
        try:
            json.dumps(schema)
        except TypeError as error:
            raise TypeError(ERR_PYTHON_DATA_NOT_JSON_SERIALIZABLE.format(error)) from None
        return schema
