"""Recovery: a killed instance is restarted, an instance that exits at start fails its
deployment with the log tail, and `kill -9` of berthd leaves no instance behind and loses
nothing across a restart."""

import os
import signal

import pytest

from berth_helpers import pid_alive, pid_cwd, wait_until, write_deployment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def d(berthd):
    return berthd


def test_killed_instance_is_restarted(d, module_dir):
    ep = "rec-kill-ep"
    d.create_endpoint(module_dir, ep)
    d.create_deployment(module_dir, "blue", ep, all_traffic=True)
    key = d.primary_key(ep)
    [inst] = d.deployment(ep, "blue")["instances"]
    assert inst["state"] == "Ready" and inst["restarts"] == 0, inst
    r = d.score(ep, {}, key=key)
    assert r.status == 200, r
    first_start = r.json()["started_at"]

    # The view's pid is the instance's sandbox: killing it ends the instance.
    os.kill(inst["pid"], signal.SIGKILL)

    def restarted():
        for i in d.deployment(ep, "blue")["instances"]:
            if i["state"] == "Ready" and i["restarts"] >= 1 and i["pid"] != inst["pid"]:
                return i
        return None

    new = wait_until(restarted, timeout=60, step=0.1, message="the instance to be restarted")
    assert not pid_alive(inst["pid"])
    assert len(d.deployment(ep, "blue")["instances"]) == 1
    r = d.score(ep, {"after": "kill"}, key=key)
    assert r.status == 200, r
    assert r.json()["started_at"] != first_start  # answered by the restarted process
    assert d.deployment(ep, "blue")["provisioning_state"] == "Succeeded"


def test_exit_at_start_marks_deployment_failed(d, module_dir):
    ep = "rec-fail-ep"
    d.create_endpoint(module_dir, ep)
    path = write_deployment(module_dir / ep, "crash", ep,
                            environment_variables={"TEST_EXIT_AT_START": "3"})
    cp = d.cli("online-deployment", "create", "-n", "crash", "-e", ep, "-f", path, check=False)
    assert cp.returncode == 1, cp
    assert "Error:" in cp.stderr
    assert "failing at start on purpose" in cp.stderr, cp.stderr
    dep = d.deployment(ep, "crash")
    assert dep["provisioning_state"] == "Failed"
    assert "failing at start on purpose" in dep["reason"], dep["reason"]
    logs = d.cli("online-deployment", "get-logs", "-n", "crash", "-e", ep).stdout
    assert "failing at start on purpose" in logs
    instances_dir = str(d.data_dir.resolve() / "instances" / ep)
    wait_until(lambda: not [p for p in d.instance_pids()
                            if pid_cwd(p).startswith(instances_dir)],
               timeout=30, message="the failed deployment's processes to be gone")
    r = d.score(ep, {}, key=d.primary_key(ep), deployment="crash")
    assert r.status == 503, r


def test_kill9_berthd_then_restart(d, module_dir):
    ep, tok_ep = "rec-ep", "rec-tok-ep"
    d.create_endpoint(module_dir, ep, description="survives", tags={"k": "v"})
    d.create_deployment(module_dir / ep, "blue", ep, all_traffic=True, instance_count=2)
    d.create_deployment(module_dir / ep, "green", ep,
                        environment_variables={"TEST_FOO": "green"})
    d.cli("online-endpoint", "update", "-n", ep, "--traffic", "blue=80 green=20")
    d.create_endpoint(module_dir, tok_ep, auth_mode="aml_token")
    d.create_deployment(module_dir / tok_ep, "blue", tok_ep, all_traffic=True)

    keys = d.keys(ep)
    token = d.api("POST", f"/api/v1/online-endpoints/{tok_ep}/token").json()["accessToken"]
    assert d.score(tok_ep, {}, key=token).status == 200
    volatile = ("scoring_uri", "openapi_uri", "updated_at", "provisioning_state")
    before = {k: v for k, v in d.endpoint(ep).items() if k not in volatile}
    assert before["traffic"] == {"blue": 80, "green": 20}
    specs = {n: {k: v for k, v in d.deployment(ep, n).items()
                 if k not in ("instances", "updated_at", "provisioning_state")}
             for n in ("blue", "green")}
    old_pids = set(d.instance_pids())
    assert len(old_pids) >= 4, old_pids  # rec-ep blue x2 + green, rec-tok-ep blue (+ others)

    d.kill9()
    wait_until(lambda: not d.instance_pids(), timeout=15, step=0.1,
               message="every instance to exit after kill -9 of berthd")

    d.start()
    # The stored state says Succeeded at once; the instances start again behind it.
    for e, n, count in ((ep, "blue", 2), (ep, "green", 1), (tok_ep, "blue", 1)):
        d.wait_deployment(e, n, timeout=60)
        wait_until(lambda: len(d.ready_instances(e, n)) == count, timeout=60,
                   message=f"{count} ready instance(s) of {e}/{n} after the restart")
    after = {k: v for k, v in d.endpoint(ep).items() if k not in volatile}
    assert after == before
    assert d.endpoint(ep)["scoring_uri"] == f"{d.url}/endpoints/{ep}/score"
    assert d.keys(ep) == keys
    for n in ("blue", "green"):
        spec = {k: v for k, v in d.deployment(ep, n).items()
                if k not in ("instances", "updated_at", "provisioning_state")}
        assert spec == specs[n]
    blue = d.deployment(ep, "blue")["instances"]
    assert len(blue) == 2 and all(i["state"] == "Ready" for i in blue), blue
    assert not old_pids & set(d.instance_pids())

    for k in (keys["primaryKey"], keys["secondaryKey"]):
        r = d.score(ep, {"after": "restart"}, key=k)
        assert r.status == 200, r
        assert r.json()["deployment"] in ("blue", "green")
    r = d.score(ep, {}, key=keys["primaryKey"], deployment="green")
    assert r.status == 200 and r.json()["env"] == {"TEST_FOO": "green"}, r
    # The token secret survived: a token issued before the crash still verifies.
    r = d.score(tok_ep, {}, key=token)
    assert r.status == 200, r
