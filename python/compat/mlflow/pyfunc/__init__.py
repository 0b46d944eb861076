"""mlflow.pyfunc (berth's compatibility subset): load_model() and PyFuncModel.predict(), on
berth_runner.mlflow_model (the loader of berth's no-code MLflow deployments, so a scoring script
and a no-code deployment of the same model folder predict alike).

Input conversion follows MLflow's pyfunc: without an input schema the data reaches the model as
given; with one, a DataFrame, ndarray, dict (of lists, arrays or scalars), list or Series is
converted to what the schema describes and checked (columns selected, ordered and typed; tensors
cast and their fixed dimensions checked). A mismatch raises MlflowException.
"""

from typing import Any, Optional

import numpy as np
import pandas as pd

from berth_runner import mlflow_io, mlflow_model

from mlflow import _berth
from mlflow.exceptions import MlflowException
from mlflow.models.model import Model
from mlflow.pyfunc.model import PythonModel, PythonModelContext

FLAVOR_NAME = "python_function"
__all__ = ["FLAVOR_NAME", "PyFuncModel", "PythonModel", "PythonModelContext", "load_model"]


def _is_scalar(value) -> bool:
    return np.isscalar(value) or value is None


def _coerce(data: Any, schema) -> Any:
    """What MLflow's pyfunc turns a Python input into before it enforces `schema`."""
    if schema.is_tensor:
        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        if isinstance(data, (list, pd.Series)):
            return np.asarray(data)
        return data
    if isinstance(data, (pd.DataFrame, np.ndarray)):
        return data
    if isinstance(data, str):
        return pd.DataFrame({schema.names()[0] if schema.has_names else 0: [data]})
    if isinstance(data, dict):
        if all(_is_scalar(v) for v in data.values()):
            return pd.DataFrame([data])
        return pd.DataFrame({k: list(v) if isinstance(v, np.ndarray) else v
                             for k, v in data.items()})
    if isinstance(data, (list, pd.Series)):
        return pd.DataFrame(data)
    return data


class PyFuncModel:
    """A model loaded with mlflow.pyfunc.load_model: predict(data, params=None) and metadata."""

    def __init__(self, model_meta: Model, model_impl: mlflow_model.MlflowModel):
        self._model_meta = model_meta
        self._model_impl = model_impl

    @property
    def metadata(self) -> Model:
        return self._model_meta

    @property
    def loader_module(self) -> Optional[str]:
        return self._model_impl.loader_module

    @property
    def model_config(self):
        context = getattr(self._model_impl.implementation, "context", None)
        return getattr(context, "model_config", None) or {}

    def predict(self, data: Any, params: Optional[dict] = None):
        signature = self._model_impl.signature
        schema = signature.inputs if signature is not None else None
        with _berth.translated_errors():
            if schema is not None and schema.specs:
                data = mlflow_io.enforce_inputs(_coerce(data, schema), schema, "model input")
            params = mlflow_io.enforce_params(params, signature.params if signature else None)
        return mlflow_model.predict(self._model_impl, data, params)

    def unwrap_python_model(self):
        """The PythonModel instance of a python_model model."""
        python_model = getattr(self._model_impl.implementation, "python_model", None)
        if python_model is None:
            raise MlflowException("Can only unwrap python_model (mlflow.pyfunc.PythonModel) "
                                  f"models; this one's flavor is {self._model_impl.flavor}")
        return python_model

    def get_raw_model(self):
        """The flavor's own model object (the estimator, Booster or XGBModel, torch module)."""
        from berth_runner.mlflow_python_model import PythonModelPredictor
        from berth_runner.mlflow_pytorch import TorchPredictor

        implementation = self._model_impl.implementation
        if isinstance(implementation, PythonModelPredictor):
            raise MlflowException("get_raw_model() does not apply to python_model models; use "
                                  "unwrap_python_model()")
        if isinstance(implementation, TorchPredictor):
            return implementation.module
        if isinstance(implementation, mlflow_model.BoosterPredictor):
            return implementation.booster
        return implementation

    def __repr__(self):
        return (f"mlflow.pyfunc.loaded_model:\n  artifact_path: {self._model_meta.artifact_path}"
                f"\n  flavor: {self._model_impl.loader_module or self._model_impl.flavor}\n"
                f"  run_id: {self._model_meta.run_id}\n")

    __getattr__ = _berth.instance_getattr


def load_model(model_uri, suppress_warnings: bool = False, dst_path=None,
               model_config: Optional[dict] = None) -> PyFuncModel:
    """Loads the MLflow model in a local folder (a path or a file: URI) as a PyFuncModel."""
    if dst_path is not None:
        raise _berth.unsupported("load_model(dst_path=...) (downloading models)")
    path = _berth.local_path(model_uri)
    meta = Model.load(path)
    with _berth.translated_errors():
        implementation = mlflow_model.load_model(path, model_config=model_config)
    return PyFuncModel(meta, implementation)


load_pyfunc = load_model  # MLflow 1.x's name

__getattr__ = _berth.module_getattr(__name__)
