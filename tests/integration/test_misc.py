"""Headers, routing errors, swagger passthrough, the OpenAPI document, what an instance sees
(model folder, working directory, environment) and content-addressed artifacts."""

import hashlib
import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from berth_helpers import GUID_RE, pid_cwd, write_deployment

EP = "misc-ep"
SWAG_EP = "swag-ep"
EMPTY_EP = "notraffic-ep"


@pytest.fixture(scope="module")
def setup(berthd, module_dir):
    d = berthd
    (module_dir / "model").mkdir()
    (module_dir / "model" / "w.txt").write_text("weights v1\n")
    (module_dir / "model" / "sub").mkdir()
    (module_dir / "model" / "sub" / "x.bin").write_bytes(b"\x00\x01")
    (module_dir / "weights.bin").write_bytes(b"single file model")
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "plain", EP, all_traffic=True, model={"path": "./model"})
    d.create_endpoint(module_dir, SWAG_EP)
    d.create_deployment(module_dir, "swag", SWAG_EP, all_traffic=True,
                        model={"path": "./weights.bin"},
                        environment_variables={"TEST_SWAGGER": "1"})
    d.create_endpoint(module_dir, EMPTY_EP)
    return module_dir


def test_request_ids(berthd, setup):
    d = berthd
    key = d.primary_key(EP)
    r1 = d.score(EP, {}, key=key)
    r2 = d.score(EP, {}, key=key, headers={"x-ms-client-request-id": "client-req_42",
                                           "x-request-id": "not-a-guid"})
    for r in (r1, r2):
        assert r.status == 200, r
        assert GUID_RE.match(r.headers.get("x-request-id", "")), r.headers
        assert r.headers.get("azureml-model-deployment") == "plain"
    assert r1.headers["x-request-id"] != r2.headers["x-request-id"]
    assert r2.headers.get("x-ms-client-request-id") == "client-req_42"
    # Errors and the management API carry one too.
    r = d.score(EP, {}, key="wrong", headers={"x-ms-client-request-id": "abc"})
    assert r.status == 401
    assert GUID_RE.match(r.headers.get("x-request-id", "")), r.headers
    assert r.headers.get("x-ms-client-request-id") == "abc"
    r = d.api("GET", f"/api/v1/online-endpoints/{EP}", headers={"x-ms-client-request-id": "m1"})
    assert r.status == 200
    assert GUID_RE.match(r.headers.get("x-request-id", "")), r.headers
    assert r.headers.get("x-ms-client-request-id") == "m1"


def test_swagger_passthrough(berthd, setup):
    d = berthd
    r = d.request("GET", f"/endpoints/{SWAG_EP}/swagger.json",
                  headers={"Authorization": f"Bearer {d.primary_key(SWAG_EP)}"})
    assert r.status == 200, r
    assert isinstance(r.json(), dict)
    r = d.request("GET", f"/endpoints/{EP}/swagger.json",
                  headers={"Authorization": f"Bearer {d.primary_key(EP)}"})
    assert r.status == 404, r
    assert r.error()["code"] == "NotFound"
    assert "swagger" in r.error()["message"].lower()


def test_openapi_document(berthd):
    r = berthd.api("GET", "/api/v1/openapi.json")
    assert r.status == 200, r
    doc = r.json()
    assert str(doc["openapi"]).startswith("3")
    assert "/api/v1/online-endpoints" in doc["paths"]


def test_routing_errors(berthd, setup):
    d = berthd
    # Without a credential valid for the named endpoint the answer is 401 whether or not the
    # endpoint exists, in the same words, so names cannot be listed by probing.
    unknown = d.score("no-such-ep", {}, key="anything")
    wrong = d.score(EP, {}, key="anything")
    assert unknown.status == 401 and wrong.status == 401, (unknown, wrong)
    assert unknown.error()["code"] == wrong.error()["code"] == "Unauthorized"
    assert unknown.error()["message"].replace("no-such-ep", EP) == wrong.error()["message"]

    r = d.score(EP, {}, key=d.primary_key(EP), deployment="nope")
    assert r.status == 404, r
    assert r.error()["code"] == "NotFound"
    assert "nope" in r.error()["message"]

    r = d.score(EMPTY_EP, {}, key=d.primary_key(EMPTY_EP))
    assert r.status == 404, r
    err = r.error()
    assert err["code"] == "NotFound"
    assert "traffic" in err["message"] or "weight" in err["message"], err


def test_instance_environment(berthd, setup):
    d = berthd
    r = d.score(EP, {"hello": "world"}, key=d.primary_key(EP))
    assert r.status == 200, r
    body = r.json()
    assert body["endpoint"] == EP
    assert body["deployment"] == "plain"
    assert body["echo"] == {"hello": "world"}
    assert body["env"] == {"TEST_FOO": "bar"}
    [inst] = d.deployment(EP, "plain")["instances"]
    # The view's pid is the instance's sandbox (bubblewrap); inside it the program has a pid of
    # its own PID namespace.
    with open(f"/proc/{inst['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0].endswith(b"bwrap")
    assert body["pid"] < 10, body
    assert str(body["instance"]) != ""
    # The sandbox's working directory is its own copy of the code, inside the data dir.
    cwd = Path(pid_cwd(inst["pid"]))
    assert str(cwd).startswith(str(d.data_dir.resolve()) + "/"), cwd
    assert (cwd / "test_server.py").is_file()
    assert cwd != (setup / "server").resolve()


def test_model_dir_layout(berthd, setup):
    d = berthd

    def model_files(endpoint, *relative):
        """The model's files as the instance reads them under $AZUREML_MODEL_DIR."""
        paths = [f"/var/azureml-model/{r}" for r in relative]
        r = d.score(endpoint, {"inspect": {"cat": paths}}, key=d.primary_key(endpoint))
        assert r.status == 200, r
        return [r.json()["inspect"]["cat"][p] for p in paths]

    # The registered copy (data dir models/<name>/<version>) is what the sandbox shows there.
    body = d.score(EP, {}, key=d.primary_key(EP)).json()
    assert os.path.normpath(body["model_dir"]) == "/var/azureml-model"
    assert (d.data_dir / "models" / f"{EP}-plain" / "1" / "model" / "w.txt").is_file()
    assert model_files(EP, "model/w.txt", "model/sub/x.bin") == ["weights v1\n", "\x00\x01"]

    assert (d.data_dir / "models" / f"{SWAG_EP}-swag" / "1" / "weights.bin").is_file()
    assert model_files(SWAG_EP, "weights.bin") == ["single file model"]

    dep = d.deployment(EP, "plain")
    assert dep["model"]["name"] == f"{EP}-plain"
    assert str(dep["model"]["version"]) == "1"
    assert dep["model"]["artifact"]["base_name"] == "model"
    assert dep["model"]["artifact"]["is_file"] is False
    assert dep["code_configuration"]["artifact"]["base_name"] == "server"
    swag = d.deployment(SWAG_EP, "swag")
    assert swag["model"]["artifact"]["base_name"] == "weights.bin"
    assert swag["model"]["artifact"]["is_file"] is True


def _store_files(d):
    root = d.data_dir / "artifacts"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_unchanged_upload_is_skipped_and_warnings_printed(berthd, setup):
    d = berthd
    stored = _store_files(d)
    assert stored, "the artifact store is empty"
    first = d.deployment(EP, "plain")
    # Touching files changes no content: the deterministic tar has the same digest.
    for p in (setup / "model" / "w.txt", setup / "server" / "test_server.py"):
        os.utime(p, (1_000_000_000, 1_000_000_000))
    path = write_deployment(setup, "plain2", EP, model={"path": "./model"},
                            instance_type="Standard_DS3_v2")
    cp = d.cli("online-deployment", "create", "-n", "plain2", "-e", EP, "-f", path)
    assert "Warning:" in cp.stderr and "instance_type" in cp.stderr, cp.stderr
    # HEAD found both artifacts stored: the CLI uploaded nothing.
    assert "Uploading" not in cp.stderr, cp.stderr
    second = d.wait_deployment(EP, "plain2")
    assert any("instance_type" in w for w in second["warnings"]), second["warnings"]
    assert second["instance_type"] == "Standard_DS3_v2"
    for field in ("model", "code_configuration"):
        digest = second[field]["artifact"]["digest"]
        assert digest == first[field]["artifact"]["digest"]
        assert d.api("HEAD", f"/api/v1/artifacts/{digest}").status == 200
    assert _store_files(d) == stored
    r = d.score(EP, {}, key=d.primary_key(EP), deployment="plain2")
    assert r.status == 200 and r.json()["deployment"] == "plain2", r


def test_artifact_api(berthd):
    d = berthd
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = f"artifact {uuid.uuid4()}\n".encode()
        info = tarfile.TarInfo("blob/a.txt")
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    headers = {"Content-Type": "application/x-tar"}
    assert d.api("HEAD", f"/api/v1/artifacts/{digest}").status == 404
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    r = d.api("PUT", f"/api/v1/artifacts/{wrong}", blob, headers=headers)
    assert r.status == 400, r
    assert d.api("HEAD", f"/api/v1/artifacts/{wrong}").status == 404
    r = d.api("PUT", f"/api/v1/artifacts/{digest}", blob, headers=headers)
    assert r.status == 201, r
    r = d.api("PUT", f"/api/v1/artifacts/{digest}", blob, headers=headers)
    assert r.status == 200, r
    assert d.api("HEAD", f"/api/v1/artifacts/{digest}").status == 200
    assert d.api("HEAD", f"/api/v1/artifacts/{digest}", token=None).status == 401


def test_unknown_names_create_no_metric_series(berthd, setup):
    # Each name a caller makes up used to add series (33 MB for 40,000 names): labels now come
    # only from endpoints the caller proved it may use.
    d = berthd
    before = len(d.metrics())
    for i in range(300):
        key = "" if i % 2 else "made-up"
        r = d.score(f"probe-{i}", {}, key=key)
        assert r.status == 401, r
        r = d.request("GET", f"/endpoints/probe-v2-{i}/v2/models/m", None,
                      {"Authorization": "Bearer made-up"})
        assert r.status == 401, r
    after = d.metrics()
    assert not [s for s in after if any("probe" in v for v in s[1].values())]
    assert len(after) - before < 20, (before, len(after))


def test_v2_serves_only_oip_routes_to_oip_deployments(berthd, setup):
    # /endpoints/<e>/v2/... used to forward any method and path to any kind of deployment.
    d = berthd
    auth = {"Authorization": f"Bearer {d.primary_key(EP)}"}
    r = d.request("POST", f"/endpoints/{EP}/v2/models/m/infer", {"inputs": []}, auth)
    assert r.status == 404, r
    assert "does not serve the Open Inference Protocol" in r.json()["error"], r
    for method, path, status in (("GET", "/v2/admin/secrets", 404),
                                 ("POST", "/v2/models/m/infer/../../x", 404),
                                 ("DELETE", "/v2/models/m", 405),
                                 ("PUT", "/v2/models/m/infer", 405)):
        r = d.request(method, f"/endpoints/{EP}{path}", None, auth)
        assert r.status == status, (method, path, r)
        assert isinstance(r.json()["error"], str), r  # the OIP error shape
