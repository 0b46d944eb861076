"""Shell scripts written for `az ml`, run by berth with only `az ml` replaced by `berth`.

The safe-rollout script (examples/azure-safe-rollout) runs under `set -e` against a real berthd:
create, deploy, `show --query ... -o tsv` polling, `get-credentials --query ... -o tsv` into
curl, traffic and mirror updates, get-logs, delete. Any step that berth answered differently
from az stops the script.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from berth_helpers import BERTH, PYTHON, REPO, wait_until

EXAMPLE = REPO / "examples" / "azure-safe-rollout"
SCRIPT = "deploy-safe-rollout-online-endpoints.sh"


def berth_version_of(script_text):
    """The script with `az ml` replaced by `berth`, and nothing else changed."""
    return re.sub(r"\baz ml ", "berth ", script_text)


def test_safe_rollout_script_runs_unchanged(berthd, tmp_path):
    d = berthd
    work = tmp_path / "sample"
    shutil.copytree(EXAMPLE, work)
    subprocess.run([PYTHON, "make_models.py"], cwd=work, check=True, capture_output=True)
    original = (work / SCRIPT).read_text()
    assert "az ml online-endpoint create" in original
    converted = berth_version_of(original)
    commands = [line for line in converted.splitlines() if not line.lstrip().startswith("#")]
    assert not any("az ml" in line for line in commands)
    # Only the command changed: line for line the same script otherwise.
    assert len(converted.splitlines()) == len(original.splitlines())
    (work / "berth-version.sh").write_text(converted)

    env = d.cli_env(PATH=f"{BERTH.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    ENDPOINT_NAME="rollout")
    cp = subprocess.run(["bash", "berth-version.sh"], cwd=work, env=env, capture_output=True,
                        text=True, timeout=400, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
    out = cp.stdout

    # The polling lines saw the bare values `-o tsv` prints.
    assert "endpoint: Succeeded\n" in out
    assert "blue: Succeeded\n" in out
    # The -g/-w flags were accepted with a note.
    assert "Note: berth ignores --resource-group, --workspace-name" in cp.stderr
    # curl with the key from `get-credentials --query primaryKey -o tsv` scored 10 times.
    answers = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    assert len(answers) >= 10 + 2, out  # the two invokes, then the curl calls
    assert all(len(a) == 2 for a in answers)
    # model-2 (green) answers three times model-1's (blue) values for the same request.
    blue_answer, green_answer = answers[0], answers[1]
    assert abs(green_answer[0] - 3 * blue_answer[0]) < 1e-6 * max(1.0, abs(green_answer[0]))
    # `--query traffic -o table` at the end.
    assert re.search(r"Blue\s+Green\n-+\s+-+\n0\s+100\n", out), out
    # The green log lines of the scoring script came back through get-logs.
    assert "model 2: request received" in out

    # Deleted at the end (the endpoint with --no-wait: it goes away shortly).
    wait_until(lambda: d.cli("online-endpoint", "show", "-n", "rollout",
                             check=False).returncode != 0,
               timeout=60, message="the endpoint to be gone")


def test_az_commands_berth_does_not_run_exit_2():
    """Never a silent success for what berth does not do, and never berth's version instead."""
    for args, expected in ((["model", "package", "-n", "m", "--version", "1"],
                            "berth does not support 'model package'"),
                           (["workspace", "show", "-n", "ws"], "berth does not support 'workspace'"),
                           (["online-endpoint", "frobnicate"],
                            "'frobnicate' is not in the 'berth online-endpoint' group")):
        cp = subprocess.run([str(BERTH), *args], capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
        assert cp.returncode == 2, (args, cp.stdout, cp.stderr)
        assert expected in cp.stderr
        assert cp.stdout == ""
