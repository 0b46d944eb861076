"""Process behaviour: start failures exit 3 with the traceback, workers, timeouts, shutdown."""

import os
import signal
import threading

import pytest

from conftest import write_app

INIT_FAILS = """
    def init():
        raise ValueError("init failed on purpose")

    def run(data):
        return data
"""

BARRIER_SCORE = """
    import json
    import os
    import time

    BARRIER = os.environ["BARRIER_DIR"]


    def init():
        pass


    def run(raw_data):
        name = json.loads(raw_data)["name"]
        open(os.path.join(BARRIER, name), "w").close()
        # Both requests must be inside run() at once: with one worker this never completes.
        deadline = time.monotonic() + 30
        while len(os.listdir(BARRIER)) < 2:
            if time.monotonic() > deadline:
                return {"pid": os.getpid(), "barrier": "timed out"}
            time.sleep(0.01)
        return {"pid": os.getpid(), "barrier": "passed"}
"""

MISC_SCORE = """
    import json
    import os
    import signal
    import time


    def init():
        pass


    def run(raw_data):
        action = json.loads(raw_data).get("action")
        if action == "stuck":  # like native code: SIGALRM cannot interrupt it
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            time.sleep(60)
        if action == "sleep":
            time.sleep(60)
        if action == "swallow":
            try:
                time.sleep(60)
            except Exception:
                return "swallowed"
        if action == "exit":
            os._exit(7)
        return {"pid": os.getpid()}
"""


def test_init_exception_exits_3_with_traceback(runner_factory, tmp_path):
    runner = runner_factory(write_app(tmp_path / "app", INIT_FAILS), wait=False)
    assert runner.wait_exit() == 3
    stderr = runner.stderr()
    assert "Traceback (most recent call last)" in stderr
    assert "score.py" in stderr and "in init" in stderr
    assert "ValueError: init failed on purpose" in stderr


def test_import_error_exits_3_with_traceback(runner_factory, tmp_path):
    app = write_app(tmp_path / "app", "import not_a_module_berth\n\ndef init():\n    pass\n")
    runner = runner_factory(app, wait=False)
    assert runner.wait_exit() == 3
    stderr = runner.stderr()
    assert "Traceback (most recent call last)" in stderr
    assert "ModuleNotFoundError: No module named 'not_a_module_berth'" in stderr


def test_missing_run_exits_3(runner_factory, tmp_path):
    app = write_app(tmp_path / "src", "def init():\n    pass\n", name="src/score.py")
    runner = runner_factory(app, entry="src/score.py", wait=False)
    assert runner.wait_exit() == 3
    assert "does not have a run() function defined" in runner.stderr()


def test_script_in_subfolder_imports_siblings(runner_factory, tmp_path):
    app = write_app(tmp_path / "app", "from helper import double\n\ndef init():\n    pass\n\n"
                    "def run(raw):\n    return double(len(raw))\n", name="src/score.py",
                    **{"src/helper.py": "def double(x):\n    return 2 * x\n"})
    runner = runner_factory(app, entry="src/score.py")
    assert runner.request("POST", "/score", body=b"abc").json() == 6


def test_two_workers_serve_concurrent_requests(runner_factory, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    runner = runner_factory(write_app(tmp_path / "app", BARRIER_SCORE),
                            env={"WORKER_COUNT": "2", "BARRIER_DIR": str(barrier)})
    results = {}

    def call(name):
        results[name] = runner.request("POST", "/score", {"name": name}, timeout=60)

    threads = [threading.Thread(target=call, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    bodies = [results[name].json() for name in ("first", "second")]
    assert [b["barrier"] for b in bodies] == ["passed", "passed"]
    assert bodies[0]["pid"] != bodies[1]["pid"]


@pytest.fixture
def misc(runner_factory, tmp_path):
    return runner_factory(write_app(tmp_path / "app", MISC_SCORE),
                          env={"SCORING_TIMEOUT_MS": "300"})


def test_scoring_timeout(misc):
    for action in ("sleep", "swallow"):
        response = misc.request("POST", "/score", {"action": action})
        assert response.status == 500
        assert response.json() == {"message": "Scoring timeout after 300 ms"}
        assert response.headers["x-ms-run-function-failed"] == "True"
    # The same worker goes on serving: run() was interrupted, not left running.
    assert misc.request("POST", "/score", {}).status == 200


def test_worker_crash_is_500_then_replaced(misc):
    first_pid = misc.request("POST", "/score", {}).json()["pid"]
    crashed = misc.request("POST", "/score", {"action": "exit"})
    assert crashed.status == 500
    assert crashed.headers["x-ms-run-function-failed"] == "True"
    replacement = misc.request("POST", "/score", {})
    assert replacement.status == 200
    assert replacement.json()["pid"] != first_pid


def test_watchdog_answers_500_and_replaces_a_stuck_worker(runner_factory, tmp_path):
    runner = runner_factory(write_app(tmp_path / "app", MISC_SCORE),
                            env={"SCORING_TIMEOUT_MS": "200",
                                 "BERTH_RUNNER_WATCHDOG_GRACE_S": "0.3"})
    first_pid = runner.request("POST", "/score", {}).json()["pid"]
    stuck = runner.request("POST", "/score", {"action": "stuck"})
    assert stuck.status == 500
    assert stuck.json() == {"message": "Scoring timeout after 200 ms"}
    assert stuck.headers["x-ms-run-function-failed"] == "True"
    assert "x-request-id" in stuck.headers
    assert runner.request("POST", "/score", {}).json()["pid"] != first_pid


def test_sigterm_stops_runner_and_workers(misc):
    worker_pid = misc.request("POST", "/score", {}).json()["pid"]
    misc.proc.send_signal(signal.SIGTERM)
    assert misc.wait_exit(timeout=30) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)


def test_bad_settings_exit_2(runner_factory, tmp_path):
    runner = runner_factory(write_app(tmp_path / "app", MISC_SCORE),
                            env={"WORKER_COUNT": "zero"}, wait=False)
    assert runner.wait_exit() == 2
    assert "WORKER_COUNT must be an integer" in runner.stderr()
