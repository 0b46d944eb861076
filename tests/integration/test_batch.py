"""Batch endpoints end to end (docs/batch.md): jobs over folders of files through Azure-style
scoring drivers and MLflow models, with berthd's worker limit, retries, error thresholds,
timeouts, cancel, priorities and preemption, a berthd killed mid-job, progress streaming, and
the CLI's batch-endpoint / batch-deployment / compute / data / job commands.

Every job's driver leaves markers in its output folder (batch_helpers.py) saying which worker ran
which files and when; the tests judge concurrency, retries and re-runs from them and from
`berth job show -o json`, never from timings.
"""

import csv
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from batch_helpers import (ECHO_DRIVER, JOB_TERMINAL, SKLEARN_DRIVER, batch_worker_pids,
                           create_batch_deployment, create_batch_endpoint, describe,
                           echo_expected, host_output_folder, invoke, job_names, job_show,
                           job_view, lines_by_file, max_overlap, prediction_lines, read_markers,
                           stream_pipe, wait_job, wait_no_workers,
                           write_batch_deployment, write_batch_endpoint, write_number_files)
from berth_helpers import BERTH, REPO, items_of, wait_until

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
joblib = pytest.importorskip("joblib")

EP = "bt-ep"
CLUSTER = "bt-cluster"
FEATURES = ["x1", "x2", "x3"]
MAX_WORKERS = 5  # berthd's limit for the shared daemon: above the 4 workers test 1's job asks


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory(["--batch-max-workers", str(MAX_WORKERS)])


@pytest.fixture(scope="module")
def sk(d, module_dir):
    """A scikit-learn model trained here, 50 CSV files, the endpoint and the `skl` deployment
    (2 instances x 2 processes, mini-batches of 5 files, on compute bt-cluster)."""
    class Setup:
        pass

    s = Setup()
    rng = np.random.default_rng(11)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
    y = 1.5 * x["x1"] - 2.0 * x["x2"] + 0.25 * x["x3"] + 3.0 + rng.normal(scale=0.1, size=200)
    s.model = sklearn_linear.LinearRegression().fit(x, y)
    s.model_file = module_dir / "model.joblib"
    joblib.dump(s.model, s.model_file)
    s.data = module_dir / "csv-50"
    s.data.mkdir()
    s.expected = {}
    for i in range(50):
        name = f"f_{i:03d}.csv"
        frame = pd.DataFrame(rng.normal(size=(4, 3)), columns=FEATURES)
        frame.to_csv(s.data / name, index=False)
        s.expected[name] = float(s.model.predict(frame).mean())
    d.cli("compute", "create", "--name", CLUSTER, "--type", "amlcompute", "--min-instances", "0",
          "--max-instances", "2")
    create_batch_endpoint(d, module_dir, EP, description="batch tests")
    create_batch_deployment(
        d, module_dir, "skl", EP, set_default=True, script=SKLEARN_DRIVER,
        model_files={"model.joblib": s.model_file}, compute=CLUSTER, instance_count=2,
        settings={"max_concurrency_per_instance": 2, "mini_batch_size": 5,
                  "output_action": "append_row", "output_file_name": "predictions.csv",
                  "retry_settings": {"max_retries": 1, "timeout": 60},
                  "error_threshold": -1, "logging_level": "info",
                  "environment_variables": {"BATCH_BARRIER": "2", "BATCH_SLEEP": "0.2"}})
    return s


def echo_deployment(d, directory, name, endpoint=EP, mini_batch_size=1, concurrency=1,
                    retries=1, timeout=30, error_threshold=-1, env=None, **kwargs):
    create_batch_deployment(
        d, directory, name, endpoint, script=ECHO_DRIVER,
        settings={"max_concurrency_per_instance": concurrency,
                  "mini_batch_size": mini_batch_size,
                  "retry_settings": {"max_retries": retries, "timeout": timeout},
                  "error_threshold": error_threshold,
                  "environment_variables": {k: str(v) for k, v in (env or {}).items()}},
        **kwargs)
    return name


def check_sklearn_output(lines, expected):
    got = lines_by_file(lines)
    assert sorted(got) == sorted(expected), (
        f"missing {sorted(set(expected) - set(got))}, unexpected {sorted(set(got) - set(expected))}")
    for name, values in got.items():
        assert len(values) == 1, (name, values)
        assert abs(float(values[0]) - expected[name]) <= 1e-9 * max(1.0, abs(expected[name])), (
            name, values[0], expected[name])


def check_echo_output(lines, values):
    """Every input exactly once, with its value."""
    got = lines_by_file(lines)
    counts = {name: len(v) for name, v in got.items()}
    assert counts == {name: 1 for name in values}, (
        f"each input once expected; got counts {dict(sorted(counts.items()))}")
    expected = echo_expected(values)
    assert {name: int(v[0]) for name, v in got.items()} == expected


# --------------------------------------------------------------------------------------------
# 1. Fifty CSV files through a scikit-learn model on 2 instances x 2 processes


def test_sklearn_job_four_workers(d, sk, tmp_path):
    job = invoke(d, EP, sk.data, "-d", "skl")
    seen_workers = []

    def done():
        view = job_view(d, job)
        if view["status"] == "Running":
            seen_workers.append(len(batch_worker_pids(d)))
        return view if view["status"] in JOB_TERMINAL else None

    view = wait_until(done, timeout=180, step=0.1, message=f"job {job} to end")
    assert view["status"] == "Completed", describe(view)

    shown = job_show(d, job)
    assert shown["name"] == job and shown["status"] == "Completed"
    assert shown["endpoint_name"] == EP and shown["deployment_name"] == "skl"
    assert shown["settings"]["instance_count"] == 2
    assert shown["settings"]["max_concurrency_per_instance"] == 2
    assert shown["settings"]["mini_batch_size"] == 5
    assert shown["progress"]["mini_batches"] == {
        "total": 10, "succeeded": 10, "failed": 0, "running": 0, "pending": 0}, shown["progress"]
    assert shown["progress"]["items"] == {"total": 50, "succeeded": 50, "failed": 0}
    assert shown["errors"] == [] and not shown["error"]
    log_folder = Path(shown["log_folder"])
    assert log_folder.resolve() == (d.data_dir / "jobs" / job).resolve(), log_folder
    assert (log_folder / "azureml-logs" / "70_driver_log.txt").is_file()

    check_sklearn_output(prediction_lines(d, job, tmp_path / "dl"), sk.expected)

    markers = read_markers(tmp_path / "dl" / "named-outputs" / "score")
    starts = [m for m in markers if m["kind"] == "start"]
    ends = [m for m in markers if m["kind"] == "end"]
    inits = [m for m in markers if m["kind"] == "init"]
    # Each mini-batch ran once: 10 calls of 5 files covering the 50 files.
    assert len(ends) == 10 and all(len(m["files"]) == 5 for m in ends), ends
    assert sorted(f for m in ends for f in m["files"]) == sorted(sk.expected)
    # 4 workers started, none replaced: each worker's init() marks its start first thing.
    workers = {m["worker"] for m in inits}
    assert 1 < len(workers) <= 4, (
        f"{len(workers)} worker processes started: {inits}\n{describe(shown)}")
    overlap = max_overlap(markers)
    assert 1 < overlap <= 4, f"{overlap} run() calls at once; starts {starts}, ends {ends}"
    # While it ran, the workers were real processes of this berthd (what the check below
    # relies on to see that none remain).
    assert max(seen_workers, default=0) >= 1, seen_workers
    wait_no_workers(d)
    assert not batch_worker_pids(d)


# --------------------------------------------------------------------------------------------
# 2. Registered data assets and a single file


def test_data_asset_and_uri_file_inputs(d, sk, module_dir, tmp_path):
    ten = module_dir / "csv-10"
    ten.mkdir()
    three = module_dir / "csv-3"
    three.mkdir()
    names = sorted(sk.expected)
    for name in names[:10]:
        (ten / name).write_bytes((sk.data / name).read_bytes())
    for name in names[10:13]:
        (three / name).write_bytes((sk.data / name).read_bytes())
    d.cli("data", "create", "--name", "bt-csv", "--version", "1", "--path", ten,
          "--type", "uri_folder")
    d.cli("data", "create", "--name", "bt-csv", "--version", "2", "--path", three,
          "--type", "uri_folder")
    shown = d.cli_json("data", "show", "-n", "bt-csv", "-v", "1", "-o", "json")
    assert shown["name"] == "bt-csv" and str(shown["version"]) == "1", shown
    assert shown["type"] == "uri_folder", shown
    listed = items_of(d.cli_json("data", "list", "-o", "json"))
    assert {("bt-csv", str(a["version"])) for a in listed if a["name"] == "bt-csv"} == {
        ("bt-csv", "1"), ("bt-csv", "2")}, listed

    # By exact version.
    job = invoke(d, EP, "azureml:bt-csv:1", "-d", "skl")
    view = wait_job(d, job)
    assert view["inputs"]["input_data"]["path"] == "azureml:bt-csv:1", view["inputs"]
    check_sklearn_output(prediction_lines(d, job, tmp_path / "v1"),
                         {n: sk.expected[n] for n in names[:10]})

    # @latest is the newest version not archived: version 2 archived, latest is 1 again.
    d.cli("data", "archive", "-n", "bt-csv", "-v", "2")
    assert d.api_ok("GET", "/api/v1/data/bt-csv/versions/2")["archived"] is True
    job = invoke(d, EP, "azureml:bt-csv@latest", "-d", "skl")
    wait_job(d, job)
    check_sklearn_output(prediction_lines(d, job, tmp_path / "latest"),
                         {n: sk.expected[n] for n in names[:10]})
    # An archived version still works by number.
    job = invoke(d, EP, "azureml:bt-csv:2", "-d", "skl")
    wait_job(d, job)
    check_sklearn_output(prediction_lines(d, job, tmp_path / "v2"),
                         {n: sk.expected[n] for n in names[10:13]})

    # One file: uri_file.
    one = names[7]
    job = invoke(d, EP, sk.data / one, "--input-type", "uri_file", "-d", "skl")
    view = wait_job(d, job)
    assert view["inputs"]["input_data"]["type"] == "uri_file", view["inputs"]
    assert view["progress"]["items"] == {"total": 1, "succeeded": 1, "failed": 0}
    check_sklearn_output(prediction_lines(d, job, tmp_path / "file"), {one: sk.expected[one]})


# --------------------------------------------------------------------------------------------
# 3. Failing mini-batches: retries, error_threshold, timeouts


@pytest.fixture(scope="module")
def failing_input(module_dir):
    """10 files in 5 mini-batches of 2; mini-batch 2 is the two "bad" files."""
    folder = module_dir / "with-bad"
    names = ["a0.txt", "a1.txt", "b0.txt", "b1.txt", "bad0.txt", "bad1.txt",
             "c0.txt", "c1.txt", "d0.txt", "d1.txt"]
    return folder, write_number_files(folder, names)


def test_retries_then_error_threshold_tolerates(d, sk, module_dir, failing_input, tmp_path):
    folder, values = failing_input
    echo_deployment(d, module_dir, "bad-ok", mini_batch_size=2, retries=2, error_threshold=2,
                    env={"BATCH_FAIL_MATCH": "bad"})
    job = invoke(d, EP, folder, "-d", "bad-ok")
    wait_job(d, job)
    view = job_show(d, job)
    assert view["status"] == "Completed", describe(view)
    assert view["progress"]["mini_batches"] == {
        "total": 5, "succeeded": 4, "failed": 1, "running": 0, "pending": 0}, view["progress"]
    assert view["progress"]["items"] == {"total": 10, "succeeded": 8, "failed": 2}
    # 1 try + 2 retries of mini-batch 2, each recorded with its files and the script's error.
    errors = view["errors"]
    assert [(e["mini_batch"], e["attempt"]) for e in errors] == [(2, 1), (2, 2), (2, 3)], errors
    for e in errors:
        assert sorted(e["files"]) == ["bad0.txt", "bad1.txt"], e
        assert "ValueError" in e["message"] and "on purpose" in e["message"], e
    lines = prediction_lines(d, job, tmp_path / "dl")
    good = {n: v for n, v in values.items() if "bad" not in n}
    check_echo_output(lines, good)
    markers = read_markers(tmp_path / "dl" / "named-outputs" / "score")
    bad_starts = [m for m in markers if m["kind"] == "start" and m["files"][0] == "bad0.txt"]
    assert len(bad_starts) == 3, bad_starts


def test_error_threshold_exceeded_fails_job(d, sk, module_dir, failing_input):
    folder, _ = failing_input
    echo_deployment(d, module_dir, "bad-fail", mini_batch_size=2, retries=1, error_threshold=1,
                    env={"BATCH_FAIL_MATCH": "bad"})
    job = invoke(d, EP, folder, "-d", "bad-fail")
    wait_job(d, job, want=("Failed",))
    view = job_show(d, job)
    assert view["status"] == "Failed"
    assert "error_threshold" in view["error"], view["error"]
    assert view["progress"]["mini_batches"]["failed"] == 1, view["progress"]
    assert view["progress"]["items"]["failed"] == 2, view["progress"]
    assert [(e["mini_batch"], e["attempt"]) for e in view["errors"]] == [(2, 1), (2, 2)]
    # `job stream` of a failed job exits 1.
    cp = stream_pipe(d, job)
    assert cp.returncode == 1, cp
    wait_no_workers(d)


def test_first_try_fails_then_retry_succeeds(d, sk, module_dir, tmp_path):
    folder = module_dir / "flaky-input"
    values = write_number_files(folder, [f"g{i}.txt" for i in range(6)])
    echo_deployment(d, module_dir, "flaky", mini_batch_size=2, retries=1, error_threshold=0,
                    concurrency=2, env={"BATCH_FAIL_FIRST": "1"})
    job = invoke(d, EP, folder, "-d", "flaky")
    wait_job(d, job)
    view = job_show(d, job)
    assert view["progress"]["mini_batches"] == {
        "total": 3, "succeeded": 3, "failed": 0, "running": 0, "pending": 0}, view["progress"]
    assert view["progress"]["items"] == {"total": 6, "succeeded": 6, "failed": 0}
    assert sorted((e["mini_batch"], e["attempt"]) for e in view["errors"]) == [
        (0, 1), (1, 1), (2, 1)], view["errors"]
    assert all("first try" in e["message"] for e in view["errors"]), view["errors"]
    check_echo_output(prediction_lines(d, job, tmp_path / "dl"), values)
    # --all: the outputs and Azure's log folders.
    d.cli("job", "download", "-n", job, "--all", "--download-path", tmp_path / "all")
    assert (tmp_path / "all" / "named-outputs" / "score" / "predictions.csv").is_file()
    driver_log = tmp_path / "all" / "artifacts" / "azureml-logs" / "70_driver_log.txt"
    assert driver_log.is_file(), sorted(map(str, (tmp_path / "all").rglob("*")))
    assert list((tmp_path / "all" / "artifacts" / "logs").rglob("*.txt"))


def test_timeout_is_retried_then_failed(d, sk, module_dir, tmp_path):
    folder = module_dir / "hang-input"
    values = write_number_files(folder, ["a.txt", "hang.txt"])
    echo_deployment(d, module_dir, "hang", mini_batch_size=1, retries=1, timeout=2,
                    env={"BATCH_HANG_MATCH": "hang"})
    job = invoke(d, EP, folder, "-d", "hang")
    wait_job(d, job, want=("Completed", "Failed"), timeout=90)
    view = job_show(d, job)
    # error_threshold -1: the job completes with the one file it could score.
    assert view["status"] == "Completed", describe(view)
    assert view["progress"]["mini_batches"]["failed"] == 1, view["progress"]
    assert view["progress"]["items"] == {"total": 2, "succeeded": 1, "failed": 1}
    errors = view["errors"]
    assert [(e["mini_batch"], e["attempt"]) for e in errors] == [(1, 1), (1, 2)], errors
    for e in errors:
        assert e["files"] == ["hang.txt"], e
        assert "timeout" in e["message"].lower(), e
    check_echo_output(prediction_lines(d, job, tmp_path / "dl"), {"a.txt": values["a.txt"]})
    markers = read_markers(tmp_path / "dl" / "named-outputs" / "score")
    # The timed-out worker was killed and replaced: init() ran again.
    assert len([m for m in markers if m["kind"] == "init"]) >= 2, markers
    assert len([m for m in markers if m["kind"] == "start" and m["files"] == ["hang.txt"]]) == 2
    wait_no_workers(d)


# --------------------------------------------------------------------------------------------
# 4. berthd killed mid-job


@pytest.mark.slow
def test_kill9_berthd_mid_job_resumes_exactly_once(berthd_factory, tmp_path):
    workers = 3
    r = berthd_factory(["--batch-max-workers", str(workers)])
    ep = "bt-rec-ep"
    create_batch_endpoint(r, tmp_path, ep)
    echo_deployment(r, tmp_path, "slowecho", endpoint=ep, mini_batch_size=1,
                    concurrency=workers, retries=1, env={"BATCH_SLEEP": "0.25"},
                    set_default=True)
    folder = tmp_path / "forty"
    values = write_number_files(folder, [f"r{i:02d}.txt" for i in range(40)])
    job = invoke(r, ep, folder)

    def half_done():
        view = job_view(r, job)
        assert view["status"] not in JOB_TERMINAL, describe(view)
        return view if view["progress"]["mini_batches"]["succeeded"] >= 20 else None

    before = wait_until(half_done, timeout=120, step=0.02, message="half of the mini-batches")
    recorded_before_kill = before["progress"]["mini_batches"]["succeeded"]
    assert recorded_before_kill < 40
    out_folder = host_output_folder(r, before)
    r.kill9()
    wait_until(lambda: not r.instance_pids(), timeout=15, step=0.1,
               message="every worker to exit after kill -9 of berthd")
    restarted_at = time.time()
    r.start()
    view = wait_job(r, job, timeout=120)
    assert view["progress"]["mini_batches"] == {
        "total": 40, "succeeded": 40, "failed": 0, "running": 0, "pending": 0}, view["progress"]
    assert view["progress"]["items"] == {"total": 40, "succeeded": 40, "failed": 0}
    assert host_output_folder(r, view) == out_folder
    check_echo_output(prediction_lines(r, job, tmp_path / "dl"), values)

    markers = read_markers(tmp_path / "dl" / "named-outputs" / "score")
    starts_after = [m for m in markers if m["kind"] == "start" and m["t"] >= restarted_at]
    # Only what was not recorded before the kill ran after the restart.
    assert starts_after, "nothing ran after the restart"
    assert len(starts_after) <= 40 - recorded_before_kill, (
        f"{len(starts_after)} run() calls after the restart, but {recorded_before_kill} of 40 "
        f"mini-batches were recorded before the kill")
    # A mini-batch whose run() finished before the kill runs again only if its result was not
    # yet recorded: at most one per worker.
    finished = Counter(m["files"][0] for m in markers if m["kind"] == "end")
    twice = sorted(f for f, n in finished.items() if n > 1)
    assert len(twice) <= workers, f"finished more than once: {twice}"
    assert set(finished) == set(values)
    wait_no_workers(r)


# --------------------------------------------------------------------------------------------
# 5. Cancel


def test_cancel_stops_workers(d, sk, module_dir):
    folder = module_dir / "cancel-input"
    write_number_files(folder, [f"c{i:02d}.txt" for i in range(20)])
    echo_deployment(d, module_dir, "cancelme", mini_batch_size=1, concurrency=2,
                    env={"BATCH_SLEEP": "1.0"})
    job = invoke(d, EP, folder, "-d", "cancelme")

    def running():
        # A mini-batch counts as running from when a worker slot takes it, while the worker
        # may still be starting: wait for a started worker (progress.workers) and its process.
        view = job_view(d, job)
        assert view["status"] not in JOB_TERMINAL, describe(view)
        return (view["status"] == "Running" and view["progress"]["workers"] >= 1
                and view["progress"]["mini_batches"]["running"] >= 1 and batch_worker_pids(d))
    wait_until(running, timeout=60, step=0.05, message="a worker running a mini-batch")
    d.cli("job", "cancel", "-n", job)
    view = wait_job(d, job, want=("Canceled",), timeout=30)
    wait_no_workers(d, timeout=10)
    assert view["progress"]["mini_batches"]["succeeded"] < 20, view["progress"]
    assert job_show(d, job)["status"] == "Canceled"
    # `job stream` of a canceled job exits 1.
    cp = stream_pipe(d, job)
    assert cp.returncode == 1, cp


# --------------------------------------------------------------------------------------------
# 6. A worker limit of 2: queueing, priorities and preemption


@pytest.fixture(scope="module")
def two(berthd_factory, tmp_path_factory):
    r = berthd_factory(["--batch-max-workers", "2"])
    work = tmp_path_factory.mktemp("two")
    create_batch_endpoint(r, work, "bt-two")
    echo_deployment(r, work, "echo", endpoint="bt-two", concurrency=2,
                    env={"BATCH_SLEEP": "0.3"}, set_default=True)
    return r, work


def test_second_job_waits_queued(two):
    r, work = two
    first = write_number_files(work / "q1", [f"q1-{i:02d}.txt" for i in range(10)])
    second = write_number_files(work / "q2", [f"q2-{i:02d}.txt" for i in range(4)])
    a = invoke(r, "bt-two", work / "q1")
    b = invoke(r, "bt-two", work / "q2")
    samples = []

    def a_ended():
        va, vb = job_view(r, a), job_view(r, b)
        samples.append((va["status"], vb["status"]))
        return va["status"] in JOB_TERMINAL
    wait_until(a_ended, timeout=120, step=0.05, message=f"job {a} to end")
    busy = [(sa, sb) for sa, sb in samples if sa in ("Preparing", "Running")]
    assert busy, samples
    assert all(sb in ("NotStarted", "Queued") for _, sb in busy), samples
    assert ("Running", "Queued") in samples, samples
    wait_job(r, a)
    wait_job(r, b)
    check_echo_output(prediction_lines(r, a, work / "dl-a"), first)
    check_echo_output(prediction_lines(r, b, work / "dl-b"), second)


@pytest.mark.slow
def test_normal_job_preempts_low_priority(two):
    r, work = two
    low_values = write_number_files(work / "low", [f"low-{i:02d}.txt" for i in range(24)])
    normal_values = write_number_files(work / "normal", [f"n-{i}.txt" for i in range(4)])
    low = invoke(r, "bt-two", work / "low", "--priority", "low")
    assert job_view(r, low)["priority"] == "low"

    def low_progressing():
        view = job_view(r, low)
        assert view["status"] not in JOB_TERMINAL, describe(view)
        return view["status"] == "Running" and view["progress"]["mini_batches"]["succeeded"] >= 2
    wait_until(low_progressing, timeout=60, step=0.05, message="the low-priority job to run")
    normal = invoke(r, "bt-two", work / "normal")
    assert job_view(r, normal)["priority"] == "normal"
    samples = []

    def normal_ended():
        vl, vn = job_view(r, low), job_view(r, normal)
        samples.append((vl["status"], vn["status"], vl["progress"]["mini_batches"]["succeeded"]))
        return vn["status"] in JOB_TERMINAL
    wait_until(normal_ended, timeout=120, step=0.05, message=f"job {normal} to end")
    assert samples[-1][1] == "Completed", describe(job_view(r, normal))
    # The normal job ran while the low-priority one was not finished: it was put back in the
    # queue (Queued), not waited for.
    assert any(sn == "Running" and sl == "Queued" and done < 24 for sl, sn, done in samples), samples
    wait_job(r, low, timeout=120)
    check_echo_output(prediction_lines(r, normal, work / "dl-normal"), normal_values)
    check_echo_output(prediction_lines(r, low, work / "dl-low"), low_values)


def test_low_priority_compute_tier(two):
    r, work = two
    r.cli("compute", "create", "--name", "bt-low", "--type", "amlcompute", "--min-instances", "0",
          "--max-instances", "1", "--tier", "low_priority")
    shown = r.cli_json("compute", "show", "-n", "bt-low", "-o", "json")
    assert shown["tier"] == "low_priority", shown
    echo_deployment(r, work, "lowtier", endpoint="bt-two", compute="bt-low")
    values = write_number_files(work / "tier", ["t0.txt", "t1.txt"])
    job = invoke(r, "bt-two", work / "tier", "-d", "lowtier")
    view = wait_job(r, job)
    assert view["priority"] == "low", view
    assert view["compute"] == "bt-low", view
    check_echo_output(prediction_lines(r, job, work / "dl-tier"), values)


# --------------------------------------------------------------------------------------------
# 7. An MLflow model without a scoring script


def test_mlflow_model_without_script(d, sk, module_dir, tmp_path):
    sys.path.insert(0, str(REPO / "python" / "tests"))
    try:
        import mlflow_folders
    finally:
        sys.path.pop(0)
    frame, target = mlflow_folders.training_frame()
    model = sklearn_linear.LinearRegression().fit(frame, target)
    folder = module_dir / "mlflow-dep"
    folder.mkdir()
    mlflow_folders.write_mlflow(folder / "diabetes-model", model,
                                signature={"inputs": mlflow_folders.COLSPEC,
                                           "outputs": mlflow_folders.TENSOR_OUT})
    data = module_dir / "mlflow-input"
    data.mkdir()
    rng = np.random.default_rng(3)
    expected = []
    for i in range(5):
        rows = pd.DataFrame(rng.normal(size=(3, len(mlflow_folders.COLUMNS))),
                            columns=mlflow_folders.COLUMNS)
        name = f"heart_{i}.csv"
        rows.to_csv(data / name, index=False)
        for row, pred in enumerate(model.predict(rows)):
            expected.append((row, float(pred), name))
    path = folder / "deployment.yml"
    path.write_text(json.dumps({
        "$schema": "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json",
        "name": "mlflow", "endpoint_name": EP, "type": "model",
        "model": {"name": "bt-diabetes", "path": "./diabetes-model", "type": "mlflow_model"},
        "resources": {"instance_count": 1},
        "settings": {"mini_batch_size": 2, "max_concurrency_per_instance": 1,
                     "output_action": "append_row", "output_file_name": "predictions.csv"}}))
    d.cli("batch-deployment", "create", "-f", path, "-e", EP)
    job = invoke(d, EP, data, "-d", "mlflow")
    wait_job(d, job)
    lines = prediction_lines(d, job, tmp_path / "dl")
    got = [(int(row), float(pred), name) for row, pred, name in csv.reader(lines)]
    assert len(got) == len(expected), lines
    assert sorted((n, r) for r, _, n in got) == sorted((n, r) for r, _, n in expected), lines
    want = {(n, r): p for r, p, n in expected}
    for row, pred, name in got:
        assert abs(pred - want[(name, row)]) <= 1e-9 * max(1.0, abs(pred)), (row, pred, name)


# --------------------------------------------------------------------------------------------
# 8. `berth job stream`: a progress bar on a terminal, plain lines on a pipe


def read_all(fd, sink):
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO once every writer of the pty is gone
            return
        if not data:
            return
        sink.append(data)


def test_job_stream_tty_and_pipe(d, sk, module_dir):
    folder = module_dir / "stream-input"
    write_number_files(folder, [f"s{i:02d}.txt" for i in range(12)])
    echo_deployment(d, module_dir, "streamed", mini_batch_size=1, concurrency=2,
                    env={"BATCH_SLEEP": "0.3"})
    job = invoke(d, EP, folder, "-d", "streamed")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = d.cli_env(TERM="xterm-256color")
    tty = subprocess.Popen([str(BERTH), "job", "stream", "-n", job], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    reader = threading.Thread(target=read_all, args=(master, chunks), daemon=True)
    reader.start()
    piped = stream_pipe(d, job)
    try:
        tty_stdout, _ = tty.communicate(timeout=120)
    finally:
        if tty.poll() is None:
            tty.kill()
    reader.join(10)
    os.close(master)
    view = job_view(d, job)
    assert view["status"] == "Completed", describe(view)

    screen = b"".join(chunks).decode(errors="replace")
    assert tty.returncode == 0, (tty.returncode, screen, tty_stdout)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert re.search(r"100\s?%", plain), f"no 100 % on the terminal:\n{screen!r}"
    # Redrawn in place: a carriage return that is not the terminal's \r\n, or a cursor move.
    assert re.search(r"\r(?!\n)|\x1b\[\d*[GK]", screen), (
        f"the bar is not redrawn in place:\n{screen!r}")

    assert piped.returncode == 0, piped
    text = (piped.stdout + piped.stderr).decode(errors="replace")
    assert "\r" not in text, repr(text)
    assert "\x1b[" not in text, repr(text)
    assert "Completed" in text, text
    assert len(text.strip().splitlines()) >= 2, text


# --------------------------------------------------------------------------------------------
# 9. Bad invocations: non-zero exit, the field named, no job created


def test_bad_invocations_create_no_job(d, sk, module_dir, tmp_path):
    folder = module_dir / "bad-inv-input"
    values = write_number_files(folder, ["x0.txt", "x1.txt"])
    echo_deployment(d, module_dir, "inv", mini_batch_size=1)
    # An output path that already holds a job's results.
    occupied = "azureml://datastores/workspaceblobstore/paths/bt-tests/occupied"
    job = invoke(d, EP, folder, "-d", "inv", "--output-path", occupied)
    view = wait_job(d, job)
    assert view["outputs"]["score"]["path"].rstrip("/") == occupied, view["outputs"]
    check_echo_output(prediction_lines(d, job, tmp_path / "dl"), values)
    assert (host_output_folder(d, view) / "predictions.csv").is_file()

    before = job_names(d)
    missing = tmp_path / "no-such-folder"
    cases = [
        (["--input", missing], [str(missing)]),
        (["--input", "azureml://datastores/workspaceblobstore/paths/bt-tests/absent"],
         ["bt-tests/absent"]),
        (["--input", folder, "--output-path", occupied], ["output_path"]),
        (["--input", folder, "--output-path",
          "azureml://datastores/workspaceblobstore/paths/bt-tests/../../escape"],
         ["output_path"]),
        (["--input", folder, "-d", "nope"], ["nope"]),
        (["--input", folder, "-m", "0"], [("mini_batch_size", "mini-batch-size")]),
        (["--input", folder, "-c", "0"], [("instance_count", "instance-count")]),
        (["--input", folder, "--set", "error_threshold=-5"], ["error_threshold"]),
        (["--input", "azureml:bt-nope-data:1"], ["bt-nope-data"]),
        (["--input", folder, "--priority", "urgent"], ["priority"]),
    ]
    problems = []
    for i, (flags, words) in enumerate(cases):
        job_name = f"bt-bad-{i}"
        args = ["batch-endpoint", "invoke", "-n", EP, *flags, "--job-name", job_name]
        if "-d" not in flags:
            args += ["-d", "inv"]
        cp = d.cli(*args, check=False)
        if cp.returncode == 0:
            problems.append(f"`berth {' '.join(map(str, args))}` succeeded: {cp.stdout!r}")
            continue
        for word in words:
            alternatives = word if isinstance(word, tuple) else (word,)
            if not any(w in cp.stderr for w in alternatives):
                problems.append(f"`berth {' '.join(map(str, args))}`: {alternatives} not in "
                                f"stderr {cp.stderr!r}")
        if d.cli("job", "show", "-n", job_name, check=False).returncode == 0:
            problems.append(f"`berth {' '.join(map(str, args))}` created job {job_name}")
    assert not problems, "\n".join(problems)
    assert job_names(d) == before

    # A deployment naming a compute that does not exist is refused at create.
    path = write_batch_deployment(module_dir, "nocompute", EP, script=ECHO_DRIVER,
                                  compute="bt-nope")
    cp = d.cli("batch-deployment", "create", "-f", path, "-e", EP, check=False)
    assert cp.returncode != 0, cp
    assert "compute" in cp.stderr and "bt-nope" in cp.stderr, cp.stderr
    assert d.cli("batch-deployment", "show", "-n", "nocompute", "-e", EP,
                 check=False).returncode != 0
    assert job_names(d) == before
    wait_no_workers(d)


# --------------------------------------------------------------------------------------------
# Batch endpoint, deployment and compute basics through the CLI


def test_endpoint_and_deployment_crud(d, sk, module_dir, tmp_path):
    ep = "bt-crud"
    created = create_batch_endpoint(d, tmp_path, ep, description="crud", tags={"k": "v"})
    assert created["name"] == ep
    shown = d.cli_json("batch-endpoint", "show", "-n", ep, "-o", "json")
    assert shown["auth_mode"] == "aad_token", shown
    assert shown["description"] == "crud" and shown["tags"] == {"k": "v"}, shown
    assert not (shown.get("defaults") or {}).get("deployment_name"), shown
    assert ep in {e["name"] for e in items_of(d.cli_json("batch-endpoint", "list", "-o", "json"))}

    # One with only the required fields: Azure's defaults.
    path = write_batch_deployment(tmp_path, "one", ep, script=ECHO_DRIVER)
    d.cli("batch-deployment", "create", "-f", path, "-e", ep, "--set-default")
    one = d.cli_json("batch-deployment", "show", "-n", "one", "-e", ep, "-o", "json")
    assert one["name"] == "one" and one["endpoint_name"] == ep, one
    assert one["type"] == "model", one
    assert one["resources"]["instance_count"] == 1, one
    settings = one["settings"]
    assert settings["max_concurrency_per_instance"] == 1, settings
    assert settings["mini_batch_size"] == 10, settings
    assert settings["output_action"] == "append_row", settings
    assert settings["output_file_name"] == "predictions.csv", settings
    assert settings["retry_settings"] == {"max_retries": 3, "timeout": 30}, settings
    assert settings["error_threshold"] == -1, settings
    assert settings["logging_level"] == "info", settings
    shown = d.cli_json("batch-endpoint", "show", "-n", ep, "-o", "json")
    assert shown["defaults"]["deployment_name"] == "one", shown

    # A second one, not the default until the endpoint says so.
    echo_deployment(d, tmp_path, "two", endpoint=ep)
    shown = d.cli_json("batch-endpoint", "show", "-n", ep, "-o", "json")
    assert shown["defaults"]["deployment_name"] == "one", shown
    listed = items_of(d.cli_json("batch-deployment", "list", "-e", ep, "-o", "json"))
    assert sorted(x["name"] for x in listed) == ["one", "two"], listed
    d.cli("batch-endpoint", "update", "-n", ep, "--set", "defaults.deployment_name=two")
    shown = d.cli_json("batch-endpoint", "show", "-n", ep, "-o", "json")
    assert shown["defaults"]["deployment_name"] == "two", shown

    # Invoking without -d goes to the default; -o json prints the job.
    values = write_number_files(tmp_path / "in", ["k0.txt", "k1.txt", "k2.txt"])
    cp = d.cli("batch-endpoint", "invoke", "-n", ep, "--input", tmp_path / "in", "-o", "json")
    job = json.loads(cp.stdout)
    assert job["deployment_name"] == "two" and job["endpoint_name"] == ep, job
    assert job["status"] in ("NotStarted", "Queued", "Preparing", "Running"), job
    wait_job(d, job["name"])
    check_echo_output(prediction_lines(d, job["name"], tmp_path / "dl"), values)
    ep_jobs = items_of(d.cli_json("batch-endpoint", "list-jobs", "-n", ep, "-o", "json"))
    assert [j["name"] for j in ep_jobs] == [job["name"]], ep_jobs
    dep_jobs = items_of(d.cli_json("batch-deployment", "list-jobs", "-n", "two", "-e", ep,
                                   "-o", "json"))
    assert [j["name"] for j in dep_jobs] == [job["name"]], dep_jobs
    assert items_of(d.cli_json("batch-deployment", "list-jobs", "-n", "one", "-e", ep,
                               "-o", "json")) == []
    assert job["name"] in {j["name"] for j in items_of(d.cli_json("job", "list", "-o", "json"))}

    # Refused: a pipeline deployment (on `type`), an endpoint with key auth (on `auth_mode`).
    path = write_batch_deployment(tmp_path, "pipe", ep, model=None,
                                  extra={"type": "pipeline",
                                         "component": "azureml:scoring@latest"})
    cp = d.cli("batch-deployment", "create", "-f", path, "-e", ep, check=False)
    assert cp.returncode != 0 and "type" in cp.stderr, cp
    path = write_batch_endpoint(tmp_path / "key", "bt-key", auth_mode="key")
    cp = d.cli("batch-endpoint", "create", "-f", path, check=False)
    assert cp.returncode != 0 and "auth_mode" in cp.stderr, cp
    assert d.cli("batch-endpoint", "show", "-n", "bt-key", check=False).returncode != 0

    # The default deployment cannot go while another exists; the other can.
    assert d.cli("batch-deployment", "delete", "-n", "two", "-e", ep, "--yes",
                 check=False).returncode != 0
    d.cli("batch-deployment", "delete", "-n", "one", "-e", ep, "--yes")
    listed = items_of(d.cli_json("batch-deployment", "list", "-e", ep, "-o", "json"))
    assert [x["name"] for x in listed] == ["two"], listed

    # A compute cannot go while a deployment names it.
    assert d.cli("compute", "delete", "-n", CLUSTER, "--yes", check=False).returncode != 0
    assert CLUSTER in {c["name"] for c in items_of(d.cli_json("compute", "list", "-o", "json"))}

    # Deleting the endpoint takes its deployments; its jobs stay.
    d.cli("batch-endpoint", "delete", "-n", ep, "--yes")
    assert d.cli("batch-endpoint", "show", "-n", ep, check=False).returncode != 0
    assert d.cli("batch-deployment", "show", "-n", "two", "-e", ep, check=False).returncode != 0
    assert job_show(d, job["name"])["status"] == "Completed"


def test_azure_invocation_url(d, sk, module_dir):
    """Azure's data-plane body on the endpoint's scoring URI."""
    folder = module_dir / "azure-body"
    write_number_files(folder, ["z0.txt", "z1.txt"])
    d.cli("data", "create", "--name", "bt-azure", "--version", "1", "--path", folder,
          "--type", "uri_folder")
    echo_deployment(d, module_dir, "azure", mini_batch_size=1)
    body = {"properties": {"InputData": {"heart": {"JobInputType": "UriFolder",
                                                   "Uri": "azureml:bt-azure:1"}}}}
    r = d.request("POST", f"/batch-endpoints/{EP}/jobs", body,
                  headers={"Authorization": f"Bearer {d.token}",
                           "azureml-model-deployment": "azure"})
    assert r.status in (200, 201, 202), r
    answer = r.json()
    name = answer["name"]
    assert answer["id"] and answer["properties"]["status"], answer
    view = wait_job(d, name)
    assert view["deployment_name"] == "azure", view
    r = d.request("GET", f"/batch-endpoints/{EP}/jobs/{name}",
                  headers={"Authorization": f"Bearer {d.token}"})
    assert r.status == 200 and r.json()["properties"]["status"] == "Completed", r
