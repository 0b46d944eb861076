"""Fixtures for the runner tests: start `python -m berth_runner` on a free port with a scoring
script written to a temporary folder, talk HTTP to it, and validate OpenAPI documents."""

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
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, Optional

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


def start_runner(app_dir: Path, log_dir: Path, entry: str = "score.py",
                 env: Optional[dict] = None, wait: bool = True) -> Runner:
    port = free_port()
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
        proc = subprocess.Popen([sys.executable, "-m", "berth_runner", "--port", str(port)],
                                cwd=app_dir, env=full_env, stdout=out, stderr=err)
    runner = Runner(proc, port, out_path, err_path)
    if wait:
        try:
            runner.wait_ready()
        except BaseException:
            runner.stop()
            raise
    return runner


@pytest.fixture
def runner_factory(tmp_path):
    """start(app_dir, **kwargs) -> Runner; every runner is stopped at the end of the test."""
    runners = []

    def start(app_dir: Path, **kwargs) -> Runner:
        runner = start_runner(app_dir, tmp_path / f"logs{len(runners)}", **kwargs)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


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
