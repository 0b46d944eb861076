"""mlflow.pytorch (berth's compatibility subset): load_model() gives the torch module."""

from mlflow import _berth

FLAVOR_NAME = "pytorch"


def load_model(model_uri, dst_path=None, **kwargs):
    """The torch module saved in the MLflow model folder `model_uri` (a path or a file: URI);
    `kwargs` go to torch.load (map_location=...)."""
    return _berth.load_native(model_uri, FLAVOR_NAME, dst_path, **kwargs)


__getattr__ = _berth.module_getattr(__name__)
