"""mlflow.exceptions (berth's compatibility subset): MlflowException."""

import json

from mlflow import _berth

INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
_HTTP_STATUS = {INVALID_PARAMETER_VALUE: 400, RESOURCE_DOES_NOT_EXIST: 404}


class MlflowException(Exception):
    """An MLflow error: `message` and `error_code` (a name such as "INVALID_PARAMETER_VALUE")."""

    def __init__(self, message, error_code=INTERNAL_ERROR, **kwargs):
        self.message = str(message)
        self.error_code = error_code if isinstance(error_code, str) else INTERNAL_ERROR
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def serialize_as_json(self) -> str:
        return json.dumps({"error_code": self.error_code, "message": self.message,
                           **self.json_kwargs})

    def get_http_status_code(self) -> int:
        return _HTTP_STATUS.get(self.error_code, 500)

    @classmethod
    def invalid_parameter_value(cls, message, **kwargs):
        return cls(message, error_code=INVALID_PARAMETER_VALUE, **kwargs)


class MlflowCompatError(MlflowException, AttributeError):
    """An mlflow API outside berth's compatibility subset (an AttributeError too, so that
    hasattr() and getattr(x, name, default) keep working)."""


__getattr__ = _berth.module_getattr(__name__)
