"""Helpers for the install tests: berth installed with `cmake --install` under a temporary
DESTDIR, and bubblewrap command lines that hide the source and build trees from what runs
inside, so a test proves the installed files stand alone.

The integration suite's helpers (tests/integration/berth_helpers.py) and its Berthd class are
reused as they are; this module puts tests/integration on sys.path."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE_DIR = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = SOURCE_DIR / "tests" / "integration"
sys.path.insert(0, str(INTEGRATION_DIR))

from berth_helpers import BUILD_DIR  # noqa: E402

# The integration suite's conftest as a plain module (not a second plugin): its Berthd class.
_spec = importlib.util.spec_from_file_location("berth_integration_conftest",
                                               INTEGRATION_DIR / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)
Berthd = integration.Berthd

PREFIX = "/usr"


def install(destdir, prefix=PREFIX):
    """`cmake --install <build> --prefix <prefix>` under DESTDIR=destdir (what `make install`
    runs); returns the installed prefix, <destdir>/<prefix>."""
    env = dict(os.environ, DESTDIR=str(destdir))
    cp = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", prefix], env=env,
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, f"cmake --install failed:\n{cp.stdout}\n{cp.stderr}"
    return Path(destdir) / prefix.lstrip("/")


def hidden_trees_argv():
    """A bwrap command line prefix under which the source and build trees are empty folders:
    anything that reaches back into them finds nothing. The rest of the file system is the
    real one (the installed files, /usr/bin/python3, the data dir under $TMPDIR)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    for tree in (SOURCE_DIR, BUILD_DIR):
        assert not Path(os.environ.get("TMPDIR", "/tmp")).resolve().is_relative_to(tree), (
            f"TMPDIR lies inside {tree}, which the test hides")
    argv = [bwrap, "--dev-bind", "/", "/", "--die-with-parent", "--tmpfs", str(SOURCE_DIR)]
    if not BUILD_DIR.is_relative_to(SOURCE_DIR):
        argv += ["--tmpfs", str(BUILD_DIR)]
    return argv + ["--"]


def hidden_trees_wrapper(path, program):
    """An executable script at `path` that runs `program` under hidden_trees_argv()."""
    quoted = " ".join(f"'{a}'" for a in [*hidden_trees_argv(), str(program)])
    path.write_text(f"#!/bin/sh\nexec {quoted} \"$@\"\n")
    path.chmod(0o755)
    return path
