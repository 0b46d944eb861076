"""Scoring-script and MLflow deployments through berthd (issue 3): Azure ML score.py files run
unchanged by the Python runner, the gateway's 424 rule over the runner's statuses, WORKER_COUNT,
conda checks, MLflow no-code models, and swagger passthrough."""

import json
import os
import pickle
import textwrap
import threading
from pathlib import Path

import pytest

from berth_helpers import wait_until

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
joblib = pytest.importorskip("joblib")

EP = "script-ep"
PROBES = {"readiness_probe": {"initial_delay": 1, "period": 1},
          "liveness_probe": {"initial_delay": 1, "period": 1}}

CONDA_AZURE_SAMPLE = """\
name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.8.5
  - numpy=1.21.2
  - pip=21.2.4
  - pip:
      - azureml-inference-server-http
      - inference-schema[numpy-support]==1.3.0
      - scikit-learn
      - joblib
"""

SKLEARN_SCORE = '''\
import json
import logging
import os

import joblib


def init():
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("Init complete")
    print("model loaded from", model_path)


def run(raw_data):
    data = json.loads(raw_data)["data"]
    result = model.predict(data)
    return result.tolist()
'''

NUMPY_SCORE = '''\
import numpy as np
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType


def init():
    pass


@input_schema("iris", NumpyParameterType(np.array([[7.2, 3.2, 6.0, 1.8]])))
@input_schema("scale", StandardPythonParameterType(1.0))
@output_schema(StandardPythonParameterType([1.0]))
def run(iris, scale):
    return (iris.sum(axis=1) * scale).tolist()
'''

FAILING_SCORE = '''\
def init():
    pass


def run(raw_data):
    raise ValueError("scoring failed on purpose")
'''

BARRIER_SCORE = '''\
import os
import time


def init():
    pass


def run(raw_data):
    folder = os.environ["TEST_BARRIER_DIR"]
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, str(os.getpid())), "w").close()
    deadline = time.time() + 30
    while len(os.listdir(folder)) < 2 and time.time() < deadline:
        time.sleep(0.01)
    return {"pid": os.getpid(), "arrived": len(os.listdir(folder))}
'''

INIT_FAILS_SCORE = '''\
def init():
    raise RuntimeError("init exploded on purpose")


def run(raw_data):
    return raw_data
'''


def write_script_deployment(directory, name, script, model=None, env=None, conda=None,
                            request_settings=None, extra=None):
    """A deployment folder with `code/score.py`, an optional model folder and conda file."""
    directory = Path(directory) / name
    (directory / "code").mkdir(parents=True, exist_ok=True)
    (directory / "code" / "score.py").write_text(script)
    doc = {"name": name, "endpoint_name": EP,
           "code_configuration": {"code": "./code", "scoring_script": "score.py"},
           "environment": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"},
           "instance_type": "Standard_DS3_v2", "instance_count": 1, **PROBES}
    if model is not None:
        doc["model"] = {"path": model}
    if conda is not None:
        (directory / "conda.yaml").write_text(conda)
        doc["environment"]["conda_file"] = "conda.yaml"
    if env:
        doc["environment_variables"] = env
    if request_settings:
        doc["request_settings"] = request_settings
    doc.update(extra or {})
    path = directory / "deployment.yml"
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def setup(berthd, module_dir):
    d = berthd
    d.create_endpoint(module_dir, EP)
    return module_dir


def deploy(d, path, name, check=True):
    cp = d.cli("online-deployment", "create", "-f", path, "-n", name, "-e", EP, check=check)
    if check:
        d.wait_deployment(EP, name)
    return cp


def test_sklearn_score_py_unchanged(berthd, setup):
    d = berthd
    folder = setup / "sklearn"
    (folder / "model").mkdir(parents=True)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 10))
    y = x @ np.arange(1, 11) + 0.5
    model = sklearn_linear.LinearRegression().fit(x, y)
    joblib.dump(model, folder / "model" / "sklearn_regression_model.pkl")
    path = write_script_deployment(setup, "sklearn", SKLEARN_SCORE, model="./model",
                                   conda=CONDA_AZURE_SAMPLE)
    cp = deploy(d, path, "sklearn")
    # Azure's sample pins other Python and numpy versions: warnings naming both, not failures.
    assert "Warning:" in cp.stderr and "python 3.8.5" in cp.stderr, cp.stderr
    assert "numpy 1.21.2" in cp.stderr, cp.stderr
    rows = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]
    (setup / "sklearn-request.json").write_text(json.dumps({"data": rows}))
    out = d.cli("online-endpoint", "invoke", "-n", EP, "--deployment-name", "sklearn",
                "--request-file", setup / "sklearn-request.json")
    got = json.loads(out.stdout)
    assert np.allclose(got, model.predict(np.array(rows)), atol=1e-9), (got, out.stdout)
    logs = d.cli("online-deployment", "get-logs", "-e", EP, "-n", "sklearn").stdout
    assert "model loaded from" in logs, logs


def test_conda_missing_package_fails_naming_it(berthd, setup):
    d = berthd
    conda = CONDA_AZURE_SAMPLE + "      - surely-not-installed-pkg==1.0\n      - lightgbm==4.1.0\n"
    path = write_script_deployment(setup, "missing", SKLEARN_SCORE, conda=conda)
    cp = deploy(d, path, "missing", check=False)
    assert cp.returncode == 1, cp
    assert "surely-not-installed-pkg" in cp.stderr and "conda_file" in cp.stderr, cp.stderr
    # Each missing package comes with how to get it on Debian 12, or that Debian has none.
    assert "apt-cache search --names-only python3-surely-not-installed-pkg" in cp.stderr, cp.stderr
    assert "Debian 12 packages no lightgbm" in cp.stderr, cp.stderr
    r = d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/missing")
    assert r.status == 404, r


def test_decorated_numpy_binding_and_errors_through_gateway(berthd, setup):
    d = berthd
    path = write_script_deployment(setup, "numpy-dep", NUMPY_SCORE)
    deploy(d, path, "numpy-dep")
    r = d.score(EP, {"iris": [[1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5]], "scale": 2}, deployment="numpy-dep")
    assert r.status == 200, r
    assert r.json() == [20.0, 4.0]
    # Non-JSON content type: the runner's 415 becomes 424 carrying it.
    r = d.score(EP, "iris=1", deployment="numpy-dep", headers={"Content-Type": "text/plain"})
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "415", r.headers
    # A missing parameter: 400 from the runner, 424 through the gateway.
    r = d.score(EP, {"iris": [[1, 2, 3, 4]]}, deployment="numpy-dep")
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "400", r.headers
    assert "scale" in r.text
    # The generated swagger passes through the endpoint.
    r = d.request("GET", f"/endpoints/{EP}/swagger.json",
                  headers={"Authorization": f"Bearer {d.primary_key(EP)}",
                           "azureml-model-deployment": "numpy-dep"})
    assert r.status == 200, r
    doc = r.json()
    assert doc.get("swagger") == "2.0"
    assert "iris" in json.dumps(doc["definitions"]["ServiceInput"])


def test_run_exception_is_424_with_500(berthd, setup):
    d = berthd
    path = write_script_deployment(setup, "boom", FAILING_SCORE)
    deploy(d, path, "boom")
    r = d.score(EP, {"x": 1}, deployment="boom")
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "500", r.headers
    logs = d.cli("online-deployment", "get-logs", "-e", EP, "-n", "boom").stdout
    assert "scoring failed on purpose" in logs, logs


def test_worker_count_two_serves_in_parallel(berthd, setup):
    d = berthd
    # The instance's workers share its /tmp (the host's is not visible in the sandbox).
    path = write_script_deployment(
        setup, "workers", BARRIER_SCORE,
        env={"WORKER_COUNT": "2", "TEST_BARRIER_DIR": "/tmp/barrier"},
        request_settings={"max_concurrent_requests_per_instance": 2, "request_timeout_ms": 60000})
    deploy(d, path, "workers")
    key = d.primary_key(EP)
    results = [None, None]

    def call(i):
        results[i] = d.score(EP, {"i": i}, key=key, deployment="workers", keepalive=False,
                             timeout=60)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None and r.status == 200 for r in results), results
    pids = {r.json()["pid"] for r in results}
    assert len(pids) == 2, results
    assert all(r.json()["arrived"] == 2 for r in results)


def test_init_failure_marks_failed_with_traceback(berthd, setup):
    d = berthd
    path = write_script_deployment(setup, "badinit", INIT_FAILS_SCORE)
    cp = deploy(d, path, "badinit", check=False)
    assert cp.returncode == 1, cp
    dep = d.deployment(EP, "badinit")
    assert dep["provisioning_state"] == "Failed"
    assert "init exploded on purpose" in dep["reason"], dep["reason"]
    assert "Traceback" in dep["reason"], dep["reason"]
    logs = d.cli("online-deployment", "get-logs", "-e", EP, "-n", "badinit").stdout
    assert "init exploded on purpose" in logs


def write_mlflow_model(folder):
    """An MLflow sklearn model folder written by hand (no mlflow package)."""
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0], "bmi": [20.0, 25.0, 30.0, 22.0]})
    target = 2 * frame["age"] + 3 * frame["bmi"]
    model = sklearn_linear.LinearRegression().fit(frame, target)
    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    signature_inputs = json.dumps([{"name": "age", "type": "double"},
                                   {"name": "bmi", "type": "double"}])
    signature_outputs = json.dumps([{"type": "tensor",
                                     "tensor-spec": {"dtype": "float64", "shape": [-1]}}])
    (folder / "MLmodel").write_text(textwrap.dedent(f"""\
        artifact_path: model
        flavors:
          python_function:
            env: conda.yaml
            loader_module: mlflow.sklearn
            model_path: model.pkl
            predict_fn: predict
            python_version: 3.11.2
          sklearn:
            code: null
            pickled_model: model.pkl
            serialization_format: pickle
            sklearn_version: 1.2.1
        mlflow_version: 2.9.2
        signature:
          inputs: '{signature_inputs}'
          outputs: '{signature_outputs}'
        """))
    return model


def test_mlflow_no_code_model(berthd, setup):
    d = berthd
    model = write_mlflow_model(setup / "mlflow" / "sklearn-model")
    path = setup / "mlflow" / "deployment.yml"
    path.write_text(json.dumps({
        "name": "mlflow", "endpoint_name": EP,
        "model": {"name": "diabetes", "version": 2, "path": "./sklearn-model",
                  "type": "mlflow_model"},
        "instance_type": "Standard_DS3_v2", "instance_count": 1, **PROBES}))
    deploy(d, path, "mlflow")
    body = {"input_data": {"columns": ["age", "bmi"], "index": [0, 1],
                           "data": [[35.0, 21.0], [45.0, 28.0]]}}
    r = d.score(EP, body, deployment="mlflow")
    assert r.status == 200, r
    want = model.predict(pd.DataFrame([[35.0, 21.0], [45.0, 28.0]], columns=["age", "bmi"]))
    assert np.allclose(r.json(), want), (r.json(), want)
    bad = {"input_data": {"columns": ["age"], "index": [0], "data": [[35.0]]}}
    r = d.score(EP, bad, deployment="mlflow")
    assert r.status == 424, r
    assert r.headers.get("ms-azureml-model-error-statuscode") == "400", r.headers
    assert "bmi" in r.text


def test_mlflow_model_environment_files_are_checked_when_written(berthd, setup):
    d = berthd
    folder = setup / "mlflow-env" / "lgbm-model"
    write_mlflow_model(folder)
    # What MLflow writes beside MLmodel: mlflow itself is skipped (berth provides a subset).
    (folder / "conda.yaml").write_text(textwrap.dedent("""\
        channels: [conda-forge]
        dependencies:
        - python=3.11.2
        - pip<=23.3.1
        - pip:
          - mlflow==2.9.2
          - lightgbm==4.1.0
        name: mlflow-env
        """))
    (folder / "python_env.yaml").write_text("python: 3.11.2\ndependencies:\n- -r requirements.txt\n")
    (folder / "requirements.txt").write_text("mlflow==2.9.2\nlightgbm==4.1.0\n")
    path = setup / "mlflow-env" / "deployment.yml"
    path.write_text(json.dumps({
        "name": "mlflow-env", "endpoint_name": EP,
        "model": {"path": "./lgbm-model", "type": "mlflow_model"},
        "instance_type": "Standard_DS3_v2", "instance_count": 1, **PROBES}))
    cp = deploy(d, path, "mlflow-env", check=False)
    assert cp.returncode == 1, cp
    assert "conda.yaml of the MLflow model needs lightgbm==4.1.0" in cp.stderr, cp.stderr
    assert "Debian 12 packages no lightgbm" in cp.stderr, cp.stderr
    assert "mlflow==" not in cp.stderr, cp.stderr
    r = d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/mlflow-env")
    assert r.status == 404, r
