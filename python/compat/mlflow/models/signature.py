"""mlflow.models.signature (berth's compatibility subset): ModelSignature, read from MLmodel files
with berth_runner.mlflow_signature (the parser berth's no-code deployments use)."""

from typing import Optional

from berth_runner import mlflow_signature as parsed

from mlflow import _berth
from mlflow.exceptions import MlflowException
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec


def _schema(schema: Optional[parsed.Schema]) -> Optional[Schema]:
    if schema is None:
        return None
    specs = []
    for spec in schema.specs:
        if isinstance(spec, parsed.TensorSpec):
            specs.append(TensorSpec(spec.dtype, spec.shape, spec.name))
        else:
            specs.append(ColSpec(spec.type, spec.name, required=spec.required))
    return Schema(specs)


def _params(params) -> Optional[ParamSchema]:
    if params is None:
        return None
    return ParamSchema([ParamSpec(p.name, p.type, p.default, p.shape) for p in params])


def from_berth(signature: Optional[parsed.Signature]) -> Optional["ModelSignature"]:
    """The ModelSignature of a signature parsed by berth_runner.mlflow_signature."""
    if signature is None:
        return None
    return ModelSignature(_schema(signature.inputs), _schema(signature.outputs),
                          _params(signature.params))


def schema_from_value(value, where: str) -> Optional[Schema]:
    """A Schema from the JSON text (or list) MLflow stores."""
    try:
        return _schema(parsed.parse_schema(value, where))
    except parsed.SignatureError as e:
        raise MlflowException(str(e), "INVALID_PARAMETER_VALUE") from None


class ModelSignature:
    """A model's input and output schemas and its params schema (each may be None)."""

    def __init__(self, inputs=None, outputs=None, params=None):
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict:
        return {"inputs": self.inputs.to_json() if self.inputs is not None else None,
                "outputs": self.outputs.to_json() if self.outputs is not None else None,
                "params": self.params.to_json() if self.params is not None else None}

    @classmethod
    def from_dict(cls, signature_dict: dict) -> "ModelSignature":
        try:
            signature = parsed.parse_signature(signature_dict)
        except parsed.SignatureError as e:
            raise MlflowException(str(e), "INVALID_PARAMETER_VALUE") from None
        return from_berth(signature) or cls()

    def __eq__(self, other):
        return isinstance(other, ModelSignature) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return (f"inputs: \n  {self.inputs!r}\noutputs: \n  {self.outputs!r}\n"
                f"params: \n  {self.params!r}\n")

    __getattr__ = _berth.instance_getattr


__getattr__ = _berth.module_getattr(__name__)
