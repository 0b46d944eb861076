"""Admission control and the gateway's own statuses on /score: 429, 408, 424, 503."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from berth_helpers import GUID_RE, blocked, release, wait_until, write_deployment

EP = "admit-ep"


@pytest.fixture(scope="module")
def endpoint(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    # One request at a time on one instance, a long queue wait: the 3rd concurrent request
    # is refused by the 2 x 1 x 1 in-flight rule, not by the queue timer.
    d.create_deployment(module_dir, "one", EP, all_traffic=True, request_settings={
        "max_concurrent_requests_per_instance": 1, "max_queue_wait_ms": 60000,
        "request_timeout_ms": 60000})
    d.create_deployment(module_dir, "quick", EP, request_settings={
        "max_concurrent_requests_per_instance": 2, "request_timeout_ms": 300})
    return d.primary_key(EP)


def test_third_concurrent_request_gets_429(berthd, endpoint):
    d, key = berthd, endpoint
    inst = d.ready_instances(EP, "one")
    assert len(inst) == 1
    pool = ThreadPoolExecutor(3)
    try:
        first = pool.submit(d.score, EP, {"block": "a", "n": 1}, key, None, None, 60, False)
        wait_until(lambda: blocked(inst[0], "a") == 1, timeout=15,
                   message="the first request to block on the instance")
        # Two more at once: one waits in the queue, the other is over 2 x 1 x 1 in flight.
        others = [pool.submit(d.score, EP, {"block": "a", "n": n}, key, None, None, 60, False)
                  for n in (2, 3)]
        done = wait_until(lambda: [f for f in others if f.done()], timeout=15,
                          message="one request to be refused")
        # Refused while the first is still held by the instance: "at once".
        assert blocked(inst[0], "a") == 1
        assert not first.done()
        assert len(done) == 1, [f.result() for f in done]
        r = done[0].result()
        assert r.status == 429, r
        assert r.headers.get("retry-after", "").strip().isdigit(), r.headers
        assert r.error()["code"]
        assert GUID_RE.match(r.headers.get("x-request-id", "")), r.headers
        queued = [f for f in others if f is not done[0]][0]
        assert not queued.done()
    finally:
        release(inst[0], "a")
    for f in (first, queued):
        r = f.result(timeout=30)
        assert r.status == 200, r
        assert r.json()["deployment"] == "one"
    pool.shutdown()
    assert d.metric("berth_requests_total", endpoint=EP, deployment="one", code="429") == 1


def test_request_timeout_gives_408(berthd, endpoint):
    d, key = berthd, endpoint
    r = d.score(EP, {"sleep_ms": 3000}, key=key, deployment="quick", timeout=30)
    assert r.status == 408, r
    assert r.error()["code"]
    assert r.headers.get("azureml-model-deployment") == "quick"
    # The instance is still usable afterwards.
    r = d.score(EP, {"after": "timeout"}, key=key, deployment="quick", timeout=30)
    assert r.status == 200, r


def test_model_error_gives_424_with_headers(berthd, endpoint):
    d, key = berthd, endpoint
    r = d.score(EP, {"status": 500}, key=key)
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "500", r.headers
    assert r.headers.get("ms-azureml-model-error-reason"), r.headers
    assert r.headers.get("azureml-model-deployment") == "one"
    r = d.score(EP, {"status": 404}, key=key, deployment="quick")
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "404", r.headers


def test_no_ready_instance_gives_503(berthd, endpoint, tmp_path):
    d, key = berthd, endpoint
    # Liveness on "/" (always 200): only readiness waits for TEST_READY_AFTER_S.
    path = write_deployment(
        tmp_path, "late", EP, environment_variables={"TEST_READY_AFTER_S": "6"},
        environment={"inference_config": {"liveness_route": {"port": 5001, "path": "/"}}})
    d.cli("online-deployment", "create", "-n", "late", "-e", EP, "-f", path, "--no-wait")
    dep = d.deployment(EP, "late")
    assert dep["provisioning_state"] == "Creating", dep
    r = d.score(EP, {"x": 1}, key=key, deployment="late")
    # Six seconds of 503 from its readiness route: not ready yet, whatever the machine's pace.
    assert d.deployment(EP, "late")["provisioning_state"] == "Creating"
    assert r.status == 503, r
    assert r.error()["code"]
    d.wait_deployment(EP, "late", timeout=60)
    r = d.score(EP, {"x": 2}, key=key, deployment="late")
    assert r.status == 200, r
    assert r.json()["deployment"] == "late"
