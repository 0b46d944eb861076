"""Formats and messages shared by the parameter types (values as in inference-schema)."""

NUMPY_FORMAT = "numpy.ndarray"
PANDAS_FORMAT = "pandas.DataFrame:{}"

DATE_FORMAT = "%Y-%m-%d"

ERR_PYTHON_DATA_NOT_JSON_SERIALIZABLE = (
    "Invalid python data sample provided: ensure that the data is fully JSON serializable to be "
    "able to generate swagger schema from it. Actual error: {}")
