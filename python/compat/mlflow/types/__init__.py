"""mlflow.types (berth's compatibility subset)."""

from mlflow import _berth
from mlflow.types.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]

__getattr__ = _berth.module_getattr(__name__)
