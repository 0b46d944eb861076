"""berth mode (`--socket-dir`): berth frames straight to the worker sockets and control.sock."""

import json
import os
import re
import signal
import struct
import threading
import time

import pytest

from conftest import FrameClient, encode_frame_request, write_app

SCORE = """
    import json
    import os
    import signal
    import time


    def init():
        gate = os.environ.get("INIT_GATE")
        deadline = time.monotonic() + 60
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)


    def run(raw_data, request_headers):
        payload = json.loads(raw_data) if raw_data else {}
        action = payload.get("action")
        if payload.get("mark"):  # tells the test that run() has started
            open(payload["mark"], "w").close()
        if action == "sleep":
            time.sleep(payload.get("seconds", 60))
        if action == "stuck":  # like native code: SIGALRM cannot interrupt it
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            time.sleep(60)
        if action == "barrier":
            open(os.path.join(os.environ["BARRIER_DIR"], payload["name"]), "w").close()
            deadline = time.monotonic() + 30
            while len(os.listdir(os.environ["BARRIER_DIR"])) < 2:
                if time.monotonic() > deadline:
                    return {"pid": os.getpid(), "barrier": "timed out"}
                time.sleep(0.01)
            return {"pid": os.getpid(), "barrier": "passed"}
        return {"raw": raw_data, "headers": request_headers, "pid": os.getpid()}
"""

FORBIDDEN_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection"}


@pytest.fixture
def app_dir(tmp_path):
    return write_app(tmp_path / "app", SCORE)


@pytest.fixture
def berth(berth_runner_factory, app_dir):
    return berth_runner_factory(app_dir)


def _pid(client: FrameClient) -> int:
    response = client.request("POST", "/score", {})
    assert response.status == 200, response
    return response.json()["pid"]


def _wait_until(condition, timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} not reached within {timeout} s"
        time.sleep(0.02)


def test_scoring_through_frames(berth):
    with berth.worker() as worker:
        response = worker.request(
            "POST", "/score?verbose=1", body=b'{"a": [1, 2]}',
            headers=[("Content-Type", "text/plain"), ("X-Custom", "yes"),
                     ("x-request-id", "req-1"), ("x-ms-client-request-id", "client-1"),
                     ("TraceId", "trace-1")])
        assert response.status == 200
        payload = response.json()
        assert payload["raw"] == '{"a": [1, 2]}'
        assert payload["headers"]["X-Custom"] == "yes"
        assert payload["headers"]["Content-Type"] == "text/plain"
        headers = response.headers
        assert headers["content-type"] == "application/json"
        assert headers["x-ms-run-function-failed"] == "False"
        assert re.fullmatch(r"\d+\.\d{3}", headers["x-ms-run-fn-exec-ms"])
        assert headers["x-request-id"] == "req-1"
        assert headers["x-ms-client-request-id"] == "client-1"
        assert headers["x-ms-request-id"] == "client-1"
        assert headers["traceid"] == "trace-1"
        assert headers["x-ms-server-version"].startswith("berth-runner/")
        assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", headers["date"])
        assert not FORBIDDEN_RESPONSE_HEADERS & set(headers)

        # The same connection carries further exchanges; a new id is made when none is sent.
        generated = worker.request("POST", "/score", {"x": 1})
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            generated.headers["x-request-id"])
        assert generated.headers["x-ms-request-id"] == generated.headers["x-request-id"]
    stderr = berth.wait_for_output("POST /score?verbose=1 200 ", stream="stderr")
    assert "berth_runner.access" in stderr


def test_large_bodies_cross_frames_both_ways(berth):
    text = json.dumps({"blob": "0123456789abcdef" * (200 * 1024)})  # over the receive buffer
    with berth.worker() as worker:
        response = worker.request("POST", "/score", body=text.encode(),
                                  headers=[("Content-Type", "text/plain")])
        assert response.status == 200
        assert response.json()["raw"] == text
        assert worker.request("POST", "/score", {}).status == 200


def test_routes_and_errors_through_frames(berth):
    with berth.worker() as worker:
        too_long = worker.request("POST", "/score", {}, headers=[("x-request-id", "a" * 101)])
        assert too_long.status == 431
        assert "must not exceed 100 characters" in too_long.json()["message"]
        assert worker.request("PUT", "/score", b"{}").status == 405
        assert worker.request("GET", "/nothing-here").status == 404
        swagger = worker.request("GET", "/swagger.json?version=3")
        assert swagger.status == 200 and swagger.json()["openapi"].startswith("3.0")
        # HEAD gets the body GET would get (berthd drops it and sends its length).
        head = worker.request("HEAD", "/")
        assert (head.status, head.body) == (200, b"Healthy")
        assert not FORBIDDEN_RESPONSE_HEADERS & set(head.headers)


def test_health_is_503_until_init_finished_then_200(berth_runner_factory, app_dir, tmp_path):
    gate = tmp_path / "init-gate"
    berth = berth_runner_factory(app_dir, env={"INIT_GATE": str(gate), "WORKER_COUNT": "2"},
                                 wait=False)
    _wait_until(lambda: (berth.socket_dir / "control.sock").exists(), message="control.sock")
    with berth.control() as control:
        starting = control.request("GET", "/")
        assert starting.status == 503
        assert "init()" in starting.json()["message"]
        gate.touch()
        _wait_until(lambda: control.request("GET", "/").status == 200, message="health 200")
        healthy = control.request("GET", "/", headers=[("x-request-id", "probe-1")])
        assert healthy.body == b"Healthy"
        assert healthy.headers["content-type"].startswith("text/plain")
        assert healthy.headers["x-request-id"] == "probe-1"
        assert control.request("GET", "/score").status == 404
        assert control.request("POST", "/").status == 404


@pytest.mark.parametrize("message", [
    encode_frame_request("POST", "/score", body=b"{}", version=2),
    # A header whose value length runs past the end of the payload.
    encode_frame_request("POST", "/score", [("X-A", "b")])[:-1],
    struct.pack(">I", 3) + b"\x01\x04P",  # the method runs past the payload
    b"\xff\xff\xff\xff",  # payload length over the limit (2^31 - 1)
], ids=["version", "header-past-payload", "method-past-payload", "over-limit"])
def test_bad_frame_closes_the_connection(berth, message):
    if message[:4] != b"\xff\xff\xff\xff":
        # Fix the length prefix to the bytes actually sent, so only the payload is wrong.
        message = struct.pack(">I", len(message) - 4) + message[4:]
    for socket_path in (berth.worker_socket(0), berth.socket_dir / "control.sock"):
        with FrameClient(socket_path) as client:
            client.send(message)
            assert client.read_response() is None  # closed without an answer
    with berth.worker() as worker:
        assert worker.request("POST", "/score", {}).status == 200


def test_a_worker_answers_its_connections_in_turn(berth):
    with berth.worker() as first, berth.worker() as second:
        for _ in range(3):
            assert first.request("POST", "/score", {}).status == 200
            assert second.request("POST", "/score", {}).status == 200


def test_two_workers_serve_concurrent_requests_in_two_processes(berth_runner_factory, app_dir,
                                                                tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    berth = berth_runner_factory(app_dir, env={"WORKER_COUNT": "2",
                                               "BARRIER_DIR": str(barrier)})
    results = {}

    def call(index):
        with berth.worker(index, timeout=60) as worker:
            results[index] = worker.request("POST", "/score",
                                            {"action": "barrier", "name": str(index)})

    threads = [threading.Thread(target=call, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    bodies = [results[index].json() for index in (0, 1)]
    assert [b["barrier"] for b in bodies] == ["passed", "passed"]
    assert bodies[0]["pid"] != bodies[1]["pid"]
    assert not (berth.socket_dir / "worker-2.sock").exists()


def test_a_worker_killed_mid_request_is_replaced_on_the_same_socket(berth, tmp_path):
    mark = tmp_path / "run-started"
    with berth.worker() as worker:
        first_pid = _pid(worker)
        worker.send(encode_frame_request("POST", "/score", body=json.dumps(
            {"action": "sleep", "mark": str(mark)}).encode()))
        _wait_until(mark.exists, message="run() started")
        os.kill(first_pid, signal.SIGKILL)
        assert worker.read_response() is None  # the connection closes without an answer
    # A connection made while the replacement starts waits in the socket's backlog.
    with berth.worker(timeout=60) as worker:
        assert _pid(worker) != first_pid
    berth.wait_for_output(f"Worker 0 (pid {first_pid}) exited", stream="stderr")
    assert berth.health().status == 200


def test_watchdog_kills_a_worker_stuck_past_the_timeout(berth_runner_factory, app_dir):
    berth = berth_runner_factory(app_dir, env={"SCORING_TIMEOUT_MS": "200",
                                               "BERTH_RUNNER_WATCHDOG_GRACE_S": "0.3"})
    with berth.worker() as worker:
        first_pid = _pid(worker)
        worker.send(encode_frame_request("POST", "/score",
                                         body=json.dumps({"action": "stuck"}).encode()))
        assert worker.read_response() is None
    berth.wait_for_output("killing it and starting a new one", stream="stderr")
    with berth.worker(timeout=60) as worker:
        assert _pid(worker) != first_pid


def test_boot_failure_exits_3_and_removes_the_sockets(berth_runner_factory, tmp_path):
    app = write_app(tmp_path / "broken", "def init():\n    raise ValueError('no model')\n\n"
                                         "def run(data):\n    return data\n")
    berth = berth_runner_factory(app, wait=False)
    assert berth.wait_exit() == 3
    stderr = berth.stderr()
    assert "cannot serve the scoring script" in stderr
    assert "ValueError: no model" in stderr
    assert list(berth.socket_dir.iterdir()) == []


def test_sigterm_lets_the_request_in_progress_finish(berth, tmp_path):
    mark = tmp_path / "run-started"
    with berth.worker() as worker, berth.worker() as queued:
        worker_pid = _pid(worker)
        worker.send(encode_frame_request("POST", "/score", body=json.dumps(
            {"action": "sleep", "seconds": 1, "mark": str(mark)}).encode()))
        _wait_until(mark.exists, message="run() started")
        # Sent while the worker is busy: answered before it leaves.
        queued.send(encode_frame_request("POST", "/score", body=b"{}"))
        berth.proc.send_signal(signal.SIGTERM)
        response = worker.read_response()
        assert response is not None and response.status == 200
        queued_response = queued.read_response()
        assert queued_response is not None and queued_response.status == 200
    assert berth.wait_exit(timeout=30) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    assert list(berth.socket_dir.iterdir()) == []
