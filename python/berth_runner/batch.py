"""`python -m berth_runner.batch --socket PATH --logging_level LEVEL [--node N --process P]`: a
batch job's worker process (docs/batch.md, "Worker protocol").

It loads the scoring script named by AZUREML_ENTRY_SCRIPT (relative to the working folder, the
code folder) or, without one, berth's MLflow driver (batch_mlflow) for the model in
$AZUREML_MODEL_DIR/$BERTH_MLFLOW_MODEL_FOLDER, calls init() once, then listens on PATH and serves
one connection at a time. Each connection carries any number of frames until the peer closes it: a
frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.

    request:  {"mini_batch": ["/path/a.csv", ...], "index": 7, "attempt": 1}
    answer:   {"ok": true, "count": <items returned>, "lines": [...]}   (no "lines" with
              BERTH_BATCH_OUTPUT_ACTION=summary_only; batch_output says how lines are made)
              {"ok": false, "error": "<Type>: <message>", "traceback": "..."}
                  run() raised (its traceback also goes to stderr), or returned neither a list,
                  a tuple nor a DataFrame (error "TypeError: ...", traceback "")
              {"ok": false, "error": "ProtocolError: ...", "traceback": ""}
                  the frame is not UTF-8 JSON, not an object, or has no "mini_batch" list of
                  strings; the connection stays open. A frame over MAX_FRAME_BYTES is answered so
                  and the connection closed; a connection closed inside a frame is closed here.

--logging_level stays in sys.argv for scripts that parse it (argparse.parse_known_args), and sets
the root logger's level and that of its stderr handler. --node and --process prefix log lines.
SIGTERM: the script's shutdown() if it has one, then exit 0.

Exit codes: 0 after SIGTERM, 1 when the socket cannot be listened on, 2 for bad arguments or
environment, 3 when the script cannot be loaded or init() raised (the traceback on stderr first).
"""

import argparse
import json
import logging
import os
import signal
import socket
import stat
import struct
import sys
from typing import Any, Callable, List, Optional

from . import config
from .batch_output import WrongReturnType, count_and_lines
from .user_script import (UserScriptError, format_user_traceback, import_script, invoke_init,
                          print_boot_failure)

logger = logging.getLogger("berth_runner.batch")

EXIT_BAD_SETTINGS = 2
EXIT_BOOT_FAILURE = 3
OUTPUT_ACTIONS = ("append_row", "summary_only")
# A request is a list of file paths: anything near this is not a request.
MAX_FRAME_BYTES = 64 * 1024 * 1024
LISTEN_BACKLOG = 4

_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """The frame is not a request; answered, and the connection kept."""


def _arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m berth_runner.batch", add_help=False)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--logging_level", default="INFO")
    parser.add_argument("--node")
    parser.add_argument("--process")
    return parser


def _log_prefix(node: Optional[str], process: Optional[str]) -> str:
    parts = [f"{name} {value}" for name, value in (("node", node), ("process", process))
             if value is not None]
    return f"[{' '.join(parts)}] " if parts else ""


def _error_answer(error: str, trace: str = "") -> bytes:
    return json.dumps({"ok": False, "error": error, "traceback": trace}).encode("utf-8")


def _recv_exactly(connection: socket.socket, size: int) -> Optional[bytes]:
    """`size` bytes, or None when the peer closed the connection first."""
    data = connection.recv(size, socket.MSG_WAITALL)
    if len(data) == size:
        return data
    parts = [data]
    have = len(data)
    while data and have < size:  # MSG_WAITALL returns early on a signal
        data = connection.recv(size - have, socket.MSG_WAITALL)
        parts.append(data)
        have += len(data)
    return b"".join(parts) if have == size else None


class BatchWorker:
    """Answers requests with `run_function(mini_batch)`; `with_lines` is append_row."""

    def __init__(self, run_function: Callable[[List[str]], Any], with_lines: bool):
        self._run = run_function
        self._with_lines = with_lines

    def answer(self, body: bytes) -> bytes:
        """The answer's JSON for one request frame's body."""
        try:
            mini_batch, index, attempt = self._parse(body)
        except ProtocolError as error:
            logger.warning("Answering a malformed request: %s", error)
            return _error_answer(f"ProtocolError: {error}")
        try:
            count, lines = count_and_lines(self._run(mini_batch), self._with_lines)
        except WrongReturnType as error:
            sys.stderr.write(f"Mini-batch {index} (attempt {attempt}) failed: {error}\n")
            return _error_answer(f"TypeError: {error}")
        except Exception as error:
            trace = format_user_traceback(error, __file__)
            sys.stderr.write(f"Mini-batch {index} (attempt {attempt}) failed:\n{trace}")
            message = str(error)
            return _error_answer(f"{type(error).__name__}: {message}" if message
                                 else type(error).__name__, trace)
        answer = {"ok": True, "count": count}
        if lines is not None:
            answer["lines"] = lines
        return json.dumps(answer).encode("utf-8")

    @staticmethod
    def _parse(body: bytes):
        try:
            request = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ProtocolError(f"the frame is not UTF-8: {error}") from None
        except ValueError as error:
            raise ProtocolError(f"the frame is not JSON: {error}") from None
        mini_batch = request.get("mini_batch") if isinstance(request, dict) else None
        if not isinstance(mini_batch, list) or not all(isinstance(p, str) for p in mini_batch):
            raise ProtocolError('a request is a JSON object with a "mini_batch" list of file '
                                "paths")
        return mini_batch, request.get("index"), request.get("attempt")

    def serve_connection(self, connection: socket.socket) -> None:
        """Answers frames until the peer closes the connection or breaks the framing."""
        while True:
            head = _recv_exactly(connection, _LENGTH.size)
            if head is None:
                return
            (length,) = _LENGTH.unpack(head)
            if length > MAX_FRAME_BYTES:
                logger.warning("Closing a connection that sent a %d-byte frame", length)
                connection.sendall(_framed(_error_answer(
                    f"ProtocolError: a frame of {length} bytes is over the limit of "
                    f"{MAX_FRAME_BYTES}")))
                return
            body = _recv_exactly(connection, length) if length else b""
            if body is None:
                logger.warning("Closing a connection closed inside a frame")
                return
            connection.sendall(_framed(self.answer(body)))

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError as error:  # EMFILE and friends: wait for the next connection
                logger.error("Cannot accept a connection: %s", error)
                continue
            with connection:
                try:
                    self.serve_connection(connection)
                except OSError as error:  # the peer went away
                    logger.warning("Connection lost: %s", error)
                except Exception:  # a bug here must cost one connection, not the worker
                    logger.exception("Unhandled error while serving a connection")


def _framed(answer: bytes) -> bytes:
    return _LENGTH.pack(len(answer)) + answer


def listen(path: str) -> socket.socket:
    """A listening Unix socket at `path`, replacing a stale socket left there."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(LISTEN_BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def _scoring_script(environ):
    """(the object with init() and run(), what it is) from the environment."""
    entry = environ.get("AZUREML_ENTRY_SCRIPT")
    if entry:
        path = os.path.abspath(entry)
        search_paths = list(dict.fromkeys([os.path.dirname(path), os.getcwd()]))
        return import_script(path, search_paths), path
    from .batch_mlflow import MlflowBatchDriver

    driver = MlflowBatchDriver(environ.get("AZUREML_MODEL_DIR"),
                               environ["BERTH_MLFLOW_MODEL_FOLDER"])
    return driver, f"the MLflow model in {driver.model_dir}"


def _install_shutdown(script) -> None:
    def on_term(signum, frame):
        shutdown = getattr(script, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except BaseException as error:
                sys.stderr.write("The scoring script's shutdown() raised an exception:\n"
                                 + format_user_traceback(error, __file__))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # at once, even if the script started non-daemon threads

    signal.signal(signal.SIGTERM, on_term)


def main(argv=None) -> int:
    config.make_streams_unbuffered()
    args, _ = _arg_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    level = args.logging_level.upper()
    if not isinstance(logging.getLevelName(level), int):
        sys.stderr.write(f"berth batch worker: unknown --logging_level {args.logging_level}\n")
        return EXIT_BAD_SETTINGS
    config.configure_logging(level, _log_prefix(args.node, args.process))
    environ = os.environ
    action = environ.get("BERTH_BATCH_OUTPUT_ACTION", "append_row").lower()
    if action not in OUTPUT_ACTIONS:
        sys.stderr.write(f"berth batch worker: BERTH_BATCH_OUTPUT_ACTION must be one of "
                         f"{', '.join(OUTPUT_ACTIONS)}, not {action!r}\n")
        return EXIT_BAD_SETTINGS
    if not environ.get("AZUREML_ENTRY_SCRIPT") and "BERTH_MLFLOW_MODEL_FOLDER" not in environ:
        sys.stderr.write("berth batch worker: set AZUREML_ENTRY_SCRIPT (a scoring script) or "
                         "BERTH_MLFLOW_MODEL_FOLDER (an MLflow model)\n")
        return EXIT_BAD_SETTINGS

    try:
        script, what = _scoring_script(environ)
        invoke_init(script.init)
    except UserScriptError as error:
        print_boot_failure(f"batch worker {os.getpid()}", error)
        return EXIT_BOOT_FAILURE
    _install_shutdown(script)

    try:
        listener = listen(args.socket)
    except OSError as error:
        logger.error("Cannot listen on %s: %s", args.socket, error)
        return 1
    logger.info("Batch worker serving %s on %s (output action %s)", what, args.socket, action)
    BatchWorker(script.run, action == "append_row").serve(listener)
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
