"""berth-worker end to end: Triton model repositories and MLflow XGBoost models deployed through
the CLI, served over the Open Inference Protocol (REST and gRPC) directly by the worker and
through berthd's gateway (auth, traffic split), compared with the frameworks' own outputs.

Models are made here, at test time, with Debian's torch and xgboost (this suite runs under
/usr/bin/python3)."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from berth_helpers import instance_request, wait_until

EP = "native-ep"
XGB_EP = "xgb-ep"
TOL = 1e-5
PROTO = Path(__file__).resolve().parents[2] / "src" / "oip" / "grpc_service.proto"

MLP_CONFIG = """
name: "mlp"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 8 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 3 ] } ]
dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 200 }
instance_group [ { count: 1 kind: KIND_CPU } ]
model_warmup [ { name: "warm" batch_size: 1 } ]
optimization { execution_accelerators { cpu_execution_accelerator [ { name: "openvino" } ] } }
"""

XGB_CONFIG = """
backend: "xgboost"
max_batch_size: 64
input [ { name: "input" data_type: TYPE_FP32 dims: [ 5 ] } ]
output [ { name: "predictions" data_type: TYPE_FP32 dims: [ 1 ] } ]
"""


def deployment_yaml(name, endpoint, model_path, model_type, extra=""):
    return (f"$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
            f"name: {name}\n"
            f"endpoint_name: {endpoint}\n"
            f"model:\n"
            f"  name: {name}-model\n"
            f"  version: 1\n"
            f"  path: {model_path}\n"
            f"  type: {model_type}\n"
            f"instance_count: 1\n"
            f"readiness_probe: {{initial_delay: 1, period: 1, timeout: 2, failure_threshold: 60}}\n"
            f"{extra}")


def make_torch_repo(root):
    import torch
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    (root / "mlp" / "1").mkdir(parents=True)
    torch.jit.script(model.eval()).save(str(root / "mlp" / "1" / "model.pt"))
    (root / "mlp" / "config.pbtxt").write_text(MLP_CONFIG)
    x = np.random.default_rng(3).standard_normal((3, 8)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    return x, want


def make_xgboost_models(root):
    import xgboost as xgb
    rng = np.random.default_rng(11)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] * 2 - x[:, 1] + 0.1 * rng.standard_normal(40)).astype(np.float32)
    booster = xgb.train({"max_depth": 3, "eta": 0.3}, xgb.DMatrix(x, label=y), num_boost_round=8)
    repo = root / "xgb-repo"
    (repo / "reg" / "1").mkdir(parents=True)
    booster.save_model(str(repo / "reg" / "1" / "model.json"))
    (repo / "reg" / "config.pbtxt").write_text(XGB_CONFIG)
    regression = booster.predict(xgb.DMatrix(x))

    labels = (x[:, 2] + x[:, 3] > 0).astype(int)
    clf = xgb.XGBClassifier(n_estimators=6, max_depth=2)
    clf.fit(x, labels)
    mlflow = root / "xgb-mlflow"
    mlflow.mkdir()
    clf.save_model(str(mlflow / "model.xgb"))
    columns = [f"f{i}" for i in range(5)]
    inputs = json.dumps([{"name": c, "type": "float"} for c in columns])
    (mlflow / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n"
        "    loader_module: mlflow.xgboost\n"
        "    data: model.xgb\n"
        "  xgboost:\n"
        "    data: model.xgb\n"
        "    model_class: xgboost.sklearn.XGBClassifier\n"
        f"    xgb_version: {xgb.__version__}\n"
        "signature:\n"
        f"  inputs: '{inputs}'\n"
        "  outputs: '[{\"type\": \"long\"}]'\n")
    return x, regression, columns, clf.predict(x)


def grpc_modules(tmp):
    """The OIP gRPC stubs, generated from berth's own .proto."""
    out = tmp / "grpc_gen"
    out.mkdir(exist_ok=True)
    subprocess.run(["protoc", f"-I{PROTO.parents[1]}", f"--python_out={out}",
                    f"--grpc_out={out}", "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    str(PROTO)], check=True)
    sys.path.insert(0, str(out))
    from oip import grpc_service_pb2, grpc_service_pb2_grpc  # noqa: E402
    return grpc_service_pb2, grpc_service_pb2_grpc


@pytest.fixture(scope="module")
def native(berthd_factory, module_dir):
    d = berthd_factory(["--grpc-port", "0"])
    line = wait_until(lambda: "berthd: grpc port " in d.stdout_path.read_text()
                      and d.stdout_path.read_text(), message="berthd's grpc port line")
    grpc_port = int(line.split("berthd: grpc port ")[1].split()[0])
    repo = module_dir / "repo"
    x, want = make_torch_repo(repo)
    xgb_x, regression, columns, labels = make_xgboost_models(module_dir)

    d.create_endpoint(module_dir, EP)
    warnings = {}
    for name in ("blue", "green"):
        path = module_dir / f"{name}.yml"
        path.write_text(deployment_yaml(name, EP, repo, "triton_model"))
        out = d.cli("online-deployment", "create", "-f", path)
        warnings[name] = out.stdout + out.stderr
        d.wait_deployment(EP, name, timeout=90)
    d.cli("online-endpoint", "update", "-n", EP, "--traffic", "blue=50", "green=50")

    d.create_endpoint(module_dir, XGB_EP)
    for name, path, kind in (("reg", module_dir / "xgb-repo", "triton_model"),
                             ("clf", module_dir / "xgb-mlflow", "mlflow_model")):
        yml = module_dir / f"{name}.yml"
        yml.write_text(deployment_yaml(name, XGB_EP, path, kind))
        d.cli("online-deployment", "create", "-f", yml)
        d.wait_deployment(XGB_EP, name, timeout=90)
    return {"d": d, "grpc_port": grpc_port, "x": x, "want": want, "warnings": warnings,
            "xgb_x": xgb_x, "regression": regression, "columns": columns, "labels": labels,
            "dir": module_dir}


def infer_body(x, name="INPUT__0", datatype="FP32"):
    return {"id": "req-1",
            "inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype,
                        "data": x.flatten().tolist()}]}


def worker_instance(d, endpoint, deployment):
    instances = d.ready_instances(endpoint, deployment)
    assert instances, d.deployment(endpoint, deployment)
    return instances[0]


def check_outputs(body, want):
    out = body["outputs"][0]
    assert out["name"] == "OUTPUT__0" and out["datatype"] == "FP32"
    assert out["shape"] == list(want.shape)
    got = np.array(out["data"], dtype=np.float32).reshape(want.shape)
    assert np.max(np.abs(got - want)) <= TOL


def test_torchscript_over_rest_direct_and_through_gateway(native):
    d, x, want = native["d"], native["x"], native["want"]
    # Straight to the instance, over the Unix socket berthd reaches it on.
    direct = instance_request(worker_instance(d, EP, "blue"), "/v2/models/mlp/infer", "POST",
                              infer_body(x))
    assert direct.status == 200, direct
    assert direct.json()["id"] == "req-1" and direct.json()["model_version"] == "1"
    check_outputs(direct.json(), want)

    served_by = set()
    for i in range(40):
        r = d.request("POST", f"/endpoints/{EP}/v2/models/mlp/infer", infer_body(x[i % 3:i % 3 + 1]),
                      headers={"Authorization": f"Bearer {d.primary_key(EP)}"})
        assert r.status == 200, r
        check_outputs(r.json(), want[i % 3:i % 3 + 1])
        served_by.add(r.headers["azureml-model-deployment"])
    assert served_by == {"blue", "green"}  # the 50/50 split sends to both

    # /score takes the same body (core rules: berth errors, 424 for model errors).
    r = d.score(EP, infer_body(x))
    assert r.status == 200, r
    check_outputs(r.json(), want)
    meta = d.request("GET", f"/endpoints/{EP}/v2/models/mlp",
                     headers={"Authorization": f"Bearer {d.primary_key(EP)}"})
    assert meta.status == 200
    assert meta.json()["inputs"] == [{"name": "INPUT__0", "datatype": "FP32", "shape": [-1, 8]}]


def test_binary_tensor_extension_round_trips(native):
    d, x, want = native["d"], native["x"], native["want"]
    raw = x.astype("<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "INPUT__0", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}]})
    r = d.request("POST", f"/endpoints/{EP}/v2/models/mlp/infer", header.encode() + raw,
                  headers={"Authorization": f"Bearer {d.primary_key(EP)}",
                           "Content-Type": "application/octet-stream",
                           "Inference-Header-Content-Length": str(len(header))})
    assert r.status == 200, r
    json_length = int(r.headers["inference-header-content-length"])
    head = json.loads(r.data[:json_length])
    out = head["outputs"][0]
    size = out["parameters"]["binary_data_size"]
    assert size == want.size * 4 and len(r.data) == json_length + size
    got = np.frombuffer(r.data[json_length:], dtype="<f4").reshape(out["shape"])
    assert np.max(np.abs(got - want)) <= TOL


def test_torchscript_over_grpc_direct_and_through_berthd(native, tmp_path):
    import grpc
    pb, pb_grpc = grpc_modules(tmp_path)
    d, x, want = native["d"], native["x"], native["want"]

    def request():
        req = pb.ModelInferRequest(model_name="mlp", id="g-1")
        tensor = req.inputs.add(name="INPUT__0", datatype="FP32", shape=list(x.shape))
        tensor.contents.fp32_contents.extend(x.flatten().tolist())
        return req

    def check(resp):
        assert resp.id == "g-1" and resp.model_name == "mlp"
        out = resp.outputs[0]
        if resp.raw_output_contents:
            got = np.frombuffer(resp.raw_output_contents[0], dtype="<f4")
        else:
            got = np.array(out.contents.fp32_contents, dtype=np.float32)
        assert list(out.shape) == list(want.shape)
        assert np.max(np.abs(got.reshape(want.shape) - want)) <= TOL

    worker_socket = worker_instance(d, EP, "green")["grpc_socket"]
    with grpc.insecure_channel(f"unix:{worker_socket}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest()).live
        assert stub.ModelReady(pb.ModelReadyRequest(name="mlp")).ready
        check(stub.ModelInfer(request(), timeout=30))
        # Raw contents as well.
        raw = pb.ModelInferRequest(model_name="mlp", id="g-1")
        raw.inputs.add(name="INPUT__0", datatype="FP32", shape=list(x.shape))
        raw.raw_input_contents.append(x.astype("<f4").tobytes())
        check(stub.ModelInfer(raw, timeout=30))

    key = d.primary_key(EP)
    with grpc.insecure_channel(f"127.0.0.1:{native['grpc_port']}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        meta = [("berth-endpoint", EP), ("authorization", f"Bearer {key}")]
        served_by = set()
        for _ in range(30):
            resp, call = stub.ModelInfer.with_call(request(), metadata=meta, timeout=30)
            check(resp)
            served_by.update(v for k, v in call.initial_metadata()
                             if k == "azureml-model-deployment")
        assert served_by == {"blue", "green"}
        pinned, call = stub.ModelInfer.with_call(
            request(), metadata=meta + [("azureml-model-deployment", "green")], timeout=30)
        check(pinned)
        assert ("azureml-model-deployment", "green") in call.initial_metadata()
        assert stub.ModelMetadata(pb.ModelMetadataRequest(name="mlp"), metadata=meta).inputs[0].name \
            == "INPUT__0"
        with pytest.raises(grpc.RpcError) as bad_key:
            stub.ModelInfer(request(), metadata=[("berth-endpoint", EP),
                                                 ("authorization", "Bearer nope")], timeout=30)
        assert bad_key.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as no_endpoint:
            stub.ModelInfer(request(), metadata=[("authorization", f"Bearer {key}")], timeout=30)
        assert no_endpoint.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = request()
        bad.inputs[0].name = "nope"
        with pytest.raises(grpc.RpcError) as bad_input:
            stub.ModelInfer(bad, metadata=meta, timeout=30)
        assert bad_input.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "nope" in bad_input.value.details()


def test_xgboost_in_a_triton_repository_and_as_mlflow_model(native):
    d, x = native["d"], native["xgb_x"]
    key = d.primary_key(XGB_EP)
    body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.tolist()}]}
    r = d.request("POST", f"/endpoints/{XGB_EP}/v2/models/reg/infer", body,
                  headers={"Authorization": f"Bearer {key}", "azureml-model-deployment": "reg"})
    assert r.status == 200, r
    got = np.array(r.json()["outputs"][0]["data"], dtype=np.float32)
    assert np.max(np.abs(got - native["regression"])) <= TOL

    split = {"input_data": {"columns": native["columns"], "index": list(range(len(x))),
                            "data": x.tolist()}}
    r = d.score(XGB_EP, split, deployment="clf")
    assert r.status == 200, r
    assert [int(v) for v in r.json()] == native["labels"].tolist()
    # Columns in another order are put back in the signature's order.
    reordered = {"dataframe_records": [dict(reversed(list(zip(native["columns"], row))))
                                       for row in x.tolist()]}
    r = d.score(XGB_EP, reordered, deployment="clf")
    assert [int(v) for v in r.json()] == native["labels"].tolist()
    missing = {"dataframe_split": {"columns": native["columns"][:4], "data": x[:, :4].tolist()}}
    r = d.score(XGB_EP, missing, deployment="clf")
    assert r.status == 424, r
    assert r.headers["ms-azureml-model-error-statuscode"] == "400"
    assert "f4" in r.text


@pytest.mark.parametrize("case,status,needle", [
    ("wrong_datatype", 400, "datatype"),
    ("wrong_shape", 400, "shape"),
    ("unknown_input", 400, "unknown input 'x'"),
    ("unknown_model", 404, "unknown model 'nope'"),
    ("unknown_version", 404, "version"),
    ("malformed_json", 400, "JSON"),
    ("binary_length_mismatch", 400, "Inference-Header-Content-Length"),
    ("bad_key", 401, "no valid key or token"),
    # An unknown endpoint answers as a wrong key does, so names cannot be probed.
    ("unknown_endpoint", 401, "no valid key or token for endpoint 'nowhere'"),
    ("unknown_route", 404, "no such route"),
    ("wrong_method", 405, "use POST"),
    ("unknown_deployment", 404, "deployment 'purple' not found"),
])
def test_oip_errors_have_the_oip_shape(native, case, status, needle):
    d, x = native["d"], native["x"]
    key = d.primary_key(EP)
    path = f"/endpoints/{EP}/v2/models/mlp/infer"
    headers = {"Authorization": f"Bearer {key}"}
    body = infer_body(x)
    if case == "wrong_datatype":
        body = infer_body(x.astype(np.float64), datatype="FP64")
    elif case == "wrong_shape":
        body = infer_body(x[:, :5])
    elif case == "unknown_input":
        body = infer_body(x, name="x")
    elif case == "unknown_model":
        path = f"/endpoints/{EP}/v2/models/nope/infer"
    elif case == "unknown_version":
        path = f"/endpoints/{EP}/v2/models/mlp/versions/9/infer"
    elif case == "malformed_json":
        body = b'{"inputs": [ {'
    elif case == "binary_length_mismatch":
        raw = x.astype("<f4").tobytes()
        header = json.dumps({"inputs": [{"name": "INPUT__0", "shape": list(x.shape),
                                         "datatype": "FP32",
                                         "parameters": {"binary_data_size": len(raw)}}]})
        body = header.encode() + raw
        headers["Inference-Header-Content-Length"] = str(len(header) + 7)
    elif case == "bad_key":
        headers = {"Authorization": "Bearer wrong"}
    elif case == "unknown_endpoint":
        path = "/endpoints/nowhere/v2/models/mlp/infer"
    elif case == "unknown_deployment":
        headers["azureml-model-deployment"] = "purple"
    method = "POST"
    if case == "unknown_route":
        path = f"/endpoints/{EP}/v2/models/mlp/infer/extra"
    elif case == "wrong_method":
        method = "DELETE"
    r = d.request(method, path, body, headers=headers)
    assert r.status == status, r
    error = r.json()
    assert set(error) == {"error"} and isinstance(error["error"], str), error
    assert needle in error["error"], error
    # Nothing crashed: the model still answers.
    ok = d.request("POST", f"/endpoints/{EP}/v2/models/mlp/infer", infer_body(x),
                   headers={"Authorization": f"Bearer {key}"})
    assert ok.status == 200, ok


def test_unhonoured_config_fields_are_warnings_and_unknown_platforms_fail(native, tmp_path):
    d = native["d"]
    assert "'model_warmup' is not honoured" in native["warnings"]["blue"]
    assert "'optimization' is not honoured" in native["warnings"]["blue"]

    repo = tmp_path / "tf-repo"
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "model.savedmodel").write_text("x")
    (repo / "m" / "config.pbtxt").write_text(
        'platform: "tensorflow_savedmodel"\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')
    yml = tmp_path / "tf.yml"
    yml.write_text(deployment_yaml("tfmodel", EP, repo, "triton_model"))
    before = d.api_ok("GET", f"/api/v1/online-endpoints/{EP}/deployments")
    out = d.cli("online-deployment", "create", "-f", yml, check=False)
    assert out.returncode != 0
    assert "platform: 'tensorflow_savedmodel' is not supported" in out.stderr
    assert "model.path" in out.stderr
    assert d.api_ok("GET", f"/api/v1/online-endpoints/{EP}/deployments") == before


SLOW_CONFIG = """
backend: "fake"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]
parameters { key: "sleep_us" value: { string_value: "400000" } }
"""


def test_gateway_refusals_on_v2_have_the_oip_shape(native, tmp_path):
    """429 (admission) and 408 (request timeout) made by the gateway on /v2 routes."""
    import concurrent.futures
    d = native["d"]
    repo = tmp_path / "slow-repo"
    (repo / "slow" / "1").mkdir(parents=True)
    (repo / "slow" / "config.pbtxt").write_text(SLOW_CONFIG)
    d.create_endpoint(tmp_path, "slow-ep")
    for name, settings in (("narrow", "{max_concurrent_requests_per_instance: 1, "
                                      "max_queue_wait_ms: 20, request_timeout_ms: 5000}"),
                           ("hasty", "{request_timeout_ms: 100}")):
        yml = tmp_path / f"{name}.yml"
        yml.write_text(deployment_yaml(name, "slow-ep", repo, "triton_model",
                                       extra=f"request_settings: {settings}\n"))
        d.cli("online-deployment", "create", "-f", yml)
        d.wait_deployment("slow-ep", name, timeout=90)
    key = d.primary_key("slow-ep")
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}

    def call(deployment):
        return d.request("POST", "/endpoints/slow-ep/v2/models/slow/infer", body, keepalive=False,
                         headers={"Authorization": f"Bearer {key}",
                                  "azureml-model-deployment": deployment})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, ["narrow"] * 4))
    statuses = sorted(r.status for r in answers)
    assert statuses.count(200) >= 1 and 429 in statuses, statuses
    for r in answers:
        if r.status == 429:
            assert set(r.json()) == {"error"} and r.headers.get("retry-after") == "1", r

    slow = call("hasty")
    assert slow.status == 408, slow
    assert set(slow.json()) == {"error"} and "request_timeout_ms" in slow.json()["error"]
