"""The README's "Using it" block (issue 14) run as written, as a script under `bash -e`, in a
fresh environment after `make install`: berth installed under a temporary DESTDIR with the
README's prefix /usr/local, whose bin/ is first on PATH; a temporary HOME (so the data dir is
the default ~/.local/share/berth under it); the source and build trees hidden by bubblewrap.

The only rewrites: the install prefix gains the DESTDIR in front, and port 8080 becomes a free
port."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from install_helpers import SOURCE_DIR, hidden_trees_argv, install

README_PREFIX = "/usr/local"


def using_it_block():
    """The first ```sh block under the README's "## Using it" heading."""
    text = (SOURCE_DIR / "README.md").read_text()
    section = text.split("\n## Using it\n", 1)
    assert len(section) == 2, "README.md has no '## Using it' section"
    match = re.search(r"```sh\n(.*?)```", section[1], re.S)
    assert match, "README.md's 'Using it' section has no ```sh block"
    return match.group(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc):
    """SIGTERM to the script's process group (bwrap, bash, a berthd the block left running),
    then SIGKILL to what is left after a grace period."""
    def gone():
        proc.poll()  # reap bwrap itself
        try:
            os.killpg(proc.pid, 0)
            return False
        except ProcessLookupError:
            return True

    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if gone():
            return
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.1)


def running_from(prefix):
    """Pids of processes whose executable lies under `prefix`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                exe = os.readlink(f"/proc/{entry}/exe")
            except OSError:
                continue
            if exe.startswith(str(prefix) + "/"):
                pids.append(int(entry))
    return pids


def test_using_it_runs_as_written_after_make_install(tmp_path):
    block = using_it_block()
    # What the block must show a new user: the installed commands, not build-tree paths.
    assert "berthd " in block and "berth online-endpoint create" in block
    assert "build/" not in block, block

    destdir = tmp_path / "destdir"
    prefix = destdir / README_PREFIX.lstrip("/")
    assert install(destdir, README_PREFIX) == prefix
    script = block.replace(README_PREFIX + "/", f"{prefix}/").replace("8080", str(free_port()))
    (tmp_path / "using-it.sh").write_text(script)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{prefix}/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "NO_COLOR": "1"}

    # Output to a file, not a pipe: a berthd left running by a failed block keeps a pipe open.
    log = tmp_path / "using-it.log"
    argv = [*hidden_trees_argv(), "/bin/bash", "-e", str(tmp_path / "using-it.sh")]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=300)
        # The block stops its berthd; nothing it started is left running.
        left = running_from(prefix)
    except subprocess.TimeoutExpired:
        left = None
    finally:
        stop_group(proc)
    output = log.read_text(errors="replace")
    assert left is not None, f"the block did not finish in 300 s:\n{script}\n--- output\n{output}"
    assert proc.returncode == 0, f"the block failed:\n{script}\n--- output\n{output}"
    assert not left, f"left running after the block: {left}\n--- output\n{output}"
