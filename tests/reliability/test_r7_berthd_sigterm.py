"""R7: SIGTERM to berthd under load: every accepted request gets its answer.

A berthd of its own serves a closed loop of 4 clients (two instances of the sleep-bound model,
admission limit 2 x 1 x 2 = 4); each client pauses 10 ms between requests, so requests also
arrive on keep-alive connections that were idle. Then the test sends berthd SIGTERM: it stops
listening, lets the requests in flight finish, stops its instances and exits.
Pass: every request whose bytes were all sent before the signal (its connection was open and
berthd had it) is answered 200 with its own id; berthd exits with status 0. Requests sent after
the signal may fail (connection refused, or closed without an answer); they are counted apart.
"""

import signal
import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import loadgen_for, sleep_model

pytestmark = pytest.mark.slow

EP = "r7-ep"
CLIENTS = 4
THINK_S = 0.01


def test_r7_sigterm_berthd_under_load(berthd_factory, module_dir):
    d = berthd_factory()
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True, **sleep_model(instances=2))
    key = d.primary_key(EP)

    gen = loadgen_for(d, EP, key)
    gen.start_closed(CLIENTS, duration=120, think_s=THINK_S)
    try:
        wait_until(lambda: gen.count() >= 300, timeout=60, message="300 requests before SIGTERM")
        signalled = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        code = d.proc.wait(timeout=60)
        exited = time.monotonic()
    finally:
        gen.stop()
    outcomes = gen.wait(timeout=60)

    accepted = [o for o in outcomes if o.sent is not None and o.sent < signalled]
    late = [o for o in outcomes if o not in accepted]
    lost = [o for o in accepted if not o.ok]
    late_kinds = {}
    for o in late:
        kind = "200" if o.ok else (str(o.status) if o.status is not None
                                    else (o.error or "?").split(":")[0] + " failed")
        late_kinds[kind] = late_kinds.get(kind, 0) + 1
    in_flight = [o for o in accepted if o.ended > signalled]
    print()
    print(format_summary("R7 berthd SIGTERM", summary(outcomes, gen.began, gen.finished)))
    print(f"[R7 berthd SIGTERM] accepted before the signal {len(accepted)}, of them in flight at "
          f"the signal {len(in_flight)}, unanswered {len(lost)}; after the signal "
          f"{len(late)}: {late_kinds}; exit status {code} after {exited - signalled:.2f}s")

    assert not lost, f"{len(lost)} accepted requests were not answered: {lost[:10]}"
    assert code == 0, f"berthd exited with {code}"
