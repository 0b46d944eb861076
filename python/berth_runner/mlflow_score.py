"""berth's scoring script for MLflow models deployed with no code (Azure's "no-code deployment").

The runner loads this module instead of a user script when MLFLOW_MODEL_FOLDER is set: `init()`
loads `$AZUREML_MODEL_DIR/$MLFLOW_MODEL_FOLDER` and publishes the swagger schemas in
`BERTH_SWAGGER`; `run()` answers each request. The work is done by plain functions (re-exported
here) so that it can be tested without the runner:
  load_model(model_dir) -> MlflowModel           (mlflow_model)
  parse_request(payload, signature) -> (data, params)  (mlflow_io)
  predict(model, data, params)                   (mlflow_model)
  to_json(predictions)                           (mlflow_io)
  swagger_schemas(model) -> {"input", "output"}  (mlflow_swagger)

HTTP behaviour: POST a JSON body (Content-Type application/json, or none); a body that is not JSON,
or not one of the accepted shapes, or that breaks the signature, is a 400 with
`{"message": "..."}`; another declared content type is a 415, as Azure's schema-decorated no-code
script answers. Predictions are a bare JSON value (a list for simple models). An exception inside
the model propagates, so the runner answers 500 with `x-ms-run-function-failed` and logs it.
"""

import json
import logging

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

from berth_runner.mlflow_io import RequestError, parse_request, to_json
from berth_runner.mlflow_model import MlflowModel, load_model, model_dir_from_env, predict
from berth_runner.mlflow_swagger import swagger_schemas

__all__ = ["init", "run", "load_model", "parse_request", "predict", "to_json", "swagger_schemas",
           "BERTH_SWAGGER"]

logger = logging.getLogger("berth.mlflow")

# Read by the runner after init(): the ServiceInput / ServiceOutput schemas of the swagger
# documents.
BERTH_SWAGGER = None

_model = None


def init() -> None:
    global _model, BERTH_SWAGGER
    model_dir = model_dir_from_env()
    _model = load_model(model_dir)
    BERTH_SWAGGER = swagger_schemas(_model)
    signature = "a signature" if _model.signature is not None else "no signature"
    logger.info("serving MLflow model %s (flavor %s, %s, predict via %s.%s)", model_dir,
                _model.flavor, signature, type(_model.implementation).__name__, _model.predict_fn)


def _error(status: int, message: str) -> AMLResponse:
    return AMLResponse({"message": message}, status, json_str=True)


def _is_json_type(mimetype: str) -> bool:
    return not mimetype or mimetype == "application/json" or mimetype.endswith("+json")


def score(model: MlflowModel, body: bytes, mimetype: str = "application/json"):
    """(status, JSON value) for one request body; the runner-independent part of run()."""
    if not _is_json_type((mimetype or "").lower()):
        return 415, {"message": "Expects Content-Type to be application/json"}
    if not body:
        return 400, {"message": "the request body is empty; POST a JSON object such as "
                                "{\"input_data\": {\"columns\": [...], \"data\": [[...]]}}"}
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return 400, {"message": "the request body is not valid UTF-8"}
    except ValueError as e:
        return 400, {"message": f"the request body is not valid JSON: {e}"}
    try:
        data, params = parse_request(payload, model.signature)
    except RequestError as e:
        return e.status, {"message": str(e)}
    return 200, to_json(predict(model, data, params))


@rawhttp
def run(request):
    if _model is None:
        raise RuntimeError("init() has not loaded the MLflow model")
    if request.method != "POST":
        return _error(400, "score an MLflow model with a POST and a JSON body")
    status, value = score(_model, request.get_data(), request.mimetype)
    return AMLResponse(value, status, json_str=True)
