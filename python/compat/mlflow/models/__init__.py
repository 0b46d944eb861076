"""mlflow.models (berth's compatibility subset): Model and ModelSignature."""

from mlflow import _berth
from mlflow.models.model import Model
from mlflow.models.signature import ModelSignature

__all__ = ["Model", "ModelSignature"]

__getattr__ = _berth.module_getattr(__name__)
