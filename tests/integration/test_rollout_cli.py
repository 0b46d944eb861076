"""The Azure ML safe-rollout flow, end to end through the `berth` CLI.

create endpoint -> blue with all traffic -> scale blue to 2 -> green at 0 % -> invoke green
directly -> mirror 20 % to green -> stop mirroring -> blue=90 green=10 -> blue=0 green=100 ->
delete blue -> delete the endpoint. Every step is checked through show/list/invoke output.
"""

import json
import threading

from berth_helpers import (items_of, parse_json_output, pid_alive, wait_until, write_deployment,
                      write_endpoint)

EP = "rollout-ep"


def show_endpoint(d):
    return d.cli_json("online-endpoint", "show", "-n", EP)


def invoke(d, tmp_path, payload, deployment=None):
    req = tmp_path / "request.json"
    req.write_text(json.dumps(payload))
    args = ["online-endpoint", "invoke", "-n", EP, "--request-file", req]
    if deployment:
        args += ["--deployment-name", deployment]
    return parse_json_output(d.cli(*args).stdout)


def test_safe_rollout_flow(berthd, tmp_path):
    d = berthd

    # Endpoint, as Azure's sample writes it.
    ep_file = write_endpoint(tmp_path, EP, raw=(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        f"name: {EP}\n"
        "auth_mode: key\n"
        "description: rollout test\n"
        "tags: {team: berth}\n"))
    created = d.cli_json("online-endpoint", "create", "-n", EP, "-f", ep_file)
    assert created["name"] == EP
    assert created["auth_mode"] == "key"
    shown = show_endpoint(d)
    assert shown["provisioning_state"] == "Succeeded"
    assert shown["description"] == "rollout test"
    assert shown["tags"] == {"team": "berth"}
    assert shown["scoring_uri"] == f"{d.url}/endpoints/{EP}/score"
    assert shown["traffic"] == {}

    listed = items_of(d.cli_json("online-endpoint", "list"))
    assert EP in [e["name"] for e in listed]
    table = d.cli("online-endpoint", "list", "-o", "table").stdout
    assert EP in table

    # blue with all traffic.
    blue = write_deployment(tmp_path, "blue", EP)
    cp = d.cli("online-deployment", "create", "-n", "blue", "-e", EP, "-f", blue, "--all-traffic")
    out = parse_json_output(cp.stdout)
    assert out["name"] == "blue"
    assert out["provisioning_state"] == "Succeeded"
    assert show_endpoint(d)["traffic"] == {"blue": 100}
    answer = invoke(d, tmp_path, {"data": [1, 2, 3]})
    assert answer["deployment"] == "blue"
    assert answer["endpoint"] == EP
    assert answer["echo"] == {"data": [1, 2, 3]}
    assert answer["env"] == {"TEST_FOO": "bar"}

    # Scale blue to two instances.
    d.cli("online-deployment", "update", "-n", "blue", "-e", EP, "--set", "instance_count=2")
    dep = d.cli_json("online-deployment", "show", "-n", "blue", "-e", EP)
    assert dep["provisioning_state"] == "Succeeded"
    assert dep["instance_count"] == 2
    assert sum(1 for i in dep["instances"] if i["state"] == "Ready") >= 2, dep["instances"]
    # Instances replaced by the update may still be draining; then exactly two remain.
    instances = wait_until(
        lambda: (lambda x: x if len(x) == 2 and all(i["state"] == "Ready" for i in x) else None)(
            d.deployment(EP, "blue")["instances"]), timeout=30, message="two ready instances")
    assert len({i["pid"] for i in instances}) == 2
    # Fields not named by --set keep their values.
    assert dep["request_settings"]["max_concurrent_requests_per_instance"] == 4
    assert dep["environment_variables"] == {"TEST_FOO": "bar"}

    # green at 0 %.
    green = write_deployment(tmp_path, "green", EP, environment_variables={"TEST_FOO": "green"})
    d.cli("online-deployment", "create", "-n", "green", "-e", EP, "-f", green)
    assert show_endpoint(d)["traffic"] == {"blue": 100, "green": 0}
    names = sorted(x["name"] for x in items_of(
        d.cli_json("online-deployment", "list", "-e", EP)))
    assert names == ["blue", "green"]
    assert invoke(d, tmp_path, {"x": 1})["deployment"] == "blue"
    answer = invoke(d, tmp_path, {"x": 2}, deployment="green")
    assert answer["deployment"] == "green"
    assert answer["env"] == {"TEST_FOO": "green"}

    # Mirror 20 % to green: every client answer still comes from blue.
    d.cli("online-endpoint", "update", "-n", EP, "--mirror-traffic", "green=20")
    shown = show_endpoint(d)
    assert shown["mirror_traffic"] == {"green": 20}
    assert shown["traffic"] == {"blue": 100, "green": 0}
    key = d.primary_key(EP)
    for i in range(20):
        r = d.score(EP, {"i": i}, key=key)
        assert r.status == 200, r
        assert r.headers["azureml-model-deployment"] == "blue"

    # Stop mirroring.
    d.cli("online-endpoint", "update", "-n", EP, "--mirror-traffic", "green=0")
    assert show_endpoint(d)["mirror_traffic"] == {}

    # 10 % to green.
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "blue=90 green=10")
    shown = show_endpoint(d)
    assert shown["traffic"] == {"blue": 90, "green": 10}
    assert shown["mirror_traffic"] == {}

    # Promote green.
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "blue=0 green=100")
    assert show_endpoint(d)["traffic"] == {"blue": 0, "green": 100}
    for i in range(5):
        assert invoke(d, tmp_path, {"i": i})["deployment"] == "green"

    # Credentials and logs.
    creds = d.cli_json("online-endpoint", "get-credentials", "-n", EP)
    assert set(creds) >= {"primaryKey", "secondaryKey"}
    assert creds["primaryKey"] and creds["secondaryKey"]
    assert creds["primaryKey"] != creds["secondaryKey"]
    assert d.score(EP, {}, key=creds["secondaryKey"]).status == 200
    logs = d.cli("online-deployment", "get-logs", "-n", "green", "-e", EP, "--lines", "50").stdout
    assert "listening on" in logs

    # Delete blue, then the endpoint.
    blue_pids = [i["pid"] for i in d.deployment(EP, "blue")["instances"]]
    d.cli("online-deployment", "delete", "-n", "blue", "-e", EP, "--yes")
    r = d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/blue")
    assert r.status == 404, r
    assert [x["name"] for x in items_of(d.cli_json("online-deployment", "list", "-e", EP))] == [
        "green"]
    assert show_endpoint(d)["traffic"] == {"green": 100}
    wait_until(lambda: not any(pid_alive(p) for p in blue_pids), timeout=30,
               message="blue's instances to exit")
    assert invoke(d, tmp_path, {"after": "blue"})["deployment"] == "green"

    d.cli("online-endpoint", "delete", "-n", EP, "--yes")
    cp = d.cli("online-endpoint", "show", "-n", EP, check=False)
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("Error:"), cp.stderr
    assert EP in cp.stderr
    assert EP not in [e["name"] for e in items_of(d.cli_json("online-endpoint", "list"))]
    wait_until(lambda: not d.instance_pids(), timeout=30, message="no instance process left")
    # A deleted endpoint answers as any unknown one: 401, so names cannot be probed.
    r = d.score(EP, {}, key="whatever")
    assert r.status == 401, r


def test_output_formats(berthd, tmp_path):
    d = berthd
    ep = "formats-ep"
    d.create_endpoint(tmp_path, ep)
    yaml_out = d.cli("online-endpoint", "show", "-n", ep, "-o", "yaml").stdout
    assert f"name: {ep}" in yaml_out
    assert "auth_mode: key" in yaml_out
    json_out = d.cli_json("online-endpoint", "show", "-n", ep, "-o", "json")
    assert json_out["name"] == ep
    d.cli("online-endpoint", "delete", "-n", ep, "--yes")


def test_update_keeps_serving(berthd, tmp_path):
    """An update brings new instances to ready before stopping the old ones: a client
    scoring all along sees only 200s, and the new settings afterwards."""
    d = berthd
    ep = "rolling-ep"
    d.create_endpoint(tmp_path, ep)
    d.create_deployment(tmp_path, "blue", ep, all_traffic=True)
    key = d.primary_key(ep)
    old_pids = {i["pid"] for i in d.deployment(ep, "blue")["instances"]}

    stop = threading.Event()
    seen = []

    def client():
        while not stop.is_set():
            r = d.score(ep, {"n": len(seen)}, key=key)
            seen.append((r.status, r.json().get("env") if r.status == 200 else r.text))

    t = threading.Thread(target=client)
    t.start()
    try:
        wait_until(lambda: len(seen) >= 5, timeout=30, message="the client to be scoring")
        d.cli("online-deployment", "update", "-n", "blue", "-e", ep,
              "--set", "environment_variables.TEST_FOO=updated")
        wait_until(lambda: any(s == 200 and env == {"TEST_FOO": "updated"} for s, env in seen),
                   timeout=30, message="answers from the updated instances")
    finally:
        stop.set()
        t.join(timeout=60)
    bad = [x for x in seen if x[0] != 200]
    assert not bad, f"{len(bad)} of {len(seen)} requests failed during the update: {bad[:5]}"
    dep = d.deployment(ep, "blue")
    assert dep["provisioning_state"] == "Succeeded"
    assert dep["environment_variables"] == {"TEST_FOO": "updated"}
    assert not old_pids & {i["pid"] for i in dep["instances"] if i["state"] == "Ready"}
    wait_until(lambda: not any(pid_alive(p) for p in old_pids), timeout=30,
               message="the old instances to exit")
    wait_until(lambda: not old_pids & {i["pid"] for i in d.deployment(ep, "blue")["instances"]},
               timeout=30, message="the old instances to leave the deployment")
    d.cli("online-endpoint", "delete", "-n", ep, "--yes")
