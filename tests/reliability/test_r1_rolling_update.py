"""R1: a rolling update under steady load loses nothing.

Three instances of the sleep-bound model (v1) serve a closed loop of 4 clients (at most
2 x mcr x (instances - 1), so even one instance fewer never trips the 429 rule). The deployment is
updated to v2 (a new environment variable, so a new template) while the load runs.
Pass: every request succeeds (200 with its own id echoed); every answer comes from v1 or v2;
every request sent after the update finished is answered by v2.
"""

import time

import pytest

from berth_helpers import wait_until
from loadgen import format_summary, summary
from reliability_helpers import loadgen_for, sleep_model, version_of

pytestmark = pytest.mark.slow

EP = "r1-ep"
CLIENTS = 4
INSTANCES = 3
AFTER_UPDATE = 300  # requests sent once the update is done: all must be v2


TITLE_UPDATE = "R1 rolling update"
TITLE_FAILED = "R1 failed update"


def serve_v1_under_load(d, directory, endpoint):
    """Deployment blue (v1, INSTANCES instances) with all traffic, and CLIENTS clients on it."""
    d.create_endpoint(directory, endpoint)
    d.create_deployment(directory, "blue", endpoint, all_traffic=True,
                        **sleep_model("v1", instances=INSTANCES))
    gen = loadgen_for(d, endpoint, d.primary_key(endpoint))
    gen.start_closed(CLIENTS, duration=180)
    return gen


def print_summary(outcomes, gen, title):
    """Prints the run's figures; returns the answers counted by version."""
    versions = {}
    for o in outcomes:
        versions[version_of(o)] = versions.get(version_of(o), 0) + 1
    print()
    print(format_summary(title, summary(outcomes, gen.began, gen.finished)))
    return versions


def test_r1_rolling_update_under_load(berthd, module_dir):
    d = berthd
    gen = serve_v1_under_load(d, module_dir, EP)
    try:
        wait_until(lambda: gen.count() >= 200, timeout=60, message="200 requests at v1")
        started = time.monotonic()
        d.cli("online-deployment", "update", "-n", "blue", "-e", EP,
              "--set", "environment_variables.TEST_VERSION=v2")
        d.wait_deployment(EP, "blue", timeout=120)

        def only_new_ready():
            instances = d.deployment(EP, "blue")["instances"]
            return (len(instances) == INSTANCES
                    and all(i["state"] == "Ready" and i["current"] for i in instances))
        wait_until(only_new_ready, timeout=120, step=0.1,
                   message=f"{INSTANCES} ready instances of the new template and no old one")
        updated = time.monotonic()
        n_at_update = gen.count()
        wait_until(lambda: gen.count() >= n_at_update + AFTER_UPDATE, timeout=60,
                   message=f"{AFTER_UPDATE} requests after the update")
    finally:
        gen.stop()
    outcomes = gen.wait(timeout=60)

    versions = print_summary(outcomes, gen, TITLE_UPDATE)
    print(f"[{TITLE_UPDATE}] update took {updated - started:.2f}s "
          f"(cli call to {INSTANCES} new instances ready, old ones gone); answers by version "
          f"{versions}")

    failed = [o for o in outcomes if not o.ok]
    assert not failed, f"{len(failed)} of {len(outcomes)} failed, e.g. {failed[:5]}"
    assert set(versions) <= {"v1", "v2"}, versions
    assert versions.get("v1", 0) > 0 and versions.get("v2", 0) > 0, versions
    late = [o for o in outcomes if o.started > updated]
    assert len(late) >= AFTER_UPDATE - CLIENTS
    assert {version_of(o) for o in late} == {"v2"}, [o for o in late if version_of(o) != "v2"][:5]


def test_r1_update_that_never_gets_ready_leaves_the_old_instances_serving(berthd, module_dir):
    """An update whose new instances exit at start, under load: the deployment is Failed with
    the reason, the old (v1) instances keep serving, and not one request fails."""
    d = berthd
    ep = "r1-failed-ep"
    gen = serve_v1_under_load(d, module_dir, ep)
    try:
        wait_until(lambda: gen.count() >= 100, timeout=60, message="100 requests at v1")
        d.cli("online-deployment", "update", "-n", "blue", "-e", ep,
              "--set", "environment_variables.TEST_VERSION=v2",
              "environment_variables.TEST_EXIT_AT_START=3", check=False)
        shown = d.wait_deployment(ep, "blue", want=("Failed",), timeout=120)
        n_at_failure = gen.count()
        wait_until(lambda: gen.count() >= n_at_failure + AFTER_UPDATE, timeout=60,
                   message=f"{AFTER_UPDATE} requests after the failed update")
        after = d.deployment(ep, "blue")
    finally:
        gen.stop()
    outcomes = gen.wait(timeout=60)

    versions = print_summary(outcomes, gen, TITLE_FAILED)
    print(f"[{TITLE_FAILED}] answers by version {versions}; reason: "
          f"{shown['reason'].splitlines()[0]}")

    failed = [o for o in outcomes if not o.ok]
    assert not failed, f"{len(failed)} of {len(outcomes)} failed, e.g. {failed[:5]}"
    assert versions == {"v1": len(outcomes)}, versions
    assert "before it was ready" in shown["reason"], shown["reason"]
    old = [i for i in after["instances"] if i["state"] == "Ready"]
    assert len(old) == INSTANCES and not any(i["current"] for i in old), after["instances"]
