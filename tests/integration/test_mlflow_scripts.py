"""Scoring scripts that use mlflow, and the pytorch and python_model MLflow flavors, through berthd
and the berth CLI (issue 12): berth's mlflow compatibility package serves `import mlflow` where
mlflow is not installed, and no-code deployments serve the new flavors. Model folders are written
by hand with python/tests/mlflow_folders.py (no mlflow package)."""

import json
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
pytest.importorskip("yaml")
pytest.importorskip("joblib")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
import mlflow_folders as folders  # noqa: E402

EP = "mlflow-ep"
PROBES = {"readiness_probe": {"initial_delay": 1, "period": 1},
          "liveness_probe": {"initial_delay": 1, "period": 1}}
AGE_BMI = json.dumps([{"name": "age", "type": "double"}, {"name": "bmi", "type": "double"}])
PARAMS = json.dumps([{"name": "scale", "type": "double", "default": 1.0}])

PYFUNC_SCORE = '''\
import json
import os

import mlflow
import pandas as pd


def init():
    global model
    model = mlflow.pyfunc.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model"))
    print("loaded", model.metadata.flavors["python_function"]["loader_module"], "with mlflow",
          mlflow.__version__)


def run(raw_data):
    payload = json.loads(raw_data)["input_data"]
    frame = pd.DataFrame(payload["data"], columns=payload["columns"], index=payload.get("index"))
    return model.predict(frame).tolist()
'''


@pytest.fixture(scope="module")
def setup(berthd, module_dir):
    berthd.create_endpoint(module_dir, EP)
    return module_dir


def deployment_file(folder: Path, name: str, model: str, code: bool = False) -> Path:
    """A deployment of the model folder `folder/model`; a scoring script when `code`, else a
    no-code MLflow deployment."""
    doc = {"name": name, "endpoint_name": EP,
           "model": {"path": f"./{model}", **({} if code else {"type": "mlflow_model"})},
           "instance_type": "Standard_DS3_v2", "instance_count": 1, **PROBES}
    if code:
        (folder / "code").mkdir(exist_ok=True)
        (folder / "code" / "score.py").write_text(PYFUNC_SCORE)
        doc["code_configuration"] = {"code": "./code", "scoring_script": "score.py"}
        doc["environment"] = {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}
    path = folder / f"{name}.yml"
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
    return path


def deploy(d, path, name):
    d.cli("online-deployment", "create", "-f", path, "-n", name, "-e", EP)
    d.wait_deployment(EP, name)


def invoke(d, folder: Path, name: str, body) -> str:
    """The CLI's answer to `body` from deployment `name` (its stdout)."""
    request = folder / f"{name}-request.json"
    request.write_text(json.dumps(body))
    return d.cli("online-endpoint", "invoke", "-n", EP, "--deployment-name", name,
                 "--request-file", request).stdout


def test_score_py_with_mlflow_pyfunc_answers_like_the_no_code_deployment(berthd, setup):
    d = berthd
    folder = setup / "sklearn"
    folder.mkdir()
    frame = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0], "bmi": [20.0, 25.0, 30.0, 22.0]})
    model = sklearn_linear.LinearRegression().fit(frame, 2 * frame["age"] + 3 * frame["bmi"])
    folders.write_mlflow(str(folder / "model"), model, signature={"inputs": AGE_BMI})
    deploy(d, deployment_file(folder, "nocode", "model"), "nocode")
    deploy(d, deployment_file(folder, "script", "model", code=True), "script")
    logs = d.cli("online-deployment", "get-logs", "-e", EP, "-n", "script").stdout
    assert "loaded mlflow.sklearn with mlflow 2.9.2+berth" in logs, logs
    body = {"input_data": {"columns": ["age", "bmi"], "index": [0, 1],
                           "data": [[35.0, 21.0], [45.0, 28.0]]}}
    from_script = invoke(d, folder, "script", body)
    from_no_code = invoke(d, folder, "nocode", body)
    assert json.loads(from_script) == json.loads(from_no_code), (from_script, from_no_code)
    want = model.predict(pd.DataFrame(body["input_data"]["data"], columns=["age", "bmi"]))
    assert np.allclose(json.loads(from_script), want), (from_script, want)


def test_python_model_deploys_without_code(berthd, setup):
    d = berthd
    folder = setup / "pymodel"
    folder.mkdir()
    weights = folder / "weights.json"
    weights.write_text(json.dumps({"age": 1.0, "bmi": 2.0}))
    folders.write_python_model_mlflow(
        str(folder / "model"), folders.make_linear_python_model(), {"weights": str(weights)},
        model_config={"offset": 10.0}, signature={"inputs": AGE_BMI, "params": PARAMS})
    deploy(d, deployment_file(folder, "pymodel", "model"), "pymodel")
    body = {"input_data": {"columns": ["bmi", "age"], "data": [[3, 1], [4, 2]]},
            "params": {"scale": 2}}
    r = d.score(EP, body, deployment="pymodel")
    assert r.status == 200, r
    assert r.json() == [34.0, 40.0]  # (age + 2 bmi + offset 10) * scale 2


def test_pytorch_model_deploys_without_code(berthd, setup):
    torch = pytest.importorskip("torch")
    pytest.importorskip("cloudpickle")
    d = berthd
    folder = setup / "pytorch"
    folder.mkdir()
    module = folders.tiny_torch_module()
    tensor_in = json.dumps([{"type": "tensor",
                             "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}])
    folders.write_pytorch_mlflow(str(folder / "model"), module, signature={"inputs": tensor_in})
    deploy(d, deployment_file(folder, "pytorch", "model"), "pytorch")
    rows = [[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]]
    r = d.score(EP, {"input_data": rows}, deployment="pytorch")
    assert r.status == 200, r
    with torch.no_grad():
        want = module(torch.tensor(rows, dtype=torch.float32)).numpy()
    assert np.allclose(r.json(), want, rtol=1e-5), (r.json(), want)
    r = d.score(EP, {"input_data": [row[:3] for row in rows]}, deployment="pytorch")
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "400", r.headers
    assert "expected shape (-1, 4)" in r.text, r.text
