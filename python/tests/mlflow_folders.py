"""MLflow model folders written by hand (MLmodel YAML plus a pickle), with no mlflow installed, for
the tests of berth's no-code MLflow scoring (online and batch) and of its mlflow compatibility
package: scikit-learn (write_mlflow), pytorch (write_pytorch_mlflow) and python_model
(write_python_model_mlflow) layouts, as mlflow 2.9 saves them."""

import json
import os
import pickle
import shutil
import sys

import joblib
import numpy as np
import pandas as pd
import yaml

COLUMNS = ["age", "bmi", "bp", "s1"]
COLSPEC = json.dumps([{"name": c, "type": "double"} for c in COLUMNS])
TENSOR_OUT = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}])


def training_frame(rows=40, seed=7):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)
    target = 3.0 * frame["age"] - 2.0 * frame["bmi"] + 0.5 * frame["bp"] + rng.normal(size=rows)
    return frame, target


def write_mlflow(folder, model, fmt="pickle", signature=None, flavors=None, example=None,
                 file_name="model.pkl"):
    """Writes an MLflow model folder the way mlflow.sklearn.save_model lays it out."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, file_name)
    if model is not None:
        if fmt == "joblib":
            joblib.dump(model, path)
        else:
            with open(path, "wb") as f:
                pickle.dump(model, f)
    document = {
        "artifact_path": "model",
        "flavors": flavors if flavors is not None else {
            "python_function": {"env": {"conda": "conda.yaml"}, "loader_module": "mlflow.sklearn",
                                "model_path": file_name, "predict_fn": "predict",
                                "python_version": "3.11.2"},
            "sklearn": {"code": None, "pickled_model": file_name, "serialization_format": fmt,
                        "sklearn_version": "1.2.1"},
        },
        "mlflow_version": "2.9.2",
    }
    if signature is not None:
        document["signature"] = signature
    if example is not None:
        with open(os.path.join(folder, "input_example.json"), "w") as f:
            json.dump(example, f)
        document["saved_input_example_info"] = {"artifact_path": "input_example.json",
                                                "pandas_orient": "split", "type": "dataframe"}
    with open(os.path.join(folder, "MLmodel"), "w") as f:
        yaml.safe_dump(document, f)
    return folder


def _write_mlmodel(folder, flavors, signature=None):
    document = {"artifact_path": "model", "flavors": flavors, "mlflow_version": "2.9.2",
                "run_id": "0123456789abcdef0123456789abcdef",
                "utc_time_created": "2024-01-15 10:20:30.123456",
                "model_uuid": "5f2a3c1e9b7d4e8fa1c2b3d4e5f60718"}
    if signature is not None:
        document["signature"] = signature
    with open(os.path.join(folder, "MLmodel"), "w") as f:
        yaml.safe_dump(document, f)
    return folder


def write_pytorch_mlflow(folder, module, signature=None):
    """A folder laid out as mlflow.pytorch.save_model writes it: data/model.pth (the whole module,
    saved with cloudpickle as MLflow's pickle module does) and data/pickle_module_info.txt."""
    import cloudpickle
    import torch

    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    torch.save(module, os.path.join(data, "model.pth"), pickle_module=cloudpickle)
    with open(os.path.join(data, "pickle_module_info.txt"), "w") as f:
        f.write("mlflow.pytorch.pickle_module")
    flavors = {
        "python_function": {"data": "data", "env": {"conda": "conda.yaml"},
                            "loader_module": "mlflow.pytorch",
                            "pickle_module_name": "mlflow.pytorch.pickle_module",
                            "python_version": "3.11.2"},
        "pytorch": {"code": None, "model_data": "data", "pytorch_version": str(torch.__version__)},
    }
    return _write_mlmodel(folder, flavors, signature)


def tiny_torch_module(seed=3):
    """nn.Sequential(Linear(4, 2), ReLU(), Linear(2, 1)) with fixed weights: its classes are
    torch's own, so any process with torch can unpickle it."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(len(COLUMNS), 2), torch.nn.ReLU(),
                               torch.nn.Linear(2, 1))


def compat_on_path():
    """Puts berth's mlflow compatibility package on sys.path (end), as the runner does."""
    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if python_dir not in sys.path:
        sys.path.insert(0, python_dir)
    from berth_runner.compat_path import add_compat_dir

    add_compat_dir()


def make_linear_python_model():
    """An instance of a mlflow.pyfunc.PythonModel subclass defined here, in a function, so that
    cloudpickle saves the class by value as it does for a notebook's class. load_context reads
    the `weights` artifact (JSON) and model_config's `offset`; predict takes a `scale` param."""
    compat_on_path()
    import mlflow.pyfunc

    class LinearPythonModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            with open(context.artifacts["weights"]) as f:
                self.weights = json.load(f)
            self.offset = (context.model_config or {}).get("offset", 0.0)
            self.loaded_with = context

        def predict(self, context, model_input, params=None):
            scale = (params or {}).get("scale", 1.0)
            frame = pd.DataFrame(model_input)
            total = sum(frame[name] * weight for name, weight in self.weights.items())
            return ((total + self.offset) * scale).to_numpy()

    return LinearPythonModel()


def write_python_model_mlflow(folder, python_model, artifacts, model_config=None, signature=None):
    """A folder laid out as mlflow.pyfunc.save_model(python_model=..., artifacts=...) writes it:
    python_model.pkl (cloudpickle) and each artifact (name -> file) copied under artifacts/."""
    import cloudpickle

    os.makedirs(os.path.join(folder, "artifacts"), exist_ok=True)
    with open(os.path.join(folder, "python_model.pkl"), "wb") as f:
        cloudpickle.dump(python_model, f)
    saved = {}
    for name, source in artifacts.items():
        relative = os.path.join("artifacts", os.path.basename(source))
        shutil.copyfile(source, os.path.join(folder, relative))
        saved[name] = {"path": relative, "uri": source}
    pyfunc = {"cloudpickle_version": cloudpickle.__version__, "code": None,
              "env": {"conda": "conda.yaml"}, "loader_module": "mlflow.pyfunc.model",
              "python_model": "python_model.pkl", "python_version": "3.11.2",
              "artifacts": saved}
    if model_config is not None:
        pyfunc["model_config"] = model_config
    return _write_mlmodel(folder, {"python_function": pyfunc}, signature)
