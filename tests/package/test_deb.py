"""`make deb`'s package (packaging/CMakeLists.txt, docs/install.md): built here with cpack in
the build folder, then checked with dpkg-deb, lintian and systemd-analyze. With
BERTH_TEST_INSTALL_DEB=1 (CI, a throwaway machine, root) it is also installed with apt-get,
berthd from /usr/bin answers, the CLI finds it with no flags, and the package is purged."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", SOURCE / "build"))


def run(args, **kwargs):
    kwargs.setdefault("timeout", 900)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def deb():
    result = run(["cpack", "-G", "DEB"], cwd=BUILD)
    assert result.returncode == 0, result.stdout + result.stderr
    packages = sorted(BUILD.glob("berth_*.deb"), key=lambda p: p.stat().st_mtime)
    assert packages, result.stdout
    assert re.fullmatch(r"berth_\d+\.\d+\.\d+_[a-z0-9]+\.deb", packages[-1].name)
    return packages[-1].resolve()  # apt-get takes a file only by a path with a slash


def control(deb):
    result = run(["dpkg-deb", "-I", str(deb)])
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_depends_on_libraries_and_runtime_packages(deb):
    info = control(deb)
    depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
    for package in ["libc6", "libsqlite3", "libarchive", "bubblewrap", "tini", "socat",
                    "slirp4netns", "python3", "python3-numpy", "python3-werkzeug", "adduser"]:
        assert package in depends, f"{package} not in Depends: {depends}"
    assert "python3-sklearn" in re.search(r"^ Recommends: (.*)$", info, re.M).group(1)
    assert "python3-torch" not in depends
    for script in ["postinst", "prerm", "postrm", "conffiles"]:
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s*{script}\b", info, re.M), info


def test_contains_the_programs_service_completion_and_man_pages(deb):
    result = run(["dpkg-deb", "-c", str(deb)])
    assert result.returncode == 0, result.stderr
    files = {line.split()[-1] for line in result.stdout.splitlines()}
    for path in ["./usr/bin/berth", "./usr/bin/berthd", "./usr/bin/berth-worker",
                 "./usr/lib/systemd/system/berthd.service", "./etc/default/berthd",
                 "./usr/share/bash-completion/completions/berth",
                 "./usr/share/man/man1/berth.1.gz", "./usr/share/man/man1/berthd.1.gz",
                 "./usr/share/man/man1/berth-worker.1.gz", "./usr/share/doc/berth/copyright",
                 "./usr/share/doc/berth/changelog.gz"]:
        assert path in files, f"{path} missing from the package"
    assert any("berth_runner/" in f for f in files), "the Python runner is not packaged"
    assert not any(str(SOURCE) in f or str(BUILD) in f for f in files)


def test_lintian_reports_no_errors(deb):
    if shutil.which("lintian") is None:
        pytest.skip("lintian is not installed (scripts/install-deps installs it)")
    result = run(["lintian", "--tag-display-limit", "0", str(deb)])
    print(result.stdout)
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert not errors, "\n".join(errors)


def extract(deb, into):
    result = run(["dpkg-deb", "-x", str(deb), str(into)])
    assert result.returncode == 0, result.stderr


def test_unit_passes_systemd_analyze_verify(deb, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    extract(deb, tmp_path)
    unit = tmp_path / "usr/lib/systemd/system/berthd.service"
    text = unit.read_text()
    assert "ExecStart=/usr/bin/berthd --data-dir /var/lib/berth" in text
    assert "EnvironmentFile=-/etc/default/berthd" in text
    # verify checks that ExecStart's program exists: point it at the extracted one.
    checked = tmp_path / "berthd.service"
    checked.write_text(text.replace("/usr/bin/berthd", str(tmp_path / "usr/bin/berthd")))
    result = run(["systemd-analyze", "verify", "--man=no", str(checked)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "berthd.service" not in result.stderr, result.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("BERTH_TEST_INSTALL_DEB") != "1",
                    reason="installs system-wide: only with BERTH_TEST_INSTALL_DEB=1 (CI)")
def test_installs_and_berthd_answers_then_purges(deb, tmp_path):
    assert os.geteuid() == 0, "installing the package needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = run(["apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb)], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    berthd = None
    try:
        assert run(["getent", "passwd", "berth"]).returncode == 0, "no berth user"
        port = free_port()
        defaults = Path("/etc/default/berthd")
        defaults.write_text(defaults.read_text().replace("BERTHD_PORT=8080", f"BERTHD_PORT={port}"))
        running_systemd = Path("/run/systemd/system").is_dir()
        print("systemd is" + ("" if running_systemd else " not") + " running here: starting "
              "/usr/bin/berthd directly, as berthd.service would")
        Path("/var/lib/berth").mkdir(mode=0o700, exist_ok=True)
        log = open(tmp_path / "berthd.log", "w+")
        berthd = subprocess.Popen(
            ["/usr/bin/berthd", "--data-dir", "/var/lib/berth", "--host", "127.0.0.1",
             "--port", str(port), "--instance-user", "berth"],
            stdout=log, stderr=subprocess.STDOUT, cwd="/")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                log.seek(0)
                assert berthd.poll() is None, "berthd exited:\n" + log.read()
                assert time.monotonic() < deadline, "berthd did not answer:\n" + log.read()
                time.sleep(0.2)
        # The CLI finds it with no flags: URL from /etc/default/berthd, token as root.
        home = tmp_path / "home"
        home.mkdir()
        clean = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
        result = run(["/usr/bin/berth", "online-endpoint", "list", "-o", "json"], env=clean,
                     timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"
        # Another user gets no token, and is told why.
        home.chmod(0o755)
        result = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "/usr/bin/berth", "online-endpoint", "list"], env=clean, timeout=60)
        assert result.returncode != 0
        assert "readable by root only" in result.stderr
    finally:
        if berthd is not None:
            berthd.terminate()
            berthd.wait(timeout=120)
        result = run(["apt-get", "purge", "-y", "-q", "berth"], env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    assert not Path("/var/lib/berth").exists(), "purge keeps /var/lib/berth"
    assert run(["getent", "passwd", "berth"]).returncode != 0, "purge keeps the berth user"
