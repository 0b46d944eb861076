"""`--local`: endpoints and deployments run on this machine by the berth CLI alone, as Azure's
`az ml ... --local`. No berthd is started here; BERTH_URL points at a closed port and no token
is set, so any command that tried to reach a server would fail.

The deployment runs tests/servers/test_server.py (copied into the code folder) as a custom
command, with a model folder, in a state folder under pytest's tmp_path.
"""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from berth_helpers import (BERTH, deployment_doc, ensure_server_folder, instance_pids,
                           parse_json_output, pid_alive, pid_cwd, to_yaml, wait_until,
                           write_endpoint)

ENDPOINT = "local-ep"


class Local:
    """The berth CLI with BERTH_LOCAL_DIR in a temporary folder."""

    def __init__(self, base):
        self.base = Path(base)
        self.state = self.base / "state"
        self.work = self.base / "work"
        self.home = self.base / "home"
        for d in (self.work, self.home):
            d.mkdir(parents=True, exist_ok=True)
        ensure_server_folder(self.work)
        model = self.work / "model"
        model.mkdir(exist_ok=True)
        (model / "weights.txt").write_text("0.5\n")

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("BERTH_TOKEN", "BERTH_TOKEN_FILE", "XDG_STATE_HOME")}
        env.update({"BERTH_LOCAL_DIR": str(self.state), "HOME": str(self.home),
                    "BERTH_URL": "http://127.0.0.1:9", "NO_COLOR": "1"})
        return env

    def cli(self, *args, check=True, timeout=120):
        assert BERTH.exists(), f"{BERTH} is not built (set BERTH_BUILD_DIR)"
        argv = [str(BERTH), *[str(a) for a in args]]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=self.env(), cwd=self.work, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"`berth {' '.join(argv[1:])}` exited {cp.returncode}\n"
                                 f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
        return cp

    def cli_json(self, *args, **kwargs):
        return parse_json_output(self.cli(*args, **kwargs).stdout)

    def write_deployment(self, name, **overrides):
        overrides.setdefault("model", {"path": "./model"})
        doc = deployment_doc(name, ENDPOINT, **overrides)
        path = self.work / f"{name}.yml"
        path.write_text(to_yaml(doc))
        return path

    def create_endpoint(self):
        path = write_endpoint(self.work, ENDPOINT)
        return self.cli_json("online-endpoint", "create", "--local", "-f", path)

    def invoke(self, body, check=True):
        request = self.work / "request.json"
        request.write_text(json.dumps(body))
        return self.cli("online-endpoint", "invoke", "--local", "-n", ENDPOINT,
                        "--request-file", request, check=check)

    def processes(self):
        """Live processes whose working directory (or command line) is inside the tmp folder."""
        return instance_pids(self.base)


@pytest.fixture
def local(tmp_path):
    """A Local; processes it left running fail the test (and are killed)."""
    lo = Local(tmp_path)
    yield lo
    left = lo.processes()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"processes left running in {tmp_path}: {left}"


def test_create_invoke_logs_and_delete(local):
    endpoint = local.create_endpoint()
    assert endpoint["name"] == ENDPOINT
    assert endpoint["provisioning_state"] == "Succeeded"
    assert endpoint["scoring_uri"] == ""
    assert (local.state / ENDPOINT / "endpoint.json").exists()

    created = local.cli_json("online-deployment", "create", "--local",
                             "-f", local.write_deployment("blue"))
    assert created["provisioning_state"] == "Succeeded", created
    [instance] = created["instances"]
    pid = instance["pid"]
    assert instance["state"] == "Ready"
    # The process outlived the CLI that started it and runs in the local copy of the code.
    assert pid_alive(pid)
    assert pid_cwd(pid) == str((local.state / ENDPOINT / "app").resolve())

    endpoint = local.cli_json("online-endpoint", "show", "--local", "-n", ENDPOINT)
    assert endpoint["scoring_uri"] == f"http://127.0.0.1:{instance['port']}/score"
    assert endpoint["traffic"] == {"blue": 100}

    answer = json.loads(local.invoke({"hello": "local"}).stdout)
    assert answer["deployment"] == "blue"
    assert answer["endpoint"] == ENDPOINT
    assert answer["echo"] == {"hello": "local"}
    assert answer["env"]["TEST_FOO"] == "bar"
    model_dir = Path(answer["model_dir"])
    assert str(model_dir).startswith(str(local.state / ENDPOINT / "models")), model_dir
    assert (model_dir / "model" / "weights.txt").read_text() == "0.5\n"

    logs = local.cli("online-deployment", "get-logs", "--local", "-e", ENDPOINT, "-n", "blue",
                     "--lines", "50").stdout
    assert "listening on" in logs

    listed = local.cli_json("online-deployment", "list", "--local", "-e", ENDPOINT)
    assert [d["name"] for d in listed] == ["blue"]

    # One deployment per local endpoint, as on Azure.
    second = local.cli("online-deployment", "create", "--local",
                       "-f", local.write_deployment("green"), check=False)
    assert second.returncode == 1, second
    assert "one deployment" in second.stderr

    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")
    assert not pid_alive(pid)
    assert wait_until(lambda: not local.processes(), timeout=10, message="no process left") is True
    assert not (local.state / ENDPOINT).exists()
    gone = local.cli("online-endpoint", "show", "--local", "-n", ENDPOINT, check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr


def test_model_status_is_passed_on_as_is(local):
    local.create_endpoint()
    local.cli("online-deployment", "create", "--local", "-f", local.write_deployment("blue"))
    failed = local.invoke({"status": 418}, check=False)
    assert failed.returncode == 1
    assert "HTTP 418" in failed.stderr  # no 424 wrapping locally
    assert "status 418 on request" in failed.stderr
    local.cli("online-deployment", "delete", "--local", "-e", ENDPOINT, "-n", "blue", "--yes")
    assert not local.processes()
    assert not (local.state / ENDPOINT / "deployment.json").exists()
    assert not (local.state / ENDPOINT / "app").exists()
    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")


def test_update_restarts_with_the_new_spec(local):
    local.create_endpoint()
    first = local.cli_json("online-deployment", "create", "--local",
                           "-f", local.write_deployment("blue"))
    old_pid = first["instances"][0]["pid"]
    updated = local.cli_json("online-deployment", "update", "--local", "-e", ENDPOINT,
                             "-n", "blue", "--set", "environment_variables.TEST_FOO=baz")
    assert updated["provisioning_state"] == "Succeeded"
    assert updated["environment_variables"]["TEST_FOO"] == "baz"
    assert not pid_alive(old_pid)
    answer = json.loads(local.invoke({}).stdout)
    assert answer["env"]["TEST_FOO"] == "baz"
    assert answer["pid"] == updated["instances"][0]["pid"] != old_pid
    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")


def test_instance_exiting_at_start_fails_the_create_with_its_log(local):
    local.create_endpoint()
    path = local.write_deployment("blue", environment_variables={"TEST_EXIT_AT_START": "3"})
    cp = local.cli("online-deployment", "create", "--local", "-f", path, check=False)
    assert cp.returncode == 1, cp
    assert "exited with code 3" in cp.stderr
    assert "failing at start on purpose" in cp.stderr
    shown = local.cli_json("online-deployment", "show", "--local", "-e", ENDPOINT, "-n", "blue")
    assert shown["provisioning_state"] == "Failed"
    assert "failing at start on purpose" in shown["reason"]
    assert not local.processes()
    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")


def test_registered_model_is_refused(local):
    local.create_endpoint()
    path = local.write_deployment("blue", model="azureml:my-model:1")
    cp = local.cli("online-deployment", "create", "--local", "-f", path, check=False)
    assert cp.returncode == 1
    assert "local files only" in cp.stderr
    listed = local.cli_json("online-deployment", "list", "--local", "-e", ENDPOINT)
    assert listed == []
    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")
