"""`python_function` models with a `python_model` (an `mlflow.pyfunc.PythonModel` subclass saved
by mlflow.pyfunc.save_model / log_model), loaded without mlflow.

Layout: `flavors.python_function` has `loader_module: mlflow.pyfunc.model`, `python_model` (the
cloudpickled instance, "python_model.pkl", compressed when `python_model_compression` is lzma,
bzip2 or gzip), `artifacts` (`{name: {path: <relative path>, uri: ...}}`), optionally
`model_config` and `code`. Loading is MLflow's: unpickle with cloudpickle, build a
`PythonModelContext(artifacts={name: <absolute path>}, model_config=...)`, call
`python_model.load_context(context)`; predict calls `python_model.predict(context, data[,
params=params])`.

The pickle names `mlflow.pyfunc.model.PythonModel` (the base class): berth's mlflow compatibility
package answers that name when mlflow is not installed, so the compat folder goes on sys.path
first (after site-packages, so an installed mlflow still wins).
"""

import bz2
import gzip
import inspect
import lzma
import os
import sys
from typing import Any, Optional

from berth_runner import compat_path

_OPENERS = {"lzma": lzma.open, "bzip2": bz2.open, "gzip": gzip.open}


def _error(message: str) -> Exception:
    from berth_runner.mlflow_model import MlflowModelError

    return MlflowModelError(message)


def _positional_count(fn) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    return sum(1 for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                    inspect.Parameter.POSITIONAL_OR_KEYWORD)
               and p.name != "params")


class PythonModelPredictor:
    """The pyfunc view of a PythonModel: predict(data, params=None)."""

    def __init__(self, python_model: Any, context: Any):
        self.python_model = python_model
        self.context = context
        predict = python_model.predict
        # MLflow 2.x passes the context first; newer models may leave it out of predict.
        self._takes_context = _positional_count(predict) >= 2
        try:
            parameters = inspect.signature(predict).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._takes_params = "params" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())

    def predict(self, data: Any, params: Optional[dict] = None):
        args = (self.context, data) if self._takes_context else (data,)
        if self._takes_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)


def _unpickle(path: str, compression: Optional[str]):
    if compression and compression not in _OPENERS:
        raise _error(f"unsupported python_model_compression '{compression}'; berth reads "
                     + ", ".join(sorted(_OPENERS)))
    try:
        import cloudpickle
    except ImportError:
        raise _error(f"{path} needs the cloudpickle package, which is not installed for "
                     f"{sys.executable} (Debian: python3-cloudpickle)") from None
    opener = _OPENERS.get(compression, open)
    try:
        with opener(path, "rb") as f:
            return cloudpickle.load(f)
    except ModuleNotFoundError as e:
        raise _error(f"loading {path} needs module '{e.name}', which is not installed for "
                     f"{sys.executable}") from None


def load(model_dir: str, conf: dict, model_config: Optional[dict] = None) -> PythonModelPredictor:
    """Unpickles the python_model, builds its context and calls load_context (whose exceptions
    propagate, with the user's traceback)."""
    file_name = conf.get("python_model")
    if not file_name:
        raise _error("MLmodel: flavors.python_function names no python_model file")
    path = os.path.join(model_dir, file_name)
    if not os.path.isfile(path):
        raise _error(f"python_model file {path} named in MLmodel does not exist")
    compat_path.add_compat_dir()
    python_model = _unpickle(path, conf.get("python_model_compression"))
    artifacts = {}
    for name, info in (conf.get("artifacts") or {}).items():
        relative = info.get("path") if isinstance(info, dict) else None
        if not relative:
            raise _error(f"MLmodel: artifact '{name}' of flavors.python_function has no path")
        artifacts[name] = os.path.join(model_dir, relative)
    from mlflow.pyfunc.model import PythonModelContext  # the installed mlflow's, or berth's

    context = PythonModelContext(artifacts=artifacts, model_config=(
        model_config if model_config is not None else conf.get("model_config")))
    if callable(getattr(python_model, "load_context", None)):
        python_model.load_context(context)
    if not callable(getattr(python_model, "predict", None)):
        raise _error(f"the python_model in {path} ({type(python_model).__name__}) has no "
                     "predict method")
    return PythonModelPredictor(python_model, context)
