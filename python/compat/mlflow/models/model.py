"""mlflow.models.model (berth's compatibility subset): Model, the content of an MLmodel file."""

import json
import os

import yaml

from berth_runner import mlflow_model

from mlflow import _berth
from mlflow.models.signature import ModelSignature

MLMODEL_FILE_NAME = "MLmodel"
# MLmodel keys Model reads into attributes; the others are kept in to_dict().
_FIELDS = ("artifact_path", "run_id", "utc_time_created", "flavors", "saved_input_example_info",
           "model_uuid", "mlflow_version", "metadata", "model_size_bytes", "databricks_runtime")


class Model:
    """An MLflow model's metadata: flavors, signature, input example, run and creation time."""

    def __init__(self, artifact_path=None, run_id=None, utc_time_created=None, flavors=None,
                 signature=None, saved_input_example_info=None, model_uuid=None,
                 mlflow_version=None, metadata=None, model_size_bytes=None, **kwargs):
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created
        self.flavors = flavors if flavors is not None else {}
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid
        self.mlflow_version = mlflow_version
        self.metadata = metadata
        self.model_size_bytes = model_size_bytes
        self.__dict__.update(kwargs)
        self._model_dir = None  # the folder Model.load read, for load_input_example()

    @classmethod
    def load(cls, path) -> "Model":
        """Reads `path`: a model folder (or a file: URI of one) or its MLmodel file."""
        path = _berth.local_path(path)
        if os.path.isdir(path):
            path = os.path.join(path, MLMODEL_FILE_NAME)
        with _berth.translated_errors():
            model = cls.from_dict(mlflow_model.read_mlmodel_file(path))
        model._model_dir = os.path.dirname(path)
        return model

    @classmethod
    def from_dict(cls, model_dict: dict) -> "Model":
        model_dict = dict(model_dict)
        signature = model_dict.pop("signature", None)
        model = cls(**model_dict)
        model.signature = ModelSignature.from_dict(signature) if signature is not None else None
        return model

    def get_input_schema(self):
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self):
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self):
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path=None):
        """The saved input example (a DataFrame, an ndarray or a dict of ndarrays) of the model in
        `path` (default: the folder Model.load read), or None when it has none."""
        model_dir = path if path is not None else self._model_dir
        if model_dir is None or self.saved_input_example_info is None:
            return None
        if os.path.isfile(model_dir):
            model_dir = os.path.dirname(model_dir)
        info = {"saved_input_example_info": self.saved_input_example_info}
        return mlflow_model.read_input_example(_berth.local_path(model_dir), info)

    def add_flavor(self, name: str, **params) -> "Model":
        self.flavors[name] = params
        return self

    def to_dict(self) -> dict:
        result = {k: v for k, v in self.__dict__.items()
                  if not k.startswith("_") and v is not None and k != "signature"}
        if self.signature is not None:
            result["signature"] = self.signature.to_dict()
        return result

    def to_yaml(self, stream=None):
        return yaml.safe_dump(self.to_dict(), stream=stream, default_flow_style=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __eq__(self, other):
        return isinstance(other, Model) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"<Model flavors={sorted(self.flavors)} run_id={self.run_id!r}>"

    __getattr__ = _berth.instance_getattr


__getattr__ = _berth.module_getattr(__name__)
