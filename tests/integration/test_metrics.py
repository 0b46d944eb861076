"""/metrics and the access log, end to end: the counters match the requests sent, the text is
valid Prometheus exposition (a parser here, `promtool check metrics`, a real Prometheus scraping
the --metrics-listen address), and the access log has one line per request and no credential."""

import json
import math
import re
import socket
import subprocess
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from berth_helpers import (GUID_RE, blocked, http_request, parse_metrics, release, wait_until)

EP = "metrics-ep"
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
ACCESS_LOG_FIELDS = ["time", "request_id", "protocol", "method", "path", "endpoint", "deployment",
                     "instance", "status", "queue_ms", "model_ms", "total_ms", "attempts",
                     "bytes_in", "bytes_out"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daemon(berthd_factory):
    d = berthd_factory(["--metrics-listen", "127.0.0.1:0", "--access-log-max-mb", "1"])
    line = wait_until(
        lambda: re.search(r"berthd: metrics listener (\S+)", d.stdout_path.read_text()),
        timeout=10, message="the metrics listener line")
    d.metrics_address = line.group(1)
    return d


@pytest.fixture(scope="module")
def traffic(daemon, module_dir):
    """Sends requests of known outcomes once; returns what was sent."""
    d = daemon
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True, request_settings={
        "max_concurrent_requests_per_instance": 2, "request_timeout_ms": 1000})
    # One request at a time and a long queue wait: the 3rd concurrent request gets 429.
    d.create_deployment(module_dir, "gate", EP, request_settings={
        "max_concurrent_requests_per_instance": 1, "max_queue_wait_ms": 60000,
        "request_timeout_ms": 60000})
    key = d.primary_key(EP)
    sent = []  # (deployment label, status, x-request-id)

    def note(deployment, r, want):
        assert r.status == want, r
        sent.append((deployment, r.status, r.headers.get("x-request-id", "")))

    for n in range(4):
        note("blue", d.score(EP, {"n": n}, key), 200)
    # A query string never reaches the access log.
    note("blue", d.request("POST", f"/endpoints/{EP}/score?verbose=1&sig=query-secret", {"n": 4},
                           {"Authorization": f"Bearer {key}"}), 200)
    note("blue", d.score(EP, {"status": 500}, key), 424)
    note("", d.score(EP, {"n": 0}, key, deployment="no-such-deployment"), 404)
    note("", d.score(EP, {"n": 0}, "not-the-key"), 401)

    inst = d.ready_instances(EP, "gate")
    assert len(inst) == 1
    pool = ThreadPoolExecutor(3)
    try:
        first = pool.submit(d.score, EP, {"block": "m", "n": 1}, key, "gate", None, 60, False)
        wait_until(lambda: blocked(inst[0], "m") == 1, timeout=15,
                   message="the first request to block on the instance")
        others = [pool.submit(d.score, EP, {"block": "m", "n": n}, key, "gate", None, 60, False)
                  for n in (2, 3)]
        done = wait_until(lambda: [f for f in others if f.done()], timeout=15,
                          message="one request to be refused")
        note("gate", done[0].result(), 429)
    finally:
        release(inst[0], "m")
    for f in [first] + [f for f in others if f is not done[0]]:
        note("gate", f.result(timeout=30), 200)
    pool.shutdown()

    # Last, as the instance stays busy a while after it: 408 after request_timeout_ms.
    note("blue", d.score(EP, {"sleep_ms": 2500}, key, timeout=30), 408)
    return {"key": key, "sent": sent}


def scrape(address):
    r = http_request(f"http://{address}/metrics")
    assert r.status == 200, r
    return r


# ---- a strict reading of the text exposition format 0.0.4

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE_RE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = _LABEL_PAIR_RE.match(text, pos)
        assert m, f"bad labels at {text[pos:]!r}"
        assert m.group(1) not in labels, f"repeated label {m.group(1)}"
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def check_exposition(text):
    """Asserts every line parses; returns {family: type}."""
    assert text.endswith("\n")
    types, helped, seen_families = {}, set(), []
    histograms = {}  # (name, labels without le) -> [(le, value)], count
    for line in text.splitlines():
        assert line, "empty line"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({_NAME}) (.+)$", line)
            assert m, f"bad comment line {line!r}"
            kind, name, rest = m.groups()
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert name not in types, f"family {name} typed twice"
                types[name] = rest
                seen_families.append(name)
            else:
                helped.add(name)
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"bad sample line {line!r}"
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), m.group(3)
        number = float(value)  # raises on a bad value
        assert not math.isnan(number), line
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
                family = name[:-len(suffix)]
        assert family in types, f"sample {name} before its TYPE line"
        # Samples of a family are together: after the family's TYPE, before the next one.
        assert seen_families[-1] == family, f"{name} outside its family's group"
        if types[family] == "counter":
            assert name.endswith("_total") and number >= 0, line
        if name.endswith("_bucket") and family != name:
            key = (family, tuple(sorted((k, v) for k, v in labels.items() if k != "le")))
            histograms.setdefault(key, []).append((labels["le"], number))
    assert set(types) == helped, "a family without HELP"
    for key, buckets in histograms.items():
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{key}: buckets not cumulative"
        assert buckets[-1][0] == "+Inf", key
        count = [v for n, l, v in parse_metrics(text)
                 if n == key[0] + "_count" and tuple(sorted(l.items())) == key[1]]
        assert count == [buckets[-1][1]], key
    return types


def value(samples, name, **labels):
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == str(w) for k, w in labels.items())]
    return sum(found) if found else None


# ---- tests


def test_counters_match_the_requests_sent(daemon, traffic):
    samples = parse_metrics(scrape(daemon.metrics_address).text)
    want = Counter((dep, status) for dep, status, _ in traffic["sent"])
    for (dep, status), n in want.items():
        endpoint = "" if status == 401 else EP
        assert value(samples, "berth_requests_total", endpoint=endpoint, deployment=dep,
                     code=status) == n, (dep, status)
    total = sum(v for n, _, v in samples if n == "berth_requests_total")
    assert total == len(traffic["sent"])
    assert value(samples, "berth_throttled_requests_total", endpoint=EP, deployment="gate") == 1
    assert value(samples, "berth_timed_out_requests_total", endpoint=EP, deployment="blue") == 1
    assert value(samples, "berth_model_errors_total", endpoint=EP, deployment="blue") == 1
    assert value(samples, "berth_retried_requests_total", endpoint=EP) == 0
    assert value(samples, "berth_request_duration_seconds_count", endpoint=EP,
                 deployment="blue") == want[("blue", 200)] + 2
    # Queue time is observed for every request that had a deployment chosen; model time for
    # every request that reached an instance (the 200s, the 408 and the 424 of blue).
    assert value(samples, "berth_request_queue_seconds_count", endpoint=EP,
                 deployment="gate") == 3
    assert value(samples, "berth_request_model_seconds_count", endpoint=EP,
                 deployment="blue") == want[("blue", 200)] + 2
    # No name the caller did not prove it may use becomes a label.
    assert not [l for n, l, v in samples if l.get("endpoint") not in (None, "", EP)]
    wait_until(lambda: value(parse_metrics(scrape(daemon.metrics_address).text),
                             "berth_requests_in_flight", endpoint=EP) == 0,
               timeout=10, message="no request in flight")


def test_exposition_parses_and_promtool_accepts_it(daemon, traffic):
    text = scrape(daemon.metrics_address).text
    types = check_exposition(text)
    for family in ("berth_requests_total", "berth_request_duration_seconds",
                   "berth_request_queue_seconds", "berth_request_model_seconds",
                   "berth_requests_in_flight", "berth_requests_queued",
                   "berth_throttled_requests_total", "berth_timed_out_requests_total",
                   "berth_model_errors_total", "berth_retried_requests_total",
                   "berth_mirror_requests_total", "berth_deployment_desired_instances",
                   "berth_deployment_ready_instances", "berth_deployment_scaled_to_zero",
                   "berth_autoscaler_decisions_total", "berth_instance_cpu_seconds_total",
                   "berth_instance_resident_memory_bytes", "berth_batch_jobs_total",
                   "berth_batch_jobs_running", "berth_batch_mini_batches_total"):
        assert family in types, family
    if not Path(PROMTOOL).exists():
        pytest.skip(f"{PROMTOOL} is absent (Debian package prometheus): format check only")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout and not check.stderr, (
        check.stdout.decode() + check.stderr.decode())


def test_metrics_needs_the_admin_token_except_on_the_metrics_listener(daemon, traffic):
    d = daemon
    assert d.api("GET", "/metrics", token=None).status == 401
    assert d.api("GET", "/metrics", token="wrong").status == 401
    assert d.api("GET", "/metrics").status == 200
    r = scrape(d.metrics_address)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    assert http_request(f"http://{d.metrics_address}/api/v1/online-endpoints").status == 404
    assert http_request(f"http://{d.metrics_address}/endpoints/{EP}/score", "POST",
                        {"n": 1}).status == 404
    assert http_request(f"http://{d.metrics_address}/metrics", "POST", b"").status == 405


def test_a_real_prometheus_scrapes_the_series(daemon, traffic, tmp_path):
    if not Path(PROMETHEUS).exists():
        pytest.skip(f"{PROMETHEUS} is absent (Debian package prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: berthd\n    static_configs:\n"
        f"      - targets: ['{daemon.metrics_address}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    want = Counter((dep, status) for dep, status, _ in traffic["sent"])[("blue", 200)]

    def query():
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        q = urllib.parse.quote('berth_requests_total{endpoint="%s",code="200"}' % EP)
        try:
            r = http_request(f"http://127.0.0.1:{port}/api/v1/query?query={q}", timeout=5)
        except OSError:
            return None  # not listening yet
        if r.status != 200:
            return None
        results = r.json()["data"]["result"]
        return {s["metric"]["deployment"]: float(s["value"][1]) for s in results} or None

    try:
        series = wait_until(query, timeout=30, step=0.25,
                            message="Prometheus to have scraped berth_requests_total")
        assert series.get("blue") == want, series
        assert series.get("gate") == 2, series
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_access_log_has_one_line_per_request_and_no_credential(daemon, traffic):
    d = daemon
    path = d.data_dir / "logs" / "access.log"
    sent = traffic["sent"]

    def lines():
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    # Written by a background thread: wait until every request is there.
    wait_until(lambda: len(lines()) >= len(sent), timeout=10,
               message=f"{len(sent)} access-log lines")
    entries = lines()
    assert len(entries) == len(sent), entries
    for entry in entries:
        assert list(entry) == ACCESS_LOG_FIELDS, entry
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", entry["time"]), entry
        assert entry["protocol"] == "http" and entry["method"] == "POST", entry
        assert "?" not in entry["path"], entry
        assert entry["total_ms"] >= 0 and entry["queue_ms"] >= 0, entry
    assert Counter((e["deployment"], e["status"]) for e in entries) == \
        Counter((dep, status) for dep, status, _ in sent)
    assert {e["endpoint"] for e in entries if e["status"] != 401} == {EP}
    assert [e["endpoint"] for e in entries if e["status"] == 401] == [""]
    # Every request is logged under the id its response carried (refusals from the headers
    # too), and those that reached an instance name it and the tries.
    ids = {rid for _, status, rid in sent}
    assert all(GUID_RE.match(rid) for rid in ids), ids
    assert ids == {e["request_id"] for e in entries}
    for e in entries:
        if e["status"] in (200, 408, 424):
            assert e["instance"] >= 1 and e["attempts"] == 1, e
        if e["status"] == 401:
            assert e["instance"] == 0 and e["attempts"] == 0, e
    assert {e["path"] for e in entries if e["status"] == 200} >= {f"/endpoints/{EP}/score"}
    text = path.read_text()
    assert traffic["key"] not in text
    assert d.token not in text
    assert "query-secret" not in text and "not-the-key" not in text
