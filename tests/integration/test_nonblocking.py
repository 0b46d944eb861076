"""The control plane never stalls the data plane (issue 8): a scoring request sent while a
deployment write is inside a slow interpreter check, and while another deployment's instance
becomes Ready during that check, is answered before the write completes."""

import json
import stat
import sys
import threading
import time
from pathlib import Path

from berth_helpers import wait_until, write_deployment

EP = "nonblock-ep"

# An interpreter that takes at least 3 s to start (and, the first time, until the test lets it
# go), so berthd's interpreter check of a deployment naming it is slow.
SLOW_PYTHON = """#!/bin/sh
touch "{entered}" 2>/dev/null  # read-only inside the sandbox; only berthd's check needs it
sleep 3
while [ ! -e "{release}" ]; do sleep 0.05; done
exec {python} "$@"
"""

ECHO_SCORE = """\
def init():
    pass


def run(raw_data):
    return {"echo": raw_data}
"""


def test_scoring_is_answered_during_a_slow_interpreter_check(berthd, module_dir):
    d = berthd
    folder = Path(module_dir)
    d.create_endpoint(folder, EP)
    d.create_deployment(folder, "fast", EP, all_traffic=True)
    assert d.score(EP, {"x": 1}).status == 200

    # Laid out as an environment prefix (<prefix>/bin/python): the sandbox shows a
    # deployment's own interpreter with its prefix, read-only, to the instance user.
    prefix = folder / "slowenv"
    (prefix / "bin").mkdir(parents=True)
    for part in (prefix, prefix / "bin"):
        part.chmod(0o755)
    entered = prefix / "entered"
    release = prefix / "release"
    slow_python = prefix / "bin" / "python"
    slow_python.write_text(SLOW_PYTHON.format(entered=entered, release=release,
                                              python=sys.executable))
    slow_python.chmod(0o755)
    path = _write_script_deployment(folder / "slow", "slow", ECHO_SCORE, str(slow_python))

    slow_write = {}

    def create_slow():
        slow_write["cp"] = d.cli("online-deployment", "create", "-f", path, "-n", "slow",
                                 "-e", EP, "--no-wait", check=False)
        slow_write["done_at"] = time.monotonic()

    writer = threading.Thread(target=create_slow)
    writer.start()
    try:
        wait_until(entered.exists, timeout=60, message="the interpreter check to start")
        check_started = time.monotonic()

        # Meanwhile another deployment is created and its instance becomes Ready.
        other = folder / "other"
        d.cli("online-deployment", "create", "-f", write_deployment(other, "other", EP),
              "-n", "other", "-e", EP, "--no-wait")
        d.wait_deployment(EP, "other", timeout=60)
        assert d.ready_instances(EP, "other"), d.deployment(EP, "other")

        # Scoring is answered, quickly, while the write is still inside its check.
        latencies = []
        for _ in range(20):
            start = time.monotonic()
            r = d.score(EP, {"x": 2}, timeout=10)
            latencies.append(time.monotonic() - start)
            assert r.status == 200, r
        assert writer.is_alive(), "the slow write finished before the check was released"
        assert "done_at" not in slow_write
        assert max(latencies) < 1.0, latencies
        r = d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/slow")
        assert r.status == 404, r  # not written yet: the check runs before the write
    finally:
        release.touch()
        writer.join(timeout=120)
    cp = slow_write["cp"]
    assert cp.returncode == 0, cp.stderr
    assert slow_write["done_at"] - check_started >= 2.5
    d.wait_deployment(EP, "slow", timeout=90)
    r = d.score(EP, {"x": 3}, deployment="slow")
    assert r.status == 200, r


def _write_script_deployment(directory, name, script, python):
    """A scoring-script deployment folder (`code/score.py`) run by interpreter `python`."""
    (directory / "code").mkdir(parents=True, exist_ok=True)
    (directory / "code" / "score.py").write_text(script)
    probe = {"initial_delay": 1, "period": 1}
    doc = {"name": name, "endpoint_name": EP,
           "code_configuration": {"code": "./code", "scoring_script": "score.py"},
           "environment": {"python": python}, "instance_count": 1,
           "readiness_probe": probe, "liveness_probe": probe}
    path = directory / "deployment.yml"
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
    return path
