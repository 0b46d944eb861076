"""NumpyParameterType: a parameter received as (nested) JSON arrays and handed over as ndarray."""

from ._constants import NUMPY_FORMAT
from ._swagger_from_dtype import Dtype2Swagger
from ._util import to_jsonable
from .abstract_parameter_type import AbstractParameterType

_TIMEDELTA_UNITS = {
    "years": "Y", "months": "M", "weeks": "W", "days": "D", "hours": "h", "minutes": "m",
    "seconds": "s", "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns",
    "picoseconds": "ps", "femtoseconds": "fs", "attoseconds": "as",
}


def _parse_timedelta(np, text):
    """Parses "<integer> <unit>" (e.g. "3 days"), the form inference-schema accepts."""
    parts = str(text).split(None, 1)
    if len(parts) != 2 or parts[1].lower() not in _TIMEDELTA_UNITS:
        raise ValueError(f"Invalid numpy.timedelta64 value specified: {text}. "
                         "Format should be <value> <time_unit_code>")
    try:
        amount = int(parts[0])
    except ValueError:
        raise ValueError(f"Invalid numpy.timedelta64 value specified: {text}") from None
    return np.timedelta64(amount, _TIMEDELTA_UNITS[parts[1].lower()])


class NumpyParameterType(AbstractParameterType):
    """A numpy array parameter described by a sample array.

    On input the JSON arrays are converted with the sample's dtype (`enforce_column_type`) and must
    have the sample's number of dimensions and sizes on every dimension but the first
    (`enforce_shape`), as in inference-schema.
    """

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True):
        import numpy as np

        if not isinstance(sample_input, np.ndarray):
            raise Exception("Invalid sample input provided, must provide a sample Numpy array.")
        super().__init__(sample_input)
        self.enforce_column_type = enforce_column_type
        self.enforce_shape = enforce_shape

    def _preprocess(self, np, value, dtype):
        """Turns JSON values into what np.array accepts for `dtype` (records, dates, durations)."""
        if dtype.names:
            if isinstance(value, dict):
                return tuple(self._preprocess(np, value[name], dtype[name]) for name in dtype.names)
            return tuple(self._preprocess(np, value[i], dtype[i]) for i in range(len(dtype.names)))
        if dtype.kind == "M" and isinstance(value, str):
            return np.datetime64(value)
        if dtype.kind == "m" and isinstance(value, str):
            return _parse_timedelta(np, value)
        if isinstance(value, list) and (dtype.names or dtype.kind in "Mm"):
            return [self._preprocess(np, v, dtype) for v in value]
        return value

    def deserialize_input(self, input_data):
        import numpy as np

        if isinstance(input_data, np.ndarray):
            return input_data
        if not isinstance(input_data, list):
            raise ValueError("Invalid input format: expected an array of items.")
        dtype = self.sample_input.dtype
        try:
            if self.enforce_column_type:
                if dtype.names or dtype.kind in "Mm":
                    input_data = [self._preprocess(np, item, dtype) for item in input_data]
                array = np.array(input_data, dtype=dtype)
            else:
                array = np.array(input_data)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
            raise ValueError(f"Invalid input array: cannot convert to {dtype}: {error}") from None

        if self.enforce_shape:
            expected = self.sample_input.shape
            if array.ndim != len(expected):
                raise ValueError(
                    "Invalid input array: an array with {0} dimensions is expected; "
                    "input has {1} [shape {2}]".format(len(expected), array.ndim, array.shape))
            for dim in range(1, len(expected)):
                if array.shape[dim] != expected[dim]:
                    raise ValueError(
                        "Invalid input array: array has size {0} on dimension #{1}, "
                        "while expected value is {2}".format(array.shape[dim], dim, expected[dim]))
        return array

    @staticmethod
    def _example(np, array):
        if array.dtype.names:
            if array.ndim == 0:
                return {name: NumpyParameterType._example(np, np.asarray(array[name]))
                        for name in array.dtype.names}
            return [NumpyParameterType._example(np, np.asarray(array[i]))
                    for i in range(len(array))]
        if array.dtype.kind == "M":
            array = array.astype("datetime64[us]")
        elif array.dtype.kind == "m":
            micros = array.astype("timedelta64[us]").astype("int64")
            return to_jsonable(np.vectorize(lambda v: f"{v} microseconds", otypes=[object])(
                micros).tolist())
        return to_jsonable(array.tolist())

    def input_to_swagger(self):
        import numpy as np

        item_schema = Dtype2Swagger.convert_dtype_to_swagger(self.sample_input.dtype)
        schema = Dtype2Swagger.handle_swagger_array(item_schema, self.sample_input.shape)
        example = self._example(np, self.sample_input)
        schema["example"] = example if isinstance(example, list) else [example]
        schema["format"] = NUMPY_FORMAT
        return schema
