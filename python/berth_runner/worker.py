"""A worker process: loads the scoring script, calls init() once, then serves berth frames
(frames.py) on the listening socket the parent made for it (worker-<i>.sock), one request at a
time like a gunicorn sync worker. It may hold several connections (berthd keeps one per data-plane
thread) and answers them in turn.

Everything a request needs happens here, so a request crosses one Python process: decode the
frame, resolve the request ids (431), route and bind (app.py), call run(), add the contract's
headers, write the access log line, encode the answer.

The parent learns that init() finished from one byte on the status pipe, and watches requests
through this worker's slot in a shared array: the request's start time (time.monotonic_ns()) while
one runs, 0 otherwise. SIGTERM: stop accepting, answer the requests already sent, exit 0.

Exit codes: 0 after SIGTERM, 3 when the script cannot be loaded or init() raised (the traceback is
printed to stderr first), 1 on a broken status pipe or listening socket.
"""

import ctypes
import errno
import logging
import mmap
import os
import selectors
import signal
import socket
import struct
import time

from . import contract, frames
from .app import ScoringApp
from .config import Config
from .messages import INTERNAL_ERROR_MESSAGE
from .swagger import SwaggerDocs
from .user_script import UserScript, UserScriptError, print_boot_failure

logger = logging.getLogger("berth_runner.worker")

EXIT_BOOT_FAILURE = 3
READY_BYTE = b"R"
SLOT_SIZE = 8  # one u64 per worker in the shared slots array
# A peer that stops sending in the middle of a message (or stops reading an answer) for this long
# loses its connection instead of holding the worker.
STALLED_PEER_TIMEOUT_S = 60
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Asks Linux to kill this process when the parent dies (so no worker outlives it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class FrameServer:
    """Serves frames on `listener` with `app` until SIGTERM; `slots[index]` is this worker's
    watchdog slot."""

    def __init__(self, app: ScoringApp, listener: socket.socket, slots, index: int):
        self._app = app
        self._listener = listener
        self._slots = slots
        self._index = index
        self._stopping = False
        self._selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        self._wake_read = wake_read
        # Signals write to this pipe, so select() returns when SIGTERM arrives (PEP 475 would
        # otherwise resume the wait).
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        self._timeouts = struct.pack("ll", STALLED_PEER_TIMEOUT_S, 0)
        self._reader = frames.MessageReader()

    def _on_term(self, signum, frame) -> None:
        self._stopping = True

    def serve(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        selector = self._selector
        self._listener.setblocking(False)
        selector.register(self._listener, selectors.EVENT_READ, None)
        selector.register(self._wake_read, selectors.EVENT_READ, self._wake_read)
        while not self._stopping:
            self._serve_ready(selector.select())
        # Drain: answer what was already sent (or is waiting to be accepted), then leave.
        while True:
            events = [e for e in selector.select(0) if e[0].data is not self._wake_read]
            if not events:
                break
            self._serve_ready(events)
        for key in list(selector.get_map().values()):
            if isinstance(key.fileobj, socket.socket) and key.fileobj is not self._listener:
                key.fileobj.close()
        return 0

    def _serve_ready(self, events) -> None:
        for key, _ in events:
            connection = key.data
            if connection is None:
                self._accept()
            elif connection is self._wake_read:
                try:
                    os.read(self._wake_read, 512)
                except BlockingIOError:
                    pass
            elif not self._serve_one(connection):
                self._selector.unregister(connection)
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.error("Cannot accept a connection: %s", error)
                    return
                raise
            connection.setblocking(True)
            # Kernel timeouts keep recv/send plain system calls (a Python timeout polls first).
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._timeouts)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._timeouts)
            self._selector.register(connection, selectors.EVENT_READ, connection)

    def _serve_one(self, connection: socket.socket) -> bool:
        """Answers the request waiting on `connection`; False when the connection must close."""
        slots, index = self._slots, self._index
        try:
            message = self._reader.recv(connection)
            if message is None:
                return False
            start = time.perf_counter()
            slots[index] = time.monotonic_ns()
            try:
                head, body, access = self._answer(message, start)
            except frames.ProtocolError:
                raise
            except Exception:  # a bug here must cost one request, not the worker
                logger.exception("Unhandled error while answering a request")
                status, headers, body = contract.json_error(500, INTERNAL_ERROR_MESSAGE)
                head, access = frames.encode_response_head(status, headers, len(body)), None
            finally:
                slots[index] = 0
            if len(body) <= 65536:
                connection.sendall(head + body)
            else:
                connection.sendall(head)
                connection.sendall(body)
            if access is not None:  # once the answer is on its way
                contract.log_access(access)
            return True
        except frames.ProtocolError as error:
            logger.warning("Closing a connection that broke the frame protocol: %s", error)
            return False
        except OSError:  # the peer went away, or stalled past STALLED_PEER_TIMEOUT_S
            return False

    def _answer(self, message: bytes, start: float):
        request = frames.decode_request(message)
        lookup = contract.header_lookup(request.headers)
        status, headers, body = contract.answer(lookup, lambda: self._app.handle(request))
        access = contract.access_entry(request.method, request.target, status, start, len(body))
        return frames.encode_response_head(status, headers, len(body)), body, access


def main(config: Config, listen_fd: int, status_fd: int, slots_fd: int, index: int,
         parent_pid: int) -> int:
    _die_with_parent(parent_pid)
    # The parent coordinates shutdown: Ctrl-C in a terminal reaches the whole process group, and
    # a worker must finish its request instead of dying mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(fileno=listen_fd)
    slots_map = mmap.mmap(slots_fd, 0)
    os.close(slots_fd)
    slots = memoryview(slots_map).cast("Q")

    search_paths = []
    if config.user_script:
        search_paths = [os.path.dirname(config.entry_script), config.app_root]
    script = UserScript(config.entry_script, list(dict.fromkeys(search_paths)))
    try:
        script.load()
        script.invoke_init()
    except UserScriptError as error:
        print_boot_failure(f"worker {os.getpid()}", error)
        return EXIT_BOOT_FAILURE

    app = ScoringApp(script,
                     SwaggerDocs(config.app_root, script.run_function, script.module,
                                 config.service_name, config.service_version),
                     config.scoring_timeout_ms, config.host, config.port)
    server = FrameServer(app, listener, slots, index)
    try:
        os.write(status_fd, READY_BYTE)
        os.close(status_fd)
    except OSError as error:
        logger.error("Cannot tell the parent that init() finished: %s", error)
        return 1
    logger.info("Worker %d serving frames (pid %d)", index, os.getpid())
    return server.serve()
