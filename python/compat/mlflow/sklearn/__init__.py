"""mlflow.sklearn (berth's compatibility subset): load_model() gives the scikit-learn model."""

from mlflow import _berth

FLAVOR_NAME = "sklearn"


def load_model(model_uri, dst_path=None):
    """The estimator saved in the MLflow model folder `model_uri` (a path or a file: URI)."""
    return _berth.load_native(model_uri, FLAVOR_NAME, dst_path)


__getattr__ = _berth.module_getattr(__name__)
