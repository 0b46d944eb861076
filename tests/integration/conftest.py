"""Fixtures for berth's integration tests.

The tests drive the real binaries: `berthd` on a temporary data dir and port 0, the `berth` CLI
through BERTH_URL/BERTH_TOKEN, and instances running tests/servers/test_server.py as a custom
command. Only the standard library and pytest are used; helpers live in berth_helpers.py.

Every process started here is stopped at teardown, and everything stays on loopback.
"""

import http.client
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from berth_helpers import (BERTH, BERTHD, TERMINAL_STATES, Resp, ThreadConnections,
                           encode_body, http_request, instance_pids, parse_json_output,
                           parse_metrics, wait_until, write_deployment, write_endpoint)

# Every daemon started in this session, so a failing test can show their log tails.
_DAEMONS = []


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long-running end-to-end test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for d in _DAEMONS:
            report.sections.append((f"berthd log tail ({d.data_dir})", d.log_tail(60)))


# --------------------------------------------------------------------------------------------
# berthd


class Berthd:
    """One berthd process on a data dir. Restartable; the data dir survives restarts.
    `berthd` and `berth` default to the build tree's; `launcher` is a command line that berthd's
    runs under (tests/install wraps it in bubblewrap)."""

    def __init__(self, data_dir, log_dir, extra_args=(), berthd=BERTHD, berth=BERTH, launcher=()):
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.extra_args = list(extra_args)
        self.berthd = Path(berthd)
        self.berth = Path(berth)
        self.launcher = [str(a) for a in launcher]
        self.home = self.log_dir / "home"  # the CLI's HOME: no ~/.config/berth leaks in
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.url = None
        self.port = None
        self.token = None
        self.starts = 0
        self._pool = ThreadConnections()
        self._stdout_thread = None

    # ---- lifecycle

    def start(self, timeout=30):
        assert self.berthd.exists(), f"{self.berthd} is not built (set BERTH_BUILD_DIR)"
        assert self.proc is None or self.proc.poll() is not None, "berthd is already running"
        self.starts += 1
        self.stderr_path = self.log_dir / f"berthd-{self.starts}.stderr"
        self.stdout_path = self.log_dir / f"berthd-{self.starts}.stdout"
        argv = [*self.launcher, str(self.berthd), "--data-dir", str(self.data_dir), "--port", "0",
                "--host", "127.0.0.1", "--log-level", "info", *self.extra_args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "wb"))
        lines = queue.Queue()
        stdout, out_path = self.proc.stdout, self.stdout_path

        def pump():
            # Keeps draining stdout so berthd never blocks on a full pipe.
            with open(out_path, "wb") as sink:
                for raw in iter(stdout.readline, b""):
                    sink.write(raw)
                    sink.flush()
                    lines.put(raw.decode(errors="replace"))
            lines.put(None)

        self._stdout_thread = threading.Thread(target=pump, daemon=True)
        self._stdout_thread.start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise AssertionError(f"berthd printed no listening line in {timeout}s:\n"
                                     f"{self.log_tail(40)}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise AssertionError(f"berthd exited with {code} before listening:\n"
                                     f"{self.log_tail(40)}")
            m = re.search(r"listening on (http://[^\s/]+)", line)
            if m:
                self.url = m.group(1)
                self.port = urllib.parse.urlsplit(self.url).port
                break
        token_file = self.data_dir / "admin-token"
        self.token = token_file.read_text().strip()
        self._pool = ThreadConnections()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_pool()
        return self.proc.returncode

    def kill9(self):
        assert self.running(), "berthd is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close_pool()

    def restart(self):
        self.stop()
        return self.start()

    def instance_pids(self):
        exclude = (self.proc.pid,) if self.proc is not None else ()
        return instance_pids(self.data_dir, exclude=exclude)

    def log_tail(self, n=60):
        parts = []
        for p in (getattr(self, "stdout_path", None), getattr(self, "stderr_path", None)):
            if p is not None and p.exists():
                lines = p.read_text(errors="replace").splitlines()[-n:]
                parts.append(f"--- {p.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    # ---- CLI

    def cli_env(self, **extra):
        env = dict(os.environ)
        env.update({"BERTH_URL": self.url, "BERTH_TOKEN": self.token, "HOME": str(self.home),
                    "NO_COLOR": "1"})
        env.update(extra)
        return env

    def cli(self, *args, check=True, timeout=180, env=None, cwd=None):
        """Runs `berth args...`; with check=True a non-zero exit fails the test."""
        assert self.berth.exists(), f"{self.berth} is not built (set BERTH_BUILD_DIR)"
        argv = [str(self.berth), *[str(a) for a in args]]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=env or self.cli_env(), cwd=cwd, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"`berth {' '.join(argv[1:])}` exited {cp.returncode}\n"
                                 f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
        return cp

    def cli_json(self, *args, **kwargs):
        return parse_json_output(self.cli(*args, **kwargs).stdout)

    # ---- management API

    def api(self, method, path, body=None, token=..., headers=None, timeout=30):
        hdrs = {}
        if token is ...:
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        return http_request(self.url + path, method, body, hdrs, timeout)

    def api_ok(self, method, path, body=None, expect=(200,)):
        r = self.api(method, path, body)
        assert r.status in expect, f"{method} {path} -> {r!r}"
        return r.json() if r.data else None

    def endpoint(self, name):
        return self.api_ok("GET", f"/api/v1/online-endpoints/{name}")

    def deployment(self, endpoint, name):
        return self.api_ok("GET", f"/api/v1/online-endpoints/{endpoint}/deployments/{name}")

    def keys(self, endpoint):
        return self.api_ok("GET", f"/api/v1/online-endpoints/{endpoint}/keys")

    def primary_key(self, endpoint):
        return self.keys(endpoint)["primaryKey"]

    def wait_deployment(self, endpoint, name, want=("Succeeded",), timeout=60):
        """Polls the deployment until its provisioning_state is in `want`; a terminal state
        outside `want` fails at once with its reason."""
        def check():
            d = self.deployment(endpoint, name)
            state = d.get("provisioning_state")
            if state in want:
                return d
            if state in TERMINAL_STATES:
                raise AssertionError(f"deployment {endpoint}/{name} is {state}: {d.get('reason')}")
            return None
        return wait_until(check, timeout=timeout, step=0.1,
                          message=f"deployment {endpoint}/{name} in {want}")

    def ready_instances(self, endpoint, name):
        return [i for i in self.deployment(endpoint, name).get("instances", [])
                if i.get("state") == "Ready"]

    def metrics(self):
        r = self.api("GET", "/metrics")
        assert r.status == 200, r
        return parse_metrics(r.text)

    def metric(self, name, **labels):
        """Sum of the series `name` whose labels include `labels`."""
        return sum(v for n, l, v in self.metrics()
                   if n == name and all(l.get(k) == str(want) for k, want in labels.items()))

    # ---- setup through the CLI

    def create_endpoint(self, directory, name, **fields):
        path = write_endpoint(directory, name, **fields)
        return self.cli_json("online-endpoint", "create", "-f", path, "-n", name)

    def create_deployment(self, directory, name, endpoint, all_traffic=False, **overrides):
        path = write_deployment(directory, name, endpoint, **overrides)
        args = ["online-deployment", "create", "-f", path, "-n", name, "-e", endpoint]
        if all_traffic:
            args.append("--all-traffic")
        self.cli(*args)
        return self.wait_deployment(endpoint, name)

    # ---- data plane

    def _conn(self):
        conn = self._pool.conns.get(self.port)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._pool.conns[self.port] = conn
        return conn

    def _close_pool(self):
        for conn in self._pool.conns.values():
            conn.close()
        self._pool.conns.clear()

    def request(self, method, path, body=None, headers=None, timeout=None, keepalive=True):
        """A data-plane request; keep-alive connections are kept per thread."""
        data, hdrs = encode_body(body)
        hdrs.update(headers or {})
        if not keepalive:
            return http_request(self.url + path, method, body, headers, timeout or 60)
        for attempt in (0, 1):
            conn = self._conn()
            reused = conn.sock is not None
            if timeout is not None:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=data, headers=hdrs)
                r = conn.getresponse()
                payload = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                conn.close()
                self._pool.conns.pop(self.port, None)
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection
                raise
            except Exception:
                conn.close()
                self._pool.conns.pop(self.port, None)
                raise
            resp = Resp(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, payload)
            if r.will_close:
                conn.close()
                self._pool.conns.pop(self.port, None)
            return resp
        raise AssertionError("unreachable")

    def score(self, endpoint, body, key=None, deployment=None, headers=None, timeout=None,
              keepalive=True):
        """POST /endpoints/<endpoint>/score. key=None uses the endpoint's primary key;
        key="" sends no Authorization header."""
        if key is None:
            key = self.primary_key(endpoint)
        hdrs = {}
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        if deployment is not None:
            hdrs["azureml-model-deployment"] = deployment
        hdrs.update(headers or {})
        return self.request("POST", f"/endpoints/{endpoint}/score", body, hdrs, timeout,
                            keepalive)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def berthd_factory(tmp_path_factory):
    """start(extra_args=()) -> a running Berthd, stopped (SIGTERM, then SIGKILL) at the end of
    the module; instance processes left behind by a stopped berthd fail the module."""
    started = []

    def start(extra_args=()):
        base = tmp_path_factory.mktemp("berthd")
        d = Berthd(base / "data", base, extra_args)
        started.append(d)
        _DAEMONS.append(d)
        return d.start()

    yield start
    problems = []
    for d in started:
        d.stop()
        _DAEMONS.remove(d)
        try:
            wait_until(lambda: not instance_pids(d.data_dir), timeout=10,
                       message="instances to exit after berthd stopped")
        except AssertionError:
            left = instance_pids(d.data_dir)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            problems.append(f"{d.data_dir}: instance processes left after berthd stopped: {left}")
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="module")
def berthd(berthd_factory):
    """One berthd shared by the tests of a module (distinct endpoint names keep them apart)."""
    return berthd_factory()


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    """A folder for YAML files and server/ copies shared by a module's setup fixtures."""
    return tmp_path_factory.mktemp("work")
