"""Tests of berth's mlflow compatibility package (python/compat/mlflow), with no mlflow installed:
the loading and prediction API scoring scripts use, over model folders written by hand
(mlflow_folders), checked against the models' own predictions.
Run: /usr/bin/python3 -m pytest python/tests/test_mlflow_compat.py
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import mlflow_folders as folders
from conftest import PYTHON_DIR, write_app
from mlflow_folders import COLSPEC, COLUMNS, TENSOR_OUT, write_mlflow

if importlib.util.find_spec("mlflow") is not None and "compat" not in (
        importlib.util.find_spec("mlflow").origin or ""):
    pytest.skip("a real mlflow is installed; these tests are about berth's package",
                allow_module_level=True)

folders.compat_on_path()
import mlflow  # noqa: E402  berth's package (python/compat), after compat_on_path()
import mlflow.pyfunc  # noqa: E402
from mlflow.exceptions import MlflowCompatError, MlflowException  # noqa: E402

PARAMS = json.dumps([{"name": "scale", "type": "double", "default": 1.0}])
AGE_BMI = json.dumps([{"name": "age", "type": "double"}, {"name": "bmi", "type": "double"}])


@pytest.fixture
def sklearn_folder(tmp_path, regression, data):
    example = {"columns": COLUMNS, "data": data[0].head(2).values.tolist()}
    return write_mlflow(str(tmp_path / "sk"), regression, example=example,
                        signature={"inputs": COLSPEC, "outputs": TENSOR_OUT})


@pytest.fixture
def python_model_folder(tmp_path):
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"age": 1.0, "bmi": 2.0}))
    return folders.write_python_model_mlflow(
        str(tmp_path / "pymodel"), folders.make_linear_python_model(), {"weights": str(weights)},
        model_config={"offset": 10.0}, signature={"inputs": AGE_BMI, "params": PARAMS})


def test_version_and_exceptions():
    assert mlflow.__version__ == "2.9.2+berth"
    assert os.path.dirname(mlflow.__file__).endswith(os.path.join("compat", "mlflow"))
    assert mlflow.MlflowException is MlflowException
    error = MlflowException("bad input", error_code="INVALID_PARAMETER_VALUE")
    assert str(error) == error.message == "bad input"
    assert error.get_http_status_code() == 400
    assert json.loads(error.serialize_as_json())["error_code"] == "INVALID_PARAMETER_VALUE"


def test_pyfunc_sklearn_predicts_like_sklearn_for_each_input_kind(sklearn_folder, regression,
                                                                  data):
    frame = data[0].head(4)
    want = regression.predict(frame)
    model = mlflow.pyfunc.load_model(sklearn_folder)
    assert model.loader_module == "mlflow.sklearn"
    np.testing.assert_allclose(model.predict(frame), want)
    # Columns are selected and ordered by the signature; extra ones are dropped, as MLflow does.
    shuffled = frame[list(reversed(COLUMNS))].assign(extra="x")
    np.testing.assert_allclose(model.predict(shuffled), want)
    np.testing.assert_allclose(model.predict(frame.to_dict(orient="list")), want)
    np.testing.assert_allclose(model.predict(frame.to_dict(orient="records")), want)
    np.testing.assert_allclose(model.predict(frame.iloc[0].to_dict()), want[:1])
    # Integers are converted to the signature's doubles.
    ints = frame.round().astype(int)
    np.testing.assert_allclose(model.predict(ints), regression.predict(ints.astype(float)))


def test_schema_mismatches_raise_mlflow_exception(sklearn_folder, data):
    model = mlflow.pyfunc.load_model(sklearn_folder)
    with pytest.raises(MlflowException, match="missing column 's1'"):
        model.predict(data[0].drop(columns=["s1"]))
    with pytest.raises(MlflowException, match="column 'age' expects double but row 0 has "
                                              "\"old\""):
        model.predict(data[0].head(1).assign(age="old"))


def test_without_a_signature_the_input_reaches_the_model_as_given(tmp_path, data):
    frame, target = data
    regression = LinearRegression().fit(frame.to_numpy(), target)
    model = mlflow.pyfunc.load_model(write_mlflow(str(tmp_path / "m"), regression))
    assert model.metadata.signature is None and model.metadata.get_input_schema() is None
    array = frame.head(3).to_numpy()
    np.testing.assert_allclose(model.predict(array), regression.predict(array))


def test_predict_fn_of_a_classifier(tmp_path, data):
    frame, target = data
    classifier = LogisticRegression().fit(frame, target > 0)
    folder = write_mlflow(str(tmp_path / "clf"), classifier, signature={"inputs": COLSPEC})
    model = mlflow.pyfunc.load_model(folder)
    assert model.predict(frame.head(5)).tolist() == classifier.predict(frame.head(5)).tolist()


def test_metadata_and_signature(sklearn_folder):
    meta = mlflow.pyfunc.load_model(sklearn_folder).metadata
    assert isinstance(meta, mlflow.models.Model)
    assert sorted(meta.flavors) == ["python_function", "sklearn"]
    inputs = meta.get_input_schema()
    assert inputs is meta.signature.inputs
    assert inputs.input_names() == COLUMNS and inputs.has_input_names()
    assert not inputs.is_tensor_spec()
    assert inputs.input_types() == [mlflow.types.DataType.double] * 4
    assert inputs.to_dict() == [{"type": "double", "name": c} for c in COLUMNS]
    assert inputs.numpy_types() == [np.dtype("float64")] * 4
    outputs = meta.get_output_schema()
    assert outputs.is_tensor_spec() and outputs.inputs[0].type == np.dtype("float64")
    assert outputs.inputs[0].shape == (-1,)
    signature = meta.signature.to_dict()
    assert json.loads(signature["inputs"]) == json.loads(COLSPEC)
    assert json.loads(signature["outputs"]) == json.loads(TENSOR_OUT)
    assert signature["params"] is None
    assert mlflow.models.ModelSignature.from_dict(signature) == meta.signature
    assert mlflow.types.Schema.from_json(COLSPEC) == inputs


def test_model_load_reads_a_folder_or_its_mlmodel_file(python_model_folder, sklearn_folder, data):
    by_folder = mlflow.models.Model.load(python_model_folder)
    by_file = mlflow.models.Model.load(os.path.join(python_model_folder, "MLmodel"))
    assert by_folder == by_file
    assert by_folder.run_id == "0123456789abcdef0123456789abcdef"
    assert by_folder.utc_time_created == "2024-01-15 10:20:30.123456"
    assert by_folder.mlflow_version == "2.9.2"
    assert by_folder.flavors["python_function"]["loader_module"] == "mlflow.pyfunc.model"
    params = by_folder.get_params_schema()
    assert params.to_dict() == [{"name": "scale", "type": "double", "default": 1.0,
                                 "shape": None}]
    assert by_folder.metadata is None and by_folder.saved_input_example_info is None
    assert by_folder.load_input_example(python_model_folder) is None
    with_example = mlflow.models.Model.load(sklearn_folder)
    assert with_example.saved_input_example_info["type"] == "dataframe"
    example = with_example.load_input_example(sklearn_folder)
    pd.testing.assert_frame_equal(example, data[0].head(2).reset_index(drop=True))
    pd.testing.assert_frame_equal(with_example.load_input_example(), example)


def test_native_loaders_give_the_flavor_objects(tmp_path, sklearn_folder, regression, data):
    estimator = mlflow.sklearn.load_model(sklearn_folder)
    assert type(estimator) is LinearRegression
    np.testing.assert_allclose(estimator.coef_, regression.coef_)
    with pytest.raises(MlflowException, match="has no 'pytorch' flavor"):
        mlflow.pytorch.load_model(sklearn_folder)
    xgboost = pytest.importorskip("xgboost")
    frame, target = data
    regressor = xgboost.XGBRegressor(n_estimators=4, max_depth=2).fit(frame, target)
    folder = tmp_path / "xgb"
    folder.mkdir()
    regressor.save_model(str(folder / "model.xgb"))
    flavors = {"python_function": {"loader_module": "mlflow.xgboost", "data": "model.xgb"},
               "xgboost": {"data": "model.xgb", "model_class": "xgboost.sklearn.XGBRegressor"}}
    write_mlflow(str(folder), None, flavors=flavors)
    loaded = mlflow.xgboost.load_model(str(folder))
    assert type(loaded) is xgboost.XGBRegressor
    np.testing.assert_allclose(loaded.predict(frame), regressor.predict(frame), rtol=1e-6)
    pyfunc = mlflow.pyfunc.load_model(str(folder))
    np.testing.assert_allclose(pyfunc.predict(frame), regressor.predict(frame), rtol=1e-6)


def test_pytorch_flavor(tmp_path, data):
    torch = pytest.importorskip("torch")
    module = folders.tiny_torch_module()
    frame = data[0].head(5)
    with torch.no_grad():
        want = module(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()
    folder = folders.write_pytorch_mlflow(str(tmp_path / "pt"), module)
    native = mlflow.pytorch.load_model(folder, map_location="cpu")
    assert isinstance(native, torch.nn.Sequential)
    model = mlflow.pyfunc.load_model(folder)
    assert model.get_raw_model().__class__ is torch.nn.Sequential
    predicted = model.predict(frame)  # a DataFrame in, a DataFrame (same index) out
    assert list(predicted.index) == list(frame.index)
    np.testing.assert_allclose(predicted.to_numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(model.predict(frame.to_numpy(np.float32)), want, rtol=1e-6)
    with pytest.raises(TypeError, match="does not support List or Dict"):
        model.predict(frame.to_numpy().tolist())
    tensor_in = json.dumps([{"type": "tensor",
                             "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}])
    typed = folders.write_pytorch_mlflow(str(tmp_path / "typed"), module,
                                         signature={"inputs": tensor_in})
    # With a float32 tensor spec, a list of float64 rows is cast as MLflow's schema does.
    np.testing.assert_allclose(mlflow.pyfunc.load_model(typed).predict(frame.values.tolist()),
                               want, rtol=1e-6)
    with pytest.raises(MlflowException, match=r"expected shape \(-1, 4\), got \(5, 3\)"):
        mlflow.pyfunc.load_model(typed).predict(frame.to_numpy()[:, :3])


def test_python_model(python_model_folder, tmp_path):
    model = mlflow.pyfunc.load_model(python_model_folder)
    assert model.predict({"age": [1, 2], "bmi": [3, 4]}).tolist() == [17.0, 20.0]
    assert model.predict(pd.DataFrame({"bmi": [4.0], "age": [2.0]}),
                         params={"scale": 2}).tolist() == [40.0]
    with pytest.raises(MlflowException, match="'scale' expects double"):
        model.predict({"age": [1], "bmi": [1]}, params={"scale": "big"})
    python_model = model.unwrap_python_model()
    assert isinstance(python_model, mlflow.pyfunc.PythonModel)
    context = python_model.loaded_with
    assert isinstance(context, mlflow.pyfunc.PythonModelContext)
    assert context.artifacts == {
        "weights": os.path.join(python_model_folder, "artifacts", "weights.json")}
    assert context.model_config == {"offset": 10.0} == model.model_config
    overridden = mlflow.pyfunc.load_model(python_model_folder, model_config={"offset": 0.0})
    assert overridden.predict({"age": [1], "bmi": [3]}).tolist() == [7.0]
    with pytest.raises(MlflowException, match="get_raw_model.*unwrap_python_model"):
        model.get_raw_model()


def test_unwrap_python_model_refuses_other_flavors(sklearn_folder):
    with pytest.raises(MlflowException, match="Can only unwrap python_model.*sklearn"):
        mlflow.pyfunc.load_model(sklearn_folder).unwrap_python_model()


def test_model_uris(sklearn_folder, monkeypatch):
    assert mlflow.pyfunc.load_model("file://" + sklearn_folder).loader_module == "mlflow.sklearn"
    monkeypatch.setenv("AZUREML_MODEL_DIR", "/var/azureml-app/models")
    for uri in ("runs:/0123/model", "models:/diabetes/2", "s3://bucket/model"):
        with pytest.raises(MlflowException, match=r"berth loads MLflow models from local "
                                                  r"folders only.*AZUREML_MODEL_DIR "
                                                  r"\(/var/azureml-app/models\)"):
            mlflow.pyfunc.load_model(uri)
        with pytest.raises(MlflowException, match="local folders only"):
            mlflow.sklearn.load_model(uri)
    with pytest.raises(MlflowException, match="does not exist"):
        mlflow.pyfunc.load_model(sklearn_folder + "-missing")
    with pytest.raises(MlflowException, match="dst_path"):
        mlflow.pyfunc.load_model(sklearn_folder, dst_path="/tmp")


def test_what_is_not_covered_is_named(sklearn_folder):
    for owner, name in ((mlflow, "log_metric"), (mlflow, "start_run"),
                        (mlflow.pyfunc, "spark_udf"), (mlflow.sklearn, "save_model"),
                        (mlflow.models, "infer_signature")):
        with pytest.raises(MlflowCompatError) as caught:
            getattr(owner, name)
        message = str(caught.value)
        assert f"{owner.__name__}.{name} is not available" in message, message
        assert "berth's mlflow compatibility package" in message, message
        assert isinstance(caught.value, AttributeError) and not hasattr(owner, name)
    with pytest.raises(MlflowCompatError, match=r"PyFuncModel\.predict_stream is not available"):
        mlflow.pyfunc.load_model(sklearn_folder).predict_stream
    with pytest.raises(ModuleNotFoundError, match=r"No module named 'mlflow\.tracking': this is "
                                                  r"berth's mlflow compatibility package"):
        importlib.import_module("mlflow.tracking")
    with pytest.raises(AttributeError) as caught:  # special names stay plain
        mlflow.__wrapped__
    assert type(caught.value) is AttributeError


def _import_mlflow_in_runner_path(extra_paths):
    """mlflow.__version__ in a fresh interpreter whose sys.path is the runner's: PYTHONPATH, then
    site-packages, then berth's compat folder (added as the runner does before a script)."""
    code = ("from berth_runner.compat_path import add_compat_dir; add_compat_dir(); "
            "import mlflow; print(mlflow.__version__)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*extra_paths, str(PYTHON_DIR)]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_real_mlflow_wins(tmp_path, runner_factory):
    fake = tmp_path / "site" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '2.11.0-real'\n")
    assert _import_mlflow_in_runner_path([]) == "2.9.2+berth"
    assert _import_mlflow_in_runner_path([str(tmp_path / "site")]) == "2.11.0-real"
    # The same through the runner hosting a scoring script.
    app = write_app(tmp_path / "app", """
        import mlflow

        def init():
            pass

        def run(raw_data):
            return {"version": mlflow.__version__}
        """)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(PYTHON_DIR)])}
    assert runner_factory(app, env=env).request("POST", "/score", body={}).json() == {
        "version": "2.11.0-real"}
    assert runner_factory(app).request("POST", "/score", body={}).json() == {
        "version": "2.9.2+berth"}
