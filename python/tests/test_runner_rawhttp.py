"""@rawhttp scripts: run() receives the request; returned responses pass through unchanged."""

import pytest

from conftest import running, write_app

RAW_SCORE = """
    from azureml.contrib.services.aml_request import AMLRequest, rawhttp
    from azureml_inference_server_http.api.aml_response import AMLResponse
    from werkzeug.wrappers import Response


    def init():
        pass


    @rawhttp
    def run(request):
        assert isinstance(request, AMLRequest)
        if request.method == "GET":
            return {"args": request.args.to_dict(), "method": "GET"}
        if request.args.get("fail") == "1":
            return Response(b"backend down", status=503, mimetype="text/plain")
        if request.args.get("json") == "1":
            return AMLResponse({"ok": True}, 202, json_str=True)
        body = request.get_data()
        return AMLResponse(bytes(reversed(body)), 207,
                           {"Content-Type": "application/octet-stream",
                            "X-Tag": request.args.get("tag", "none")})
"""


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("raw"), RAW_SCORE)
    with running(app, tmp_path_factory.mktemp("raw-logs")) as runner:
        yield runner


def test_binary_body_query_and_custom_response(raw):
    payload = bytes(range(256)) * 4
    response = raw.request("POST", "/score?tag=abc", body=payload,
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status == 207
    assert response.body == bytes(reversed(payload))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-tag"] == "abc"
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert "x-ms-run-fn-exec-ms" in response.headers


def test_large_body_both_ways(raw):
    payload = bytes(range(256)) * (12 * 1024)  # 3 MiB
    response = raw.request("POST", "/score", body=payload,
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status == 207
    assert response.body == bytes(reversed(payload))


def test_get_reaches_run(raw):
    response = raw.request("GET", "/score?a=1&b=two")
    assert response.status == 200
    assert response.json() == {"args": {"a": "1", "b": "two"}, "method": "GET"}


def test_json_aml_response(raw):
    response = raw.request("POST", "/score?json=1", body=b"ignored")
    assert (response.status, response.json()) == (202, {"ok": True})
    assert response.headers["content-type"] == "application/json"


def test_returned_5xx_is_marked_as_run_failure(raw):
    response = raw.request("POST", "/score?fail=1", body=b"x")
    assert response.status == 503
    assert response.body == b"backend down"
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_rawhttp_with_input_schema_is_refused(runner_factory, tmp_path):
    app = write_app(tmp_path / "both", """
        from azureml.contrib.services.aml_request import rawhttp
        from inference_schema.parameter_types.standard_py_parameter_type import (
            StandardPythonParameterType)
        from inference_schema.schema_decorators import input_schema

        def init():
            pass

        @rawhttp
        @input_schema("data", StandardPythonParameterType(1))
        def run(data):
            return data
    """)
    runner = runner_factory(app, wait=False)
    assert runner.wait_exit() == 3
    assert "cannot be decorated with both @rawhttp and @input_schema" in runner.stderr()
