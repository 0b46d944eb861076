"""Reads the schemas the decorators in schema_decorators recorded on a function.

A decorated function carries a record (attribute `__inference_schema__`) that each decorator copies
and extends, so stacked decorators and functools.wraps-style wrappers keep it.
"""

import copy
import inspect

from ._constants import ALL_VERSIONS, INPUT_SCHEMA_ATTR, OUTPUT_SCHEMA_ATTR, SCHEMA_RECORD_ATTR


def _record(func):
    record = getattr(func, SCHEMA_RECORD_ATTR, None)
    return record if isinstance(record, dict) else None


def _new_record(func):
    """A record for `func` copied from the one it already carries, or an empty one."""
    existing = _record(func)
    if existing is not None:
        record = copy.deepcopy({k: v for k, v in existing.items() if k != "parameter_types"})
        record["parameter_types"] = dict(existing.get("parameter_types", {}))
        return record
    base = inspect.unwrap(func)
    arg_names = [
        p.name for p in inspect.signature(base).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return {
        "function": f"{base.__module__}.{base.__qualname__}",
        "arg_names": arg_names,
        INPUT_SCHEMA_ATTR: None,
        OUTPUT_SCHEMA_ATTR: None,
        "input_versions": {},
        "output_versions": None,
        "parameter_types": {},
    }


def get_input_schema(func):
    """The JSON schema of the object a decorated function takes (one property per parameter),
    or {} when it has no @input_schema."""
    record = _record(func)
    if record is None or record[INPUT_SCHEMA_ATTR] is None:
        return {}
    return copy.deepcopy(record[INPUT_SCHEMA_ATTR])


def get_output_schema(func):
    """The JSON schema of a decorated function's output, or {} when it has no @output_schema."""
    record = _record(func)
    if record is None or record[OUTPUT_SCHEMA_ATTR] is None:
        return {}
    return copy.deepcopy(record[OUTPUT_SCHEMA_ATTR])


def get_input_parameter_types(func):
    """{parameter name: AbstractParameterType} declared with @input_schema, in declaration order."""
    record = _record(func)
    return dict(record.get("parameter_types", {})) if record else {}


def is_schema_decorated(func):
    """True when `func` has an @input_schema or an @output_schema."""
    record = _record(func)
    return bool(record) and (record[INPUT_SCHEMA_ATTR] is not None
                             or record[OUTPUT_SCHEMA_ATTR] is not None)


def get_supported_versions(func):
    """The OpenAPI versions ("2.0", "3.0", "3.1") all of `func`'s schemas can be written in."""
    versions = set(ALL_VERSIONS)
    record = _record(func)
    if record:
        for supported in record["input_versions"].values():
            versions &= set(supported)
        if record["output_versions"] is not None:
            versions &= set(record["output_versions"])
    return sorted(versions)
