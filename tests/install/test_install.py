"""`make install` (issue 14): berth installed under a temporary DESTDIR has the conventional
layout, and the installed berthd, started with the source and build trees hidden (bubblewrap
mounts empty folders over them), serves a scoring-script deployment and a triton_model
deployment deployed with the installed berth CLI: nothing reaches back into either tree."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from berth_helpers import wait_until, write_endpoint
from install_helpers import (BUILD_DIR, SOURCE_DIR, Berthd, hidden_trees_argv,
                             hidden_trees_wrapper, integration)

EP = "installed-ep"
PROBES = {"readiness_probe": {"initial_delay": 1, "period": 1, "failure_threshold": 60},
          "liveness_probe": {"initial_delay": 1, "period": 1}}

SCORE_PY = '''\
import json
import os


def init():
    global greeting
    # Azure ML's rule: AZUREML_MODEL_DIR holds the model folder (model.path ./model).
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "greeting.txt")) as f:
        greeting = f.read().strip()


def run(raw_data):
    return {"greeting": greeting, "sum": sum(json.loads(raw_data)["data"])}
'''


def test_layout(prefix):
    for exe in ("berthd", "berth", "berth-worker"):
        path = prefix / "bin" / exe
        assert path.is_file() and os.access(path, os.X_OK), path
    python = prefix / "lib" / "berth" / "python"
    for package in ("berth_runner", "azureml", "azureml_inference_server_http",
                    "inference_schema", "compat"):
        assert (python / package).is_dir(), package
    assert (python / "berth_runner" / "__main__.py").is_file()
    assert not (python / "tests").exists()
    assert not list(python.rglob("__pycache__")) and not list(python.rglob("*.pyc"))
    studio = prefix / "share" / "berth" / "studio"
    assert (studio / "index.html").is_file() and (studio / "signin.html").is_file()
    assert (studio / "assets" / "app.js").is_file()
    assert (studio / "assets" / "vendor" / "chart.min.js").is_file()
    doc = prefix / "share" / "doc" / "berth"
    assert (doc / "README.md").is_file()
    for page in (SOURCE_DIR / "docs").glob("*.md"):
        assert (doc / page.name).is_file(), page.name
    assert list((doc / "images").rglob("*.png"))
    examples = prefix / "share" / "berth" / "examples"
    assert (examples / "custom-command" / "endpoint.yml").is_file()
    assert (examples / "triton-torchscript" / "make_model.py").is_file()
    # Nothing of the build tree's bookkeeping is installed.
    assert not list(prefix.rglob("berth-source-dir"))


def test_help_shows_the_installed_defaults_with_the_trees_hidden(prefix):
    cp = subprocess.run([*hidden_trees_argv(), str(prefix / "bin" / "berthd"), "--help"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout
    assert f"--python-dir TEXT={prefix / 'lib' / 'berth' / 'python'}\n" in text, text
    assert f"--studio-dir TEXT={prefix / 'share' / 'berth' / 'studio'}\n" in text, text
    assert f"--worker TEXT={prefix / 'bin' / 'berth-worker'}\n" in text, text
    for tree in (SOURCE_DIR, BUILD_DIR):
        assert f"={tree}/" not in text, text


class HiddenTreesBerthd(Berthd):
    """The installed berthd under bwrap. bwrap does not pass signals on to its child, so stop()
    sends SIGTERM to berthd itself (bwrap's only child) for a graceful drain."""

    def stop(self, grace=15):
        if self.proc is not None and self.proc.poll() is None:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            for pid in children.read_text().split():
                os.kill(int(pid), signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        return super().stop(grace)


@pytest.fixture(scope="module")
def daemon(prefix, tmp_path_factory):
    base = tmp_path_factory.mktemp("berthd")
    # The CLI runs under bwrap too, so neither program can find the trees.
    berth = hidden_trees_wrapper(base / "berth-hidden-trees", prefix / "bin" / "berth")
    d = HiddenTreesBerthd(base / "data", base, berthd=prefix / "bin" / "berthd", berth=berth,
                          launcher=hidden_trees_argv())
    integration._DAEMONS.append(d)
    d.start()
    yield d
    d.stop()
    integration._DAEMONS.remove(d)
    wait_until(lambda: not d.instance_pids(), timeout=15,
               message="instances to exit after berthd stopped")


@pytest.fixture(scope="module")
def endpoint(daemon, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    daemon.cli("online-endpoint", "create", "-f", write_endpoint(work, EP), "-n", EP)
    return work


def deploy(d, path, name, timeout=120):
    d.cli("online-deployment", "create", "-f", path)
    return d.wait_deployment(EP, name, timeout=timeout)


def test_studio_is_served_from_the_installed_files(daemon):
    r = daemon.request("GET", "/studio/assets/app.js")
    assert r.status == 200, r
    assert r.data == (SOURCE_DIR / "studio" / "assets" / "app.js").read_bytes()


def test_scoring_script_deployment(daemon, endpoint):
    folder = endpoint / "script"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "score.py").write_text(SCORE_PY)
    (folder / "model").mkdir()
    (folder / "model" / "greeting.txt").write_text("hello from an installed berth\n")
    doc = {"name": "script", "endpoint_name": EP, "model": {"path": "./model"},
           "code_configuration": {"code": "./code", "scoring_script": "score.py"},
           "environment": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"},
           "instance_type": "Standard_DS3_v2", "instance_count": 1, **PROBES}
    (folder / "deployment.yml").write_text(json.dumps(doc, indent=2))  # JSON is YAML
    deploy(daemon, folder / "deployment.yml", "script")

    (folder / "request.json").write_text(json.dumps({"data": [1, 2, 3.5]}))
    out = daemon.cli("online-endpoint", "invoke", "-n", EP, "--deployment-name", "script",
                     "--request-file", folder / "request.json")
    assert json.loads(out.stdout) == {"greeting": "hello from an installed berth", "sum": 6.5}


def test_triton_model_deployment(daemon, endpoint):
    if os.environ.get("BERTH_WITH_TORCH") == "0":
        pytest.skip("this build has no TorchScript backend (BERTH_WITH_TORCH=OFF)")
    pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    from test_worker import check_outputs, deployment_yaml, infer_body, make_torch_repo

    repo = endpoint / "repo"
    x, want = make_torch_repo(repo)
    (endpoint / "mlp.yml").write_text(deployment_yaml("mlp", EP, repo, "triton_model"))
    deploy(daemon, endpoint / "mlp.yml", "mlp", timeout=180)

    r = daemon.score(EP, infer_body(x), deployment="mlp")
    assert r.status == 200, r
    check_outputs(r.json(), want)
    assert np.asarray(r.json()["outputs"][0]["data"]).size == want.size
