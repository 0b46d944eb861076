"""Tests of the batch worker (`python -m berth_runner.batch`, docs/batch.md "Worker protocol"): each
test starts the worker on a scoring script (or an MLflow model folder) written to a temporary
folder and talks to its socket with a frame client written from the document.
Run: /usr/bin/python3 -m pytest python/tests/test_batch_worker.py
"""

import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from conftest import PYTHON_DIR, START_TIMEOUT_S, FrameClient, Runner, write_app
from mlflow_folders import training_frame, write_mlflow

sys.path.insert(0, str(PYTHON_DIR))
from berth_runner.batch_mlflow import prediction_cells  # noqa: E402


class BatchClient(FrameClient):
    """One connection to the worker's socket; frames carry JSON."""

    def send_frame(self, payload: bytes) -> None:
        self.send(struct.pack(">I", len(payload)) + payload)

    def read_answer(self) -> Optional[dict]:
        """The next answer; None when the worker closed the connection instead."""
        prefix = self._recv_exactly(4)
        if prefix is None:
            return None
        body = self._recv_exactly(struct.unpack(">I", prefix)[0])
        assert body is not None, "connection closed inside an answer"
        return json.loads(body.decode("utf-8"))

    def score(self, mini_batch, index: int = 0, attempt: int = 1) -> dict:
        request = {"mini_batch": [str(p) for p in mini_batch], "index": index, "attempt": attempt}
        self.send_frame(json.dumps(request).encode("utf-8"))
        answer = self.read_answer()
        assert answer is not None, "the worker closed the connection without answering"
        return answer


class BatchWorker(Runner):
    """`python -m berth_runner.batch --socket <socket_path>`."""

    def __init__(self, proc: subprocess.Popen, socket_path: Path, out_path: Path,
                 err_path: Path):
        super().__init__(proc, 0, out_path, err_path)
        self.socket_path = socket_path

    def client(self) -> BatchClient:
        return BatchClient(self.socket_path)

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with code {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not listening after {timeout} s:\n{self.stderr()}")
            try:
                BatchClient(self.socket_path, timeout=5).close()
                return
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.02)

    def wait_stderr(self, text: str) -> str:
        return self.wait_for_output(text, "stderr")


@pytest.fixture
def start_worker(tmp_path):
    """start(app_dir, env=..., args=..., wait=True) -> BatchWorker; stopped at the end."""
    workers = []
    # A short folder: a Unix socket path holds at most 107 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="berth-b-"))

    def start(app_dir: Path, env: Optional[dict] = None, args=(), wait: bool = True,
              socket_path: Optional[Path] = None) -> BatchWorker:
        socket_path = socket_path or socket_dir / f"batch{len(workers)}.sock"
        out_path = tmp_path / f"worker{len(workers)}.out"
        err_path = tmp_path / f"worker{len(workers)}.err"
        full_env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR), "PYTHONDONTWRITEBYTECODE": "1",
                    "AZUREML_ENTRY_SCRIPT": "score.py", "AZUREML_MODEL_DIR": str(app_dir),
                    "AZUREML_BI_OUTPUT_PATH": str(tmp_path / "output"),
                    "BERTH_BATCH_OUTPUT_ACTION": "append_row"}
        full_env.update(env or {})
        full_env = {k: v for k, v in full_env.items() if v is not None}
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "berth_runner.batch", "--socket", str(socket_path),
                 "--logging_level", "INFO", *args],
                cwd=app_dir, env=full_env, stdout=out, stderr=err)
        worker = BatchWorker(proc, socket_path, out_path, err_path)
        workers.append(worker)
        if wait:
            worker.wait_listening()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    shutil.rmtree(socket_dir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Scoring scripts

LIST_SCRIPT = """
    import os
    calls = []

    def init():
        global state
        with open("init-calls.txt", "a") as f:
            f.write("init\\n")
        state = "ready"

    def run(mini_batch):
        if any("bad" in p for p in mini_batch):
            raise ValueError(f"cannot score {mini_batch[0]}")
        if mini_batch and mini_batch[0].endswith("dict"):
            return {"not": "a list"}
        if mini_batch and mini_batch[0].endswith("short"):
            return mini_batch[:1]
        if mini_batch and mini_batch[0].endswith("tuple"):
            return tuple(f"{state}:{os.path.basename(p)}" for p in mini_batch)
        return [f"{state}:{os.path.basename(p)}" for p in mini_batch] + ["two\\nlines\\r\\nhere"]
"""


def test_init_runs_once_and_lines_are_one_per_element(tmp_path, start_worker):
    app = write_app(tmp_path / "app", LIST_SCRIPT)
    worker = start_worker(app)
    with worker.client() as client:
        assert client.score(["/in/a.csv", "/in/b.csv"]) == {
            "ok": True, "count": 3, "lines": ["ready:a.csv", "ready:b.csv", "two lines here"]}
        assert client.score(["/in/c.csv"], index=1)["lines"] == ["ready:c.csv", "two lines here"]
    with worker.client() as client:  # a second connection, after the first closed
        assert client.score(["/in/x.tuple", "/in/y"]) == {
            "ok": True, "count": 2, "lines": ["ready:x.tuple", "ready:y"]}
    assert (app / "init-calls.txt").read_text() == "init\n"


def test_short_returns_are_counted(tmp_path, start_worker):
    worker = start_worker(write_app(tmp_path / "app", LIST_SCRIPT))
    with worker.client() as client:
        assert client.score(["/in/a.short", "/in/b", "/in/c"]) == {
            "ok": True, "count": 1, "lines": ["/in/a.short"]}


def test_exception_fails_the_mini_batch_with_its_traceback(tmp_path, start_worker):
    worker = start_worker(write_app(tmp_path / "app", LIST_SCRIPT))
    with worker.client() as client:
        answer = client.score(["/in/bad.csv"], index=4, attempt=2)
        assert answer["ok"] is False
        assert answer["error"] == "ValueError: cannot score /in/bad.csv"
        assert "score.py" in answer["traceback"] and "in run" in answer["traceback"]
        assert answer["traceback"].rstrip().endswith("ValueError: cannot score /in/bad.csv")
        assert "berth_runner" not in answer["traceback"]
        assert "lines" not in answer
        # The worker goes on serving.
        assert client.score(["/in/a"])["ok"] is True
    stderr = worker.wait_stderr("ValueError: cannot score /in/bad.csv")
    assert "Mini-batch 4 (attempt 2) failed" in stderr


def test_wrong_return_type(tmp_path, start_worker):
    worker = start_worker(write_app(tmp_path / "app", LIST_SCRIPT))
    with worker.client() as client:
        answer = client.score(["/in/a.dict"])
    assert answer["ok"] is False
    assert answer["error"] == ("TypeError: run() must return a list or a pandas DataFrame, "
                               "got dict")


def test_dataframe_rows_are_space_separated_values(tmp_path, start_worker):
    app = write_app(tmp_path / "app", """
        import os
        import pandas as pd

        def init():
            pass

        def run(mini_batch):
            return pd.DataFrame({"file": [os.path.basename(p) for p in mini_batch],
                                 "score": [0.5 * i for i in range(len(mini_batch))],
                                 "label": [i for i in range(len(mini_batch))],
                                 "note": ["multi\\nline", None][:len(mini_batch)]},
                                index=[10 + i for i in range(len(mini_batch))])
    """)
    worker = start_worker(app)
    with worker.client() as client:
        assert client.score(["/in/a.csv", "/in/b.csv"]) == {
            "ok": True, "count": 2, "lines": ["a.csv 0.0 0 multi line", "b.csv 0.5 1 None"]}


def test_summary_only_answers_no_lines(tmp_path, start_worker):
    worker = start_worker(write_app(tmp_path / "app", LIST_SCRIPT),
                          env={"BERTH_BATCH_OUTPUT_ACTION": "summary_only"})
    with worker.client() as client:
        assert client.score(["/in/a", "/in/b"]) == {"ok": True, "count": 3}


def test_init_failure_exits_3_with_traceback(tmp_path, start_worker):
    app = write_app(tmp_path / "app", """
        def load():
            raise RuntimeError("no model here")

        def init():
            load()

        def run(mini_batch):
            return mini_batch
    """)
    worker = start_worker(app, wait=False)
    assert worker.proc.wait(timeout=START_TIMEOUT_S) == 3
    stderr = worker.stderr()
    assert "Traceback (most recent call last)" in stderr
    assert "in init" in stderr and "in load" in stderr
    assert "RuntimeError: no model here" in stderr
    assert not worker.socket_path.exists()


def test_logging_level_stays_in_argv_and_shutdown_runs_on_sigterm(tmp_path, start_worker):
    app = write_app(tmp_path / "app", """
        import argparse
        import logging

        def init():
            global level
            parser = argparse.ArgumentParser()
            parser.add_argument("--logging_level")
            args, _ = parser.parse_known_args()
            level = args.logging_level

        def run(mini_batch):
            logging.getLogger("user").debug("hidden at INFO")
            logging.getLogger("user").info("scored %d files", len(mini_batch))
            return [level, logging.getLevelName(logging.getLogger().level)]

        def shutdown():
            with open("shutdown.txt", "w") as f:
                f.write("done")
    """)
    socket_path = Path(tempfile.mkdtemp(prefix="berth-s-")) / "batch.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path))  # left behind by a killed worker
    stale.close()
    try:
        worker = start_worker(app, args=["--node", "2", "--process", "5"],
                              socket_path=socket_path)
        with worker.client() as client:
            assert client.score(["/in/a"])["lines"] == ["INFO", "INFO"]
        stderr = worker.wait_stderr("scored 1 files")
        assert "[node 2 process 5] user - scored 1 files" in stderr
        assert "hidden at INFO" not in stderr
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=20) == 0
        assert (app / "shutdown.txt").read_text() == "done"
    finally:
        shutil.rmtree(socket_path.parent, ignore_errors=True)


def test_malformed_frames_are_answered_or_closed(tmp_path, start_worker):
    worker = start_worker(write_app(tmp_path / "app", LIST_SCRIPT))
    with worker.client() as client:
        for payload in (b"not json", b"\xff\xfe", b"[1, 2]", b'{"mini_batch": "a.csv"}',
                        b'{"mini_batch": [1]}', b""):
            client.send_frame(payload)
            answer = client.read_answer()
            assert answer["ok"] is False and answer["error"].startswith("ProtocolError: "), \
                (payload, answer)
        assert client.score(["/in/a"])["ok"] is True  # the connection still works
        client.sock.sendall(struct.pack(">I", 0xFFFFFFFF))
        answer = client.read_answer()
        assert answer["ok"] is False and "over the limit" in answer["error"]
        assert client.is_closed_by_peer()
    with worker.client() as client:  # closed in the middle of a frame
        client.sock.sendall(struct.pack(">I", 100) + b'{"mini')
    with worker.client() as client:
        assert client.score(["/in/b"])["ok"] is True
    assert worker.proc.poll() is None


# ----------------------------------------------------------------------------------------------
# MLflow models without a scoring script


@pytest.fixture
def mlflow_app(tmp_path):
    """(app folder, worker environment, sklearn model, input folder) for an MLflow sklearn model in
    the folder `model` of the model dir."""
    frame, target = training_frame()
    model = LinearRegression().fit(frame, target)
    model_root = tmp_path / "models"
    write_mlflow(str(model_root / "model"), model)
    app = tmp_path / "app"
    app.mkdir()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    frame.iloc[:3].to_csv(inputs / "first.csv", index=False)
    frame.iloc[3:5].to_csv(inputs / "second, quoted.csv", index=False)
    env = {"AZUREML_ENTRY_SCRIPT": None, "BERTH_MLFLOW_MODEL_FOLDER": "model",
           "AZUREML_MODEL_DIR": str(model_root)}
    return app, env, model, frame, inputs


def test_mlflow_model_scores_csv_files(mlflow_app, start_worker):
    app, env, model, frame, inputs = mlflow_app
    worker = start_worker(app, env=env)
    with worker.client() as client:
        answer = client.score([inputs / "first.csv", inputs / "second, quoted.csv"])
    # As read back from the files (pandas' CSV float parser is not round-trip exact).
    expected = np.concatenate([model.predict(pd.read_csv(inputs / name))
                               for name in ("first.csv", "second, quoted.csv")])
    assert answer == {"ok": True, "count": 5, "lines": [
        f"0,{expected[0]},first.csv", f"1,{expected[1]},first.csv", f"2,{expected[2]},first.csv",
        f'0,{expected[3]},"second, quoted.csv"', f'1,{expected[4]},"second, quoted.csv"']}


def test_mlflow_unsupported_file_fails_the_mini_batch_after_the_rest(mlflow_app, start_worker):
    app, env, model, frame, inputs = mlflow_app
    (inputs / "notes.txt").write_text("hello")
    frame[["age"]].to_csv(inputs / "narrow.csv", index=False)  # too few columns for the model
    worker = start_worker(app, env=env)
    with worker.client() as client:
        answer = client.score([inputs / "notes.txt", inputs / "first.csv", inputs / "narrow.csv"])
        assert answer["ok"] is False
        txt_error = (f"Error processing input file: '{inputs / 'notes.txt'}'. "
                     "File type 'txt' is not supported")
        prefix = f"Exception: Not all input files were processed successfully: {txt_error}; "
        assert answer["error"].startswith(prefix)
        rest = answer["error"][len(prefix):]
        # first.csv was scored without error; narrow.csv, after it, was tried too.
        assert rest.startswith(f"Error processing input file: '{inputs / 'narrow.csv'}'. ")
        assert "first.csv" not in answer["error"]
        assert client.score([inputs / "first.csv"])["count"] == 3
    stderr = worker.wait_stderr(txt_error)
    assert "Traceback" in stderr  # narrow.csv's


@pytest.mark.skipif(any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")),
                    reason="a parquet engine is installed")
def test_mlflow_parquet_without_an_engine(mlflow_app, start_worker):
    app, env, model, frame, inputs = mlflow_app
    (inputs / "data.parquet").write_bytes(b"PAR1")
    worker = start_worker(app, env=env)
    with worker.client() as client:
        answer = client.score([inputs / "data.parquet", inputs / "first.csv"])
    assert answer["ok"] is False
    assert answer["error"] == (
        "Exception: Not all input files were processed successfully: Error processing input "
        f"file: '{inputs / 'data.parquet'}'. Reading parquet files needs pyarrow or "
        "fastparquet, which is not installed")


def test_mlflow_model_that_cannot_load_exits_3(mlflow_app, start_worker):
    app, env, model, frame, inputs = mlflow_app
    worker = start_worker(app, env={**env, "BERTH_MLFLOW_MODEL_FOLDER": "missing"}, wait=False)
    assert worker.proc.wait(timeout=START_TIMEOUT_S) == 3
    assert "no MLmodel file" in worker.stderr()


def test_prediction_cells():
    assert prediction_cells(np.array([1.5, 2.0])) == ["1.5", "2.0"]
    assert prediction_cells(np.array([[0.25, 0.75], [1.0, 0.0]])) == ["[0.25, 0.75]",
                                                                      "[1.0, 0.0]"]
    assert prediction_cells(["a", "b"]) == ["a", "b"]
    assert prediction_cells(np.float64(3.0)) == ["3.0"]
