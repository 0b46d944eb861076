"""R4: SIGKILL berthd under load and mid-write, restart it on the same data dir.

A berthd of its own serves two endpoints (one with an 80/20 split over two deployments) to a
closed loop of 2 clients (green's admission limit, 2 x mcr x 1, holds them all) while a writer
thread keeps updating an endpoint's tags through the management API (one acknowledged write
after another). Then berthd is killed with SIGKILL.
Pass: once berthd is dead, SQLite's `PRAGMA integrity_check` on state.db (opened read-only) says
ok; the last acknowledged write is stored (or the one in flight at the kill, never an older one);
after a restart on the same data dir every endpoint, deployment spec, traffic rule and key is
back as it was, the instances run again, and serving resumes (every request succeeds).
Requests that failed while berthd was down are printed, not asserted.
"""

import sqlite3
import threading
import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import loadgen_for, sleep_model

pytestmark = pytest.mark.slow

EP, EP2 = "r4-ep", "r4-other"
CLIENTS = 2
VOLATILE_ENDPOINT = ("scoring_uri", "openapi_uri", "updated_at", "provisioning_state", "tags")
VOLATILE_DEPLOYMENT = ("instances", "updated_at", "provisioning_state")


def endpoint_state(d, name):
    return {k: v for k, v in d.endpoint(name).items() if k not in VOLATILE_ENDPOINT}


def deployment_state(d, ep, name):
    return {k: v for k, v in d.deployment(ep, name).items() if k not in VOLATILE_DEPLOYMENT}


class TagWriter:
    """PATCHes {"tags": {"seq": "<n>"}} onto an endpoint, n = 1, 2, ..., until a write fails."""

    def __init__(self, d, endpoint):
        self.d, self.endpoint = d, endpoint
        self.acked = 0       # the last n berthd acknowledged
        self.failed = None   # the first error
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while True:
            n += 1
            try:
                r = self.d.api("PATCH", f"/api/v1/online-endpoints/{self.endpoint}",
                               {"tags": {"seq": str(n)}}, timeout=10)
            except OSError as e:
                self.failed = f"write {n}: {type(e).__name__}: {e}"
                return
            if r.status != 200:
                self.failed = f"write {n}: {r!r}"
                return
            self.acked = n


def test_r4_sigkill_berthd_under_load(berthd_factory, module_dir):
    d = berthd_factory()
    d.create_endpoint(module_dir, EP, description="survives", tags={"seq": "0"})
    d.create_deployment(module_dir / EP, "blue", EP, all_traffic=True,
                        **sleep_model("v1", instances=2))
    d.create_deployment(module_dir / EP, "green", EP, **sleep_model("v2"))
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "blue=80 green=20")
    d.create_endpoint(module_dir, EP2)
    d.create_deployment(module_dir / EP2, "solo", EP2, all_traffic=True, **sleep_model())

    before = {
        "endpoints": {e: endpoint_state(d, e) for e in (EP, EP2)},
        "deployments": {(e, n): deployment_state(d, e, n)
                        for e, n in ((EP, "blue"), (EP, "green"), (EP2, "solo"))},
        "keys": {e: d.keys(e) for e in (EP, EP2)},
    }
    assert before["endpoints"][EP]["traffic"] == {"blue": 80, "green": 20}
    key = before["keys"][EP]["primaryKey"]

    gen = loadgen_for(d, EP, key)
    gen.start_closed(CLIENTS, duration=120)
    writer = TagWriter(d, EP)
    try:
        writer.thread.start()
        wait_until(lambda: gen.count() >= 300 and writer.acked >= 20, timeout=60,
                   message="300 requests and 20 acknowledged writes before the kill")
        d.kill9()
        killed_at = time.monotonic()
        acked_at_kill = writer.acked
    finally:
        gen.stop()
    writer.thread.join(timeout=30)
    assert not writer.thread.is_alive(), "the writer did not notice berthd was gone"
    during = gen.wait(timeout=60)
    wait_until(lambda: not d.instance_pids(), timeout=15, step=0.1,
               message="every instance to exit after kill -9 of berthd")

    # berthd is dead: nothing else has the database open.
    db = d.data_dir / "state.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()

    restarted_at = time.monotonic()
    d.start()
    for e, n, count in ((EP, "blue", 2), (EP, "green", 1), (EP2, "solo", 1)):
        d.wait_deployment(e, n, timeout=60)
        wait_until(lambda: len(d.ready_instances(e, n)) == count, timeout=60,
                   message=f"{count} ready instance(s) of {e}/{n} after the restart")
    serving_s = time.monotonic() - restarted_at
    stored_seq = int(d.endpoint(EP)["tags"]["seq"])
    after = {
        "endpoints": {e: endpoint_state(d, e) for e in (EP, EP2)},
        "deployments": {(e, n): deployment_state(d, e, n)
                        for e, n in ((EP, "blue"), (EP, "green"), (EP2, "solo"))},
        "keys": {e: d.keys(e) for e in (EP, EP2)},
    }

    resumed = loadgen_for(d, EP, key).run_closed(CLIENTS, count=300, timeout=120)
    other = loadgen_for(d, EP2, before["keys"][EP2]["secondaryKey"]).run_closed(
        2, count=50, timeout=60)
    s_during, s_after = summary(during), summary(resumed)
    print()
    print(format_summary("R4 load until the kill", s_during))
    print(format_summary("R4 load after the restart", s_after))
    print(f"[R4 berthd SIGKILL] integrity_check {integrity}; writes acknowledged {acked_at_kill}, "
          f"stored seq {stored_seq} (writer stopped by: {writer.failed}); restart to every "
          f"instance ready {serving_s:.2f}s; kill to restart {restarted_at - killed_at:.2f}s")

    assert integrity == [("ok",)], integrity
    assert stored_seq in (acked_at_kill, acked_at_kill + 1), (stored_seq, acked_at_kill)
    assert after == before
    assert [o for o in resumed if not o.ok] == []
    assert [o for o in other if not o.ok] == []
