"""Loading MLflow model folders without the mlflow package.

Served flavors:
  * `sklearn`: `pickled_model` loaded per `serialization_format` (`pickle`, `cloudpickle` (read with
    cloudpickle when installed, else with pickle, which reads cloudpickle's output for models whose
    classes are importable) or `joblib`). A file that the declared format cannot read is retried
    with joblib, since models trained with Azure's samples are often saved with `joblib.dump`.
  * `python_function` with `loader_module: mlflow.sklearn`: the same, with the file from `data`
    (or the older `model_path`).
  * `xgboost` (or `python_function` with `loader_module: mlflow.xgboost`): `model_class` (default
    `xgboost.core.Booster`) built and `load_model(<data>)` called, as mlflow.xgboost does; a
    Booster predicts on an `xgboost.DMatrix` of the input, as MLflow's pyfunc wrapper does.
  * `python_function` with a custom loader module (not under `mlflow.`), shipped in the flavor's
    `code` folder: `<module>._load_pyfunc(<model dir>/<data>)` as MLflow calls it. This needs no
    mlflow; loader modules of other MLflow flavors do, and are refused with an error naming them.
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


class MlflowModelError(RuntimeError):
    """The model folder cannot be served; the message says why (it ends up in the deploy reason)."""


@dataclasses.dataclass
class MlflowModel:
    path: str
    flavor: str  # "sklearn", "xgboost", or "python_function" for a custom loader module
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
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except (OSError, UnicodeError, yaml.YAMLError) as e:
        raise MlflowModelError(f"cannot read {path}: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise MlflowModelError(f"{path} must be a YAML mapping with a 'flavors' mapping")
    return document


def _add_code_path(model_dir: str, conf: dict) -> None:
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


class _BoosterPredictor:
    """A bare xgboost Booster with predict(data) on a DMatrix, as MLflow's pyfunc wrapper."""

    def __init__(self, booster, xgboost_module):
        self.booster = booster
        self._dmatrix = xgboost_module.DMatrix

    def predict(self, data):
        return self.booster.predict(self._dmatrix(data))


def _load_xgboost(model_dir: str, conf: dict):
    file_name = conf.get("data")
    if not file_name:
        raise MlflowModelError(f"{MLMODEL_FILE} names no model file (flavors.xgboost.data)")
    path = os.path.join(model_dir, file_name)
    if not os.path.isfile(path):
        raise MlflowModelError(f"model file {path} named in {MLMODEL_FILE} does not exist")
    class_path = conf.get("model_class") or "xgboost.core.Booster"
    module_name, _, class_name = class_path.rpartition(".")
    if module_name != "xgboost" and not module_name.startswith("xgboost."):
        raise MlflowModelError(f"{MLMODEL_FILE}: flavors.xgboost.model_class '{class_path}' is "
                               "not an xgboost class")
    try:
        xgboost = importlib.import_module("xgboost")
        model_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise MlflowModelError(f"cannot load {class_path} (the xgboost package for "
                               f"{sys.executable}): {e}") from None
    model = model_class()
    try:
        model.load_model(path)
    except Exception as e:  # xgboost.core.XGBoostError and friends
        raise MlflowModelError(f"cannot load the XGBoost model {path}: {e}") from None
    if isinstance(model, xgboost.Booster):
        return _BoosterPredictor(model, xgboost)
    return model


def _load_custom_pyfunc(model_dir: str, loader_module: str, conf: dict):
    _add_code_path(model_dir, conf)
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


def _predict_fn_for(implementation: Any, name: str) -> str:
    if not callable(getattr(implementation, name, None)):
        raise MlflowModelError(f"the loaded model ({type(implementation).__name__}) has no "
                               f"'{name}' method")
    return name


def load_model(model_dir: str) -> MlflowModel:
    """Reads `MLmodel`, loads the model and its signature and input example."""
    document = read_mlmodel(model_dir)
    flavors = document["flavors"]
    pyfunc = flavors.get("python_function") if isinstance(flavors.get("python_function"), dict) \
        else None
    sklearn = flavors.get("sklearn") if isinstance(flavors.get("sklearn"), dict) else None
    xgboost = flavors.get("xgboost") if isinstance(flavors.get("xgboost"), dict) else None
    loader_module = pyfunc.get("loader_module") if pyfunc else None
    try:
        signature = parse_signature(document.get("signature"))
    except SignatureError as e:
        raise MlflowModelError(f"{MLMODEL_FILE}: {e}") from None

    if sklearn is not None or loader_module == _SKLEARN_LOADER:
        conf = sklearn if sklearn is not None else {}
        file_name = conf.get("pickled_model")
        if not file_name and pyfunc:
            file_name = pyfunc.get("data") or pyfunc.get("model_path")
        if not file_name:
            raise MlflowModelError(f"{MLMODEL_FILE} names no model file (flavors.sklearn."
                                   "pickled_model or flavors.python_function.data)")
        _add_code_path(model_dir, conf)
        implementation = load_pickled_model(os.path.join(model_dir, file_name),
                                            conf.get("serialization_format") or "pickle")
        # MLflow's sklearn pyfunc calls the method named by predict_fn (predict_proba, ...).
        name = pyfunc.get("predict_fn") if pyfunc and loader_module == _SKLEARN_LOADER else None
        flavor, predict_fn = "sklearn", _predict_fn_for(implementation, name or "predict")
    elif xgboost is not None or loader_module == _XGBOOST_LOADER:
        conf = xgboost if xgboost is not None else {"data": pyfunc.get("data")}
        _add_code_path(model_dir, conf)
        implementation = _load_xgboost(model_dir, conf)
        flavor, predict_fn = "xgboost", _predict_fn_for(implementation, "predict")
    elif pyfunc is not None:
        if not isinstance(loader_module, str) or not loader_module:
            raise MlflowModelError(f"{MLMODEL_FILE}: flavors.python_function has no loader_module")
        if loader_module == "mlflow" or loader_module.startswith("mlflow."):
            raise MlflowModelError(
                f"{MLMODEL_FILE}: flavor python_function uses loader_module '{loader_module}', "
                "which needs the mlflow package; berth serves MLflow models without it: the "
                "sklearn and xgboost flavors (or loader_module mlflow.sklearn, mlflow.xgboost) "
                "and python_function models with a custom loader module in their code folder")
        implementation = _load_custom_pyfunc(model_dir, loader_module, pyfunc)
        flavor, predict_fn = "python_function", _predict_fn_for(implementation, "predict")
    else:
        raise MlflowModelError(f"{MLMODEL_FILE} has no sklearn, xgboost or python_function "
                               f"flavor (found: {', '.join(sorted(flavors)) or 'none'}); berth "
                               "serves those without mlflow")

    example = _read_input_example(model_dir, document.get("saved_input_example_info"))
    return MlflowModel(path=model_dir, flavor=flavor, loader_module=loader_module,
                       implementation=implementation, predict_fn=predict_fn, signature=signature,
                       input_example=example, metadata=document)


def _accepts_params(fn) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "params" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def predict(model: MlflowModel, data: Any, params: Optional[dict] = None):
    """Runs the model. Params reach custom pyfunc models whose predict takes `params`; MLflow's
    sklearn wrapper ignores them, and so does berth."""
    fn = getattr(model.implementation, model.predict_fn)
    if model.flavor == "python_function" and params is not None and _accepts_params(fn):
        return fn(data, params=params)
    return fn(data)
