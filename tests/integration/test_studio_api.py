"""The management-API additions the studio needs (docs/api.md), against a real berthd: YAML
bodies, artifact upload without a client-side digest, a deployment's metrics history, and the
data plane naming the deployment that answered."""

import hashlib
import io
import re
import tarfile

import pytest

from berth_helpers import TEST_SERVER, deployment_doc, to_yaml, wait_until

EP = "studio-ep"
YAML = {"Content-Type": "application/yaml"}
TAR = {"Content-Type": "application/x-tar"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def make_tar(files):
    """A tar of `files` ({name: bytes}), as the CLI packs a folder: sorted, mtime 0, owner 0."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def server_tar():
    return make_tar({"test_server.py": TEST_SERVER.read_bytes()})


def deployment_yaml(name, artifact_digest, **overrides):
    doc = deployment_doc(name, EP, **overrides)
    doc["code_configuration"]["artifact"] = {"digest": artifact_digest, "base_name": "server",
                                             "is_file": False}
    return to_yaml(doc)


@pytest.fixture(scope="module")
def blue(berthd):
    """An endpoint and a deployment with all traffic, created from YAML bodies and code uploaded
    with POST /api/v1/artifacts."""
    d = berthd
    r = d.api("POST", "/api/v1/artifacts", server_tar(), headers=TAR)
    assert r.status in (200, 201), r
    digest = r.json()["digest"]
    r = d.api("PUT", f"/api/v1/online-endpoints/{EP}",
              to_yaml({"name": EP, "auth_mode": "key", "description": "made from YAML"}),
              headers=YAML)
    assert r.status == 201, r
    r = d.api("PUT", f"/api/v1/online-endpoints/{EP}/deployments/blue",
              deployment_yaml("blue", digest), headers={"Content-Type": "text/yaml"})
    assert r.status == 201, r
    d.wait_deployment(EP, "blue")
    r = d.api("PATCH", f"/api/v1/online-endpoints/{EP}", "traffic:\n  blue: 100\n",
              headers={"Content-Type": "application/x-yaml; charset=utf-8"})
    assert r.status == 200, r
    return digest


def test_artifact_post_computes_the_digest_and_is_idempotent(berthd):
    tar = make_tar({"a.txt": b"hello studio\n"})
    want = "sha256:" + hashlib.sha256(tar).hexdigest()
    assert berthd.api("HEAD", f"/api/v1/artifacts/{want}").status == 404
    r = berthd.api("POST", "/api/v1/artifacts", tar, headers=TAR)
    assert r.status == 201, r
    assert r.json() == {"digest": want, "size": len(tar)}
    assert berthd.api("HEAD", f"/api/v1/artifacts/{want}").status == 200
    again = berthd.api("POST", "/api/v1/artifacts", tar, headers=TAR)
    assert again.status == 200, again
    assert again.json() == {"digest": want, "size": len(tar)}


def test_artifact_post_refuses_an_unsafe_tar_and_stores_nothing(berthd):
    tar = make_tar({"../escape.txt": b"x"})
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    r = berthd.api("POST", "/api/v1/artifacts", tar, headers=TAR)
    assert r.status == 400, r
    assert "escape.txt" in r.error()["message"], r
    assert berthd.api("HEAD", f"/api/v1/artifacts/{digest}").status == 404
    assert berthd.api("GET", "/api/v1/artifacts").status == 405


def test_yaml_created_endpoint_and_deployment_serve(berthd, blue):
    ep = berthd.endpoint(EP)
    assert ep["description"] == "made from YAML"
    assert ep["traffic"] == {"blue": 100}
    dep = berthd.deployment(EP, "blue")
    assert dep["code_configuration"]["artifact"]["digest"] == blue
    assert dep["provisioning_state"] == "Succeeded"


def test_a_bad_yaml_field_is_400_at_the_field_and_creates_nothing(berthd, blue):
    bad = deployment_yaml("green", blue, instance_count="many")
    r = berthd.api("PUT", f"/api/v1/online-endpoints/{EP}/deployments/green", bad, headers=YAML)
    assert r.status == 400, r
    assert r.error()["target"] == "instance_count", r
    assert berthd.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/green").status == 404
    # A new endpoint from a bad document is not created either.
    r = berthd.api("PUT", "/api/v1/online-endpoints/studio-bad",
                   "name: studio-bad\nauth_mode: password\n", headers=YAML)
    assert r.status == 400, r
    assert r.error()["target"] == "auth_mode", r
    assert berthd.api("GET", "/api/v1/online-endpoints/studio-bad").status == 404


def test_yaml_syntax_errors_name_the_line_and_column(berthd):
    r = berthd.api("POST", "/api/v1/online-endpoints", "name: studio-x\nauth_mode: [key\n",
                   headers=YAML)
    assert r.status == 400, r
    assert re.search(r"line \d+, column \d+", r.error()["message"]), r
    r = berthd.api("POST", "/api/v1/online-endpoints", "- name: studio-x\n", headers=YAML)
    assert r.status == 400, r
    assert "mapping" in r.error()["message"], r
    assert berthd.api("GET", "/api/v1/online-endpoints/studio-x").status == 404


def test_the_answer_names_the_deployment_that_served_it(berthd, blue):
    key = berthd.primary_key(EP)
    r = berthd.score(EP, {"n": 1}, key)
    assert r.status == 200, r
    assert r.headers.get("azureml-model-deployment") == "blue", r.headers
    r = berthd.score(EP, {"n": 2}, key, deployment="blue")
    assert r.status == 200, r
    assert r.headers.get("azureml-model-deployment") == "blue", r.headers


def test_metrics_history_shows_the_requests(berthd, blue):
    key = berthd.primary_key(EP)
    path = f"/api/v1/online-endpoints/{EP}/deployments/blue/metrics"
    sent_ok, sent_failed = 12, 3
    for n in range(sent_ok):
        assert berthd.score(EP, {"n": n}, key).status == 200
    for _ in range(sent_failed):
        assert berthd.score(EP, {"status": 500}, key).status == 424

    def counted():
        body = berthd.api_ok("GET", path + "?window_s=120")
        points = body["points"]
        total_2xx = sum(p["status_2xx"] for p in points)
        total_4xx = sum(p["status_4xx"] for p in points)
        # The requests of the other tests count too: at least those sent here.
        if total_2xx >= sent_ok and total_4xx >= sent_failed:
            return body
        return None

    body = wait_until(counted, timeout=30, step=0.5, message="the requests in the history")
    assert body["step_s"] == 2
    assert body["window_s"] == 120
    points = body["points"]
    times = [p["time"] for p in points]
    assert all(RFC3339.match(t) for t in times), times
    assert times == sorted(times)
    busy = [p for p in points if p["status_2xx"] + p["status_4xx"] > 0]
    assert busy
    for p in busy:
        assert p["requests_per_s"] > 0, p
        assert p["p50_ms"] is not None and p["p99_ms"] is not None, p
        assert 0 < p["p50_ms"] <= p["p99_ms"], p
    for p in points:
        if p["status_2xx"] + p["status_4xx"] + p["status_5xx"] == 0 and p["requests_per_s"] == 0:
            assert p["p50_ms"] is None and p["p99_ms"] is None, p
    # The default window, and a deployment named in another case.
    assert berthd.api_ok("GET", path)["window_s"] == 300
    assert berthd.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/BLUE/metrics").status \
        == 200


@pytest.mark.parametrize("window", ["5", "3601", "abc", ""])
def test_metrics_history_refuses_a_bad_window(berthd, blue, window):
    r = berthd.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/blue/metrics"
                          f"?window_s={window}")
    assert r.status == 400, r
    assert r.error()["target"] == "window_s", r


def test_metrics_history_of_an_unknown_deployment_is_404(berthd, blue):
    assert berthd.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/nope/metrics"
                      ).status == 404
    assert berthd.api("GET", "/api/v1/online-endpoints/no-ep/deployments/blue/metrics"
                      ).status == 404
    r = berthd.api("POST", f"/api/v1/online-endpoints/{EP}/deployments/blue/metrics", {})
    assert r.status == 405, r
