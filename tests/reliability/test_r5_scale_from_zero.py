"""R5: scale to zero and back.

A deployment of the sleep-bound model autoscales between 0 and 2 instances with a 3 s
scale-down delay (berth's `scale_down_delay`: the idle time before it goes to zero), a 60 s
request timeout and a 500 ms queue wait (Azure's default; a cold start is bounded by the request
timeout instead). Left idle, it scales to zero. Then 2 requests arrive at once (2 x mcr: what berth
queues while a deployment starts from zero).
Pass: the deployment reaches zero instances within the delay plus a margin; both first requests
succeed while an instance starts (200 with their own id: answered within their request timeout,
not 408, 429 or 503); later requests succeed; idle again, it returns to zero within the delay
plus a margin.
Printed: the cold-start latency of the first requests, warm latency, the times to zero.
"""

import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import (live_instances, loadgen_for, scaled_to_zero, sleep_model,
                                 target_utilization)

pytestmark = pytest.mark.slow

EP = "r5-ep"
SCALE_DOWN_DELAY_S = 3
REQUEST_TIMEOUT_MS = 60000
# Time allowed beyond the scale-down delay: polling, stopping the instance, a loaded machine.
MARGIN_S = 30


def test_r5_scale_from_zero(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    d.create_deployment(
        module_dir, "blue", EP, all_traffic=True,
        **sleep_model(instances=1,
                      scale_settings=target_utilization(0, 2, polling_interval=1,
                                                        scale_down_delay=SCALE_DOWN_DELAY_S),
                      # A cold start waits up to the request timeout, not the (shorter) queue
                      # wait: an instance takes longer than 500 ms to start and get ready.
                      request_settings={"max_concurrent_requests_per_instance": 1,
                                        "request_timeout_ms": REQUEST_TIMEOUT_MS,
                                        "max_queue_wait_ms": 500}))
    key = d.primary_key(EP)

    idle_since = time.monotonic()
    wait_until(lambda: scaled_to_zero(d.deployment(EP, "blue")),
               timeout=SCALE_DOWN_DELAY_S + MARGIN_S, step=0.1,
               message="the idle deployment to scale to zero")
    first_zero_s = time.monotonic() - idle_since
    assert d.deployment(EP, "blue")["provisioning_state"] == "Succeeded"

    # Cold: as many requests at once as berth queues for a deployment starting from zero.
    gen = loadgen_for(d, EP, key, timeout=REQUEST_TIMEOUT_MS / 1000 + 30)
    cold = gen.run_closed(2, count=2, timeout=REQUEST_TIMEOUT_MS / 1000 + 60)
    cold_ms = [1000 * o.latency for o in cold]
    instances_then = live_instances(d.deployment(EP, "blue"))
    warm = gen.run_closed(1, count=100, timeout=120)
    last_request = max(o.ended for o in warm)

    wait_until(lambda: scaled_to_zero(d.deployment(EP, "blue")),
               timeout=SCALE_DOWN_DELAY_S + MARGIN_S, step=0.1,
               message="the deployment to return to zero after idling")
    second_zero_s = time.monotonic() - last_request

    print()
    print(format_summary("R5 cold requests", summary(cold)))
    print(format_summary("R5 warm requests", summary(warm)))
    print(f"[R5 scale from zero] cold-start latency ms {[round(x, 1) for x in cold_ms]}; "
          f"instances after the cold start {len(instances_then)}; idle to zero "
          f"{first_zero_s:.2f}s after creation, {second_zero_s:.2f}s after the last request "
          f"(scale_down_delay {SCALE_DOWN_DELAY_S}s)")

    assert [o for o in cold if not o.ok] == [], cold
    assert [o for o in warm if not o.ok] == []
    assert 1 <= len(instances_then) <= 2, instances_then
