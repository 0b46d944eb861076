"""Request decoding, signature enforcement and response encoding for MLflow no-code deployments.

Accepted request bodies (a JSON object holding exactly one of these keys, plus optional `params`;
other top-level keys are ignored, as Azure's schema-decorated scoring script does):
  * `input_data` (Azure): a split-orientation object `{"columns", "index", "data"}` (`index`
    optional) becomes a DataFrame; a list becomes a numpy array; any other object becomes a dict of
    numpy arrays (named tensors).
  * `dataframe_split`, `dataframe_records` (MLflow 2.x): a DataFrame in split or records
    orientation.
  * `instances` (MLflow 2.x, TF-serving rows): a list; a list of objects becomes named tensors.
  * `inputs` (MLflow 2.x, TF-serving columns): an object becomes named tensors, anything else an
    array.

Signature enforcement follows MLflow: named columns are selected and reordered to the signature's
order and converted to its types (extra columns are dropped, as MLflow does; a missing required
column is a 400 naming it); unnamed columns are matched by position; tensors are cast to their dtype
and their fixed dimensions checked. Values that do not fit a type (a string for a double, 1.5 for a
long) are a 400 naming the column and the row; integral floats are accepted for integer columns.
"""

import base64
import datetime
import json
import logging
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd

from berth_runner.mlflow_signature import ColSpec, ParamSpec, Schema, Signature, TensorSpec

logger = logging.getLogger("berth.mlflow")

FORMAT_KEYS = ("input_data", "dataframe_split", "dataframe_records", "instances", "inputs")
_ACCEPTED = ("'input_data' (Azure ML), or 'dataframe_split', 'dataframe_records', 'instances' or "
             "'inputs' (MLflow)")
_SPLIT_KEYS = {"columns", "index", "data"}
_INT_RANGES = {"integer": (np.int32, -2**31, 2**31 - 1), "long": (np.int64, -2**63, 2**63 - 1)}


class RequestError(ValueError):
    """A request the model cannot take; answered with `status` and `{"message": str(self)}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------
# Decoding


def _to_array(value: Any, where: str) -> np.ndarray:
    try:
        return np.array(value)
    except ValueError as e:  # ragged nesting
        raise RequestError(f"{where}: cannot build an array from this value: {e}") from None


def _named_tensors(obj: dict, where: str) -> Dict[str, np.ndarray]:
    return {str(k): _to_array(v, f"{where}.{k}") for k, v in obj.items()}


def _split_frame(obj: dict, where: str) -> pd.DataFrame:
    unknown = sorted(set(obj) - _SPLIT_KEYS)
    if unknown:
        raise RequestError(f"{where}: unexpected key(s) {unknown} in a split-orientation object "
                           "(expected 'columns', 'index' and 'data')")
    data = obj.get("data")
    if not isinstance(data, list):
        raise RequestError(f"{where}: 'data' must be a list of rows")
    columns = obj.get("columns")
    if columns is None:
        width = len(data[0]) if data and isinstance(data[0], list) else 1
        columns = list(range(width))
    if not isinstance(columns, list):
        raise RequestError(f"{where}: 'columns' must be a list of column names")
    seen = set()
    for name in columns:
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise RequestError(f"{where}: column names must be strings, got {json.dumps(name)}")
        if name in seen:
            raise RequestError(f"{where}: duplicate column '{name}'")
        seen.add(name)
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise RequestError(f"{where}: row {i} of 'data' must be a list of values")
        if len(row) != len(columns):
            raise RequestError(f"{where}: row {i} of 'data' has {len(row)} values but there are "
                               f"{len(columns)} columns")
    index = obj.get("index")
    if index is not None:
        if not isinstance(index, list) or len(index) != len(data):
            raise RequestError(f"{where}: 'index' must be a list with one entry per row of 'data'")
    if not data:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    return pd.DataFrame(data, columns=columns, index=index)


def _records_frame(value: Any, where: str) -> pd.DataFrame:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise RequestError(f"{where}: expected a list of objects, one per row")
    return pd.DataFrame.from_records(value) if value else pd.DataFrame()


def _instances(value: Any, where: str):
    if not isinstance(value, list):
        raise RequestError(f"{where}: expected a list of instances")
    if value and all(isinstance(row, dict) for row in value):
        keys = list(value[0])
        for i, row in enumerate(value):
            if set(row) != set(keys):
                raise RequestError(f"{where}: instance {i} has keys {sorted(row)} but instance 0 "
                                   f"has {sorted(keys)}")
        return {str(k): _to_array([row[k] for row in value], f"{where}.{k}") for k in keys}
    return _to_array(value, where)


def decode_input(key: str, value: Any):
    """Turns the value under one of FORMAT_KEYS into a DataFrame, an array or named arrays."""
    if key == "input_data":
        if isinstance(value, list):
            return _to_array(value, key)
        if isinstance(value, dict):
            if "columns" in value and "data" in value:
                return _split_frame(value, key)
            return _named_tensors(value, key)
        raise RequestError("input_data must be a split-orientation object {\"columns\", \"index\", "
                           "\"data\"}, a list (a tensor) or an object of named tensors")
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise RequestError("dataframe_split must be an object with 'columns' and 'data'")
        return _split_frame(value, key)
    if key == "dataframe_records":
        return _records_frame(value, key)
    if key == "instances":
        return _instances(value, key)
    if key == "inputs":
        return _named_tensors(value, key) if isinstance(value, dict) else _to_array(value, key)
    raise RequestError(f"unknown input key '{key}'; use {_ACCEPTED}")


def parse_request(payload: Any,
                  signature: Optional[Signature] = None) -> Tuple[Any, Optional[dict]]:
    """Decodes a request body and enforces the signature; returns (model input, params or None).

    Params are returned only when the signature declares them (validated, defaults filled in);
    MLflow ignores params for models without a params schema, and so does berth (with a warning).
    """
    if not isinstance(payload, dict):
        raise RequestError("the request body must be a JSON object with one of the keys "
                           + _ACCEPTED)
    present = [key for key in FORMAT_KEYS if key in payload]
    if not present:
        got = ", ".join(f"'{k}'" for k in sorted(payload)[:10]) or "none"
        raise RequestError(f"the request body must have one of the keys {_ACCEPTED}; got {got}")
    if len(present) > 1:
        raise RequestError(f"the request body must have exactly one of the keys {_ACCEPTED}; got "
                           + " and ".join(f"'{k}'" for k in present))
    key = present[0]
    data = decode_input(key, payload[key])
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError("params must be a JSON object")
    if signature is not None and signature.inputs is not None:
        data = enforce_inputs(data, signature.inputs, key)
    return data, enforce_params(params, signature.params if signature else None)


# ---------------------------------------------------------------------------------------------
# Columns


def _describe(value: Any) -> str:
    try:
        text = json.dumps(to_json(value))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _first_bad(values, ok) -> Optional[int]:
    for i, value in enumerate(values):
        if not ok(value):
            return i
    return None


def _type_error(where: str, name: Any, col_type: str, row: int, value: Any) -> RequestError:
    return RequestError(f"{where}: column '{name}' expects {col_type} but row {row} has "
                        f"{_describe(value)}")


def convert_column(series: pd.Series, spec: ColSpec, name: Any, where: str) -> pd.Series:
    """Converts one column to the signature's type, or raises a 400 naming the column and row."""
    col_type = spec.type
    values = series.tolist()
    kind = series.dtype.kind

    def mismatch(ok) -> RequestError:
        row = _first_bad(values, ok)
        if row is None:
            return RequestError(f"{where}: column '{name}' expects {col_type}, got "
                                f"{series.dtype.name} values")
        return _type_error(where, name, col_type, row, values[row])

    if col_type in ("double", "float"):
        target = np.float64 if col_type == "double" else np.float32
        if kind in "iuf":
            return series.astype(target)
        number = lambda v: _is_missing(v) or (isinstance(v, (int, float))
                                              and not isinstance(v, bool))
        if kind == "O" and all(number(v) for v in values):
            return pd.Series([np.nan if v is None else v for v in values], index=series.index,
                             dtype=target)
        raise mismatch(number)
    if col_type in _INT_RANGES:
        target, low, high = _INT_RANGES[col_type]
        integral = lambda v: (not isinstance(v, bool) and isinstance(v, (int, float, np.number))
                              and not _is_missing(v) and float(v).is_integer() and low <= v <= high)
        if kind in "iu" and (series.empty or (series.min() >= low and series.max() <= high)):
            return series.astype(target)
        if kind in "fO" and all(integral(v) for v in values):
            return pd.Series([int(v) for v in values], index=series.index, dtype=target)
        raise mismatch(integral)
    if col_type == "boolean":
        if kind == "b":
            return series
        is_bool = lambda v: isinstance(v, (bool, np.bool_))
        if kind == "O" and all(is_bool(v) for v in values):
            return series.astype(bool)
        raise mismatch(is_bool)
    if col_type == "string":
        is_str = lambda v: v is None or isinstance(v, str)
        if kind in "OU" and all(is_str(v) for v in values):
            return series.astype(object)
        raise mismatch(is_str)
    if col_type == "binary":
        return pd.Series([_decode_binary(v, where, name, i) for i, v in enumerate(values)],
                         index=series.index, dtype=object)
    if col_type == "datetime":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError, OverflowError) as e:
            raise RequestError(f"{where}: column '{name}' expects datetime: {e}") from None
    return series  # array / object / map / any: MLflow's nested types are passed through.


def _decode_binary(value: Any, where: str, name: Any, row: int):
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            pass
    raise RequestError(f"{where}: column '{name}' expects base64-encoded binary but row {row} has "
                       f"{_describe(value)}")


def _as_frame(data: Any, schema: Schema, where: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        arrays = list(data.values())
        try:
            if arrays and all(a.ndim == 0 for a in arrays):
                return pd.DataFrame({k: [a.item()] for k, a in data.items()})
            if all(a.ndim == 1 for a in arrays):
                return pd.DataFrame(data)
        except ValueError as e:
            raise RequestError(f"{where}: cannot build a table from these named inputs: "
                               f"{e}") from None
        raise RequestError(f"{where}: this model's signature expects columns; each named input "
                           "must be a single value or a list of values")
    if data.ndim == 1 and len(schema.specs) == 1:
        return pd.DataFrame({schema.specs[0].name if schema.has_names else 0: data})
    if data.ndim == 2:
        return pd.DataFrame(data)
    raise RequestError(f"{where}: this model's signature expects a table of "
                       f"{len(schema.specs)} column(s); got an array of shape {tuple(data.shape)}")


def _enforce_columns(data: Any, schema: Schema, where: str) -> pd.DataFrame:
    frame = _as_frame(data, schema, where)
    if not schema.has_names:
        if frame.shape[1] != len(schema.specs):
            raise RequestError(f"{where}: the model expects {len(schema.specs)} column(s), got "
                               f"{frame.shape[1]}")
        converted = {i: convert_column(frame.iloc[:, i], spec, frame.columns[i], where)
                     for i, spec in enumerate(schema.specs)}
        result = pd.DataFrame(converted, index=frame.index)
        result.columns = frame.columns
        return result
    columns = set(frame.columns)
    missing = [s.name for s in schema.specs if s.required and s.name not in columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        hint = ""
        if not isinstance(data, (pd.DataFrame, dict)):
            hint = (" (the model's signature names its columns: send a split-orientation object "
                    "{\"columns\": [...], \"data\": [[...]]})")
        raise RequestError(f"{where}: missing {noun} " + ", ".join(f"'{m}'" for m in missing)
                           + f"; the model expects {schema.names()}{hint}")
    converted = {s.name: convert_column(frame[s.name], s, s.name, where)
                 for s in schema.specs if s.name in columns}
    return pd.DataFrame(converted, index=frame.index)


# ---------------------------------------------------------------------------------------------
# Tensors


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _dtype_text(dtype: np.dtype) -> str:
    return {"U": "string", "S": "bytes", "O": "mixed", "b": "boolean"}.get(dtype.kind, dtype.name)


def cast_tensor(array: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """Casts to the spec's dtype and checks its fixed dimensions; 400 on a mismatch."""
    target = spec.dtype
    kind = array.dtype.kind
    bad = RequestError(f"{where}: expected {target.name} values, got {_dtype_text(array.dtype)} "
                       "values")
    if array.dtype == target:
        result = array
    elif target.kind in "iu":
        if kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0):
                raise RequestError(f"{where}: expected {target.name} values, got non-integral "
                                   "numbers")
        elif kind not in "iu":
            raise bad
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise RequestError(f"{where}: values out of range for {target.name}")
        result = array.astype(target)
    elif target.kind in "fc":
        if kind not in "iufc":
            raise bad
        result = array.astype(target)
    elif target.kind == "b":
        if kind != "b":
            raise bad
        result = array
    elif target.kind in "OUS":
        try:
            result = array.astype(target)
        except (ValueError, TypeError, UnicodeError):
            raise bad from None
    else:
        try:
            result = array.astype(target)
        except (ValueError, TypeError) as e:
            raise RequestError(f"{where}: cannot convert to {target.name}: {e}") from None
    if spec.shape is not None:
        ok = result.ndim == len(spec.shape) and all(
            want == -1 or want == got for want, got in zip(spec.shape, result.shape))
        if not ok:
            raise RequestError(f"{where}: expected shape {_shape_text(spec.shape)}, got "
                               f"{_shape_text(result.shape)}")
    return result


def _enforce_tensors(data: Any, schema: Schema, where: str):
    specs = schema.specs
    if len(specs) == 1 and not isinstance(data, dict):
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else data
        return cast_tensor(array, specs[0], where)
    if len(specs) == 1 and specs[0].name is None:
        raise RequestError(f"{where}: the model expects a single tensor (a list), not named inputs")
    if isinstance(data, pd.DataFrame):
        data = {str(c): data[c].to_numpy() for c in data.columns}
    if not isinstance(data, dict):
        raise RequestError(f"{where}: the model expects named tensors "
                           + ", ".join(f"'{s.name}'" for s in specs))
    missing = [s.name for s in specs if s.name not in data]
    if missing:
        raise RequestError(f"{where}: missing input " + ", ".join(f"'{m}'" for m in missing))
    return {s.name: cast_tensor(data[s.name], s, f"{where}.{s.name}") for s in specs}


def enforce_inputs(data: Any, schema: Optional[Schema], where: str = "input_data"):
    """Applies an input schema to decoded input; no schema passes the input through."""
    if schema is None or not schema.specs:
        return data
    if schema.is_tensor:
        return _enforce_tensors(data, schema, where)
    return _enforce_columns(data, schema, where)


# ---------------------------------------------------------------------------------------------
# Params


def _convert_param(value: Any, spec: ParamSpec, where: str):
    t = spec.type
    if t == "boolean" and isinstance(value, bool):
        return value
    if t in ("integer", "long") and not isinstance(value, bool):
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
    if t in ("float", "double") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if t in ("string", "binary") and isinstance(value, str):
        return value
    if t == "datetime" and isinstance(value, str):
        try:
            pd.Timestamp(value)
            return value
        except ValueError:
            pass
    if t not in ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime"):
        return value
    raise RequestError(f"{where} expects {t}, got {_describe(value)}")


def enforce_params(params: Optional[dict], specs) -> Optional[dict]:
    """Validates params against the signature's params schema and fills in defaults."""
    if specs is None:
        if params:
            logger.warning("ignoring params %s: the model's signature declares no params",
                           sorted(params))
        return None
    params = params or {}
    known = {spec.name for spec in specs}
    unknown = sorted(set(params) - known)
    if unknown:
        logger.warning("ignoring params %s not in the model's signature", unknown)
    result = {}
    for spec in specs:
        value = params.get(spec.name)
        if value is None:
            result[spec.name] = spec.default
            continue
        where = f"params: '{spec.name}'"
        if spec.shape is not None:
            if not isinstance(value, list):
                raise RequestError(f"{where} expects a list of {spec.type}")
            result[spec.name] = [_convert_param(v, spec, where) for v in value]
        else:
            result[spec.name] = _convert_param(value, spec, where)
    return result


# ---------------------------------------------------------------------------------------------
# Output


def to_json(value: Any) -> Any:
    """Turns predictions into JSON-ready Python values.

    numpy arrays become (nested) lists, a DataFrame a list of records, a Series a list, a dict of
    arrays a dict of lists. NaN and infinities become null so the body is strict JSON; datetimes
    become ISO strings and bytes base64 strings.
    """
    if isinstance(value, pd.DataFrame):
        return [{str(k): to_json(v) for k, v in row.items()}
                for row in value.to_dict(orient="records")]
    if isinstance(value, (pd.Series, pd.Index)):
        return [to_json(v) for v in value.tolist()]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub":
            return to_json(value.tolist())
        return [to_json(v) for v in value] if value.ndim else to_json(value.item())
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (pd.Timestamp, datetime.datetime, datetime.date, datetime.time)):
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def input_to_json(data: Any) -> Any:
    """The `input_data` JSON for a decoded input (split orientation for a DataFrame)."""
    if isinstance(data, pd.DataFrame):
        return {"columns": [to_json(c) for c in data.columns],
                "index": [to_json(i) for i in data.index],
                "data": to_json(data.values.tolist())}
    return to_json(data)
