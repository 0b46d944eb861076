"""@input_schema/@output_schema scripts: binding, conversion, 400/415, and the swagger documents."""

import pytest

from conftest import running, validate_openapi, write_app

STANDARD_SCORE = """
    from inference_schema.parameter_types.standard_py_parameter_type import (
        StandardPythonParameterType)
    from inference_schema.schema_decorators import input_schema, output_schema


    def init():
        pass


    @input_schema("sepal_length", StandardPythonParameterType([7.2, 4.2]))
    @input_schema("count", StandardPythonParameterType(3))
    @input_schema("meta", StandardPythonParameterType({"name": "iris", "tags": ["a", "b"]}))
    @output_schema(StandardPythonParameterType({"total": 11.4, "count": 3}))
    def run(sepal_length, count, meta, request_headers, scale=2.0):
        return {"total": sum(sepal_length) * scale, "count": count, "meta": meta,
                "types": [type(sepal_length).__name__, type(count).__name__],
                "agent": request_headers.get("X-Agent")}
"""

NUMPY_SCORE = """
    import numpy as np
    from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
    from inference_schema.schema_decorators import input_schema, output_schema


    def init():
        pass


    @input_schema("iris", NumpyParameterType(np.array([[7.2, 3.2, 6.0, 1.8]], dtype="float32")))
    @output_schema(NumpyParameterType(np.array([0.5, 1.5])))
    def run(iris):
        assert isinstance(iris, np.ndarray)
        return {"dtype": str(iris.dtype), "shape": list(iris.shape),
                "row_sums": iris.sum(axis=1).round(3).tolist()}
"""

PANDAS_SCORE = """
    import pandas as pd
    from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
    from inference_schema.parameter_types.standard_py_parameter_type import (
        StandardPythonParameterType)
    from inference_schema.schema_decorators import input_schema, output_schema

    SAMPLE = pd.DataFrame({"sepal_length": [7.2, 4.2], "petal_count": [3, 5],
                           "species": ["virginica", "setosa"]})


    def init():
        pass


    @input_schema("iris", PandasParameterType(SAMPLE))
    @input_schema("split", PandasParameterType(SAMPLE, orient="split"), optional=True)
    @output_schema(StandardPythonParameterType({"rows": 2, "mean": 5.7}))
    def run(iris, split=None):
        assert isinstance(iris, pd.DataFrame)
        out = {"rows": len(iris), "mean": float(iris["sepal_length"].mean()),
               "dtypes": {c: str(t) for c, t in iris.dtypes.items()}}
        if split is not None:
            out["split_rows"] = len(split)
            out["split_columns"] = list(split.columns)
        return out
"""


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("standard"), STANDARD_SCORE)
    with running(app, tmp_path_factory.mktemp("standard-logs"),
                 env={"SERVICE_NAME": "iris-standard", "SERVICE_VERSION": "7"}) as runner:
        yield runner


@pytest.fixture(scope="module")
def numpy_runner(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("numpy"), NUMPY_SCORE)
    with running(app, tmp_path_factory.mktemp("numpy-logs")) as runner:
        yield runner


@pytest.fixture(scope="module")
def pandas_runner(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("pandas"), PANDAS_SCORE)
    with running(app, tmp_path_factory.mktemp("pandas-logs")) as runner:
        yield runner


def test_standard_binding(standard):
    response = standard.request("POST", "/score",
                                {"sepal_length": [1.5, 2.5], "count": 4, "meta": {"name": "x"},
                                 "ignored": True}, headers={"X-Agent": "tests"})
    assert response.status == 200, response.body
    assert response.json() == {"total": 8.0, "count": 4, "meta": {"name": "x"},
                               "types": ["list", "int"], "agent": "tests"}


def test_standard_get_query_binding(standard):
    response = standard.request("GET", '/score?sepal_length=[1,2]&count=2&meta={"name":"q"}')
    assert response.status == 200, response.body
    assert response.json()["total"] == 6.0


def test_missing_parameter_is_400(standard):
    response = standard.request("POST", "/score", {"sepal_length": [1.0], "meta": {}})
    assert response.status == 400
    assert response.json() == {"message": "A value is not provided for the 'count' parameter."}


def test_non_json_content_type_is_415(standard):
    response = standard.request("POST", "/score", body=b'{"count": 1}',
                                headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert response.json() == {"message": "Expects Content-Type to be application/json"}


def test_body_must_be_a_json_object(standard):
    response = standard.request("POST", "/score", [1, 2])
    assert response.status == 400
    assert response.json() == {"message": "POST body should be a JSON dictionary."}
    bad = standard.request("POST", "/score", body=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert bad.status == 400
    assert bad.json()["message"].startswith("POST body could not be decoded as JSON")


def test_wrong_type_is_400_naming_the_parameter(standard):
    response = standard.request("POST", "/score",
                                {"sepal_length": [1.0], "count": "three", "meta": {}})
    assert response.status == 400
    assert "'count'" in response.json()["message"]


def test_numpy_binding(numpy_runner):
    response = numpy_runner.request("POST", "/score",
                                    {"iris": [[7.2, 3.2, 6.0, 1.8], [4.2, 3.5, 1.0, 3.0]]})
    assert response.status == 200, response.body
    body = response.json()
    assert (body["dtype"], body["shape"]) == ("float32", [2, 4])
    assert body["row_sums"] == pytest.approx([18.2, 11.7], rel=1e-6)
    wrong_width = numpy_runner.request("POST", "/score", {"iris": [[1.0, 2.0]]})
    assert wrong_width.status == 400
    assert "dimension #1" in wrong_width.json()["message"]


def test_pandas_binding(pandas_runner):
    records = [{"sepal_length": 7.0, "petal_count": 3, "species": "a"},
               {"sepal_length": 5.0, "petal_count": 4, "species": "b"}]
    response = pandas_runner.request("POST", "/score", {"iris": records})
    assert response.status == 200, response.body
    body = response.json()
    assert body["rows"] == 2 and body["mean"] == 6.0
    assert body["dtypes"] == {"sepal_length": "float64", "petal_count": "int64",
                              "species": "object"}
    split = {"columns": ["sepal_length", "petal_count", "species"], "index": [0],
             "data": [[1.0, 2, "c"]]}
    with_split = pandas_runner.request("POST", "/score", {"iris": records, "split": split})
    assert with_split.status == 200, with_split.body
    assert with_split.json()["split_rows"] == 1
    assert with_split.json()["split_columns"] == split["columns"]


def _schemas(document):
    if "definitions" in document:
        return document["definitions"]
    return document["components"]["schemas"]


@pytest.mark.parametrize("version,marker", [(None, "2.0"), ("2", "2.0"), ("3", "3.0.3"),
                                            ("3.0", "3.0.3"), ("3.1", "3.1.0")])
def test_standard_swagger(standard, version, marker):
    path = "/swagger.json" + (f"?version={version}" if version else "")
    response = standard.request("GET", path)
    assert response.status == 200
    document = response.json()
    assert document.get("swagger", document.get("openapi")) == marker
    assert document["info"]["title"] == "iris-standard"
    assert document["info"]["version"] == "7"
    assert "/score" in document["paths"] and "/" in document["paths"]
    service_input = _schemas(document)["ServiceInput"]
    assert set(service_input["properties"]) == {"sepal_length", "count", "meta", "scale"}
    assert service_input["properties"]["count"] == {"type": "integer", "format": "int64"}
    assert service_input["properties"]["sepal_length"]["type"] == "array"
    assert service_input["example"]["sepal_length"] == [7.2, 4.2]
    assert service_input["example"]["meta"] == {"name": "iris", "tags": ["a", "b"]}
    assert _schemas(document)["ServiceOutput"]["example"] == {"total": 11.4, "count": 3}
    validate_openapi(document)


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_numpy_swagger(numpy_runner, version):
    document = numpy_runner.request("GET", f"/swagger.json?version={version}").json()
    iris = _schemas(document)["ServiceInput"]["properties"]["iris"]
    assert iris["type"] == "array"
    assert iris["items"] == {"type": "array", "items": {"type": "number", "format": "float"}}
    assert iris["format"] == "numpy.ndarray"
    assert _schemas(document)["ServiceInput"]["example"]["iris"] == [
        pytest.approx([7.2, 3.2, 6.0, 1.8])]
    validate_openapi(document)


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_pandas_swagger(pandas_runner, version):
    document = pandas_runner.request("GET", f"/swagger.json?version={version}").json()
    properties = _schemas(document)["ServiceInput"]["properties"]
    records = properties["iris"]
    assert records["type"] == "array"
    assert records["format"] == "pandas.DataFrame:records"
    assert records["items"]["properties"] == {
        "sepal_length": {"type": "number", "format": "double"},
        "petal_count": {"type": "integer", "format": "int64"},
        "species": {"type": "string"}}
    split = properties["split"]
    assert split["type"] == "object"
    assert set(split["properties"]) == {"columns", "index", "data"}
    example = _schemas(document)["ServiceInput"]["example"]
    assert example["iris"][0] == {"sepal_length": 7.2, "petal_count": 3, "species": "virginica"}
    assert example["split"]["columns"] == ["sepal_length", "petal_count", "species"]
    validate_openapi(document)


def test_undecorated_swagger_is_valid(tmp_path):
    app = write_app(tmp_path / "plain",
                    "def init():\n    pass\n\ndef run(data):\n    return data\n")
    with running(app, tmp_path / "logs") as runner:
        for version in ("2", "3", "3.1"):
            document = runner.request("GET", f"/swagger.json?version={version}").json()
            assert _schemas(document)["ServiceInput"] == {"type": "object", "example": {}}
            assert _schemas(document)["ServiceOutput"] == {"type": "object", "example": {}}
            validate_openapi(document)
