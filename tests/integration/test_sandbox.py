"""Instances in their sandbox (issue 9): what a deployment's command can read, reach and leave
behind, Azure's network isolation fields, and resource limits. Run as root (as CI does): the
instances then run as berth's unprivileged instance user, each in its own namespaces; a host
that cannot create them makes berthd refuse to start, which fails this module."""

import os
import socket
import threading
from pathlib import Path

import pytest

from berth_helpers import (TERMINAL_STATES, Resp, UnixHTTPConnection, wait_until,
                           write_deployment)

EP = "sbx-ep"
OTHER_EP = "sbx-other"
DAEMON_TOKEN = "berthd-env-secret-token"


def _proc_cmdlines():
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                yield int(entry), f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue


class HostServer:
    """A TCP listener on the host's 127.0.0.1 that accepts and closes connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module")
def host_server():
    server = HostServer()
    yield server
    server.sock.close()


@pytest.fixture(scope="module")
def d(berthd_factory, tmp_path_factory):
    # berthd's environment holds a token the instances must never see.
    os.environ["BERTH_TOKEN"] = DAEMON_TOKEN
    private = tmp_path_factory.mktemp("private") / "berthd.sock"
    try:
        daemon = berthd_factory(["--private-listen", str(private)])
    finally:
        del os.environ["BERTH_TOKEN"]
    daemon.private_socket = private
    return daemon


@pytest.fixture(scope="module")
def setup(d, module_dir):
    d.create_endpoint(module_dir, EP)
    d.create_deployment(module_dir, "open", EP, all_traffic=True)
    d.create_deployment(module_dir, "closed", EP, egress_public_network_access="disabled")
    d.create_endpoint(module_dir, OTHER_EP)
    d.create_deployment(module_dir, "other", OTHER_EP, all_traffic=True)
    return module_dir


def inspect(d, deployment, **what):
    r = d.score(EP, {"inspect": what}, deployment=deployment)
    assert r.status == 200, r
    return r.json()


def test_instances_cannot_read_berthd_secrets_nor_other_deployments(d, setup):
    data = d.data_dir
    other = d.deployment(OTHER_EP, "other")
    assert other["provisioning_state"] == "Succeeded"
    cli_config = Path(d.home) / ".config" / "berth"
    paths = [str(data / "admin-token"), str(data / "secret.key"), str(data / "state.db"),
             str(data / "instances" / OTHER_EP / "other" / "1" / "app" / "test_server.py"),
             str(data / "instances" / OTHER_EP / "other"), str(data),
             str(Path.home()), "/root", "/home", str(cli_config)]
    # Each of these exists on the host (the CLI config when a test wrote one).
    for path in paths[:6]:
        assert Path(path).exists(), path
    seen = inspect(d, "open", read=paths, environ=True)["inspect"]
    for path in paths:
        assert seen["read"][path] != "ok", f"the instance could read {path}"
    assert "BERTH_TOKEN" not in seen["environ"]
    # What it may read: its own code and the system.
    own = inspect(d, "open", read=["test_server.py", "/usr/bin/python3", "/etc/os-release"])
    assert set(own["inspect"]["read"].values()) == {"ok"}, own


def test_instance_port_is_not_reachable_from_the_host(d, setup):
    answer = inspect(d, "open")
    port = int(answer["port"])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=3).close()


def test_a_setsid_grandchild_dies_with_its_deployment(d, setup, module_dir):
    d.create_deployment(module_dir, "spawner", EP)
    marker = "4321.0625"
    inspect(d, "spawner", spawn=["/bin/sleep", marker])
    wait_until(lambda: any(marker in c for _, c in _proc_cmdlines()), timeout=10,
               message="the grandchild to start")
    d.cli("online-deployment", "delete", "-e", EP, "-n", "spawner", "--yes")
    wait_until(lambda: not any(marker in c for _, c in _proc_cmdlines()), timeout=30,
               message="the setsid grandchild to be gone")


def test_egress_disabled_leaves_only_loopback(d, setup, host_server):
    seen = inspect(d, "closed", network=True,
                   connect=[["127.0.0.1", host_server.port], ["127.0.0.1", d.port],
                            ["10.0.2.2", host_server.port], ["1.1.1.1", 53]])["inspect"]
    assert seen["interfaces"] == ["lo"]
    assert seen["routes"] == 0
    for target, result in seen["connect"].items():
        assert result != "ok", f"connected to {target} with egress disabled"


def test_egress_enabled_reaches_the_host(d, setup, host_server):
    before = host_server.accepted
    seen = inspect(d, "open", network=True, connect=[["10.0.2.2", host_server.port]])["inspect"]
    assert seen["connect"][f"10.0.2.2:{host_server.port}"] == "ok", seen
    assert seen["routes"] > 0
    wait_until(lambda: host_server.accepted > before, timeout=5, message="the connection")


def test_public_network_access_disabled_answers_only_privately(d, setup, module_dir):
    ep = "sbx-private"
    d.create_endpoint(module_dir, ep, public_network_access="disabled")
    d.create_deployment(module_dir, "blue", ep, all_traffic=True)
    key = d.primary_key(ep)
    public = d.score(ep, {"x": 1})
    assert public.status == 403, public
    assert "private" in public.error()["message"], public
    conn = UnixHTTPConnection(str(d.private_socket), timeout=30)
    try:
        conn.request("POST", f"/endpoints/{ep}/score", body=b'{"x": 1}',
                     headers={"Authorization": f"Bearer {key}",
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        private = Resp(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()
    assert private.status == 200, private
    assert private.json()["deployment"] == "blue"
    # An endpoint with public access keeps answering on the public listener.
    assert d.score(EP, {"x": 1}, deployment="open").status == 200


def test_an_instance_over_its_memory_limit_is_stopped_and_named(d, setup, module_dir):
    path = write_deployment(
        module_dir, "hog", EP,
        environment={"command": ["/usr/bin/python3", "-c",
                                 "x = bytearray(512 << 20); import time; time.sleep(60)"]},
        resources={"limits": {"memory": "64Mi"}})
    d.cli("online-deployment", "create", "-f", path, "-n", "hog", "-e", EP, check=False)
    dep = wait_until(lambda: (lambda x: x if x["provisioning_state"] in TERMINAL_STATES
                              else None)(d.deployment(EP, "hog")),
                     timeout=60, message="the deployment to fail")
    assert dep["provisioning_state"] == "Failed", dep
    assert "memory limit (cgroup)" in dep["reason"], dep["reason"]


def test_instances_run_as_the_unprivileged_instance_user(d, setup):
    if os.geteuid() != 0:
        pytest.skip("berthd switches users only when it runs as root")
    # bwrap itself runs as root to build the sandbox; everything inside it must not.
    cmdlines = dict(_proc_cmdlines())
    servers = [pid for pid in d.instance_pids()
               if "test_server.py" in cmdlines.get(pid, "")
               and not cmdlines[pid].startswith("/usr/bin/bwrap")]
    assert servers
    for pid in servers:
        with open(f"/proc/{pid}/status") as f:
            uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        assert uid != 0, f"instance process {pid} runs as root"
