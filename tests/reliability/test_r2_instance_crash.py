"""R2: SIGKILL one of three instances under load; crash retry hides it.

Three instances of the sleep-bound model serve a closed loop of 4 clients (at most
2 x mcr x (instances - 1), so the two survivors admit them all) for 5,000 requests. After 1,500
the test kills one instance's process with SIGKILL.
Pass: every request that had not begun receiving its answer succeeds (berthd retries it once on
another instance): the only failures allowed are answers cut off after their first byte, and
berthd's own statuses (502, 503, ...) count as failures. The killed instance comes back: three
ready instances again, its restart counted.
"""

import os
import signal
import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import loadgen_for, sleep_model

pytestmark = pytest.mark.slow

EP = "r2-ep"
CLIENTS = 4
INSTANCES = 3
REQUESTS = 5000
KILL_AFTER = 1500


def test_r2_sigkill_one_instance_under_load(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True,
                        **sleep_model(instances=INSTANCES))
    key = d.primary_key(EP)
    before = d.deployment(EP, "blue")["instances"]
    assert len(before) == INSTANCES and all(i["state"] == "Ready" for i in before), before
    restarts_before = sum(i["restarts"] for i in before)

    gen = loadgen_for(d, EP, key)
    gen.start_closed(CLIENTS, count=REQUESTS)
    try:
        wait_until(lambda: gen.count() >= KILL_AFTER, timeout=120,
                   message=f"{KILL_AFTER} requests before the kill")
        victim = before[0]
        killed_at = time.monotonic()
        # The view's pid is the instance's sandbox: killing it ends the instance and the model.
        os.kill(victim["pid"], signal.SIGKILL)

        def recovered():
            instances = d.deployment(EP, "blue")["instances"]
            ready = [i for i in instances if i["state"] == "Ready"]
            return (len(ready) == INSTANCES and victim["pid"] not in [i["pid"] for i in ready]
                    and sum(i["restarts"] for i in instances) > restarts_before)
        wait_until(recovered, timeout=60, step=0.05,
                   message=f"{INSTANCES} ready instances again, the killed one restarted")
        recovery_s = time.monotonic() - killed_at
        after_kill = gen.count() - KILL_AFTER
    finally:
        outcomes = gen.wait(timeout=300)

    s = summary(outcomes, gen.began, gen.finished)
    failed = [o for o in outcomes if not o.ok]
    cut_off = [o for o in failed if o.status is None and o.got_bytes]
    print()
    print(format_summary("R2 instance SIGKILL", s))
    print(f"[R2 instance SIGKILL] killed pid {victim['pid']} (instance {victim['id']}); "
          f"back to {INSTANCES} ready in {recovery_s:.2f}s; failures {len(failed)} "
          f"(cut off mid-answer {len(cut_off)}); ~{after_kill} requests between kill and "
          f"recovery")

    assert len(outcomes) == REQUESTS
    unexplained = [o for o in failed if o not in cut_off]
    assert not unexplained, (f"{len(unexplained)} requests failed before any answer byte or "
                             f"with a gateway status: {unexplained[:10]}")
    assert s["wrong_answers"] == 0
    instances = d.deployment(EP, "blue")["instances"]
    assert sum(1 for i in instances if i["state"] == "Ready") == INSTANCES, instances
