"""The `pytorch` flavor of MLflow model folders, loaded without mlflow.

Layout (mlflow.pytorch.save_model): `flavors.pytorch` has `model_data` (a folder, "data") and
`pytorch_version`; the folder holds `model.pth` (the whole module, `torch.save`d with MLflow's
cloudpickle-based pickle module) and `pickle_module_info.txt` (that module's name). A module saved
with another pickle module is read with it; MLflow's is read with the standard unpickler, which
reads cloudpickle's output while the cloudpickle package is installed (Debian:
python3-cloudpickle). TorchScript archives are read by torch.load as well.

The pyfunc view (TorchPredictor) is MLflow's: a DataFrame goes in as a float32 tensor and the
output comes back as a DataFrame with the input's index; an ndarray goes in unchanged (its dtype
must suit the module: give the signature a float32 tensor spec) and comes back as an ndarray.
"""

import importlib
import inspect
import logging
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("berth.mlflow")

MODEL_FILE = "model.pth"
PICKLE_MODULE_INFO_FILE = "pickle_module_info.txt"
_MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"


def _error(message: str) -> Exception:
    from berth_runner.mlflow_model import MlflowModelError

    return MlflowModelError(message)


def _import_torch():
    try:
        import torch
    except ImportError:
        raise _error(f"the pytorch flavor needs torch, which is not installed for "
                     f"{sys.executable} (Debian: python3-torch)") from None
    return torch


def default_device() -> str:
    """Where pyfunc predictions run: the default CUDA device when there is one, as MLflow does."""
    torch = _import_torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pickle_module(data_dir: str):
    """The pickle module named in pickle_module_info.txt; None for MLflow's (or none named)."""
    info = os.path.join(data_dir, PICKLE_MODULE_INFO_FILE)
    if not os.path.isfile(info):
        return None
    with open(info, encoding="utf-8") as f:
        name = f.read().strip()
    if not name or name == _MLFLOW_PICKLE_MODULE:
        return None
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise _error(f"the pytorch model was saved with pickle module '{name}', which cannot be "
                     f"imported: {e}") from None


def load_module(model_dir: str, conf: dict, **torch_load_args) -> Any:
    """`torch.load` of the flavor's model file; `torch_load_args` go to torch.load."""
    torch = _import_torch()
    path = os.path.join(model_dir, conf.get("model_data") or "data")
    model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    if not os.path.isfile(model_file):
        raise _error(f"pytorch model file {model_file} (flavors.pytorch.model_data) does not exist")
    saved_version = conf.get("pytorch_version")
    if saved_version and str(saved_version) != torch.__version__:
        logger.warning("the pytorch model was saved with torch %s; this is torch %s",
                       saved_version, torch.__version__)
    pickle_module = _pickle_module(path) if os.path.isdir(path) else None
    if pickle_module is not None:
        torch_load_args.setdefault("pickle_module", pickle_module)
    # torch >= 2.6 loads only tensors by default; MLflow's files are whole pickled modules.
    if "weights_only" in inspect.signature(torch.load).parameters:
        torch_load_args.setdefault("weights_only", False)
    try:
        return torch.load(model_file, **torch_load_args)
    except ModuleNotFoundError as e:
        raise _error(f"loading {model_file} needs module '{e.name}', which is not installed for "
                     f"{sys.executable}") from None


class TorchPredictor:
    """predict(data) of MLflow's pytorch pyfunc wrapper, in eval mode and without gradients."""

    def __init__(self, module: Any, device: str):
        self.module = module
        self.device = device
        if hasattr(module, "to"):
            module.to(device)
        if hasattr(module, "eval"):
            module.eval()

    def predict(self, data):
        torch = sys.modules["torch"]
        if isinstance(data, pd.DataFrame):
            tensor_input = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            tensor_input = data
        elif isinstance(data, (list, dict)):
            raise TypeError("The PyTorch flavor does not support List or Dict input types. "
                            "Please use a pandas.DataFrame or a numpy.ndarray")
        else:
            raise TypeError("Input data should be pandas.DataFrame or numpy.ndarray")
        with torch.no_grad():
            predictions = self.module(torch.from_numpy(tensor_input).to(self.device))
            if not isinstance(predictions, torch.Tensor):
                raise TypeError("Expected PyTorch model to output a single output tensor, but "
                                f"got output of type '{type(predictions)}'")
            predictions = predictions.to("cpu").numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(predictions, index=data.index)
        return predictions
