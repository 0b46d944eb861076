"""Tests of berth's no-code MLflow scoring (berth_runner.mlflow_*), with no mlflow installed.

Each test writes an MLflow model folder by hand (MLmodel YAML plus a pickle) around a scikit-learn
model trained at test time, and checks predictions against scikit-learn's own.
Run: /usr/bin/python3 -m pytest python/tests/test_mlflow_score.py
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeRegressor

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from berth_runner import mlflow_model, mlflow_swagger  # noqa: E402
from mlflow_folders import COLSPEC, COLUMNS, TENSOR_OUT, write_mlflow  # noqa: E402
from berth_runner.mlflow_io import RequestError, parse_request, to_json  # noqa: E402
from berth_runner.mlflow_model import MlflowModelError, load_model, predict  # noqa: E402

@pytest.fixture
def colspec_model(tmp_path, regression):
    folder = write_mlflow(str(tmp_path / "model"), regression,
                          signature={"inputs": COLSPEC, "outputs": TENSOR_OUT})
    return load_model(folder)


def score(model, payload):
    parsed, params = parse_request(payload, model.signature)
    return to_json(predict(model, parsed, params))


def split_request(frame, key="input_data"):
    return {key: {"columns": list(frame.columns), "index": list(range(len(frame))),
                  "data": frame.values.tolist()}}


# ----------------------------------------------------------------------------------------------
# Loading


def test_split_orientation_matches_sklearn(colspec_model, regression, data):
    frame = data[0].head(5)
    assert colspec_model.flavor == "sklearn"
    assert score(colspec_model, split_request(frame)) == regression.predict(frame).tolist()


def test_index_is_optional_and_columns_are_reordered(colspec_model, regression, data):
    frame = data[0].head(3)
    shuffled = frame[["s1", "bp", "age", "bmi"]]
    body = {"input_data": {"columns": list(shuffled.columns), "data": shuffled.values.tolist()}}
    assert score(colspec_model, body) == regression.predict(frame).tolist()


def test_extra_columns_are_dropped(colspec_model, regression, data):
    frame = data[0].head(3).assign(note=["a", "b", "c"])
    assert score(colspec_model, split_request(frame)) == regression.predict(
        frame[COLUMNS]).tolist()


@pytest.mark.parametrize("declared", ["joblib", "pickle", "cloudpickle"])
def test_joblib_files_load(tmp_path, data, declared):
    frame, target = data
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(frame, target)
    folder = write_mlflow(str(tmp_path / "m"), None, fmt=declared,
                          signature={"inputs": COLSPEC, "outputs": TENSOR_OUT})
    joblib.dump(tree, os.path.join(folder, "model.pkl"), compress=3 if declared != "joblib" else 0)
    model = load_model(folder)
    assert score(model, split_request(frame.head(4))) == tree.predict(frame.head(4)).tolist()


def test_cloudpickle_format_reads_with_pickle(tmp_path, regression, data):
    model = load_model(write_mlflow(str(tmp_path / "m"), regression, fmt="cloudpickle"))
    assert score(model, split_request(data[0].head(2))) == regression.predict(
        data[0].head(2)).tolist()


def test_python_function_only_with_mlflow_sklearn_loader(tmp_path, regression, data):
    flavors = {"python_function": {"loader_module": "mlflow.sklearn", "data": "model.pkl"}}
    model = load_model(write_mlflow(str(tmp_path / "m"), regression, flavors=flavors))
    assert model.flavor == "sklearn" and model.signature is None
    assert score(model, split_request(data[0].head(2))) == regression.predict(
        data[0].head(2)).tolist()


def test_predict_fn_from_python_function_flavor(tmp_path, data):
    frame, target = data
    classifier = LogisticRegression().fit(frame, target > 0)
    folder = write_mlflow(str(tmp_path / "m"), classifier)
    with open(os.path.join(folder, "MLmodel")) as f:
        document = yaml.safe_load(f)
    document["flavors"]["python_function"]["predict_fn"] = "predict_proba"
    with open(os.path.join(folder, "MLmodel"), "w") as f:
        yaml.safe_dump(document, f)
    model = load_model(folder)
    assert score(model, split_request(frame.head(2))) == classifier.predict_proba(
        frame.head(2)).tolist()


@pytest.mark.parametrize("model_class", ["xgboost.sklearn.XGBRegressor", "xgboost.core.Booster",
                                         None])
def test_xgboost_flavor(tmp_path, data, model_class):
    xgboost = pytest.importorskip("xgboost")
    frame, target = data
    regressor = xgboost.XGBRegressor(n_estimators=5, max_depth=2).fit(frame, target)
    folder = str(tmp_path / "model")
    os.makedirs(folder)
    regressor.save_model(os.path.join(folder, "model.xgb"))
    flavors = {"python_function": {"loader_module": "mlflow.xgboost", "data": "model.xgb"}}
    if model_class is not None:  # else only python_function, as older MLflow versions wrote
        flavors["xgboost"] = {"data": "model.xgb", "model_class": model_class,
                              "model_format": "xgb", "xgb_version": xgboost.__version__}
    model = load_model(write_mlflow(folder, None, flavors=flavors))
    assert model.flavor == "xgboost"
    np.testing.assert_allclose(predict(model, frame), regressor.predict(frame), rtol=1e-6)


def test_xgboost_model_class_must_be_xgboost(tmp_path):
    folder = str(tmp_path / "model")
    os.makedirs(folder)
    open(os.path.join(folder, "model.xgb"), "w").close()
    flavors = {"xgboost": {"data": "model.xgb", "model_class": "os.system"}}
    with pytest.raises(MlflowModelError, match="'os.system' is not an xgboost class"):
        load_model(write_mlflow(folder, None, flavors=flavors))


def test_unsupported_loader_module_is_named(tmp_path):
    flavors = {"python_function": {"loader_module": "mlflow.tensorflow", "data": "tfmodel"},
               "tensorflow": {"saved_model_dir": "tfmodel"}}
    folder = write_mlflow(str(tmp_path / "m"), None, flavors=flavors)
    with pytest.raises(MlflowModelError, match=r"'mlflow\.tensorflow' \(flavor 'tensorflow'\)"
                                               r".*needs the mlflow package.*pytorch"):
        load_model(folder)


def test_folder_problems_are_explained(tmp_path, regression):
    with pytest.raises(MlflowModelError, match="no MLmodel file"):
        load_model(str(tmp_path))
    nested = write_mlflow(str(tmp_path / "inner"), regression)
    with pytest.raises(MlflowModelError, match=r"subfolder\(s\) \['inner'\]"):
        load_model(str(tmp_path))
    os.remove(os.path.join(nested, "model.pkl"))
    with pytest.raises(MlflowModelError, match="does not exist"):
        load_model(nested)
    write_mlflow(str(tmp_path / "onnx"), None, flavors={"onnx": {"onnx_model": "model.onnx"}})
    with pytest.raises(MlflowModelError,
                       match="no flavor berth serves \\(found: onnx\\)"):
        load_model(str(tmp_path / "onnx"))
    write_mlflow(str(tmp_path / "fmt"), regression, fmt="pickle5")
    with pytest.raises(MlflowModelError, match="unsupported serialization_format 'pickle5'"):
        load_model(str(tmp_path / "fmt"))


def test_model_dir_from_env(tmp_path):
    env = {"AZUREML_MODEL_DIR": str(tmp_path), "MLFLOW_MODEL_FOLDER": ""}
    assert os.path.normpath(mlflow_model.model_dir_from_env(env)) == str(tmp_path)
    env["MLFLOW_MODEL_FOLDER"] = "model"
    assert mlflow_model.model_dir_from_env(env) == os.path.join(str(tmp_path), "model")
    with pytest.raises(MlflowModelError, match="AZUREML_MODEL_DIR"):
        mlflow_model.model_dir_from_env({})


# ----------------------------------------------------------------------------------------------
# Request shapes


def test_mlflow_request_keys(colspec_model, regression, data):
    frame = data[0].head(4)
    expected = regression.predict(frame).tolist()
    records = frame.to_dict(orient="records")
    assert score(colspec_model, split_request(frame, "dataframe_split")) == expected
    assert score(colspec_model, {"dataframe_records": records}) == expected
    assert score(colspec_model, {"instances": records}) == expected
    assert score(colspec_model, {"inputs": {c: frame[c].tolist() for c in COLUMNS}}) == expected
    assert score(colspec_model, {"input_data": {c: frame[c].tolist() for c in COLUMNS}}) == expected


def test_unknown_or_ambiguous_keys_are_rejected(colspec_model):
    with pytest.raises(RequestError, match="'input_data'.*'dataframe_split'.*got 'data'") as err:
        parse_request({"data": [[1, 2, 3, 4]]}, colspec_model.signature)
    assert err.value.status == 400
    with pytest.raises(RequestError, match="exactly one.*'input_data' and 'inputs'"):
        parse_request({"input_data": [[1]], "inputs": [[1]]})
    with pytest.raises(RequestError, match="JSON object"):
        parse_request([1, 2])
    with pytest.raises(RequestError, match="input_data must be"):
        parse_request({"input_data": "text"})


def test_malformed_split_objects(colspec_model):
    base = {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0, 4.0]]}
    for change, message in [({"data": [[1.0, 2.0]]}, "row 0 of 'data' has 2 values"),
                            ({"index": [0, 1]}, "'index' must be a list"),
                            ({"columns": COLUMNS[:3] + ["age"]}, "duplicate column 'age'"),
                            ({"orient": "split"}, r"unexpected key\(s\) \['orient'\]")]:
        with pytest.raises(RequestError, match=message):
            parse_request({"input_data": dict(base, **change)}, colspec_model.signature)


def test_missing_column_names_it(colspec_model, data):
    frame = data[0].head(2).drop(columns=["bmi"])
    with pytest.raises(RequestError, match=r"^input_data: missing column 'bmi'") as err:
        parse_request(split_request(frame), colspec_model.signature)
    assert err.value.status == 400
    with pytest.raises(RequestError, match=r"^dataframe_records: missing columns 'bp', 's1'"):
        parse_request({"dataframe_records": [{"age": 1.0, "bmi": 2.0}]}, colspec_model.signature)
    with pytest.raises(RequestError, match="missing columns.*split-orientation object"):
        parse_request({"input_data": [[1.0, 2.0, 3.0, 4.0]]}, colspec_model.signature)


def test_wrong_types_name_column_and_row(colspec_model):
    body = {"input_data": {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0, 4.0],
                                                        [1.0, "tall", 3.0, 4.0]]}}
    with pytest.raises(RequestError, match=r"column 'bmi' expects double but row 1 has \"tall\""):
        parse_request(body, colspec_model.signature)
    body["input_data"]["data"][1][1] = True
    with pytest.raises(RequestError, match="column 'bmi' expects double but row 1 has true"):
        parse_request(body, colspec_model.signature)


def test_column_type_conversions():
    from berth_runner.mlflow_signature import parse_signature
    signature = parse_signature({"inputs": json.dumps([
        {"name": "d", "type": "double"}, {"name": "f", "type": "float"},
        {"name": "l", "type": "long"}, {"name": "i", "type": "integer"},
        {"name": "b", "type": "boolean"}, {"name": "s", "type": "string"},
        {"name": "opt", "type": "string", "required": False}])})
    good = {"columns": ["s", "b", "i", "l", "f", "d"],
            "data": [["x", True, 1, 2.0, 1, 3], ["y", False, -4, 5, 2.5, None]]}
    frame, _ = parse_request({"input_data": good}, signature)
    assert list(frame.columns) == ["d", "f", "l", "i", "b", "s"]
    assert [str(t) for t in frame.dtypes] == ["float64", "float32", "int64", "int32", "bool",
                                              "object"]
    assert frame["l"].tolist() == [2, 5] and np.isnan(frame["d"][1])
    for column, value, message in [("l", 1.5, "column 'l' expects long but row 0 has 1.5"),
                                   ("i", 2**40, "column 'i' expects integer"),
                                   ("b", 1, "column 'b' expects boolean"),
                                   ("s", 7, "column 's' expects string but row 0 has 7")]:
        bad = json.loads(json.dumps(good))
        bad["data"][0][bad["columns"].index(column)] = value
        with pytest.raises(RequestError, match=message):
            parse_request({"input_data": bad}, signature)


def test_no_signature_passes_input_through(tmp_path, regression, data):
    model = load_model(write_mlflow(str(tmp_path / "m"), regression))
    parsed, params = parse_request({"input_data": [[1, 2], [3, 4]]}, model.signature)
    assert isinstance(parsed, np.ndarray) and parsed.shape == (2, 2) and params is None


# ----------------------------------------------------------------------------------------------
# Tensors


@pytest.fixture
def tensor_model(tmp_path, data):
    frame, target = data
    estimator = LinearRegression().fit(frame.values, target.values)  # no column names
    inputs = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64",
                                                            "shape": [-1, 4]}}])
    folder = write_mlflow(str(tmp_path / "t"), estimator, fmt="joblib",
                          signature={"inputs": inputs, "outputs": TENSOR_OUT})
    return load_model(folder), estimator


def test_tensor_signature_casts_and_predicts(tensor_model, data):
    model, estimator = tensor_model
    rows = [[1, 2, 3, 4], [0, 0, 0, 1]]  # integers, cast to float64
    expected = estimator.predict(np.array(rows, dtype=np.float64)).tolist()
    assert score(model, {"input_data": rows}) == expected
    assert score(model, {"inputs": rows}) == expected
    assert score(model, {"instances": rows}) == expected


def test_tensor_shape_and_dtype_mismatches(tensor_model):
    model = tensor_model[0]
    with pytest.raises(RequestError, match=r"input_data: expected shape \(-1, 4\), got \(1, 3\)"):
        parse_request({"input_data": [[1.0, 2.0, 3.0]]}, model.signature)
    with pytest.raises(RequestError, match=r"expected shape \(-1, 4\), got \(4,\)"):
        parse_request({"input_data": [1.0, 2.0, 3.0, 4.0]}, model.signature)
    with pytest.raises(RequestError, match="expected float64 values, got string values"):
        parse_request({"input_data": [["a", "b", "c", "d"]]}, model.signature)
    with pytest.raises(RequestError, match="cannot build an array"):
        parse_request({"input_data": [[1.0, 2.0], [1.0]]}, model.signature)
    with pytest.raises(RequestError, match="single tensor"):
        parse_request({"input_data": {"x": [[1.0, 2.0, 3.0, 4.0]]}}, model.signature)


def test_named_tensors():
    from berth_runner.mlflow_signature import parse_signature
    signature = parse_signature({"inputs": [
        {"name": "tokens", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 3]}},
        {"name": "mask", "type": "tensor", "tensor-spec": {"dtype": "bool", "shape": [-1, 3]}}]})
    parsed, _ = parse_request({"input_data": {"tokens": [[1, 2, 3.0]], "mask": [[True] * 3],
                                              "extra": [1]}}, signature)
    assert set(parsed) == {"tokens", "mask"} and parsed["tokens"].dtype == np.int64
    with pytest.raises(RequestError, match="missing input 'mask'"):
        parse_request({"inputs": {"tokens": [[1, 2, 3]]}}, signature)
    with pytest.raises(RequestError, match=r"input_data\.tokens: expected int64 values, got "
                                           "non-integral"):
        parse_request({"input_data": {"tokens": [[1, 2, 3.5]], "mask": [[True] * 3]}}, signature)


# ----------------------------------------------------------------------------------------------
# Params


ECHO_LOADER = """
import numpy as np

class EchoModel:
    def predict(self, data, params=None):
        return {"rows": np.array([len(data)]), "params": params}

def _load_pyfunc(path):
    assert path.endswith("weights.bin"), path
    return EchoModel()
"""

PARAMS = json.dumps([{"name": "alpha", "type": "double", "default": 0.5, "shape": None},
                     {"name": "labels", "type": "string", "default": None, "shape": [-1]},
                     {"name": "top_k", "type": "long", "default": 3, "shape": None}])


@pytest.fixture
def pyfunc_model(tmp_path):
    folder = str(tmp_path / "pyfunc")
    os.makedirs(os.path.join(folder, "code"))
    with open(os.path.join(folder, "code", "berth_echo_loader.py"), "w") as f:
        f.write(ECHO_LOADER)
    open(os.path.join(folder, "weights.bin"), "wb").close()
    flavors = {"python_function": {"loader_module": "berth_echo_loader", "code": "code",
                                   "data": "weights.bin"}}
    write_mlflow(folder, None, flavors=flavors, signature={"inputs": COLSPEC, "params": PARAMS})
    yield load_model(folder)
    sys.modules.pop("berth_echo_loader", None)
    sys.path.remove(os.path.join(folder, "code"))


def test_params_reach_a_pyfunc_model(pyfunc_model):
    rows = [[1.0, 2.0, 3.0, 4.0]] * 2
    body = {"input_data": {"columns": COLUMNS, "data": rows}, "params": {"alpha": 2, "x": 1}}
    assert pyfunc_model.flavor == "python_function"
    assert score(pyfunc_model, body) == {"rows": [2], "params": {"alpha": 2.0, "labels": None,
                                                                 "top_k": 3}}
    body["params"] = {"labels": ["a", "b"], "top_k": 5.0}
    assert score(pyfunc_model, body)["params"] == {"alpha": 0.5, "labels": ["a", "b"], "top_k": 5}
    for params, message in [({"alpha": "high"}, "params: 'alpha' expects double, got \"high\""),
                            ({"labels": "a"}, "params: 'labels' expects a list of string"),
                            ({"top_k": 2.5}, "params: 'top_k' expects long")]:
        with pytest.raises(RequestError, match=message):
            parse_request(dict(body, params=params), pyfunc_model.signature)
    with pytest.raises(RequestError, match="params must be a JSON object"):
        parse_request(dict(body, params=[1]), pyfunc_model.signature)


def test_params_without_schema_are_ignored(colspec_model, regression, data):
    body = dict(split_request(data[0].head(2)), params={"alpha": 1})
    parsed, params = parse_request(body, colspec_model.signature)
    assert params is None
    assert to_json(predict(colspec_model, parsed, params)) == regression.predict(
        data[0].head(2)).tolist()


# ----------------------------------------------------------------------------------------------
# Output


def test_to_json_shapes():
    frame = pd.DataFrame({"label": ["a", "b"], "score": [0.25, np.nan]})
    assert to_json(frame) == [{"label": "a", "score": 0.25}, {"label": "b", "score": None}]
    assert to_json(pd.Series([1, 2], name="y")) == [1, 2]
    assert to_json(np.array([[1.5, np.inf]], dtype=np.float32)) == [[1.5, None]]
    assert to_json({"ids": np.array([1, 2]), "t": np.datetime64("2024-01-02")}) == {
        "ids": [1, 2], "t": "2024-01-02"}
    assert to_json(np.array(["x", "y"], dtype=object)) == ["x", "y"]
    assert to_json(b"\x00\x01") == "AAE="
    assert json.dumps(to_json(np.float32(0.5))) == "0.5"


# ----------------------------------------------------------------------------------------------
# Swagger


def test_swagger_from_colspec_signature(pyfunc_model):
    schemas = mlflow_swagger.swagger_schemas(pyfunc_model)
    service_input = schemas["input"]
    input_data = service_input["properties"]["input_data"]
    assert input_data["format"] == "pandas.DataFrame:split"
    assert set(input_data["properties"]) == {"columns", "index", "data"}
    assert input_data["properties"]["data"]["items"]["items"] == {"type": "number",
                                                                 "format": "double"}
    assert service_input["example"]["input_data"] == {"columns": COLUMNS, "index": [0],
                                                      "data": [[0.15] * 4]}
    params = service_input["properties"]["params"]
    assert params["properties"]["labels"] == {"type": "array", "items": {"type": "string"}}
    assert service_input["example"]["params"] == {"alpha": 0.5, "labels": ["sample string"],
                                                  "top_k": 3}
    assert schemas["output"] == {"type": "object", "example": {}}
    # The example request the swagger shows is one the model accepts.
    parse_request(service_input["example"], pyfunc_model.signature)


def test_swagger_from_tensor_signature(tensor_model):
    schemas = mlflow_swagger.swagger_schemas(tensor_model[0])
    input_data = schemas["input"]["properties"]["input_data"]
    assert input_data["type"] == "array" and input_data["items"]["type"] == "array"
    assert np.array(input_data["example"]).shape == (1, 4)
    assert schemas["output"] == {"type": "array", "items": {"type": "number", "format": "double"},
                                 "example": [0.15]}
    score(tensor_model[0], schemas["input"]["example"])


def test_swagger_prefers_the_input_example(tmp_path, regression, data):
    frame = data[0].head(2)
    example = {"columns": COLUMNS, "data": frame.values.tolist()}
    model = load_model(write_mlflow(str(tmp_path / "m"), regression, example=example,
                                    signature={"inputs": COLSPEC}))
    schemas = mlflow_swagger.swagger_schemas(model)
    assert schemas["input"]["example"]["input_data"] == dict(example, index=[0, 1])
    assert schemas["output"]["example"] == pytest.approx(regression.predict(frame).tolist())
    assert schemas["output"]["items"] == {"type": "number", "format": "double"}


def test_swagger_without_signature_or_example(tmp_path, regression):
    model = load_model(write_mlflow(str(tmp_path / "m"), regression))
    assert mlflow_swagger.swagger_schemas(model) == {
        "input": {"type": "object", "example": {}}, "output": {"type": "object", "example": {}}}


def test_swagger_schemas_validate_in_openapi_documents(tmp_path, pyfunc_model, tensor_model,
                                                      regression, data):
    """Places the schemas in Swagger 2.0, OpenAPI 3.0 and 3.1 documents and runs the real
    validator (installed for the `python3` on PATH on berth's build machines)."""
    validator = shutil.which("python3")
    if validator is None or subprocess.run([validator, "-c", "import openapi_spec_validator"],
                                           capture_output=True).returncode != 0:
        pytest.skip("openapi-spec-validator is not installed for the python3 on PATH")
    example = {"columns": COLUMNS, "data": data[0].head(2).values.tolist()}
    with_example = load_model(write_mlflow(str(tmp_path / "e"), regression, example=example))
    for model in (pyfunc_model, tensor_model[0], with_example):
        schemas = mlflow_swagger.swagger_schemas(model)
        definitions = {"ServiceInput": schemas["input"], "ServiceOutput": schemas["output"]}
        info = {"title": "t", "version": "1"}
        documents = [{"swagger": "2.0", "info": info, "paths": {}, "definitions": definitions},
                     {"openapi": "3.0.3", "info": info, "paths": {},
                      "components": {"schemas": definitions}},
                     {"openapi": "3.1.0", "info": info, "paths": {},
                      "components": {"schemas": definitions}}]
        for document in documents:
            check = subprocess.run(
                [validator, "-c", "import json,sys; from openapi_spec_validator import "
                 "validate_spec; validate_spec(json.load(sys.stdin))"],
                input=json.dumps(document), capture_output=True, text=True)
            assert check.returncode == 0, check.stderr


# ----------------------------------------------------------------------------------------------
# The scoring script (needs the azureml_inference_server_http shim shipped with the runner)


def _scoring_module():
    pytest.importorskip("azureml_inference_server_http.api.aml_response",
                        reason="the runner's azureml_inference_server_http shim is not there yet")
    from berth_runner import mlflow_score
    return mlflow_score


def test_score_http_statuses(colspec_model, regression, data):
    mlflow_score = _scoring_module()
    frame = data[0].head(2)
    body = json.dumps(split_request(frame)).encode()
    assert mlflow_score.score(colspec_model, body) == (200, regression.predict(frame).tolist())
    assert mlflow_score.score(colspec_model, body, "")[0] == 200
    assert mlflow_score.score(colspec_model, body, "text/plain")[0] == 415
    status, message = mlflow_score.score(colspec_model, b"{not json")
    assert status == 400 and "not valid JSON" in message["message"]
    assert mlflow_score.score(colspec_model, b"\xff\xfe")[0] == 400
    assert mlflow_score.score(colspec_model, b"")[0] == 400


def test_init_sets_swagger_hook(tmp_path, regression, monkeypatch):
    mlflow_score = _scoring_module()
    write_mlflow(str(tmp_path / "model"), regression, signature={"inputs": COLSPEC})
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_MODEL_FOLDER", "model")
    mlflow_score.init()
    assert mlflow_score.BERTH_SWAGGER["input"]["properties"]["input_data"]["example"][
        "columns"] == COLUMNS


# ----------------------------------------------------------------------------------------------
# End to end through the runner


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method, url, body=None):
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_runner_serves_mlflow_model(tmp_path, regression, data):
    if not os.path.isfile(os.path.join(PYTHON_DIR, "berth_runner", "__main__.py")):
        pytest.skip("the berth_runner server (python/berth_runner/__main__.py) is not there yet")
    _scoring_module()
    write_mlflow(str(tmp_path / "models" / "model"), regression,
                 signature={"inputs": COLSPEC, "outputs": TENSOR_OUT})
    app_root = tmp_path / "app"
    app_root.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_ENTRY_SCRIPT"}
    env.update(AZUREML_MODEL_DIR=str(tmp_path / "models"), MLFLOW_MODEL_FOLDER="model",
               AML_APP_ROOT=str(app_root), PYTHONPATH=PYTHON_DIR)
    port = _free_port()
    log_path = tmp_path / "runner.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "berth_runner", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "runner exited:\n" + log_path.read_text()
            try:
                if _http("GET", base + "/")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "runner not healthy:\n" + log_path.read_text()
            try:  # waits for the next poll, and notices an early exit at once
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        frame = data[0].head(3)
        status, body = _http("POST", base + "/score", json.dumps(split_request(frame)).encode())
        assert status == 200, body
        assert json.loads(body) == regression.predict(frame).tolist()
        status, body = _http("POST", base + "/score", json.dumps(
            split_request(frame.drop(columns=["s1"]))).encode())
        assert status == 400 and "missing column 's1'" in json.loads(body)["message"]
        status, body = _http("GET", base + "/swagger.json")
        assert status == 200, body
        service_input = json.loads(body)["definitions"]["ServiceInput"]
        assert service_input["example"]["input_data"]["columns"] == COLUMNS
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
