"""Deployment names keep their case and are matched ignoring it, as in Azure: traffic and
mirror_traffic keys, `-n`, and the API's paths all find `Green`, and `green` cannot be created
beside it."""

import pytest

from berth_helpers import items_of, wait_until

EP = "names-ep"


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory()


@pytest.fixture(scope="module")
def setup(d, module_dir):
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "Green", EP)
    d.create_deployment(module_dir, "Shadow", EP)
    return module_dir


def deployment_names(d):
    return sorted(x["name"] for x in items_of(
        d.api_ok("GET", f"/api/v1/online-endpoints/{EP}/deployments")))


def served_by(d):
    r = d.score(EP, {"ok": True})
    assert r.status == 200, r
    return r.headers.get("azureml-model-deployment"), r.json()["deployment"]


def test_traffic_in_another_case_reaches_the_deployment(d, setup):
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "GREEN=100")
    endpoint = d.endpoint(EP)
    assert endpoint["traffic"] == {"Green": 100, "Shadow": 0}
    # The routing table is republished after the write; poll until it serves.
    wait_until(lambda: d.score(EP, {"ok": True}).status == 200, timeout=30,
               message="the endpoint to serve")
    assert served_by(d) == ("Green", "Green")


def test_mirror_traffic_in_another_case_is_stored_under_the_name(d, setup):
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "green=100",
          "--mirror-traffic", "shadow=10")
    endpoint = d.endpoint(EP)
    assert endpoint["traffic"] == {"Green": 100, "Shadow": 0}
    assert endpoint["mirror_traffic"] == {"Shadow": 10}
    d.cli("online-endpoint", "update", "-n", EP, "--mirror-traffic", "SHADOW=0")
    assert d.endpoint(EP)["mirror_traffic"] == {}


def test_creating_a_name_that_differs_only_in_case_is_a_conflict(d, setup, tmp_path):
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "Green=100")
    before = (d.endpoint(EP), d.deployment(EP, "Green"), deployment_names(d))

    doc = {k: v for k, v in d.deployment(EP, "Green").items()
           if k not in ("instances", "provisioning_state", "reason", "warnings", "generation",
                        "created_at", "updated_at")}
    doc["name"] = "green"
    r = d.api("POST", f"/api/v1/online-endpoints/{EP}/deployments", doc)
    assert r.status == 409, r
    assert r.error()["code"] == "Conflict"
    assert "'Green'" in r.error()["message"], r.error()
    r = d.api("PUT", f"/api/v1/online-endpoints/{EP}/deployments/GREEN", {"name": "Green"})
    assert r.status in (200, 201, 409), r  # an update of Green, never a new deployment

    assert deployment_names(d) == ["Green", "Shadow"]
    after = (d.endpoint(EP), d.deployment(EP, "Green"), deployment_names(d))
    for b, a in zip(before[:2], after[:2]):
        assert {k: v for k, v in a.items() if k not in ("updated_at", "instances")} == \
            {k: v for k, v in b.items() if k not in ("updated_at", "instances")}
    assert served_by(d) == ("Green", "Green")


def test_show_and_delete_find_the_deployment_in_any_case(d, setup):
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "Green=100")
    shown = d.cli_json("online-deployment", "show", "-n", "GREEN", "-e", EP)
    assert shown["name"] == "Green"

    cp = d.cli("online-deployment", "delete", "-n", "green", "-e", EP, "--yes", check=False)
    assert cp.returncode == 1, cp
    assert "traffic" in cp.stderr, cp.stderr
    assert deployment_names(d) == ["Green", "Shadow"]

    d.cli("online-deployment", "delete", "-n", "SHADOW", "-e", EP, "--yes")
    wait_until(lambda: deployment_names(d) == ["Green"], timeout=60,
               message="Shadow to be deleted")
