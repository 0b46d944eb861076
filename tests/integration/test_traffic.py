"""Traffic split and mirroring on the data plane.

- blue=90 green=10 over 2000 requests lands within +-3 points.
- mirror 20 % to green with blue at 100 %: green receives 20 +- 3 % (berthd's mirror counters),
  every client answer comes from blue, header-targeted requests are not mirrored.
- a mirror target that blocks never delays the client: all answers arrive while it is blocked.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from berth_helpers import blocked, release, wait_stable, wait_until

pytestmark = pytest.mark.slow

N = 2000
WORKERS = 4


def fan_out(d, endpoint, key, n=N, body=None, headers=None):
    """n scoring requests over WORKERS keep-alive connections -> [(status, header, body)]."""
    def one(i):
        r = d.score(endpoint, body if body is not None else {"i": i}, key=key, headers=headers)
        served = r.json().get("deployment") if r.status == 200 else None
        return r.status, r.headers.get("azureml-model-deployment"), served

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(n)))


def mirror_counts(d, endpoint, deployment):
    sent = d.metric("berth_mirror_requests_total", endpoint=endpoint, deployment=deployment,
                    result="sent")
    dropped = d.metric("berth_mirror_requests_total", endpoint=endpoint, deployment=deployment,
                       result="dropped")
    return sent, dropped


@pytest.fixture(scope="module")
def two_deployments(berthd, module_dir):
    """endpoint name -> created with blue (all traffic) and green (0 %)."""
    def make(ep, green_overrides=None):
        settings = {"request_settings": {"max_concurrent_requests_per_instance": 8}}
        berthd.create_endpoint(module_dir, ep)
        berthd.create_deployment(module_dir / ep, "blue", ep, all_traffic=True, **settings)
        berthd.create_deployment(module_dir / ep, "green", ep,
                                 **{**settings, **(green_overrides or {})})
        return berthd.primary_key(ep)
    return make


def test_split_90_10(berthd, two_deployments):
    d, ep = berthd, "split-ep"
    key = two_deployments(ep)
    d.cli("online-endpoint", "update", "-n", ep, "--traffic", "blue=90 green=10")
    assert d.endpoint(ep)["traffic"] == {"blue": 90, "green": 10}

    results = fan_out(d, ep, key)
    statuses = {s for s, _, _ in results}
    assert statuses == {200}, statuses
    # The header names the deployment that really served the request.
    assert all(h == b for _, h, b in results), [r for r in results if r[1] != r[2]][:5]
    blue = sum(1 for _, h, _ in results if h == "blue")
    green = sum(1 for _, h, _ in results if h == "green")
    assert blue + green == N
    assert 0.87 * N <= blue <= 0.93 * N, (blue, green)
    assert 0.07 * N <= green <= 0.13 * N, (blue, green)

    # berthd's request counters agree with what the clients saw.
    served = d.metric("berth_requests_total", endpoint=ep, deployment="green", code="200")
    assert served == green


def test_mirror_20_percent(berthd, two_deployments):
    d, ep = berthd, "mirror-ep"
    key = two_deployments(ep)
    d.cli("online-endpoint", "update", "-n", ep, "--mirror-traffic", "green=20")
    shown = d.endpoint(ep)
    assert shown["mirror_traffic"] == {"green": 20}
    assert shown["traffic"] == {"blue": 100, "green": 0}
    assert mirror_counts(d, ep, "green") == (0, 0)

    results = fan_out(d, ep, key)
    assert {(s, h, b) for s, h, b in results} == {(200, "blue", "blue")}

    sent, dropped = wait_stable(lambda: mirror_counts(d, ep, "green"), timeout=30,
                                message="mirror counters to settle")
    assert dropped == 0, (sent, dropped)
    assert 0.17 * N <= sent <= 0.23 * N, (sent, dropped)
    blue_served = d.metric("berth_requests_total", endpoint=ep, deployment="blue", code="200")
    assert blue_served == N

    # Requests that name a deployment are not mirrored.
    targeted = fan_out(d, ep, key, n=200, headers={"azureml-model-deployment": "blue"})
    assert {(s, h) for s, h, _ in targeted} == {(200, "blue")}
    assert wait_stable(lambda: mirror_counts(d, ep, "green")) == (sent, dropped)

    # green=0 stops mirroring.
    d.cli("online-endpoint", "update", "-n", ep, "--mirror-traffic", "green=0")
    assert d.endpoint(ep)["mirror_traffic"] == {}
    fan_out(d, ep, key, n=200)
    assert wait_stable(lambda: mirror_counts(d, ep, "green")) == (sent, dropped)


def test_blocked_mirror_never_delays_clients(berthd, two_deployments):
    d, ep = berthd, "block-ep"
    key = two_deployments(ep, {"request_settings": {"max_concurrent_requests_per_instance": 1}})
    d.cli("online-endpoint", "update", "-n", ep, "--mirror-traffic", "green=50")
    blue_inst = d.ready_instances(ep, "blue")
    green_inst = d.ready_instances(ep, "green")
    assert len(blue_inst) == 1 and len(green_inst) == 1
    # blue answers {"block": "m"} at once (released ahead); green blocks until released.
    release(blue_inst[0], "m")
    try:
        for i in range(30):
            r = d.score(ep, {"block": "m", "i": i}, key=key, timeout=15)
            assert r.status == 200, r
            assert r.headers["azureml-model-deployment"] == "blue"
            assert r.json()["deployment"] == "blue"
        # Every client answer is in; green is still holding mirrored copies.
        assert wait_until(lambda: blocked(green_inst[0], "m"), timeout=15,
                          message="a mirrored request blocked on green") > 0
        assert d.deployment(ep, "green")["instances"][0]["pid"] == green_inst[0]["pid"]
    finally:
        release(green_inst[0], "m")
    wait_until(lambda: blocked(green_inst[0], "m") == 0, timeout=15,
               message="green's mirrored requests to finish")
    sent, _ = wait_stable(lambda: mirror_counts(d, ep, "green"))
    assert sent >= 1
