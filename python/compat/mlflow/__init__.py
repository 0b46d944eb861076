"""berth's mlflow compatibility package: the part of mlflow's API that scoring scripts use to load
local MLflow models and predict with them, built on berth_runner's MLflow model code (the loader of
berth's no-code MLflow deployments). See python/README.md, "Scoring scripts that use mlflow".

Covered: mlflow.pyfunc.load_model / PyFuncModel / PythonModel / PythonModelContext,
mlflow.sklearn/xgboost/pytorch.load_model, mlflow.models.Model / ModelSignature, mlflow.types
schemas, mlflow.exceptions.MlflowException, mlflow.__version__. Anything else raises
MlflowCompatError (an MlflowException and an AttributeError) naming what is missing.

The runner puts this folder at the end of sys.path: an installed mlflow is found first and wins.
"""

import importlib

from mlflow import _berth
from mlflow.exceptions import MlflowException

__version__ = _berth.VERSION
_BERTH_COMPAT = True  # read by _berth.MissingSubmoduleFinder
_SUBMODULES = ("exceptions", "models", "pyfunc", "pytorch", "sklearn", "types", "xgboost")

_berth.install_submodule_finder()


def __getattr__(name: str):
    # mlflow imports its flavor modules lazily too: `import mlflow; mlflow.sklearn.load_model(...)`
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise _berth.missing(__name__, name)


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))


__all__ = ["MlflowException", "__version__"]
