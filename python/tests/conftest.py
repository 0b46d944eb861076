"""Fixtures for the runner tests: start `python -m berth_runner` on a free port (standalone HTTP
mode) or in a socket folder (berth mode) with a scoring script written to a temporary folder, talk
HTTP or berth frames to it, and validate OpenAPI documents.

The frame client here is written from docs/runner-protocol.md, independently of the runner's own
codec (berth_runner/frames.py), so that the tests check the wire format itself."""

import atexit
import contextlib
import dataclasses
import functools
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_app(folder: Path, script: str, name: str = "score.py", **extra_files: str) -> Path:
    """Writes `script` (dedented) as `folder/name` plus extra files; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(script))
    for file_name, text in extra_files.items():
        (folder / file_name).write_text(textwrap.dedent(text))
    return folder


@dataclasses.dataclass
class Response:
    status: int
    headers: Dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    def json(self):
        return json.loads(self.body)


def read_response(conn: http.client.HTTPConnection) -> Response:
    raw = conn.getresponse()
    body = raw.read()
    headers: Dict[str, str] = {}
    for name, value in raw.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(raw.status, headers, body)


class Runner:
    def __init__(self, proc: subprocess.Popen, port: int, out_path: Path, err_path: Path):
        self.proc = proc
        self.port = port
        self.out_path = out_path
        self.err_path = err_path

    def connect(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, headers: Optional[dict] = None,
                timeout: float = 30.0) -> Response:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        conn = self.connect(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return read_response(conn)
        finally:
            conn.close()

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_output(self, text: str, stream: str = "stdout", timeout: float = 10.0) -> str:
        """Polls the captured stream until it contains `text`; returns the stream."""
        read = self.stdout if stream == "stdout" else self.stderr
        deadline = time.monotonic() + timeout
        while True:
            content = read()
            if text in content:
                return content
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the runner's {stream}:\n{content}")
            time.sleep(0.02)

    def wait_exit(self, timeout: float = START_TIMEOUT_S) -> int:
        return self.proc.wait(timeout=timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Waits until GET / answers 200. Connections made before the runner is ready wait in the
        listen backlog, so one request per successful connect suffices."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if self.proc.poll() is not None:
                raise AssertionError(f"runner exited with code {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            if remaining <= 0:
                raise AssertionError(f"runner not ready after {timeout} s:\n{self.stderr()}")
            try:
                if self.request("GET", "/", timeout=min(remaining, 2.0)).status == 200:
                    return
            except ConnectionRefusedError:
                time.sleep(0.02)  # not listening yet
            except (OSError, http.client.HTTPException):
                pass  # not serving yet (timed out in the backlog) or exiting: check again

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def _launch(mode_args, app_dir: Path, log_dir: Path, entry: str, env: Optional[dict],
            make_runner):
    """Starts `python -m berth_runner <mode_args>` on a scoring script in `app_dir`, output into
    `log_dir`; `make_runner(proc, out_path, err_path)` wraps the process."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "runner.out", log_dir / "runner.err"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(PYTHON_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AML_APP_ROOT": str(app_dir),
        "AZUREML_ENTRY_SCRIPT": entry,
        "AZUREML_MODEL_DIR": str(app_dir),
    }
    full_env.update(env or {})
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "berth_runner", *mode_args], cwd=app_dir,
                                env=full_env, stdout=out, stderr=err)
    return make_runner(proc, out_path, err_path)


def _ready(runner, wait: bool):
    if wait:
        try:
            runner.wait_ready()
        except BaseException:
            runner.stop()
            raise
    return runner


def start_runner(app_dir: Path, log_dir: Path, entry: str = "score.py",
                 env: Optional[dict] = None, wait: bool = True) -> Runner:
    port = free_port()
    runner = _launch(["--port", str(port)], app_dir, log_dir, entry, env,
                     lambda proc, out, err: Runner(proc, port, out, err))
    return _ready(runner, wait)


def _runner_fixture(start_one, log_prefix, tmp_path, cleanup=lambda runner: None):
    """Starts runners with `start_one(app_dir, log_dir, **kwargs)` and stops each (then
    `cleanup(runner)`) at the end of the test."""
    runners = []

    def start(app_dir: Path, **kwargs):
        runner = start_one(app_dir, tmp_path / f"{log_prefix}{len(runners)}", **kwargs)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()
        cleanup(runner)


@pytest.fixture
def runner_factory(tmp_path):
    """start(app_dir, **kwargs) -> Runner; every runner is stopped at the end of the test."""
    yield from _runner_fixture(start_runner, "logs", tmp_path)


# ----- berth mode: frames over Unix sockets ------------------------------------------------------


def encode_frame_request(method: str, target: str, headers: Sequence[Tuple[str, str]] = (),
                         body: bytes = b"", remote_addr: str = "127.0.0.1",
                         remote_port: int = 40000, version: int = 1) -> bytes:
    """A whole request message: u32 payload length, then the v1 request payload."""
    method_bytes, target_bytes = method.encode("ascii"), target.encode("latin-1")
    addr_bytes = remote_addr.encode("ascii")
    payload = (struct.pack(">BB", version, len(method_bytes)) + method_bytes
               + struct.pack(">I", len(target_bytes)) + target_bytes
               + struct.pack(">B", len(addr_bytes)) + addr_bytes
               + struct.pack(">HH", remote_port, len(headers)))
    for name, value in headers:
        name_bytes, value_bytes = name.encode("latin-1"), value.encode("latin-1")
        payload += (struct.pack(">H", len(name_bytes)) + name_bytes
                    + struct.pack(">I", len(value_bytes)) + value_bytes)
    payload += body
    return struct.pack(">I", len(payload)) + payload


@dataclasses.dataclass
class FrameResponse:
    status: int
    header_list: List[Tuple[str, str]]
    body: bytes

    @property
    def headers(self) -> Dict[str, str]:
        """Lower-case names; repeated headers joined with ", " (like Response.headers)."""
        joined: Dict[str, str] = {}
        for name, value in self.header_list:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return joined

    def json(self):
        return json.loads(self.body)


def decode_frame_response(payload: bytes) -> FrameResponse:
    version, status, count = struct.unpack_from(">BHH", payload)
    assert version == 1, f"response frame version {version}"
    offset, headers = 5, []
    for _ in range(count):
        (name_length,) = struct.unpack_from(">H", payload, offset)
        name = payload[offset + 2:offset + 2 + name_length].decode("latin-1")
        offset += 2 + name_length
        (value_length,) = struct.unpack_from(">I", payload, offset)
        value = payload[offset + 4:offset + 4 + value_length].decode("latin-1")
        offset += 4 + value_length
        assert offset <= len(payload), "a response header runs past the payload"
        headers.append((name, value))
    return FrameResponse(status, headers, payload[offset:])


class FrameClient:
    """One connection to a runner socket (control.sock or worker-<i>.sock)."""

    def __init__(self, path, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise

    def _recv_exactly(self, size: int) -> Optional[bytes]:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                if not data:
                    return None
                raise AssertionError("connection closed inside a response frame")
            data += chunk
        return data

    def send(self, message: bytes) -> None:
        self.sock.sendall(message)

    def read_response(self) -> Optional[FrameResponse]:
        """The next response; None when the runner closed the connection instead."""
        prefix = self._recv_exactly(4)
        if prefix is None:
            return None
        (length,) = struct.unpack(">I", prefix)
        return decode_frame_response(self._recv_exactly(length) or b"")

    def request(self, method: str, target: str, body=b"", headers=(), **kwargs) -> FrameResponse:
        headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.insert(0, ("Content-Type", "application/json"))
        self.send(encode_frame_request(method, target, headers, body, **kwargs))
        response = self.read_response()
        assert response is not None, "the runner closed the connection without answering"
        return response

    def is_closed_by_peer(self) -> bool:
        """True when the runner has closed its end (waits up to the socket timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BerthRunner(Runner):
    """`python -m berth_runner --socket-dir DIR`."""

    def __init__(self, proc, socket_dir: Path, out_path: Path, err_path: Path):
        super().__init__(proc, 0, out_path, err_path)
        self.socket_dir = socket_dir

    def worker_socket(self, index: int = 0) -> Path:
        return self.socket_dir / f"worker-{index}.sock"

    def control(self, timeout: float = 30.0) -> FrameClient:
        return FrameClient(self.socket_dir / "control.sock", timeout)

    def worker(self, index: int = 0, timeout: float = 30.0) -> FrameClient:
        return FrameClient(self.worker_socket(index), timeout)

    def health(self, timeout: float = 5.0) -> FrameResponse:
        with self.control(timeout) as control:
            return control.request("GET", "/")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"runner exited with code {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"runner not ready after {timeout} s:\n{self.stderr()}")
            try:
                if self.health().status == 200:
                    return
            except (FileNotFoundError, ConnectionRefusedError):
                pass  # not listening yet
            time.sleep(0.02)


def start_berth_runner(app_dir: Path, log_dir: Path, entry: str = "score.py",
                       env: Optional[dict] = None, wait: bool = True) -> BerthRunner:
    # A short folder: a Unix socket path holds at most 107 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="berth-t-"))
    runner = _launch(["--socket-dir", str(socket_dir)], app_dir, log_dir, entry, env,
                     lambda proc, out, err: BerthRunner(proc, socket_dir, out, err))
    return _ready(runner, wait)


@pytest.fixture
def berth_runner_factory(tmp_path):
    """start(app_dir, **kwargs) -> BerthRunner; every runner is stopped (and its socket folder
    removed) at the end of the test."""
    yield from _runner_fixture(start_berth_runner, "berth-logs", tmp_path,
                               lambda runner: shutil.rmtree(runner.socket_dir, ignore_errors=True))


@contextlib.contextmanager
def running(app_dir: Path, log_dir: Path, **kwargs):
    runner = start_runner(app_dir, log_dir, **kwargs)
    try:
        yield runner
    finally:
        runner.stop()


_VALIDATOR_LOOP = """
import json, sys
from openapi_spec_validator import validate
for line in sys.stdin:
    try:
        validate(json.loads(line))
        answer = "ok"
    except Exception as error:
        answer = f"{type(error).__name__}: {error}"
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


@functools.lru_cache(maxsize=None)
def _validator() -> Optional[subprocess.Popen]:
    """A long-lived openapi-spec-validator process (one JSON document per line in, one verdict per
    line out), run by the `python3` on PATH on the build machines; None when it has none."""
    candidates = [shutil.which("python3"), shutil.which("python")]
    for exe in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run([exe, "-c", "import openapi_spec_validator"],
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            proc = subprocess.Popen([exe, "-c", _VALIDATOR_LOOP], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            atexit.register(proc.kill)
            return proc
    return None


def validate_openapi(document: dict) -> None:
    """Validates `document` with openapi-spec-validator (Swagger 2.0, OpenAPI 3.0 or 3.1)."""
    proc = _validator()
    if proc is None:
        pytest.skip("openapi-spec-validator is not importable by the python3 on PATH")
    proc.stdin.write(json.dumps(document) + "\n")
    proc.stdin.flush()
    verdict = proc.stdout.readline()
    assert verdict, "the OpenAPI validator process exited"
    assert json.loads(verdict) == "ok", f"invalid OpenAPI document: {json.loads(verdict)}"


# ---- MLflow models (test_mlflow_score.py, test_mlflow_compat.py)


@pytest.fixture(scope="module")
def data():
    """The training frame and target of mlflow_folders' small regression."""
    from mlflow_folders import training_frame
    return training_frame()


@pytest.fixture(scope="module")
def regression(data):
    """A scikit-learn LinearRegression fitted on `data`."""
    from sklearn.linear_model import LinearRegression
    frame, target = data
    return LinearRegression().fit(frame, target)
