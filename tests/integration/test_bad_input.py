"""Bad inputs through the CLI and the API: each gets a clear error that names the field (or
the resource), the right exit code or status, and leaves the state exactly as it was."""

import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from berth_helpers import (deployment_doc, items_of, to_yaml, write_deployment, write_endpoint)

EP = "bad-ep"
MAX_BODY = 256 * 1024


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory(["--max-request-body", str(MAX_BODY)])


@pytest.fixture(scope="module")
def setup(d, module_dir):
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "blue", EP, all_traffic=True)
    d.create_deployment(module_dir, "green", EP)
    return module_dir


def snapshot(d):
    """Everything a rejected request must leave untouched."""
    endpoints = sorted(items_of(d.api_ok("GET", "/api/v1/online-endpoints")),
                       key=lambda e: e["name"])
    deployments = {}
    for e in endpoints:
        deps = items_of(d.api_ok("GET", f"/api/v1/online-endpoints/{e['name']}/deployments"))
        deployments[e["name"]] = sorted(
            ({**{k: v for k, v in x.items() if k != "instances"},
              "instance_pids": sorted(i["pid"] for i in x.get("instances", []))} for x in deps),
            key=lambda x: x["name"])
    return {"endpoints": endpoints, "deployments": deployments, "keys": d.keys(EP)}


def cli_error(d, *args, code=1):
    cp = d.cli(*args, check=False)
    assert cp.returncode == code, (
        f"exit {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    assert "Error:" in cp.stderr, cp.stderr
    return cp.stderr


def api_error(d, method, path, body, status, code):
    r = d.api(method, path, body)
    assert r.status == status, r
    err = r.error()
    assert err["code"] == code, err
    return err


def bad_deployment_file(tmp_path, filename, mutate):
    doc = deployment_doc("blue", EP)
    mutate(doc)
    return write_deployment(tmp_path, "blue", EP, filename=filename, raw=to_yaml(doc))


# Each case returns the error text to check and the words it must contain.

def case_wrong_type(d, tmp):
    path = bad_deployment_file(tmp, "wrong-type.yml", lambda doc: doc.update(instance_count="two"))
    err = cli_error(d, "online-deployment", "update", "-n", "blue", "-e", EP, "-f", path)
    return err, ["wrong-type.yml", "instance_count"]


def case_misspelled_field(d, tmp):
    def mutate(doc):
        doc["request_settings"] = {"max_concurent_requests_per_instance": 2}
    path = bad_deployment_file(tmp, "misspelled.yml", mutate)
    err = cli_error(d, "online-deployment", "update", "-n", "blue", "-e", EP, "-f", path)
    return err, ["misspelled.yml", "max_concurent_requests_per_instance",
                 "max_concurrent_requests_per_instance"]


def case_unknown_top_level_field(d, tmp):
    path = bad_deployment_file(tmp, "unknown.yml", lambda doc: doc.update(instance_cuont=2))
    err = cli_error(d, "online-deployment", "update", "-n", "blue", "-e", EP, "-f", path)
    return err, ["unknown.yml", "instance_cuont", "instance_count"]


def case_set_wrong_type(d, tmp):
    err = cli_error(d, "online-deployment", "update", "-n", "blue", "-e", EP,
                    "--set", "request_settings.request_timeout_ms=fast")
    return err, ["request_settings.request_timeout_ms"]


def case_bad_endpoint_name(d, tmp):
    path = write_endpoint(tmp, "1bad")
    err = cli_error(d, "online-endpoint", "create", "-f", path)
    return err, ["name", "1bad"]


def case_bad_endpoint_name_api(d, tmp):
    err = api_error(d, "POST", "/api/v1/online-endpoints", {"name": "ab", "auth_mode": "key"},
                    400, "BadArgument")
    return err["message"], ["name"]


def case_bad_deployment_name(d, tmp):
    path = write_deployment(tmp, "blue_2", EP)
    err = cli_error(d, "online-deployment", "create", "-n", "blue_2", "-e", EP, "-f", path)
    return err, ["name", "blue_2"]


def case_traffic_sums_to_90(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "--traffic", "blue=80 green=10")
    return err, ["traffic"]


def case_mirror_60(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "--mirror-traffic", "green=60")
    return err, ["mirror_traffic", "green"]


def case_mirror_on_live_deployment(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "--mirror-traffic", "blue=10")
    return err, ["mirror_traffic", "blue"]


def case_two_mirrors_api(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}",
                    {"mirror_traffic": {"green": 10, "blue": 10}}, 400, "BadArgument")
    return err["message"], ["mirror_traffic"]


def case_unknown_deployment_in_traffic(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "--traffic", "blue=50 nope=50")
    return err, ["traffic", "nope"]


def case_missing_endpoint(d, tmp):
    path = write_deployment(tmp, "blue", "missing-ep", filename="missing.yml")
    err = cli_error(d, "online-deployment", "create", "-n", "blue", "-e", "missing-ep", "-f", path)
    return err, ["missing-ep"]


def case_missing_endpoint_api(d, tmp):
    err = api_error(d, "GET", "/api/v1/online-endpoints/missing-ep/deployments/blue", None,
                    404, "NotFound")
    return err["message"], ["missing-ep"]


def case_existing_endpoint(d, tmp):
    path = write_endpoint(tmp, EP, description="second create")
    err = cli_error(d, "online-endpoint", "create", "-n", EP, "-f", path)
    return err, [EP]


def case_existing_endpoint_api(d, tmp):
    err = api_error(d, "POST", "/api/v1/online-endpoints", {"name": EP, "auth_mode": "key"},
                    409, "Conflict")
    return err["message"], [EP]


def case_existing_deployment_api(d, tmp):
    doc = json.loads(json.dumps(d.deployment(EP, "green")))
    err = api_error(d, "POST", f"/api/v1/online-endpoints/{EP}/deployments",
                    {k: v for k, v in doc.items() if k not in ("instances", "provisioning_state",
                                                              "reason", "warnings",
                                                              "created_at", "updated_at")},
                    409, "Conflict")
    return err["message"], ["green"]


def case_delete_deployment_with_traffic(d, tmp):
    err = cli_error(d, "online-deployment", "delete", "-n", "blue", "-e", EP, "--yes")
    return err, ["blue", "traffic"]


def case_delete_deployment_with_traffic_api(d, tmp):
    err = api_error(d, "DELETE", f"/api/v1/online-endpoints/{EP}/deployments/blue", None,
                    409, "Conflict")
    return err["message"], ["blue"]


def case_aad_token_create(d, tmp):
    path = write_endpoint(tmp, "aad-ep", auth_mode="aad_token")
    err = cli_error(d, "online-endpoint", "create", "-f", path)
    return err, ["auth_mode", "aad_token"]


def case_aad_token_update(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "--set", "auth_mode=aad_token")
    return err, ["auth_mode", "aad_token"]


def case_body_not_json(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}", b"{not json",
                    400, "BadArgument")
    return err["message"], []


def case_wrong_type_api(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}/deployments/green",
                    {"request_settings": {"request_timeout_ms": "fast"}}, 400, "BadArgument")
    return err["message"], ["request_settings.request_timeout_ms"]


def case_code_without_artifact_api(d, tmp):
    doc = deployment_doc("cyan", EP)
    del doc["$schema"]
    err = api_error(d, "POST", f"/api/v1/online-endpoints/{EP}/deployments", doc,
                    400, "BadArgument")
    return err["message"], ["code_configuration"]


def case_oversized_management_body(d, tmp):
    body = {"name": "big-ep", "description": "x" * (MAX_BODY + 1)}
    r = d.api("POST", "/api/v1/online-endpoints", body)
    assert r.status == 413, r
    return r.error()["code"], ["PayloadTooLarge"]


def case_oversized_score_body(d, tmp):
    r = d.score(EP, {"pad": "x" * (MAX_BODY + 1)}, key=d.primary_key(EP), keepalive=False)
    assert r.status == 413, r
    return r.error()["code"], ["PayloadTooLarge"]


ROUTE_PATH = "environment.inference_config.scoring_route.path"


def patch_route_path(path):
    return {"environment": {"inference_config": {"scoring_route": {"port": 5001, "path": path}}}}


def case_route_path_with_crlf_api(d, tmp):
    # Written raw into the request line sent to instances, CR/LF would forge a header.
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}/deployments/green",
                    patch_route_path("/score\r\nX-Injected: 1"), 400, "BadArgument")
    return err["message"], [ROUTE_PATH, "CR"]


def case_route_path_with_space_api(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}/deployments/green",
                    patch_route_path("/score HTTP/1.0"), 400, "BadArgument")
    return err["message"], [ROUTE_PATH, "space"]


def case_route_path_with_query_cli(d, tmp):
    err = cli_error(d, "online-deployment", "update", "-n", "blue", "-e", EP,
                    "--set", f"{ROUTE_PATH}=/score?debug=1")
    return err, [ROUTE_PATH, "query"]


def case_nul_in_command_api(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}/deployments/green",
                    {"environment": {"command": ["python3", "test\u0000server.py"]}},
                    400, "BadArgument")
    return err["message"], ["environment.command[1]", "NUL"]


def case_nul_in_environment_variable_api(d, tmp):
    err = api_error(d, "PATCH", f"/api/v1/online-endpoints/{EP}/deployments/green",
                    {"environment_variables": {"TEST_FOO": "b\u0000ar"}}, 400, "BadArgument")
    return err["message"], ["environment_variables.TEST_FOO", "NUL"]


def tar_of(*entries):
    """A tar of (name, "file" | "folder") entries, as an API client might upload."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "folder":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


def put_bad_artifact(d, tar):
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    err = api_error(d, "PUT", f"/api/v1/artifacts/{digest}", tar, 400, "BadArgument")
    assert d.api("HEAD", f"/api/v1/artifacts/{digest}").status == 404  # nothing stored
    return err


def case_artifact_file_and_folder_of_one_name_api(d, tmp):
    err = put_bad_artifact(d, tar_of(("model", "file"), ("model", "folder")))
    # tarfile writes a folder's name with a trailing '/', as the entry is named in the message.
    return err["message"], ["artifact entry 'model/' is a folder", "made it a file"]


def case_artifact_file_inside_a_file_api(d, tmp):
    err = put_bad_artifact(d, tar_of(("model", "file"), ("model/w.bin", "file")))
    return err["message"], ["artifact entry 'model/w.bin'"]


def case_artifact_over_long_entry_name_api(d, tmp):
    err = put_bad_artifact(d, tar_of(("model/" + "n" * 300, "file")))
    return err["message"], ["artifact entry 'model/nnnn", "255 bytes"]


def case_spec_file_dev_zero_cli(d, tmp):
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "-f", "/dev/zero")
    return err, ["/dev/zero", "not a regular file"]


def case_spec_file_fifo_cli(d, tmp):
    fifo = tmp / "fifo.yml"
    os.mkfifo(fifo)
    try:
        cp = d.cli("online-deployment", "update", "-n", "blue", "-e", EP, "-f", fifo,
                   check=False, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("berth blocked reading a FIFO")
    assert cp.returncode == 1, cp
    return cp.stderr, [str(fifo), "FIFO"]


def case_spec_file_oversized_cli(d, tmp):
    big = tmp / "big.yml"
    with open(big, "wb") as f:
        f.truncate(17 << 20)  # sparse
    err = cli_error(d, "online-endpoint", "update", "-n", EP, "-f", big)
    return err, [str(big), "16 MiB"]


def case_request_file_folder_cli(d, tmp):
    err = cli_error(d, "online-endpoint", "invoke", "-n", EP, "--request-file", tmp)
    return err, [str(tmp), "a folder"]


def image_only_file(tmp, model):
    doc = {"name": "orange", "endpoint_name": EP, "instance_count": 1,
           "environment": {"image": "mcr.microsoft.com/azureml/onnxruntime:latest"}}
    if model:
        (tmp / "onnx-model").mkdir()
        (tmp / "onnx-model" / "model.onnx").write_bytes(b"not an MLflow model")
        doc["model"] = {"path": "./onnx-model"}
    path = tmp / "image-only.yml"
    path.write_text(to_yaml(doc))
    return path


def case_image_only_with_model_cli(d, tmp):
    # Azure serves this with the image's own server; berth runs no images: refused when
    # written, before any instance starts, saying what to give instead.
    path = image_only_file(tmp, model=True)
    err = cli_error(d, "online-deployment", "create", "-n", "orange", "-e", EP, "-f", path)
    assert d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/orange").status == 404
    return err, ["environment.image", "does not run container images", "scoring_script",
                 "MLmodel", "environment.command"]


def case_image_only_without_model_cli(d, tmp):
    path = image_only_file(tmp, model=False)
    err = cli_error(d, "online-deployment", "create", "-n", "orange", "-e", EP, "-f", path)
    return err, ["environment.image", "does not run container images"]


def case_usage_error(d, tmp):
    cp = d.cli("online-endpoint", "show", check=False)
    assert cp.returncode == 2, cp
    return cp.stderr, ["name"]


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(d, setup, tmp_path, case):
    write_deployment(tmp_path, "unused", EP)  # the server/ folder the files point at
    before = snapshot(d)
    text, words = CASES[case](d, tmp_path)
    for w in words:
        assert w in text, f"{w!r} not in error: {text}"
    assert snapshot(d) == before


def test_still_serving_after_bad_inputs(d, setup):
    key = d.primary_key(EP)
    r = d.score(EP, {"ok": True}, key=key)
    assert r.status == 200, r
    assert r.json()["deployment"] == "blue"
    assert d.endpoint(EP)["traffic"] == {"blue": 100, "green": 0}
    assert d.endpoint(EP)["auth_mode"] == "key"
