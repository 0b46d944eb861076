"""MLflow model folders written by hand (MLmodel YAML plus a pickle), with no mlflow installed, for
the tests of berth's no-code MLflow scoring (online and batch)."""

import json
import os
import pickle

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
