"""Tests of the pytorch and python_model (mlflow.pyfunc.PythonModel) flavors in berth's no-code
MLflow deployments, online (the runner's MLflow mode) and batch (batch_mlflow), with no mlflow
installed. Model folders are written by hand (mlflow_folders).
Run: /usr/bin/python3 -m pytest python/tests/test_mlflow_flavors.py
"""

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

import mlflow_folders as folders
from conftest import PYTHON_DIR
from mlflow_folders import training_frame

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

from berth_runner.mlflow_model import MlflowModelError, load_model, predict  # noqa: E402

PARAMS = json.dumps([{"name": "scale", "type": "double", "default": 1.0}])
AGE_BMI = json.dumps([{"name": "age", "type": "double"}, {"name": "bmi", "type": "double"}])
TENSOR_IN = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}])


@pytest.fixture
def python_model_dir(tmp_path):
    """A models folder (AZUREML_MODEL_DIR) holding the python_model model `pymodel`."""
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"age": 1.0, "bmi": 2.0}))
    folders.write_python_model_mlflow(
        str(tmp_path / "models" / "pymodel"), folders.make_linear_python_model(),
        {"weights": str(weights)}, model_config={"offset": 10.0},
        signature={"inputs": AGE_BMI, "params": PARAMS})
    return tmp_path / "models"


@pytest.fixture
def torch_module():
    pytest.importorskip("torch")
    return folders.tiny_torch_module()


def _module_output(module, rows):
    import torch

    with torch.no_grad():
        return module(torch.tensor(rows, dtype=torch.float32)).numpy()


def test_python_model_loads_with_context_and_params(python_model_dir):
    model = load_model(str(python_model_dir / "pymodel"))
    assert model.flavor == "python_function" and model.loader_module == "mlflow.pyfunc.model"
    frame = pd.DataFrame({"age": [1.0, 2.0], "bmi": [3.0, 4.0]})
    assert predict(model, frame).tolist() == [17.0, 20.0]
    assert predict(model, frame, {"scale": 0.5}).tolist() == [8.5, 10.0]


def test_compressed_python_model(python_model_dir):
    folder = python_model_dir / "pymodel"
    raw = (folder / "python_model.pkl").read_bytes()
    (folder / "python_model.pkl.gz").write_bytes(gzip.compress(raw))
    document = yaml.safe_load((folder / "MLmodel").read_text())
    document["flavors"]["python_function"].update(python_model="python_model.pkl.gz",
                                                  python_model_compression="gzip")
    (folder / "MLmodel").write_text(yaml.safe_dump(document))
    assert load_model(str(folder)).implementation.python_model.weights == {"age": 1.0, "bmi": 2.0}
    document["flavors"]["python_function"]["python_model_compression"] = "zstd"
    (folder / "MLmodel").write_text(yaml.safe_dump(document))
    with pytest.raises(MlflowModelError, match="unsupported python_model_compression 'zstd'"):
        load_model(str(folder))


def test_python_model_problems_are_explained(python_model_dir):
    folder = python_model_dir / "pymodel"
    shutil.rmtree(folder / "artifacts")
    with pytest.raises(FileNotFoundError, match="weights.json"):  # load_context's own error
        load_model(str(folder))
    os.remove(folder / "python_model.pkl")
    with pytest.raises(MlflowModelError, match="python_model file .*python_model.pkl.* does not "
                                               "exist"):
        load_model(str(folder))


def test_pytorch_model_file_must_exist(tmp_path, torch_module):
    folder = folders.write_pytorch_mlflow(str(tmp_path / "pt"), torch_module)
    os.remove(os.path.join(folder, "data", "model.pth"))
    with pytest.raises(MlflowModelError, match=r"pytorch model file .*model\.pth.* does not exist"):
        load_model(folder)


def _mlflow_runner(runner_factory, tmp_path, models, folder):
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    return runner_factory(app, env={"AZUREML_MODEL_DIR": str(models),
                                    "MLFLOW_MODEL_FOLDER": folder})


def test_runner_serves_a_pytorch_model(tmp_path, runner_factory, torch_module):
    models = tmp_path / "models"
    folders.write_pytorch_mlflow(str(models / "pt"), torch_module, signature={"inputs": TENSOR_IN})
    frame = training_frame()[0].head(3)
    rows = frame.values.tolist()
    runner = _mlflow_runner(runner_factory, tmp_path, models, "pt")
    response = runner.request("POST", "/score", body={"input_data": rows})
    assert response.status == 200, response.body
    np.testing.assert_allclose(response.json(), _module_output(torch_module, rows), rtol=1e-6)
    response = runner.request("POST", "/score", body={"input_data": [row[:3] for row in rows]})
    assert response.status == 400 and b"expected shape (-1, 4)" in response.body, response.body


def test_runner_serves_a_python_model(tmp_path, runner_factory, python_model_dir):
    runner = _mlflow_runner(runner_factory, tmp_path, python_model_dir, "pymodel")
    body = {"input_data": {"columns": ["bmi", "age"], "data": [[3, 1], [4, 2]]},
            "params": {"scale": 2}}
    response = runner.request("POST", "/score", body=body)
    assert response.status == 200, response.body
    assert response.json() == [34.0, 40.0]


def test_batch_driver_scores_a_python_model_in_a_fresh_process(tmp_path, python_model_dir):
    """batch_mlflow loads models without importing a script: the python_model's pickle (which
    names mlflow.pyfunc.model.PythonModel) must still find berth's mlflow package."""
    csv = tmp_path / "rows.csv"
    csv.write_text("age,bmi\n1,3\n2,4\n")
    code = ("from berth_runner.batch_mlflow import MlflowBatchDriver; "
            f"driver = MlflowBatchDriver({str(python_model_dir)!r}, 'pymodel'); driver.init(); "
            f"print('\\n'.join(driver.run([{str(csv)!r}])))")
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0,17.0,rows.csv", "1,20.0,rows.csv"], done.stdout
