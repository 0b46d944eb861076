"""mlflow.pyfunc.model (berth's compatibility subset): PythonModel and PythonModelContext.

python_model.pkl files name `mlflow.pyfunc.model.PythonModel` as the base class of the user's
model, so these classes live under that module name for such pickles to load."""

from mlflow import _berth


class PythonModelContext:
    """What load_context() and predict() receive: artifacts (name -> absolute local path) and the
    model_config."""

    def __init__(self, artifacts, model_config=None):
        self._artifacts = artifacts
        self._model_config = model_config

    @property
    def artifacts(self) -> dict:
        return self._artifacts

    @property
    def model_config(self):
        return self._model_config

    def __repr__(self):
        return (f"PythonModelContext(artifacts={self._artifacts!r}, "
                f"model_config={self._model_config!r})")


class PythonModel:
    """The base class of custom pyfunc models: load_context(context) once, then
    predict(context, model_input, params=None) per call."""

    def load_context(self, context):
        """Loads artifacts from `context`; called once when the model is loaded."""

    def predict(self, context, model_input, params=None):
        """Returns predictions for `model_input`; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define predict()")


__getattr__ = _berth.module_getattr(__name__)
