"""PandasParameterType: a parameter received as JSON in a pandas orientation, handed over as a
DataFrame."""

import io
import json

from ._constants import PANDAS_FORMAT
from ._swagger_from_dtype import Dtype2Swagger
from ._util import handle_standard_types
from .abstract_parameter_type import AbstractParameterType

_ORIENTS = ("split", "records", "index", "columns", "values", "table")


class PandasParameterType(AbstractParameterType):
    """A DataFrame parameter described by a sample frame.

    `orient` is the pandas JSON orientation of the request value (default 'records': a list of
    row objects). On input the frame is read with `pandas.read_json`, then cast to the sample's
    column types (`enforce_column_type`) and checked to have the sample's number of columns
    (`enforce_shape`), as in inference-schema.
    """

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True,
                 apply_column_names=False, orient="records"):
        import pandas as pd

        if not isinstance(sample_input, pd.DataFrame):
            raise Exception(
                "Invalid sample input provided, must provide a sample Pandas Dataframe.")
        if orient not in _ORIENTS:
            raise Exception("Invalid orient provided, must be one of ('split', 'records', 'index', "
                            "'columns', 'values', or 'table')")
        super().__init__(sample_input)
        self.enforce_column_type = enforce_column_type
        self.enforce_shape = enforce_shape
        self.apply_column_names = apply_column_names
        self.orient = orient

    def deserialize_input(self, input_data):
        import pandas as pd

        if isinstance(input_data, pd.DataFrame):
            return input_data
        if not isinstance(input_data, (list, dict)):
            raise ValueError(
                f"Error, unable to convert input of type {type(input_data)} into Pandas Dataframe")
        try:
            frame = pd.read_json(io.StringIO(json.dumps(input_data)), orient=self.orient)
        except (ValueError, TypeError, KeyError, AssertionError) as error:
            raise ValueError(f"Invalid input: not a data frame in '{self.orient}' orientation: "
                             f"{error}") from None

        if self.apply_column_names:
            if len(frame.columns) != len(self.sample_input.columns):
                raise ValueError("Invalid input data frame: expected {0} columns, got {1}".format(
                    len(self.sample_input.columns), len(frame.columns)))
            frame.columns = self.sample_input.columns.copy()

        if self.enforce_column_type:
            sample_types = self.sample_input.dtypes.to_dict()
            wanted = {column: sample_types.get(column, object) for column in frame.columns}
            try:
                for column, column_type in wanted.items():
                    if str(column_type).startswith("timedelta"):
                        frame[column] = pd.to_timedelta(frame[column])
                frame = frame.astype(dtype=wanted)
            except (ValueError, TypeError) as error:
                raise ValueError(f"Invalid input data frame: {error}") from None

        if self.enforce_shape:
            expected = self.sample_input.shape
            if len(frame.shape) != len(expected):
                raise ValueError(
                    "Invalid input data frame: a data frame with {0} dimensions is expected; "
                    "input has {1} [shape {2}]".format(len(expected), len(frame.shape),
                                                       frame.shape))
            for dim in range(1, len(expected)):
                if frame.shape[dim] != expected[dim]:
                    raise ValueError(
                        "Invalid input data frame: data frame has size {0} on dimension #{1}, "
                        "while expected value is {2}".format(frame.shape[dim], dim, expected[dim]))
        return frame

    def _column_schema(self, column):
        series = self.sample_input[column]
        if series.dtype.kind == "O":
            # Object columns usually hold strings; describe them by their first value.
            for value in series:
                if value is not None and value == value:
                    schema = handle_standard_types(value)
                    schema.pop("example", None)
                    return schema
            return {"type": "object"}
        return Dtype2Swagger.convert_dtype_to_swagger(series.dtype)

    def input_to_swagger(self):
        frame = self.sample_input
        columns = [str(c) for c in frame.columns]
        column_schemas = {str(c): self._column_schema(c) for c in frame.columns}
        distinct = []
        for schema in column_schemas.values():
            if schema not in distinct:
                distinct.append(schema)
        cell = distinct[0] if len(distinct) == 1 else {}
        row_object = {"type": "object", "required": columns, "properties": column_schemas}

        if self.orient == "records":
            schema = {"type": "array", "items": row_object}
        elif self.orient == "split":
            index_schema = Dtype2Swagger.convert_dtype_to_swagger(frame.index.dtype) \
                if frame.index.dtype.kind != "O" else {"type": "string"}
            schema = {
                "type": "object",
                "required": ["columns", "index", "data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "index": {"type": "array", "items": index_schema},
                    "data": {"type": "array", "items": {"type": "array", "items": cell}},
                },
            }
        elif self.orient == "values":
            schema = {"type": "array", "items": {"type": "array", "items": cell}}
        elif self.orient == "columns":
            schema = {
                "type": "object",
                "required": columns,
                "properties": {
                    name: {"type": "object", "additionalProperties": column_schema}
                    for name, column_schema in column_schemas.items()
                },
            }
        elif self.orient == "index":
            schema = {"type": "object", "additionalProperties": row_object}
        else:  # table
            schema = {
                "type": "object",
                "required": ["schema", "data"],
                "properties": {
                    "schema": {"type": "object"},
                    "data": {"type": "array", "items": {"type": "object",
                                                        "properties": column_schemas}},
                },
            }
        schema["example"] = json.loads(frame.to_json(orient=self.orient, date_format="iso"))
        schema["format"] = PANDAS_FORMAT.format(self.orient)
        return schema
