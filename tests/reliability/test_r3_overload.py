"""R3: overload at twice the capacity is refused cleanly.

Two instances of the sleep-bound model, one request at a time each: the nominal capacity is
instances x mcr / 20 ms = 100 requests/s. The test first measures it: a closed loop of exactly
instances x mcr clients for a few seconds. Then it offers twice the measured rate as an open loop
(requests on a fixed schedule, whatever the answers), so berthd's queue fills up to its
2 x mcr x instances limit and the rest is refused.
Pass: every request is answered, with 200 (and its own id echoed) or with 429 carrying
Retry-After; no connection fails, none is lost; and there were 429s (the overload happened).
Printed: 429 latency p50/p99, goodput versus the measured capacity, how late the generator ran.
"""

import pytest

from loadgen import format_ms as ms
from loadgen import format_summary, summary
from reliability_helpers import MODEL_SLEEP_MS, loadgen_for, sleep_model

pytestmark = pytest.mark.slow

EP = "r3-ep"
INSTANCES = 2
MCR = 1
MEASURE_S = 4
OVERLOAD_S = 8


def test_r3_overload_at_twice_capacity(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True,
                        **sleep_model(instances=INSTANCES, mcr=MCR))
    key = d.primary_key(EP)
    gen = loadgen_for(d, EP, key)

    # Capacity, measured: exactly as many clients as instance slots.
    measured = gen.run_closed(INSTANCES * MCR, duration=MEASURE_S, timeout=60)
    m = summary(measured, gen.began, gen.finished)
    print()
    print(format_summary("R3 capacity", m))
    assert m["successes"] == m["requests"], m["statuses"]
    capacity = m["goodput_rps"]
    nominal = INSTANCES * MCR * 1000 / MODEL_SLEEP_MS

    rate = 2 * capacity
    outcomes = gen.run_open(rate, duration=OVERLOAD_S, threads=64, timeout=120)
    s = summary(outcomes, gen.began, gen.finished)
    ok = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if o.status == 429]
    lateness = sorted(o.started - o.scheduled for o in outcomes)
    refused_ms = s["latency_by_status"].get("429", {})
    print(format_summary("R3 overload 2x", s))
    print(f"[R3 overload 2x] capacity nominal {nominal:.0f}/s, measured {capacity:.1f}/s; "
          f"offered {rate:.1f}/s; goodput {s['goodput_rps']:.1f}/s "
          f"({100 * s['goodput_rps'] / capacity:.1f}% of measured capacity); "
          f"429 {len(refused)} ({100 * len(refused) / len(outcomes):.1f}%), latency ms p50 "
          f"{ms(refused_ms.get('p50_ms'))} p99 {ms(refused_ms.get('p99_ms'))}; generator lateness "
          f"max {1000 * lateness[-1]:.1f} ms")

    unanswered = [o for o in outcomes if o.status is None]
    assert not unanswered, f"{len(unanswered)} requests got no answer: {unanswered[:10]}"
    other = [o for o in outcomes if o.status not in (200, 429)]
    assert not other, f"statuses other than 200 and 429: {s['statuses']}: {other[:10]}"
    assert s["wrong_answers"] == 0
    assert len(ok) + len(refused) == len(outcomes)
    no_retry_after = [o for o in refused if not (o.retry_after or "").strip().isdigit()]
    assert not no_retry_after, f"429 without a numeric Retry-After: {no_retry_after[:5]}"
    assert refused, "no 429 at twice the measured capacity: the overload did not happen"
