"""Loading MLflow model folders without the mlflow package.

Served flavors (MLflow's pyfunc rule: the `python_function` flavor's `loader_module` picks the
loader; a folder without one is loaded by its native flavor):
  * `sklearn` (loader `mlflow.sklearn`): `pickled_model` loaded per `serialization_format`
    (`pickle`, `cloudpickle` (read with cloudpickle when installed, else with pickle, which reads
    cloudpickle's output for models whose classes are importable) or `joblib`). A file that the
    declared format cannot read is retried with joblib, since models trained with Azure's samples
    are often saved with `joblib.dump`. Without a `sklearn` flavor, the file is the pyfunc `data`
    (or the older `model_path`).
  * `xgboost` (loader `mlflow.xgboost`): `model_class` (default `xgboost.core.Booster`) built and
    `load_model(<data>)` called, as mlflow.xgboost does; a Booster predicts on an
    `xgboost.DMatrix` of the input, as MLflow's pyfunc wrapper does.
  * `pytorch` (loader `mlflow.pytorch`): `torch.load` of `<model_data>/model.pth` (mlflow_pytorch).
  * `python_function` with a `python_model` (loader `mlflow.pyfunc.model`): the cloudpickled
    `mlflow.pyfunc.PythonModel`, its artifacts and `load_context` (mlflow_python_model).
  * `python_function` with a custom loader module (not under `mlflow.`), shipped in the flavor's
    `code` folder: `<module>._load_pyfunc(<model dir>/<data>)` as MLflow calls it.
Loader modules of other MLflow flavors need mlflow, and are refused with an error naming them.

`load_model` gives the pyfunc view (what `mlflow.pyfunc.load_model` serves); `load_native` gives a
flavor's own object (what `mlflow.<flavor>.load_model` returns). berth's mlflow compatibility
package (python/compat/mlflow) is built on both.
"""

import dataclasses
import importlib
import inspect
import json
import logging
import os
import pickle
import sys
from typing import Any, Optional

import yaml

from berth_runner import mlflow_io
from berth_runner.mlflow_signature import Signature, SignatureError, parse_signature

logger = logging.getLogger("berth.mlflow")

MLMODEL_FILE = "MLmodel"
_SKLEARN_LOADER = "mlflow.sklearn"
_XGBOOST_LOADER = "mlflow.xgboost"
_PYTORCH_LOADER = "mlflow.pytorch"
_PYTHON_MODEL_LOADER = "mlflow.pyfunc.model"
# The native flavor each of MLflow's loader modules that berth knows stands for.
_NATIVE_OF_LOADER = {_SKLEARN_LOADER: "sklearn", _XGBOOST_LOADER: "xgboost",
                     _PYTORCH_LOADER: "pytorch"}
SERVED = ("the sklearn, xgboost and pytorch flavors, python_function models with a python_model "
          "(mlflow.pyfunc.PythonModel) and python_function models with a custom loader module in "
          "their code folder")


class MlflowModelError(RuntimeError):
    """The model folder cannot be served; the message says why (it ends up in the deploy reason)."""


@dataclasses.dataclass
class MlflowModel:
    path: str
    # "sklearn", "xgboost", "pytorch", or "python_function" (a python_model or custom loader)
    flavor: str
    loader_module: Optional[str]
    implementation: Any
    predict_fn: str
    signature: Optional[Signature]
    # The saved input example, decoded like a request (DataFrame, array or dict of arrays).
    input_example: Any = None
    metadata: dict = dataclasses.field(default_factory=dict)


def model_dir_from_env(environ=None) -> str:
    """`$AZUREML_MODEL_DIR/$MLFLOW_MODEL_FOLDER`, as Azure's no-code scoring script locates it."""
    environ = os.environ if environ is None else environ
    base = environ.get("AZUREML_MODEL_DIR")
    if not base:
        raise MlflowModelError("AZUREML_MODEL_DIR is not set; it must name the model folder")
    return os.path.join(base, environ.get("MLFLOW_MODEL_FOLDER", ""))


def read_mlmodel_file(path: str) -> dict:
    """The YAML document of an MLmodel file, checked to have a `flavors` mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except (OSError, UnicodeError, yaml.YAMLError) as e:
        raise MlflowModelError(f"cannot read {path}: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise MlflowModelError(f"{path} must be a YAML mapping with a 'flavors' mapping")
    return document


def read_mlmodel(model_dir: str) -> dict:
    path = os.path.join(model_dir, MLMODEL_FILE)
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(model_dir):
            nested = sorted(d for d in os.listdir(model_dir)
                            if os.path.isfile(os.path.join(model_dir, d, MLMODEL_FILE)))
            if nested:
                hint = f" (found one in subfolder(s) {nested}: set MLFLOW_MODEL_FOLDER accordingly)"
        raise MlflowModelError(f"no {MLMODEL_FILE} file in {model_dir}{hint}")
    return read_mlmodel_file(path)


def add_code_path(model_dir: str, conf: dict) -> None:
    """Puts a flavor's `code` folder on sys.path, as MLflow does before loading."""
    code = conf.get("code")
    if code:
        code_dir = os.path.join(model_dir, code)
        if not os.path.isdir(code_dir):
            raise MlflowModelError(f"code folder '{code}' named in {MLMODEL_FILE} does not exist")
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)


def _load_with_joblib(path: str):
    try:
        import joblib
    except ImportError:
        raise MlflowModelError(f"{path} is in joblib format but joblib is not installed for "
                               f"{sys.executable}") from None
    return joblib.load(path)


def _load_with_pickle(path: str, serialization_format: str):
    if serialization_format == "cloudpickle":
        try:
            import cloudpickle
            with open(path, "rb") as f:
                return cloudpickle.load(f)
        except ImportError:
            pass  # cloudpickle writes standard pickle streams; pickle reads them below.
    with open(path, "rb") as f:
        return pickle.load(f)


def load_pickled_model(path: str, serialization_format: str = "pickle"):
    if not os.path.isfile(path):
        raise MlflowModelError(f"model file {path} named in {MLMODEL_FILE} does not exist")
    if serialization_format == "joblib":
        return _load_with_joblib(path)
    if serialization_format not in ("pickle", "cloudpickle"):
        raise MlflowModelError(f"unsupported serialization_format '{serialization_format}' in "
                               f"{MLMODEL_FILE}; berth reads pickle, cloudpickle and joblib")
    try:
        return _load_with_pickle(path, serialization_format)
    except ModuleNotFoundError as e:
        if e.name == "cloudpickle":
            raise MlflowModelError(f"{path} needs the cloudpickle package, which is not installed "
                                   f"for {sys.executable}") from None
        raise MlflowModelError(f"loading {path} needs module '{e.name}', which is not installed "
                               f"for {sys.executable}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as pickle_error:
        # Not a plain pickle stream: joblib files (compressed or with inline arrays) land here.
        try:
            model = _load_with_joblib(path)
        except Exception:
            raise MlflowModelError(f"cannot unpickle {path} as {serialization_format} or joblib: "
                                   f"{pickle_error}") from None
        logger.info("%s declared %s but is a joblib file; loaded with joblib", path,
                    serialization_format)
        return model


class BoosterPredictor:
    """A bare xgboost Booster with predict(data) on a DMatrix, as MLflow's pyfunc wrapper."""

    def __init__(self, booster, xgboost_module):
        self.booster = booster
        self._dmatrix = xgboost_module.DMatrix

    def predict(self, data):
        return self.booster.predict(self._dmatrix(data))


def _load_sklearn(model_dir: str, conf: dict, pyfunc: Optional[dict]):
    file_name = conf.get("pickled_model")
    if not file_name and pyfunc:
        file_name = pyfunc.get("data") or pyfunc.get("model_path")
    if not file_name:
        raise MlflowModelError(f"{MLMODEL_FILE} names no model file (flavors.sklearn."
                               "pickled_model or flavors.python_function.data)")
    add_code_path(model_dir, conf)
    return load_pickled_model(os.path.join(model_dir, file_name),
                              conf.get("serialization_format") or "pickle")


def _load_xgboost(model_dir: str, conf: dict, pyfunc: Optional[dict]):
    """The model object mlflow.xgboost.load_model returns (a Booster or an XGBModel)."""
    file_name = conf.get("data") or (pyfunc.get("data") if pyfunc else None)
    if not file_name:
        raise MlflowModelError(f"{MLMODEL_FILE} names no model file (flavors.xgboost.data)")
    add_code_path(model_dir, conf)
    path = os.path.join(model_dir, file_name)
    if not os.path.isfile(path):
        raise MlflowModelError(f"model file {path} named in {MLMODEL_FILE} does not exist")
    class_path = conf.get("model_class") or "xgboost.core.Booster"
    module_name, _, class_name = class_path.rpartition(".")
    if module_name != "xgboost" and not module_name.startswith("xgboost."):
        raise MlflowModelError(f"{MLMODEL_FILE}: flavors.xgboost.model_class '{class_path}' is "
                               "not an xgboost class")
    try:
        model_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise MlflowModelError(f"cannot load {class_path} (the xgboost package for "
                               f"{sys.executable}): {e}") from None
    model = model_class()
    try:
        model.load_model(path)
    except Exception as e:  # xgboost.core.XGBoostError and friends
        raise MlflowModelError(f"cannot load the XGBoost model {path}: {e}") from None
    return model


def _load_pytorch(model_dir: str, conf: dict, pyfunc: Optional[dict], **torch_load_args):
    from berth_runner import mlflow_pytorch

    if not conf.get("model_data") and pyfunc and pyfunc.get("data"):
        conf = {**conf, "model_data": pyfunc["data"]}
    add_code_path(model_dir, conf)
    return mlflow_pytorch.load_module(model_dir, conf, **torch_load_args)


_NATIVE_LOADERS = {"sklearn": _load_sklearn, "xgboost": _load_xgboost, "pytorch": _load_pytorch}


def _flavors(document: dict):
    flavors = document["flavors"]
    pyfunc = flavors.get("python_function")
    return flavors, pyfunc if isinstance(pyfunc, dict) else None


def load_native(model_dir: str, flavor: str, **loader_args) -> Any:
    """A flavor's own model object, as `mlflow.<flavor>.load_model` returns it: the estimator, the
    xgboost Booster or XGBModel, the torch module. `loader_args` go to torch.load (pytorch)."""
    if flavor not in _NATIVE_LOADERS:
        raise MlflowModelError(f"berth cannot load the '{flavor}' flavor natively; it loads "
                               + ", ".join(sorted(_NATIVE_LOADERS)))
    flavors, pyfunc = _flavors(read_mlmodel(model_dir))
    conf = flavors.get(flavor)
    if not isinstance(conf, dict):
        raise MlflowModelError(f"the model in {model_dir} has no '{flavor}' flavor (its "
                               f"{MLMODEL_FILE} lists: {', '.join(sorted(flavors)) or 'none'})")
    return _NATIVE_LOADERS[flavor](model_dir, conf, pyfunc, **loader_args)


def _read_input_example(model_dir: str, info: Any) -> Any:
    """Decodes the saved input example; None (with a warning) when it cannot be read."""
    if not isinstance(info, dict) or not info.get("artifact_path"):
        return None
    path = os.path.join(model_dir, info["artifact_path"])
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
        if isinstance(content, dict) and any(k in content for k in mlflow_io.FORMAT_KEYS):
            payload = content
        elif info.get("type") == "dataframe" and isinstance(content, list):
            payload = {"dataframe_records": content}
        elif info.get("type") == "dataframe" and isinstance(content, dict):
            payload = {"dataframe_split": content}
        else:
            payload = {"input_data": content}
        data, _ = mlflow_io.parse_request(payload)
        return data
    except (OSError, ValueError) as e:
        logger.warning("ignoring the input example %s: %s", path, e)
        return None


def read_input_example(model_dir: str, document: dict) -> Any:
    """The saved input example of the model (DataFrame, array or dict of arrays), or None."""
    return _read_input_example(model_dir, document.get("saved_input_example_info"))


def _predict_fn_for(implementation: Any, name: str) -> str:
    if not callable(getattr(implementation, name, None)):
        raise MlflowModelError(f"the loaded model ({type(implementation).__name__}) has no "
                               f"'{name}' method")
    return name


def _pyfunc_flavor(flavors: dict, pyfunc: Optional[dict]) -> str:
    """Which loader serves the pyfunc view: a native flavor's name, "python_model" or "custom"."""
    loader_module = pyfunc.get("loader_module") if pyfunc else None
    if loader_module in _NATIVE_OF_LOADER:
        return _NATIVE_OF_LOADER[loader_module]
    if pyfunc is not None and (loader_module == _PYTHON_MODEL_LOADER or pyfunc.get("python_model")):
        return "python_model"
    if isinstance(loader_module, str) and loader_module and not (
            loader_module == "mlflow" or loader_module.startswith("mlflow.")):
        return "custom"
    native = [name for name in _NATIVE_LOADERS if isinstance(flavors.get(name), dict)]
    if native:
        return native[0]
    if pyfunc is None:
        raise MlflowModelError(f"{MLMODEL_FILE} has no flavor berth serves (found: "
                               f"{', '.join(sorted(flavors)) or 'none'}); berth serves {SERVED}")
    if not isinstance(loader_module, str) or not loader_module:
        raise MlflowModelError(f"{MLMODEL_FILE}: flavors.python_function has no loader_module")
    flavor = next((name for name in sorted(flavors) if name != "python_function"), None)
    named = f" (flavor '{flavor}')" if flavor else ""
    raise MlflowModelError(
        f"{MLMODEL_FILE}: flavor python_function uses loader_module '{loader_module}'{named}, "
        f"which needs the mlflow package; berth serves MLflow models without it: {SERVED}")


def load_model(model_dir: str, model_config: Optional[dict] = None) -> MlflowModel:
    """Reads `MLmodel`, loads the model's pyfunc view and its signature and input example.
    `model_config` overrides the python_model's saved `model_config`."""
    document = read_mlmodel(model_dir)
    flavors, pyfunc = _flavors(document)
    loader_module = pyfunc.get("loader_module") if pyfunc else None
    try:
        signature = parse_signature(document.get("signature"))
    except SignatureError as e:
        raise MlflowModelError(f"{MLMODEL_FILE}: {e}") from None

    kind = _pyfunc_flavor(flavors, pyfunc)
    if kind == "sklearn":
        implementation = _load_sklearn(model_dir, flavors.get("sklearn") or {}, pyfunc)
        # MLflow's sklearn pyfunc calls the method named by predict_fn (predict_proba, ...).
        name = pyfunc.get("predict_fn") if pyfunc and loader_module == _SKLEARN_LOADER else None
        flavor, predict_fn = "sklearn", _predict_fn_for(implementation, name or "predict")
    elif kind == "xgboost":
        implementation = _load_xgboost(model_dir, flavors.get("xgboost") or {}, pyfunc)
        xgboost = sys.modules["xgboost"]
        if isinstance(implementation, xgboost.Booster):
            implementation = BoosterPredictor(implementation, xgboost)
        flavor, predict_fn = "xgboost", _predict_fn_for(implementation, "predict")
    elif kind == "pytorch":
        from berth_runner import mlflow_pytorch

        conf = flavors.get("pytorch") or {}
        device = mlflow_pytorch.default_device()
        module = _load_pytorch(model_dir, conf, pyfunc, map_location=device)
        implementation = mlflow_pytorch.TorchPredictor(module, device)
        flavor, predict_fn = "pytorch", "predict"
    elif kind == "python_model":
        from berth_runner import mlflow_python_model

        add_code_path(model_dir, pyfunc)
        implementation = mlflow_python_model.load(model_dir, pyfunc, model_config)
        flavor, predict_fn = "python_function", "predict"
    else:
        add_code_path(model_dir, pyfunc)
        implementation = _load_custom_pyfunc(model_dir, loader_module, pyfunc)
        flavor, predict_fn = "python_function", _predict_fn_for(implementation, "predict")

    return MlflowModel(path=model_dir, flavor=flavor, loader_module=loader_module,
                       implementation=implementation, predict_fn=predict_fn, signature=signature,
                       input_example=read_input_example(model_dir, document), metadata=document)


def _load_custom_pyfunc(model_dir: str, loader_module: str, conf: dict):
    try:
        module = importlib.import_module(loader_module)
    except ImportError as e:
        raise MlflowModelError(f"cannot import loader_module '{loader_module}' of flavor "
                               f"python_function: {e}") from e
    loader = getattr(module, "_load_pyfunc", None)
    if loader is None:
        raise MlflowModelError(f"loader_module '{loader_module}' has no _load_pyfunc(path) "
                               "function")
    data = conf.get("data") or conf.get("model_path")
    return loader(os.path.join(model_dir, data) if data else model_dir)


def _accepts_params(fn) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "params" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def predict(model: MlflowModel, data: Any, params: Optional[dict] = None):
    """Runs the model. Params reach python_function models whose predict takes `params`; MLflow's
    sklearn, xgboost and pytorch wrappers ignore them, and so does berth."""
    fn = getattr(model.implementation, model.predict_fn)
    if model.flavor == "python_function" and params is not None and _accepts_params(fn):
        return fn(data, params=params)
    return fn(data)
