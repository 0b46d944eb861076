"""A worker process: loads the scoring script, calls init() once, then answers the requests the
supervisor sends over its socket, one at a time (like a gunicorn sync worker).

Exit codes: 0 when the supervisor closes the socket, 3 when the script cannot be loaded or init()
raised (the traceback is printed to stderr first), 1 on a broken channel.
"""

import ctypes
import io
import logging
import os
import signal
import socket
import sys
from urllib.parse import unquote_to_bytes

from . import ipc
from .app import ScoringApp
from .config import Config
from .swagger import SwaggerDocs
from .user_script import UserScript, UserScriptError, UserScriptException

logger = logging.getLogger("berth_runner.worker")

EXIT_BOOT_FAILURE = 3
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Asks Linux to kill this process when the supervisor dies (so no worker outlives it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent_pid and os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


def _print_boot_failure(error: UserScriptError) -> None:
    lines = [f"berth-runner: worker {os.getpid()} cannot serve the scoring script: {error}\n"]
    if isinstance(error, UserScriptException):
        lines.append(error.format_user_traceback())
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def build_environ(meta: dict, body: bytes, config: Config) -> dict:
    """The WSGI environ of a request forwarded by the supervisor."""
    environ = {
        "REQUEST_METHOD": meta["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(meta["path"]).decode("latin-1"),
        "QUERY_STRING": meta.get("query", ""),
        "REQUEST_URI": meta["target"],
        "RAW_URI": meta["target"],
        "SERVER_NAME": config.host,
        "SERVER_PORT": str(config.port),
        "SERVER_PROTOCOL": meta.get("version", "HTTP/1.1"),
        "REMOTE_ADDR": meta.get("remote_addr", ""),
        "REMOTE_PORT": str(meta.get("remote_port", "")),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in meta.get("headers", []):
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body arrives complete and de-chunked
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def main(config: Config, channel_fd: int, parent_pid: int) -> int:
    _die_with_parent(parent_pid)
    # The supervisor coordinates shutdown: Ctrl-C in a terminal reaches the whole process group,
    # and a worker must finish its request instead of dying mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = socket.socket(fileno=channel_fd)

    search_paths = []
    if config.user_script:
        search_paths = [os.path.dirname(config.entry_script), config.app_root]
    script = UserScript(config.entry_script, list(dict.fromkeys(search_paths)))
    try:
        script.load()
        script.invoke_init()
    except UserScriptError as error:
        _print_boot_failure(error)
        return EXIT_BOOT_FAILURE

    app = ScoringApp(script,
                     SwaggerDocs(config.app_root, script.run_function, script.module,
                                 config.service_name, config.service_version),
                     config.scoring_timeout_ms)
    try:
        channel.sendall(ipc.encode({"kind": "ready", "pid": os.getpid()}))
        while True:
            frame = ipc.recv_frame(channel)
            if frame is None:
                return 0
            meta, body = frame
            if meta.get("kind") != "request":
                raise ipc.FrameError(f"unexpected frame kind {meta.get('kind')!r}")
            status, reason, headers, out = app.handle(build_environ(meta, body, config))
            channel.sendall(ipc.encode({"kind": "response", "status": status, "reason": reason,
                                        "headers": headers}, out))
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the supervisor is gone
    except ipc.FrameError as error:
        logger.error("Broken channel to the supervisor: %s", error)
        return 1
