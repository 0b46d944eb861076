"""berthd's HTTP layer under abuse (issue 8): malformed requests get a status, credentials are
checked before a body is read, running out of file descriptors neither spins nor floods the log,
--max-connections refuses cleanly, SIGTERM drains requests in flight, and oversized instance
answers are cut off with a 502."""

import os
import resource
import signal
import socket
import threading
import time

import pytest

from berth_helpers import Resp, blocked, http_request, release, wait_until

EP = "hard-ep"
MAX_RESPONSE_BODY = 100_000


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory(["--max-response-body", str(MAX_RESPONSE_BODY)])


@pytest.fixture(scope="module")
def setup(d, module_dir):
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True)
    return module_dir


def raw_exchange(port, data, timeout=10):
    """Sends `data` as is on a fresh connection and reads until the server closes; the server
    must answer and close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert raw, f"the connection was closed without an answer to {data[:80]!r}"
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Resp(int(lines[0].split()[1]), "", headers, body)


def assert_refused(r, status, code):
    assert r.status == status, r
    assert r.headers.get("connection", "").lower() == "close", r.headers
    assert r.error()["code"] == code, r


def proc_status(pid, field):
    """A field of /proc/<pid>/status in bytes (VmRSS, VmHWM...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(d):
    return d.stderr_path.read_bytes().count(b"\n")


def connection_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


# ---- defect 1: malformed HTTP gets a status


def test_malformed_requests_get_a_status(d):
    post = b"POST /api/v1/online-endpoints HTTP/1.1\r\nHost: x\r\n"
    assert_refused(raw_exchange(d.port, post + b"Transfer-Encoding: gzip\r\n\r\nabc"),
                   400, "BadRequest")
    assert_refused(raw_exchange(d.port, post + b"Content-Length: 5\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                   400, "BadRequest")
    assert_refused(raw_exchange(d.port, post + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
                                b"0\r\n\r\n"),
                   501, "Unsupported")
    assert_refused(raw_exchange(d.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 32768
                                + b"\r\n\r\n"),
                   431, "RequestHeaderFieldsTooLarge")
    assert_refused(raw_exchange(d.port, b"GET /\x01 what\r\n\r\n"), 400, "BadRequest")
    # And the server still answers well-formed requests.
    assert http_request(d.url + "/healthz").status == 200


# ---- defect 2: credentials before the body


def test_missing_key_is_refused_before_the_body_is_read(d):
    body = b"x" * (90 << 20)
    peak_before = proc_status(d.proc.pid, "VmHWM")
    results = [None] * 4

    def send(i):
        started = time.monotonic()
        try:
            r = http_request(f"{d.url}/endpoints/nokey-{i}/score", "POST", body,
                             {"Content-Type": "application/octet-stream"}, timeout=60)
            results[i] = (r, time.monotonic() - started)
        except Exception as e:  # reported below with the others
            results[i] = (e, time.monotonic() - started)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r, seconds in results:
        assert isinstance(r, Resp), r
        assert r.status == 401, r
        assert r.headers.get("www-authenticate") == "Bearer", r.headers
        assert r.error()["code"] == "Unauthorized", r
        assert seconds < 30, f"the 401 took {seconds:.1f}s"
    grown = proc_status(d.proc.pid, "VmHWM") - peak_before
    assert grown < 50 << 20, f"berthd's peak RSS grew by {grown >> 20} MB for refused bodies"


# ---- defect 3: out of file descriptors, and --max-connections


def test_running_out_of_descriptors_neither_spins_nor_floods_the_log(berthd_factory):
    fd_limited = berthd_factory(["--max-connections", "100000"])
    pid = fd_limited.proc.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (100, hard))
    clients = []
    try:
        # More connections than descriptors left: the rest wait in the listen backlog.
        for _ in range(150):
            clients.append(socket.create_connection(("127.0.0.1", fd_limited.port), timeout=5))
        wait_until(lambda: b"accept failed" in fd_limited.stderr_path.read_bytes(), timeout=10,
                   message="berthd to run out of descriptors")
        lines, cpu = log_lines(fd_limited), cpu_seconds(pid)
        time.sleep(2)  # a measurement window, not a wait for a state change
        lines_in_window = log_lines(fd_limited) - lines
        cpu_in_window = cpu_seconds(pid) - cpu
        assert lines_in_window < 50, f"{lines_in_window} log lines in 2 s"
        assert cpu_in_window < 0.5, f"berthd used {cpu_in_window:.2f} s of CPU in 2 s"
    finally:
        for c in clients:
            c.close()
    # Serves again once descriptors are free, under the same limit.
    def healthy():
        try:
            return http_request(fd_limited.url + "/healthz", timeout=2).status == 200
        except OSError:
            return False
    wait_until(healthy, timeout=15, message="berthd to serve again")


def test_max_connections_refuses_the_next_with_503(berthd_factory):
    capped = berthd_factory(["--max-connections", "5"])
    held = []
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", capped.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200"), "a connection under the cap"
            held.append(s)
        r = raw_exchange(capped.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_refused(r, 503, "ServiceUnavailable")
        assert r.headers.get("retry-after") == "1", r.headers
        assert "--max-connections" in r.error()["message"], r
        held.pop().close()
        wait_until(lambda: http_request(capped.url + "/healthz").status == 200, timeout=10,
                   message="a connection below the cap again")
    finally:
        for s in held:
            s.close()


# ---- defect 4: SIGTERM drains


def test_sigterm_lets_the_request_in_flight_finish(berthd_factory, tmp_path):
    drained = berthd_factory()
    drained.create_endpoint(tmp_path, "drain-ep")
    drained.create_deployment(tmp_path, "blue", "drain-ep", all_traffic=True)
    key = drained.primary_key("drain-ep")
    instance = drained.ready_instances("drain-ep", "blue")[0]
    answer = {}

    def score():
        try:
            answer["r"] = drained.score("drain-ep", {"block": "drain"}, key=key,
                                        keepalive=False, timeout=30)
        except Exception as e:  # reported below
            answer["r"] = e

    client = threading.Thread(target=score)
    client.start()
    try:
        wait_until(lambda: blocked(instance, "drain") == 1, timeout=10,
                   message="the request to reach the instance")
        drained.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: connection_refused(drained.port), timeout=10,
                   message="berthd to refuse new connections")
        assert drained.running(), "berthd exited with a request in flight"
    finally:
        release(instance, "drain")
        client.join(timeout=30)
    r = answer.get("r")
    assert isinstance(r, Resp), r
    assert r.status == 200, r
    assert r.json()["echo"] == {"block": "drain"}, r
    assert drained.proc.wait(timeout=30) == 0


# ---- defect 5: oversized answers from instances


def test_oversized_instance_answer_gets_502(d, setup):
    small = d.score(EP, {"pad": "x" * 1000})
    assert small.status == 200, small
    r = d.score(EP, {"pad": "x" * (MAX_RESPONSE_BODY * 2)})
    assert r.status == 502, r
    message = r.error()["message"]
    assert "too large" in message and "--max-response-body" in message, message
    assert d.score(EP, {"pad": "y"}).status == 200
