"""The model registry end to end: `berth model create|list|show|delete`, deployments that refer to
registered models (`azureml:<name>:<version>`, `azureml:<name>@latest`), what their instances
see under AZUREML_MODEL_DIR, and the 404 / 409 rules."""

import os
from pathlib import Path

import pytest

from berth_helpers import items_of, wait_until, write_deployment

EP = "models-ep"


@pytest.fixture(scope="module")
def setup(berthd, module_dir):
    d = berthd
    folder = module_dir / "weights"
    folder.mkdir()
    (folder / "w.txt").write_text("weights v1\n")
    first = d.cli_json("model", "create", "--name", "m", "--path", folder,
                       "--description", "first")
    (folder / "w.txt").write_text("weights v2\n")
    second = d.cli_json("model", "create", "--name", "m", "--path", folder)
    d.create_endpoint(module_dir, EP)
    return {"dir": module_dir, "first": first, "second": second}


def score(d, deployment):
    r = d.score(EP, {}, deployment=deployment)
    assert r.status == 200, r
    return r.json()


def model_file(d, deployment, relative):
    """A file of the model as the deployment's instance reads it under $AZUREML_MODEL_DIR."""
    path = f"/var/azureml-model/{relative}"
    r = d.score(EP, {"inspect": {"cat": [path]}}, deployment=deployment)
    assert r.status == 200, r
    return r.json()["inspect"]["cat"][path]


def test_versions_default_to_the_next_integer(berthd, setup):
    d = berthd
    first, second = setup["first"], setup["second"]
    assert (first["name"], first["version"], first["type"]) == ("m", "1", "custom_model")
    assert first["description"] == "first"
    assert first["artifact"]["base_name"] == "weights"
    assert first["artifact"]["is_file"] is False
    assert second["version"] == "2"
    assert second["artifact"]["digest"] != first["artifact"]["digest"]

    listed = d.cli_json("model", "list", "--name", "m")
    assert [m["version"] for m in listed] == ["1", "2"]
    assert "m" in d.cli("model", "list", "-o", "table").stdout
    assert d.cli_json("model", "show", "--name", "m", "--label", "latest")["version"] == "2"
    assert d.cli_json("model", "show", "--name", "m", "--version", "1")["description"] == "first"
    assert [m["version"] for m in items_of(d.api_ok("GET", "/api/v1/models?name=m"))] == ["1", "2"]
    assert d.api("GET", "/api/v1/models/m/versions/9").status == 404

    cp = d.cli("model", "create", "--name", "m", "--version", "2", "--path", setup["dir"] / "weights",
               check=False)
    assert cp.returncode == 1
    assert "already exists" in cp.stderr


def test_model_yaml_path_is_relative_to_the_file(berthd, setup, tmp_path):
    d = berthd
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "model.pkl").write_bytes(b"pickled")
    yml = tmp_path / "model.yml"
    yml.write_text("$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
                   "name: single-file\n"
                   "version: 7\n"
                   "path: assets/model.pkl\n"
                   "type: custom_model\n"
                   "description: one file\n"
                   "tags: {source: yaml}\n")
    # Run from elsewhere: the path must be resolved against the file's folder.
    model = d.cli_json("model", "create", "-f", yml, cwd="/")
    assert (model["name"], model["version"]) == ("single-file", "7")
    assert model["tags"] == {"source": "yaml"}
    assert model["path"] == "assets/model.pkl"
    assert model["artifact"] == {**model["artifact"], "base_name": "model.pkl", "is_file": True}


def test_deployment_sees_the_registered_version(berthd, setup):
    d = berthd
    d.create_deployment(setup["dir"], "one", EP, model="azureml:m:1")
    body = score(d, "one")
    # The sandbox shows the registered version's folder at $AZUREML_MODEL_DIR.
    assert os.path.normpath(body["model_dir"]) == "/var/azureml-model"
    assert model_file(d, "one", "weights/w.txt") == "weights v1\n"
    assert d.deployment(EP, "one")["model"] == "azureml:m:1"


def test_latest_resolves_to_the_newest_version_and_is_pinned(berthd, setup):
    d = berthd
    d.create_deployment(setup["dir"], "two", EP, model="azureml:m@latest")
    body = score(d, "two")
    assert os.path.normpath(body["model_dir"]) == "/var/azureml-model"
    assert model_file(d, "two", "weights/w.txt") == "weights v2\n"
    # As on Azure, the deployment records the version @latest meant when it was written.
    assert d.deployment(EP, "two")["model"] == "azureml:m:2"


def test_delete_is_refused_while_a_deployment_uses_the_version(berthd, setup):
    d = berthd
    cp = d.cli("model", "delete", "--name", "m", "--version", "1", "--yes", check=False)
    assert cp.returncode == 1
    assert f"{EP}/one" in cp.stderr
    r = d.api("DELETE", "/api/v1/models/m/versions/2")
    assert r.status == 409, r
    assert f"{EP}/two" in r.error()["message"]
    assert [m["version"] for m in d.cli_json("model", "list", "--name", "m")] == ["1", "2"]


def test_unused_version_can_be_deleted(berthd, setup):
    d = berthd
    third = d.cli_json("model", "create", "--name", "m", "--path", setup["dir"] / "weights")
    assert third["version"] == "3"
    # "two" is pinned to version 2, so the newest version is unused.
    d.cli("model", "delete", "--name", "m", "--version", "3", "--yes")
    assert d.api("GET", "/api/v1/models/m/versions/3").status == 404
    assert d.cli_json("model", "show", "--name", "m", "--label", "latest")["version"] == "2"

    # Once its deployment is gone, version 1 is unused too.
    d.cli("online-deployment", "delete", "-n", "one", "-e", EP, "--yes")
    d.cli("model", "delete", "--name", "m", "--version", "1", "--yes")
    assert [m["version"] for m in d.cli_json("model", "list", "--name", "m")] == ["2"]


def test_unknown_reference_is_404_on_model_and_changes_nothing(berthd, setup):
    d = berthd
    for reference in ("azureml:ghost:1", "azureml:m:9", "azureml:ghost@latest"):
        path = write_deployment(setup["dir"], "ghost", EP, model=reference)
        cp = d.cli("online-deployment", "create", "-f", path, check=False)
        assert cp.returncode == 1, cp
        assert reference in cp.stderr
        doc = {"name": "ghost", "endpoint_name": EP, "model": reference,
               "environment": {"command": ["/bin/true"]}}
        r = d.api("POST", f"/api/v1/online-endpoints/{EP}/deployments", doc)
        assert r.status == 404, r
        assert r.error()["target"] == "model"
        assert reference in r.error()["message"]
        assert d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/ghost").status == 404


def test_registry_and_resolved_models_survive_a_restart(berthd, setup):
    d = berthd
    d.restart()
    assert [m["version"] for m in d.cli_json("model", "list", "--name", "m")] == ["2"]
    wait_until(lambda: d.ready_instances(EP, "two"), timeout=60,
               message="deployment two ready after the restart")
    assert model_file(d, "two", "weights/w.txt") == "weights v2\n"
