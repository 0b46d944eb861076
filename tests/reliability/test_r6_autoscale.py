"""R6: autoscale on a load step, and back.

A deployment of the sleep-bound model autoscales between 1 and 4 instances (target 70 %,
polling every second, 5 s scale-down delay). The load steps from 1x the capacity of one
instance (a closed loop of one client, which also measures that capacity) to 4x (an open loop at
four times the measured rate).
Pass: the deployment scales out to 4 ready instances before a 30 s deadline from the step; every
request is answered, 200 with its own id or 429 with Retry-After (berth throttles until the new
instances are ready), none lost; when the load stops it returns to 1 instance within the delay
plus a margin.
Printed: the time to scale out, the 429 rate before and once scaled, the time back to 1.
"""

import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import (live_instances, loadgen_for, ready_count, sleep_model,
                                 target_utilization)

pytestmark = pytest.mark.slow

EP = "r6-ep"
MAX_INSTANCES = 4
SCALE_OUT_DEADLINE_S = 30
SCALE_DOWN_DELAY_S = 5
SCALED_LOAD_S = 5     # 4x load kept on once scaled out, to see the 429 rate then
MARGIN_S = 30         # beyond the scale-down delay: polling, draining, a loaded machine


def test_r6_autoscale_step(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    d.create_deployment(
        module_dir, "blue", EP, all_traffic=True,
        **sleep_model(instances=1,
                      scale_settings=target_utilization(1, MAX_INSTANCES, target=70,
                                                        polling_interval=1,
                                                        scale_down_delay=SCALE_DOWN_DELAY_S)))
    key = d.primary_key(EP)
    gen = loadgen_for(d, EP, key)

    one_x = gen.run_closed(1, duration=3, timeout=60)
    s1 = summary(one_x, gen.began, gen.finished)
    capacity = s1["goodput_rps"]
    assert s1["successes"] == s1["requests"], s1["statuses"]

    gen.start_open(4 * capacity, duration=SCALE_OUT_DEADLINE_S + SCALED_LOAD_S + 10, threads=64)
    try:
        stepped = gen.began
        wait_until(lambda: ready_count(d.deployment(EP, "blue")) >= MAX_INSTANCES,
                   timeout=SCALE_OUT_DEADLINE_S, step=0.2,
                   message=f"{MAX_INSTANCES} ready instances after the step to 4x load")
        scaled = time.monotonic()
        # Requests are due on a fixed schedule: SCALED_LOAD_S seconds' worth of them.
        window = gen.count() + int(4 * capacity * SCALED_LOAD_S)
        wait_until(lambda: gen.count() >= window, timeout=SCALED_LOAD_S + 30, step=0.2,
                   message="the requests of the scaled-out window")
    finally:
        gen.stop()
    four_x = gen.wait(timeout=120)
    load_stopped = max(o.ended for o in four_x)
    wait_until(lambda: len(live_instances(d.deployment(EP, "blue"))) == 1,
               timeout=SCALE_DOWN_DELAY_S + MARGIN_S, step=0.1,
               message="the deployment to return to 1 instance after the load stopped")
    back_s = time.monotonic() - load_stopped
    dep = d.deployment(EP, "blue")

    before = [o for o in four_x if o.started < scaled]
    once_scaled = [o for o in four_x if o.started >= scaled]

    def rate_429(outcomes):
        return 100 * sum(1 for o in outcomes if o.status == 429) / max(1, len(outcomes))

    print()
    print(format_summary("R6 1x load", s1))
    print(format_summary("R6 4x load", summary(four_x, gen.began, gen.finished)))
    print(f"[R6 autoscale] one instance's capacity {capacity:.1f}/s, offered 4x "
          f"{4 * capacity:.1f}/s; {MAX_INSTANCES} ready {scaled - stepped:.2f}s after the step "
          f"(deadline {SCALE_OUT_DEADLINE_S}s); 429 rate {rate_429(before):.1f}% before, "
          f"{rate_429(once_scaled):.1f}% once scaled ({len(once_scaled)} requests); back to 1 "
          f"instance {back_s:.2f}s after the load stopped (scale_down_delay "
          f"{SCALE_DOWN_DELAY_S}s)")

    unanswered = [o for o in four_x if o.status is None]
    assert not unanswered, f"{len(unanswered)} requests got no answer: {unanswered[:10]}"
    other = [o for o in four_x if o.status not in (200, 429)]
    assert not other, f"statuses other than 200 and 429: {other[:10]}"
    assert sum(1 for o in four_x if o.status == 200 and not o.echoed) == 0
    assert all((o.retry_after or "").strip().isdigit() for o in four_x if o.status == 429)
    assert dep["provisioning_state"] == "Succeeded", dep
    assert ready_count(dep) == 1, dep["instances"]
