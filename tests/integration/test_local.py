"""`--local`: the berth CLI starts a per-user berthd on loopback (data in BERTH_LOCAL_DIR) on
first use and talks to it through its API client; `berth local-daemon stop` stops it.

BERTH_URL points at a closed port and no token is set, so a command that used the ordinary
configuration instead of the local daemon would fail. The tests of this module run in order
against one local daemon: create, invoke, logs, update, a killed instance, delete, stop. The
module's fixture always stops the daemon, and kills whatever it left, at teardown.

The deployment runs tests/servers/test_server.py (copied into the code folder) as a custom
command, with a model folder.
"""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from berth_helpers import (BERTH, BERTHD, deployment_doc, ensure_server_folder, http_request,
                           instance_pids, parse_json_output, pid_alive, to_yaml, wait_until,
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
               if k not in ("BERTH_TOKEN", "BERTH_TOKEN_FILE", "XDG_STATE_HOME", "BERTH_DAEMON")}
        env.update({"BERTH_LOCAL_DIR": str(self.state), "HOME": str(self.home),
                    "BERTH_URL": "http://127.0.0.1:9", "NO_COLOR": "1"})
        return env

    def cli(self, *args, check=True, timeout=150):
        assert BERTH.exists(), f"{BERTH} is not built (set BERTH_BUILD_DIR)"
        argv = [str(BERTH), *[str(a) for a in args]]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=self.env(), cwd=self.work, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"`berth {' '.join(argv[1:])}` exited {cp.returncode}\n"
                                 f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}\n"
                                 f"berthd.log:\n{self.daemon_log()}")
        return cp

    def cli_json(self, *args, **kwargs):
        return parse_json_output(self.cli(*args, **kwargs).stdout)

    def daemon_record(self):
        try:
            return json.loads((self.state / "daemon.json").read_text())
        except (OSError, ValueError):
            return None

    def daemon_log(self, lines=40):
        try:
            return "\n".join((self.state / "berthd.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no berthd.log)"

    def write_deployment(self, name, **overrides):
        overrides.setdefault("model", {"path": "./model"})
        doc = deployment_doc(name, ENDPOINT, **overrides)
        path = self.work / f"{name}.yml"
        path.write_text(to_yaml(doc))
        return path

    def invoke(self, body, check=True):
        request = self.work / "request.json"
        request.write_text(json.dumps(body))
        return self.cli("online-endpoint", "invoke", "--local", "-n", ENDPOINT,
                        "--request-file", request, check=check)

    def deployment(self, name="blue"):
        return self.cli_json("online-deployment", "show", "--local", "-e", ENDPOINT, "-n", name)

    def current_instance(self, name="blue"):
        """The current template's one Ready instance, or None."""
        ready = [i for i in self.deployment(name)["instances"]
                 if i.get("current") and i["state"] == "Ready"]
        return ready[0] if len(ready) == 1 else None

    def kill_leftovers(self):
        """Kills the daemon and instances that a failed stop left; returns their pids."""
        left = []
        record = self.daemon_record()
        if record and pid_alive(record["pid"]):
            left.append(record["pid"])
        left += instance_pids(self.state)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return left


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    lo = Local(tmp_path_factory.mktemp("local"))
    yield lo
    stop = lo.cli("local-daemon", "stop", check=False)
    left = lo.kill_leftovers()
    assert stop.returncode == 0, stop.stderr
    assert not left, f"processes left running after `berth local-daemon stop`: {left}"


def test_local_with_url_or_token_is_a_usage_error(local):
    cp = local.cli("online-endpoint", "list", "--local", "--url", "http://127.0.0.1:1",
                   check=False)
    assert cp.returncode == 2, cp
    assert "leave out --url and --token" in cp.stderr


def test_first_command_starts_the_daemon(local):
    status = local.cli_json("local-daemon", "status")
    assert status["running"] is False
    assert status["data_dir"] == str(local.state)

    cp = local.cli("online-endpoint", "create", "--local", "-f",
                   write_endpoint(local.work, ENDPOINT))
    assert "Started the local berthd" in cp.stderr
    endpoint = parse_json_output(cp.stdout)
    assert endpoint["name"] == ENDPOINT and endpoint["provisioning_state"] == "Succeeded"

    record = local.daemon_record()
    assert record and pid_alive(record["pid"])
    assert record["url"].startswith("http://127.0.0.1:")
    assert (local.state / "admin-token").exists()
    assert (local.state / "state.db").exists()
    status = local.cli_json("local-daemon", "status")
    assert status["running"] is True and status["responding"] is True
    assert status["pid"] == record["pid"] and status["url"] == record["url"]

    # A second command uses the same daemon.
    cp = local.cli("online-endpoint", "list", "--local")
    assert "Started" not in cp.stderr
    assert [e["name"] for e in parse_json_output(cp.stdout)] == [ENDPOINT]
    assert local.daemon_record() == record


def test_create_invoke_and_logs(local):
    cp = local.cli("online-deployment", "create", "--local", "-f", local.write_deployment("blue"))
    assert "gets all of it" in cp.stderr  # the first deployment of a local endpoint
    created = parse_json_output(cp.stdout)
    assert created["provisioning_state"] == "Succeeded", created

    url = local.daemon_record()["url"]
    endpoint = local.cli_json("online-endpoint", "show", "--local", "-n", ENDPOINT)
    assert endpoint["scoring_uri"] == f"{url}/endpoints/{ENDPOINT}/score"
    assert endpoint["traffic"] == {"blue": 100}

    answer = json.loads(local.invoke({"hello": "local"}).stdout)
    assert answer["deployment"] == "blue"
    assert answer["endpoint"] == ENDPOINT
    assert answer["echo"] == {"hello": "local"}
    assert answer["env"]["TEST_FOO"] == "bar"
    # The model folder was uploaded to the daemon like any other deployment's, and the
    # instance reads it under $AZUREML_MODEL_DIR in its sandbox.
    weights = answer["model_dir"].rstrip("/") + "/model/weights.txt"
    seen = json.loads(local.invoke({"inspect": {"cat": [weights]}}).stdout)
    assert seen["inspect"]["cat"][weights] == "0.5\n"

    # The local daemon's data plane needs no credential (auth_mode is key).
    r = http_request(endpoint["scoring_uri"], "POST", {"direct": True})
    assert r.status == 200, r
    assert r.json()["echo"] == {"direct": True}

    logs = local.cli("online-deployment", "get-logs", "--local", "-e", ENDPOINT, "-n", "blue",
                     "--lines", "50").stdout
    assert "listening on" in logs


def test_update_is_a_rolling_update(local):
    old = local.current_instance()
    assert old, local.deployment()
    updated = local.cli_json("online-deployment", "update", "--local", "-e", ENDPOINT,
                             "-n", "blue", "--set", "environment_variables.TEST_FOO=baz")
    assert updated["provisioning_state"] == "Succeeded", updated
    assert updated["environment_variables"]["TEST_FOO"] == "baz"
    answer = json.loads(local.invoke({}).stdout)
    assert answer["env"]["TEST_FOO"] == "baz"
    assert local.current_instance()["pid"] != old["pid"]
    wait_until(lambda: not pid_alive(old["pid"]), timeout=30, message="the old instance to stop")


def test_killed_instance_is_restarted(local):
    instance = wait_until(local.current_instance, timeout=30, message="a Ready instance")
    first_start = json.loads(local.invoke({}).stdout)["started_at"]
    os.kill(instance["pid"], signal.SIGKILL)  # the instance's sandbox

    def restarted():
        # Right after the exit the instance may still read Ready with no pid.
        now = local.current_instance()
        return now if now and now.get("pid") and now["pid"] != instance["pid"] else None

    now = wait_until(restarted, timeout=60, step=0.2, message="the instance to be restarted")
    assert pid_alive(now["pid"])
    answer = json.loads(local.invoke({"again": 1}).stdout)
    assert answer["started_at"] != first_start  # answered by the restarted process
    assert answer["env"]["TEST_FOO"] == "baz"


def test_delete_stops_the_instances(local):
    assert instance_pids(local.state)
    local.cli("online-endpoint", "delete", "--local", "-n", ENDPOINT, "--yes")
    wait_until(lambda: not instance_pids(local.state), timeout=30, message="no instance left")
    gone = local.cli("online-endpoint", "show", "--local", "-n", ENDPOINT, check=False)
    assert gone.returncode == 1, gone


def test_stop_and_start_again(local):
    local.cli("online-endpoint", "create", "--local", "-n", "kept-ep")
    pid = local.daemon_record()["pid"]
    cp = local.cli("local-daemon", "stop")
    assert f"Stopped the local berthd (pid {pid})" in cp.stderr
    assert not pid_alive(pid)
    assert local.daemon_record() is None
    assert local.cli_json("local-daemon", "status")["running"] is False
    again = local.cli("local-daemon", "stop")
    assert "No local berthd is running" in again.stderr

    # The next --local commands start one new daemon on the same data, even when they run at
    # once (the lock file).
    argv = [str(BERTH), "online-endpoint", "list", "--local"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=local.env(), cwd=local.work, stdin=subprocess.DEVNULL)
             for _ in range(2)]
    outputs = [p.communicate(timeout=150) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("Started the local berthd" in err for _, err in outputs) == 1, outputs
    for out, _ in outputs:
        assert [e["name"] for e in parse_json_output(out)] == ["kept-ep"]
    assert local.daemon_record()["pid"] != pid


def test_berthd_refuses_no_scoring_auth_off_loopback(tmp_path):
    cp = subprocess.run([str(BERTHD), "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0",
                         "--port", "0", "--no-scoring-auth"],
                        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert cp.returncode == 1, cp
    assert "--no-scoring-auth is for a loopback --host only" in cp.stderr
