"""Undecorated scripts: run(raw_data) gets the body as a str; routes, headers and errors."""

import json
import re
import socket

import pytest

from conftest import read_response, running, write_app

SKLEARN_SCORE = """
    import json
    import os

    import joblib
    import numpy


    def init():
        global model
        model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"),
                                  "model/sklearn_regression_model.pkl")
        model = joblib.load(model_path)
        print("model loaded from", model_path)


    def run(raw_data):
        data = numpy.array(json.loads(raw_data)["data"])
        result = model.predict(data)
        return result.tolist()
"""

ECHO_SCORE = """
    import json
    import logging
    import os

    logger = logging.getLogger("echo-script")


    def init():
        print("ECHO-INIT-MARKER", flush=False)


    def run(raw_data, request_headers):
        payload = json.loads(raw_data) if raw_data else {}
        action = payload.get("action") if isinstance(payload, dict) else None
        if action == "raise":
            raise RuntimeError("boom from run")
        if action == "not-json":
            return object()
        if action == "print":
            print("RUN-PRINT-MARKER")
            logger.warning("RUN-LOG-MARKER")
        return {"raw": raw_data, "headers": request_headers, "pid": os.getpid()}
"""

USER_SWAGGER2 = '{"swagger": "2.0", "info": {"title": "mine", "version": "9"}, "paths": {}}'


@pytest.fixture(scope="module")
def sklearn_app(tmp_path_factory):
    from sklearn.linear_model import LinearRegression
    import joblib
    import numpy as np

    app = write_app(tmp_path_factory.mktemp("sklearn") / "code", SKLEARN_SCORE)
    model_root = tmp_path_factory.mktemp("model_root")
    (model_root / "model").mkdir()
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 10))
    target = features @ np.arange(1, 11) + rng.normal(scale=0.1, size=200)
    model = LinearRegression().fit(features, target)
    joblib.dump(model, model_root / "model" / "sklearn_regression_model.pkl")
    return app, model_root, model


def test_sklearn_predictions_match(sklearn_app, tmp_path):
    app, model_root, model = sklearn_app
    import numpy as np

    rows = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]
    with running(app, tmp_path, env={"AZUREML_MODEL_DIR": str(model_root)}) as runner:
        response = runner.request("POST", "/score", {"data": rows})
        assert response.status == 200, response.body
        assert response.headers["content-type"] == "application/json"
        expected = model.predict(np.array(rows)).tolist()
        assert response.json() == pytest.approx(expected)
        runner.wait_for_output("model loaded from")


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("echo"), ECHO_SCORE, **{"swagger2.json": USER_SWAGGER2})
    with running(app, tmp_path_factory.mktemp("echo-logs")) as runner:
        yield runner


def test_health(echo):
    response = echo.request("GET", "/")
    assert (response.status, response.body) == (200, b"Healthy")
    assert response.headers["content-type"].startswith("text/plain")
    head = echo.request("HEAD", "/")
    assert head.status == 200 and head.body == b""


def test_body_is_passed_as_string_with_headers(echo):
    response = echo.request("POST", "/score", body=b'{"a": [1, 2]}',
                            headers={"Content-Type": "text/plain", "X-Custom": "yes"})
    assert response.status == 200
    payload = response.json()
    assert payload["raw"] == '{"a": [1, 2]}'
    assert payload["headers"]["X-Custom"] == "yes"
    assert payload["headers"]["Content-Type"] == "text/plain"
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_get_query_becomes_json_string(echo):
    response = echo.request("GET", "/score?a=1&b=[1,2]&c=x&c=y&d=null")
    assert response.status == 200
    assert json.loads(response.json()["raw"]) == {"a": 1, "b": [1, 2], "c": ["x", "y"], "d": None}


def test_non_utf8_body_is_400(echo):
    response = echo.request("POST", "/score", body=b"\xff\xfe\x00bad")
    assert response.status == 400
    assert response.json()["message"].startswith("Input cannot be decoded as UTF-8")


def test_response_headers(echo):
    response = echo.request("POST", "/score", {"x": 1},
                            headers={"x-request-id": "req-1", "x-ms-client-request-id": "client-1",
                                     "TraceId": "trace-1"})
    assert response.status == 200
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["x-ms-run-fn-exec-ms"])
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-ms-client-request-id"] == "client-1"
    assert response.headers["x-ms-request-id"] == "client-1"
    assert response.headers["traceid"] == "trace-1"
    assert response.headers["x-ms-server-version"].startswith("berth-runner/")

    generated = echo.request("POST", "/score", {"x": 1})
    assert re.fullmatch(r"[0-9a-f-]{36}", generated.headers["x-request-id"])
    assert generated.headers["x-ms-request-id"] == generated.headers["x-request-id"]


@pytest.mark.parametrize("header", ["x-request-id", "x-ms-request-id", "x-ms-client-request-id"])
def test_long_request_id_is_431(echo, header):
    response = echo.request("POST", "/score", {"x": 1}, headers={header: "a" * 101})
    assert response.status == 431
    assert "must not exceed 100 characters" in response.json()["message"]


def test_methods_and_paths(echo):
    for method in ("PUT", "DELETE", "PATCH"):
        response = echo.request(method, "/score", body=b"{}")
        assert response.status == 405
        assert response.json() == {"message": "Method not allowed"}
    options = echo.request("OPTIONS", "/score")
    assert options.status == 200 and options.body == b""
    missing = echo.request("GET", "/nothing-here")
    assert missing.status == 404
    assert "message" in missing.json()
    assert echo.request("POST", "/").status == 405


def test_run_exception_is_500_with_failure_header(echo):
    response = echo.request("POST", "/score", {"action": "raise"})
    assert response.status == 500
    assert response.json() == {
        "message": "An unexpected error occurred in scoring script. Check the logs for more info."}
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert "x-ms-run-fn-exec-ms" in response.headers
    stderr = echo.wait_for_output("RuntimeError: boom from run", stream="stderr")
    assert "Traceback (most recent call last)" in stderr


def test_unserialisable_output_is_500(echo):
    response = echo.request("POST", "/score", {"action": "not-json"})
    assert response.status == 500
    assert response.json() == {
        "message": "An unexpected internal error occurred. Check the logs for more info."}


def test_print_and_logging_reach_the_log(echo):
    echo.wait_for_output("ECHO-INIT-MARKER")
    assert echo.request("POST", "/score", {"action": "print"}).status == 200
    echo.wait_for_output("RUN-PRINT-MARKER")
    echo.wait_for_output("RUN-LOG-MARKER", stream="stderr")


def test_swagger_user_file_and_versions(echo):
    v2 = echo.request("GET", "/swagger.json")
    assert v2.status == 200 and v2.json()["info"]["title"] == "mine"  # swagger2.json wins
    v3 = echo.request("GET", "/swagger.json?version=3").json()
    assert v3["openapi"].startswith("3.0")
    assert v3["components"]["schemas"]["ServiceInput"] == {"type": "object", "example": {}}
    bad = echo.request("GET", "/swagger.json?version=4")
    assert bad.status == 404
    assert bad.json()["message"].startswith("Swagger version [4] is not valid.")


def test_keep_alive_and_connection_close(echo):
    conn = echo.connect()
    try:
        pids = set()
        for _ in range(3):
            conn.request("POST", "/score", body=b'{"n": 1}')
            response = read_response(conn)
            assert response.status == 200
            pids.add(response.json()["pid"])
        assert len(pids) == 1
    finally:
        conn.close()

    with socket.create_connection(("127.0.0.1", echo.port), timeout=30) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     b"4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # the runner closes the connection after answering
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert json.loads(body)["raw"] == '{"a": 1}'


def test_expect_100_continue(echo):
    with socket.create_connection(("127.0.0.1", echo.port), timeout=30) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        data = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        sock.sendall(b'{"n": 5}')
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["raw"] == '{"n": 5}'


def test_idle_keep_alive_connection_does_not_block_others(echo):
    idle = echo.connect()
    try:
        idle.request("GET", "/score")
        assert read_response(idle).status == 200
        # The idle connection stays open; a new one (WORKER_COUNT=1) must still be served.
        assert echo.request("POST", "/score", {"x": 2}, timeout=10).status == 200
        idle.request("GET", "/score")
        assert read_response(idle).status == 200
    finally:
        idle.close()


def test_malformed_request_is_400(echo):
    with socket.create_connection(("127.0.0.1", echo.port), timeout=30) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        data = sock.recv(65536)
    # The HTTP server (aiohttp) answers in HTTP/1.0 when it cannot read the request's version.
    assert re.match(rb"HTTP/1\.[01] 400 ", data), data
