"""In-process tests of the runner's pure parts: settings, request ids, shims and decorators."""

import argparse
import datetime
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from azureml.contrib.services.aml_response import AMLResponse  # noqa: E402
from berth_runner import config, request_ids  # noqa: E402
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType  # noqa: E402
from inference_schema.parameter_types.standard_py_parameter_type import (  # noqa: E402
    StandardPythonParameterType)
from inference_schema.schema_decorators import (InputConversionError, input_schema,  # noqa: E402
                                                output_schema)
from inference_schema.schema_util import (get_input_schema, get_output_schema,  # noqa: E402
                                          get_supported_versions, is_schema_decorated)


def _load(environ, **args):
    namespace = argparse.Namespace(port=None, host=None, entry_script=None, app_root=None,
                                   model_dir=None, worker_count=None)
    for key, value in args.items():
        setattr(namespace, key, value)
    return config.load(namespace, environ)


def test_config_from_environment(tmp_path):
    loaded = _load({"AML_APP_ROOT": str(tmp_path), "AZUREML_ENTRY_SCRIPT": "src/score.py",
                    "WORKER_COUNT": "3", "SCORING_TIMEOUT_MS": "500"}, port=9000)
    assert loaded.entry_script == str(tmp_path / "src" / "score.py")
    assert (loaded.port, loaded.worker_count, loaded.scoring_timeout_ms) == (9000, 3, 500)
    assert (loaded.service_name, loaded.service_version) == ("ML service", "1.0")
    assert loaded.user_script and loaded.host == "127.0.0.1"


def test_config_mlflow_mode(tmp_path):
    loaded = _load({"AML_APP_ROOT": str(tmp_path), "AZUREML_ENTRY_SCRIPT": "score.py",
                    "MLFLOW_MODEL_FOLDER": "model"}, port=1)
    assert loaded.entry_script == config.MLFLOW_SCRIPT and not loaded.user_script
    assert loaded.mlflow_model_folder == "model"


@pytest.mark.parametrize("environ,message", [
    ({}, "no scoring script"),
    ({"AZUREML_ENTRY_SCRIPT": "s.py", "WORKER_COUNT": "0"}, "WORKER_COUNT must be at least 1"),
    ({"AZUREML_ENTRY_SCRIPT": "s.py", "SCORING_TIMEOUT_MS": "x"}, "SCORING_TIMEOUT_MS"),
    ({"AZUREML_ENTRY_SCRIPT": "s.py", "AZUREML_LOG_LEVEL": "LOUD"}, "AZUREML_LOG_LEVEL"),
])
def test_config_errors(environ, message):
    with pytest.raises(config.ConfigError, match=message):
        _load(environ, port=1)


def test_request_ids():
    ids, error = request_ids.resolve({"x-ms-request-id": "legacy"}.get)
    assert error is None
    assert ids.legacy_client_request_id == "legacy" and ids.client_request_id == "legacy"
    ids, error = request_ids.resolve({"x-request-id": "r" * 101}.get)
    assert error == "x-request-id must not exceed 100 characters"


def test_aml_response_headers():
    response = AMLResponse("text", 201, {"X-Multi": "a, b"}, run_function_failed=True)
    assert response.status_code == 201
    assert response.headers.getlist("X-Multi") == ["a", "b"]
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert AMLResponse(None, 200).get_data() == b"{}"


def test_decorators_convert_and_record():
    import numpy as np

    @input_schema("when", StandardPythonParameterType(datetime.date(2020, 1, 2)))
    @input_schema("values", NumpyParameterType(np.array([1, 2], dtype="int32")))
    @input_schema("weight", StandardPythonParameterType(1.5), optional=True)
    @output_schema(StandardPythonParameterType([1.0]))
    def run(when, values, weight=None):
        return when, values, weight

    when, values, weight = run(when="2021-03-04", values=[5, 6], weight=2)
    assert when == datetime.date(2021, 3, 4)
    assert values.dtype == np.int32 and values.tolist() == [5, 6]
    assert weight == 2  # ints are accepted for floats
    assert run("2021-03-04", [1])[2] is None  # optional and missing: not converted
    assert is_schema_decorated(run)
    schema = get_input_schema(run)
    assert list(schema["properties"]) == ["when", "values", "weight"]
    assert schema["properties"]["when"] == {"type": "string", "format": "date"}
    assert schema["example"]["values"] == [1, 2]
    assert get_output_schema(run)["items"] == {"type": "number", "format": "double"}
    assert get_supported_versions(run) == ["2.0", "3.0", "3.1"]
    with pytest.raises(InputConversionError, match="'values'"):
        run(when="2021-03-04", values="nope")


def test_mixed_list_needs_openapi3_and_bad_name_is_refused():
    @input_schema("items", StandardPythonParameterType([1, "a"]))
    def run(items):
        return items

    assert get_supported_versions(run) == ["3.0", "3.1"]
    assert "oneOf" in get_input_schema(run)["properties"]["items"]["items"]
    with pytest.raises(ValueError, match="not in the decorated function"):
        input_schema("missing", StandardPythonParameterType(1))(lambda data: data)
