"""In-process tests of the runner's pure parts: settings, request ids, shims and decorators."""

import argparse
import datetime
import os
import struct
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
                                   model_dir=None, worker_count=None, socket_dir=None)
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


def test_config_modes(tmp_path):
    environ = {"AZUREML_ENTRY_SCRIPT": "s.py"}
    assert _load(environ, port=1).socket_dir is None
    assert _load(environ, socket_dir=str(tmp_path)).socket_dir == str(tmp_path)
    # BERTH_SOCKET_DIR selects berth mode unless --port is given.
    from_env = {**environ, "BERTH_SOCKET_DIR": str(tmp_path)}
    assert _load(from_env).socket_dir == str(tmp_path)
    assert _load(from_env, port=1).socket_dir is None
    with pytest.raises(config.ConfigError, match="cannot be used together"):
        _load(environ, port=1, socket_dir=str(tmp_path))
    with pytest.raises(config.ConfigError, match="does not exist"):
        _load(environ, socket_dir=str(tmp_path / "missing"))
    with pytest.raises(config.ConfigError, match="BERTH_RUNNER_WATCHDOG_GRACE_S"):
        _load({**environ, "BERTH_RUNNER_WATCHDOG_GRACE_S": "soon"}, port=1)


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


HEADER_CASES = [
    [],
    [("Content-Type", "application/json"), ("X-Custom", "yes")],
    [("x-ms-client-request-id", "a"), ("X-MS-CLIENT-REQUEST-ID", "b"), ("x_ms_client_request_id",
                                                                        "c")],
    [("content-type", "text/plain"), ("Accept", "*/*"), ("Content-Type", "application/json")],
    [("Content-Type", ""), ("Host", "x"), ("Content-Length", "3"), ("Transfer-Encoding", "x")],
    [("X-Empty", ""), ("x-b3-traceid", "1"), ("TraceId", "t")],
]


@pytest.mark.parametrize("headers", HEADER_CASES)
def test_fast_request_matches_werkzeug(headers):
    """The hot path's request view gives what AMLRequest gives for the same frame."""
    from azureml_inference_server_http.api.aml_request import AMLRequest
    from berth_runner.app import FastRequest, build_environ, werkzeug_headers
    from berth_runner.frames import Request

    request = Request("POST", "/score", "127.0.0.1", 1, headers, b'{"a": 1}')
    reference = AMLRequest(build_environ(request, "127.0.0.1", 5001))
    assert list(werkzeug_headers(request).items()) == list(dict(reference.headers).items())
    assert FastRequest(request).is_json == reference.is_json
    assert FastRequest(request).get_data() == reference.get_data()


@pytest.mark.parametrize("content_type", [
    "application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json",
    "application /json", "text/json", "application/json, text/plain", " application/json",
    'application/json;q="x,y"', ""])
def test_fast_request_is_json_matches_werkzeug(content_type):
    from azureml_inference_server_http.api.aml_request import AMLRequest
    from berth_runner.app import FastRequest, build_environ
    from berth_runner.frames import Request

    request = Request("POST", "/score", "", 0, [("Content-Type", content_type)], b"")
    reference = AMLRequest(build_environ(request, "127.0.0.1", 5001))
    assert FastRequest(request).is_json == reference.is_json


def test_frames_round_trip_with_the_test_client_codec():
    from berth_runner import frames
    from conftest import decode_frame_response, encode_frame_request

    message = encode_frame_request("PATCH", "/score?x=%41", [("X-A", "1"), ("x-b", "é")],
                                   b"\x00body", remote_addr="::1", remote_port=65535)
    request = frames.decode_request(message)
    assert (request.method, request.target, request.remote_addr, request.remote_port) == (
        "PATCH", "/score?x=%41", "::1", 65535)
    assert request.headers == [("X-A", "1"), ("x-b", "é")]
    assert request.body == b"\x00body"
    assert frames.decode_request(frames.encode_request(
        "PATCH", "/score?x=%41", "::1", 65535, request.headers, request.body)).headers == \
        request.headers

    body = b"payload"
    head = frames.encode_response_head(207, [("X-One", "1"), ("X-Euro", "€")], len(body))
    response = decode_frame_response((head + body)[4:])
    assert (response.status, response.body) == (207, body)
    assert response.header_list == [("X-One", "1"), ("X-Euro", "€".encode().decode("latin-1"))]
    assert struct.unpack(">I", head[:4])[0] == len(head) - 4 + len(body)
    assert frames.decode_response(head + body) == (207, response.header_list, body)


@pytest.mark.parametrize("message", [
    b"\x00\x00\x00\x02\x02\x00",  # version 2
    b"\x00\x00\x00\x03\x01\x09P",  # method past the payload
    b"\x00\x00\x00\x0e\x01\x01P\x00\x00\x00\x01/\x00\x00\x00\x00\x01",  # header count, no header
])
def test_frames_refuse_payloads_that_do_not_add_up(message):
    from berth_runner import frames

    with pytest.raises(frames.ProtocolError):
        frames.decode_request(message)


def test_new_request_ids_are_version_4_uuids():
    import uuid

    ids = {request_ids.new_request_id() for _ in range(600)}  # crosses the random pool's refill
    assert len(ids) == 600
    for text in ids:
        assert str(uuid.UUID(text)) == text and uuid.UUID(text).version == 4
