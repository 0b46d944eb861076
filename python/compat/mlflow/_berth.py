"""Shared pieces of berth's mlflow compatibility package: its version, the errors for what it
does not cover, and model URIs (local folders only)."""

import importlib.abc
import logging
import os
import sys
import urllib.parse

VERSION = "2.9.2+berth"
SUBSET = (f"berth's mlflow compatibility package (mlflow {VERSION}), which covers loading local "
          "MLflow models and predicting with them")
_HINT = ("; install mlflow for the Python that runs the scoring script to use the rest (an "
         "installed mlflow is used instead of berth's)")

_logger = logging.getLogger("berth.mlflow")
_reported = set()


def _report(message: str) -> None:
    # Logged as well as raised: `from mlflow import X` turns the AttributeError into a generic
    # ImportError, and this line keeps the reason in the log.
    if message not in _reported:
        _reported.add(message)
        _logger.warning(message)


def missing(module_name: str, name: str) -> AttributeError:
    """The error for `module_name.name`, an attribute berth's package does not have."""
    if name.startswith("__") and name.endswith("__"):
        return AttributeError(f"module {module_name!r} has no attribute {name!r}")
    from mlflow.exceptions import MlflowCompatError

    message = f"{module_name}.{name} is not available: this is {SUBSET}{_HINT}"
    _report(message)
    return MlflowCompatError(message)


def module_getattr(module_name: str):
    """A module-level __getattr__ that raises `missing(module_name, name)`."""

    def __getattr__(name: str):
        raise missing(module_name, name)

    return __getattr__


def instance_getattr(obj, name: str):
    """A class-level __getattr__: attributes the real class has and berth's does not raise
    `missing` (private and special names raise a plain AttributeError)."""
    if name.startswith("_"):
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    raise missing(f"{type(obj).__module__}.{type(obj).__qualname__}", name)


def unsupported(what: str) -> Exception:
    """The error for a feature of a covered API that berth's package does not have."""
    from mlflow.exceptions import MlflowException

    return MlflowException(f"{what} is not supported by {SUBSET}{_HINT}")


class MissingSubmoduleFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: `import mlflow.<name>` of a module berth's package does not have
    fails with a message that says so, rather than a bare "No module named"."""

    def find_spec(self, fullname, path=None, target=None):
        package = sys.modules.get("mlflow")
        if not fullname.startswith("mlflow.") or not getattr(package, "_BERTH_COMPAT", False):
            return None
        message = f"No module named '{fullname}': this is {SUBSET}{_HINT}"
        _report(message)
        raise ModuleNotFoundError(message, name=fullname)


def install_submodule_finder() -> None:
    if not any(isinstance(finder, MissingSubmoduleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MissingSubmoduleFinder())


def local_path(model_uri) -> str:
    """The local path of a model URI: a path or a file: URI. Other schemes (runs:, models:, s3:,
    ...) need a tracking server or registry, which berth does not have."""
    from mlflow.exceptions import MlflowException

    try:
        uri = os.fspath(model_uri)
    except TypeError:
        raise MlflowException(f"model_uri must be a path or a URI string, got "
                              f"{type(model_uri).__name__}", "INVALID_PARAMETER_VALUE") from None
    if isinstance(uri, bytes):
        uri = os.fsdecode(uri)
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise MlflowException(f"cannot load '{uri}': a file: URI must name a local path",
                                  "INVALID_PARAMETER_VALUE")
        path = urllib.parse.unquote(parsed.path)
    elif parsed.scheme:
        model_dir = os.environ.get("AZUREML_MODEL_DIR")
        where = (f"the deployment's model is in AZUREML_MODEL_DIR ({model_dir})" if model_dir
                 else "AZUREML_MODEL_DIR names the deployment's model folder")
        raise MlflowException(
            f"cannot load '{uri}': berth loads MLflow models from local folders only, and "
            f"{parsed.scheme}: URIs need an MLflow tracking server or registry; {where}: load "
            "os.path.join(os.environ['AZUREML_MODEL_DIR'], '<model folder>')",
            "INVALID_PARAMETER_VALUE")
    else:
        path = uri
    if not os.path.exists(path):
        raise MlflowException(f"the model path '{path}' does not exist",
                              "RESOURCE_DOES_NOT_EXIST")
    return path


class translated_errors:
    """Turns berth_runner's MlflowModelError (and the request errors of signature checks) into
    MlflowException with the same message, as mlflow would raise."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        from berth_runner.mlflow_io import RequestError
        from berth_runner.mlflow_model import MlflowModelError
        from mlflow.exceptions import MlflowException

        if isinstance(error, MlflowModelError):
            raise MlflowException(str(error)) from None
        if isinstance(error, RequestError):
            raise MlflowException(str(error), "INVALID_PARAMETER_VALUE") from None
        return False


def load_native(model_uri, flavor: str, dst_path, **loader_args):
    """mlflow.<flavor>.load_model: the flavor's own model object."""
    from berth_runner import mlflow_model

    if dst_path is not None:
        raise unsupported(f"mlflow.{flavor}.load_model(dst_path=...) (downloading models)")
    path = local_path(model_uri)
    with translated_errors():
        return mlflow_model.load_native(path, flavor, **loader_args)
