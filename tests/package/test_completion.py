"""bash completion (packaging/berth.bash-completion): the function is called directly with
COMP_WORDS/COMP_CWORD set, as bash does on <TAB>, against the built berth."""
import os
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2]
SCRIPT = SOURCE / "packaging" / "berth.bash-completion"
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", SOURCE / "build"))


def complete(words, tmp_path, path_dirs=(), env_extra=None):
    """COMPREPLY of `_berth` for `words` (the last one is being completed)."""
    env = {
        "PATH": ":".join([*map(str, path_dirs), str(BUILD / "src"), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    env.update(env_extra or {})
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in ["berth", *words])
    script = textwrap.dedent(f"""
        source {SCRIPT}
        COMP_WORDS=({quoted})
        COMP_CWORD={len(words)}
        _berth
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_berth_tab_lists_the_command_groups(tmp_path):
    words = complete([""], tmp_path)
    for group in ["online-endpoint", "online-deployment", "model", "batch-endpoint",
                  "local-daemon"]:
        assert group in words
    assert "__complete" not in words


def test_group_tab_lists_its_verbs(tmp_path):
    assert set(complete(["online-endpoint", ""], tmp_path)) >= {
        "create", "show", "list", "update", "delete", "invoke"}
    assert complete(["online-deployment", "get-"], tmp_path) == ["get-logs"]


def test_dash_tab_lists_flags(tmp_path):
    words = complete(["online-endpoint", "show", "--"], tmp_path)
    assert "--name" in words and "--url" in words


def fake_berth(tmp_path):
    """A `berth` before the real one on PATH that answers `online-endpoint list` with names and
    counts its calls; everything else goes to the built berth."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "berth"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = online-endpoint ] && [ "$2" = list ]; then
          echo list >> {calls}
          printf 'blue-endpoint\\nbrown-endpoint\\nred-endpoint\\n'
          exit 0
        fi
        exec {BUILD / "src" / "berth"} "$@"
    """))
    fake.chmod(0o755)
    return bin_dir, calls


def test_endpoint_names_come_from_the_server_and_are_cached(tmp_path):
    bin_dir, calls = fake_berth(tmp_path)
    words = complete(["online-endpoint", "show", "-n", "b"], tmp_path, [bin_dir])
    assert words == ["blue-endpoint", "brown-endpoint"]
    words = complete(["online-deployment", "list", "--endpoint-name", "r"], tmp_path, [bin_dir])
    assert words == ["red-endpoint"]
    assert calls.read_text().splitlines() == ["list"], "the second TAB is answered from the cache"
    cache = tmp_path / "run" / f"berth-completion-{os.getuid()}"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    for entry in cache.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0


def test_cache_expires(tmp_path):
    bin_dir, calls = fake_berth(tmp_path)
    complete(["online-endpoint", "show", "-n", ""], tmp_path, [bin_dir])
    complete(["online-endpoint", "show", "-n", ""], tmp_path, [bin_dir],
             {"BERTH_COMPLETION_CACHE_SECONDS": "0"})
    assert calls.read_text().splitlines() == ["list", "list"]


def test_a_cache_folder_open_to_others_is_not_used(tmp_path):
    bin_dir, calls = fake_berth(tmp_path)
    (tmp_path / "run").mkdir(mode=0o700)
    cache = tmp_path / "run" / f"berth-completion-{os.getuid()}"
    cache.mkdir()
    cache.chmod(0o777)
    assert complete(["online-endpoint", "show", "-n", ""], tmp_path, [bin_dir]) == []
    assert not calls.exists()
