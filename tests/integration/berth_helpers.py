"""Helpers for berth's integration tests: paths, polling with deadlines, YAML files for
endpoints and deployments, process inspection, HTTP and Prometheus parsing.

Only the standard library. Nothing here sleeps to wait for a state change: wait_until and
wait_stable poll with a deadline.
"""

import http.client
import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BERTH_BUILD_DIR", REPO / "build")).resolve()
BERTHD = BUILD_DIR / "src" / "berthd"
BERTH = BUILD_DIR / "src" / "berth"
# The instance program; overridable to try a changed copy without touching the repo's.
TEST_SERVER = Path(os.environ.get("BERTH_TEST_SERVER",
                                  REPO / "tests" / "servers" / "test_server.py")).resolve()
PYTHON = "/usr/bin/python3"
SCHEMAS = "https://azuremlschemas.azureedge.net/latest"
DEPLOYMENT_SCHEMA = f"{SCHEMAS}/managedOnlineDeployment.schema.json"
ENDPOINT_SCHEMA = f"{SCHEMAS}/managedOnlineEndpoint.schema.json"

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TERMINAL_STATES = ("Succeeded", "Failed")


# --------------------------------------------------------------------------------------------
# Generic helpers


def wait_until(predicate, timeout=30, step=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value, which is returned. Fails the test
    with the last value seen when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}; last: {last!r}")
        time.sleep(step)


def wait_stable(read, timeout=30, step=0.1, rounds=3, message="value to settle"):
    """Polls read() until it returns the same value `rounds` times in a row; returns it.
    Used for counters that keep moving for a moment after the requests that drive them."""
    deadline = time.monotonic() + timeout
    last, same = read(), 0
    while same < rounds:
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}; last: {last!r}")
        time.sleep(step)
        value = read()
        same = same + 1 if value == last else 0
        last = value
    return last


def parse_json_output(text):
    """Parses the JSON a CLI command printed. Tolerates plain progress lines before it."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("{", "[")):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON in CLI output:\n{text}")


def items_of(listing):
    """A list answer is either a JSON array or {"value": [...]}."""
    if isinstance(listing, dict):
        return listing["value"]
    return listing


# --------------------------------------------------------------------------------------------
# YAML writing (block style; strings quoted unless plainly safe)

_PLAIN_RE = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    s = str(value)
    if _PLAIN_RE.match(s) and s.lower() not in _RESERVED:
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list):
                out.append(f"{pad}{k}: [{', '.join(_scalar(x) for x in v)}]\n")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}\n")
            else:
                out.append(f"{pad}{k}: {_scalar(v)}\n")
        return "".join(out)
    raise TypeError("to_yaml expects a mapping at the top")


DROP = object()  # in overrides: remove the key from the template


def deep_merge(base, update):
    out = dict(base)
    for k, v in update.items():
        if v is DROP:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def deployment_doc(name, endpoint, **overrides):
    route = lambda: {"port": 5001, "path": "/health"}  # noqa: E731
    doc = {
        "$schema": DEPLOYMENT_SCHEMA,
        "name": name,
        "endpoint_name": endpoint,
        "code_configuration": {"code": "./server", "scoring_script": "test_server.py"},
        "environment": {
            "command": [PYTHON, "test_server.py", "--port", "{port}"],
            "inference_config": {
                "liveness_route": route(),
                "readiness_route": route(),
                "scoring_route": {"port": 5001, "path": "/score"},
            },
        },
        "instance_count": 1,
        "readiness_probe": {"initial_delay": 1, "period": 1, "timeout": 2, "failure_threshold": 30},
        "liveness_probe": {"initial_delay": 1, "period": 1, "timeout": 2, "failure_threshold": 3},
        "request_settings": {"max_concurrent_requests_per_instance": 4, "request_timeout_ms": 5000},
        "environment_variables": {"TEST_FOO": "bar"},
    }
    return deep_merge(doc, overrides)


def ensure_server_folder(directory):
    """Copies the instance program into `<directory>/server/` (the deployment's code)."""
    server = Path(directory) / "server"
    server.mkdir(parents=True, exist_ok=True)
    target = server / "test_server.py"
    if not target.exists():
        assert TEST_SERVER.exists(), f"{TEST_SERVER} is missing"
        shutil.copyfile(TEST_SERVER, target)
    return server


def write_deployment(directory, name, endpoint, filename=None, raw=None, **overrides):
    """Writes `<directory>/<filename or name.yml>` from the template (deep-merged with
    `overrides`, DROP removes a key) or from `raw` YAML text; returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ensure_server_folder(directory)
    path = directory / (filename or f"{name}.yml")
    if raw is None:
        raw = to_yaml(deployment_doc(name, endpoint, **overrides))
    path.write_text(raw)
    return path


def write_endpoint(directory, name, filename=None, raw=None, **fields):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "$schema": ENDPOINT_SCHEMA,
        "name": name,
        "auth_mode": "key",
    }
    doc.update(fields)
    path = directory / (filename or f"endpoint-{name}.yml")
    path.write_text(raw if raw is not None else to_yaml(doc))
    return path


# --------------------------------------------------------------------------------------------
# Processes


def _proc_entries():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _proc_identity(pid):
    """(session id, pid-namespace link) of a live process; None when gone or a zombie."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read().decode(errors="replace")
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    try:
        pid_ns = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        pid_ns = ""
    return int(fields[3]), pid_ns  # fields: state ppid pgrp session ...


def instance_pids(data_dir, exclude=()):
    """Live (non-zombie) processes that belong to `data_dir`: their working directory is inside
    it or their command line names it (an unsandboxed instance, or the bubblewrap process of a
    sandboxed one), plus every process in such a process's session or sandbox (PID namespace),
    which finds what a sandboxed instance started even after it called setsid. berthd itself is
    excluded by pid."""
    data_dir = str(Path(data_dir).resolve())
    own_ns = os.readlink("/proc/self/ns/pid")
    roots, everyone = [], {}
    for pid in _proc_entries():
        if pid in exclude or pid == os.getpid():
            continue
        try:
            identity = _proc_identity(pid)
            if identity is None:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                cwd = ""
        except (OSError, ValueError, IndexError):
            continue
        if Path(cmdline.split(" ")[0]).name == "berthd":
            continue
        everyone[pid] = identity
        if cwd == data_dir or cwd.startswith(data_dir + "/") or data_dir in cmdline:
            roots.append(pid)
    # Only sessions an instance leads (berth starts each in its own).
    sessions = {pid for pid in roots if everyone[pid][0] == pid}
    namespaces = {everyone[pid][1] for pid in roots} - {own_ns, ""}
    return sorted(pid for pid, (session, pid_ns) in everyone.items()
                  if pid in roots or session in sessions or pid_ns in namespaces)


def pid_cwd(pid):
    """The working directory of a process, or "" when it is gone or unreadable."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return False
    return not stat[stat.rindex(")") + 2:].startswith("Z")


# --------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, reason, headers, data):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value
        self.data = data

    @property
    def text(self):
        return self.data.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.data)
        except json.JSONDecodeError as e:
            raise AssertionError(f"response {self.status} is not JSON: {self.text[:500]!r}") from e

    def error(self):
        """The berth error object {"code", "message", ...} of an error response."""
        body = self.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
        assert isinstance(body["error"].get("code"), str), body
        assert isinstance(body["error"].get("message"), str), body
        return body["error"]

    def __repr__(self):
        return f"<Resp {self.status} {self.headers.get('content-type')} {self.text[:300]!r}>"


def encode_body(body):
    if body is None:
        return None, {}
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), {}
    if isinstance(body, str):
        return body.encode(), {}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def http_request(url, method="GET", body=None, headers=None, timeout=30):
    """One request on a fresh connection to an absolute URL."""
    u = urllib.parse.urlsplit(url)
    data, extra = encode_body(body)
    hdrs = dict(extra)
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + (f"?{u.query}" if u.query else "")
        conn.request(method, path or "/", body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return Resp(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, payload)
    finally:
        conn.close()


class ThreadConnections(threading.local):
    """Keep-alive connections of the current thread, by port."""

    def __init__(self):
        self.conns = {}


_METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (how berthd reaches sandboxed instances; tests run as root,
    so they may open the sockets berthd's instance view lists)."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def instance_request(instance, path, method="GET", body=None, timeout=30):
    """One request straight to an instance, bypassing berthd: over its relay socket when it
    has one (sandboxed custom commands), else on its port."""
    data, headers = encode_body(body)
    if instance.get("http_socket"):
        conn = UnixHTTPConnection(instance["http_socket"], timeout=timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", instance["port"], timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        return Resp(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, payload)
    finally:
        conn.close()


def release(instance, name):
    """Releases every current and future {"block": name} request on this instance."""
    r = instance_request(instance, f"/release/{name}", "POST", b"")
    assert r.status == 200, r


def blocked(instance, name):
    """How many requests wait on {"block": name} on this instance right now."""
    r = instance_request(instance, f"/blocked/{name}")
    assert r.status == 200, r
    return int(r.json())
