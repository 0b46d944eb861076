"""The runner's parent process. It is not on the request path: berthd talks to the workers directly.

It binds and listens on `control.sock` and `worker-<i>.sock` (i < WORKER_COUNT) in the socket
folder, and starts one worker process per worker socket (worker.py), handing it the listening
socket. Because the parent keeps the listening sockets, a replaced worker inherits the same socket
and connections made meanwhile wait in its backlog.

Duties:
- health: control.sock serves berth frames; `GET /` answers 200 "Healthy" once every worker has
  finished init() (and stays 200 while a replaced worker starts: its requests wait in the
  backlog), 503 before; anything else answers 404;
- a worker that dies is replaced; one that dies before finishing init() (import error, missing
  init/run, init() raised: its traceback is on stderr) makes the runner exit with code 3;
- watchdog: a worker whose current request has run longer than SCORING_TIMEOUT_MS plus the
  watchdog grace (run() stuck in native code, where SIGALRM cannot reach it) is killed and
  replaced. Each worker writes its request's start time into its slot of a shared array (0 when
  idle); the parent reads the slots periodically;
- SIGTERM/SIGINT: stop, let requests in progress finish (up to DRAIN_TIMEOUT_S), stop the workers,
  remove the socket files, exit 0.

Standalone mode (`--port`) is the same parent with the sockets in a private temporary folder, plus
the HTTP front (http_front.py), which forwards each HTTP request to an idle worker as a frame.
"""

import asyncio
import contextlib
import logging
import mmap
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from werkzeug.exceptions import NotFound

from . import SERVER_VERSION, contract, frames
from .config import Config
from .worker import EXIT_BOOT_FAILURE, READY_BYTE, SLOT_SIZE

logger = logging.getLogger("berth_runner.parent")

DRAIN_TIMEOUT_S = 30.0
WORKER_STOP_TIMEOUT_S = 5.0
CONTROL_SOCKET = "control.sock"
CONTROL_MAX_PAYLOAD = 1 << 20
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MAX_UNIX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


def worker_socket_name(index: int) -> str:
    return f"worker-{index}.sock"


def _listen_unix(path: str) -> socket.socket:
    if len(os.fsencode(path)) > _MAX_UNIX_PATH:
        raise OSError(f"socket path {path} is longer than {_MAX_UNIX_PATH} bytes")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by a runner that was killed
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


class Sockets:
    """The listening sockets: control.sock and the worker sockets in `folder` (a private temporary
    folder in standalone mode, removed at close), and the HTTP socket in standalone mode."""

    def __init__(self, config: Config):
        self.private = config.socket_dir is None
        self.folder = config.socket_dir or tempfile.mkdtemp(prefix="berth-runner-")
        self.paths: List[str] = []
        self.workers: List[socket.socket] = []
        self.control: Optional[socket.socket] = None
        self.http: Optional[socket.socket] = None
        self.closed = False
        try:
            if self.private:
                from .http_front import listen_tcp
                self.http = listen_tcp(config.host, config.port)
            self.control = self._listen(CONTROL_SOCKET)
            for index in range(config.worker_count):
                self.workers.append(self._listen(worker_socket_name(index)))
        except BaseException:
            self.close()
            raise

    def _listen(self, name: str) -> socket.socket:
        path = os.path.join(self.folder, name)
        sock = _listen_unix(path)
        self.paths.append(path)
        return sock

    def close(self) -> None:
        """Closes the sockets and removes their files (once)."""
        if self.closed:
            return
        self.closed = True
        for sock in [self.http, self.control, *self.workers]:
            if sock is not None:
                sock.close()
        for path in self.paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if self.private:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Worker:
    def __init__(self, index: int, proc: subprocess.Popen, status_fd: int):
        self.index = index
        self.proc = proc
        self.pid = proc.pid
        self.status_fd: Optional[int] = status_fd
        self.ready = False
        self.killed_by_watchdog = False
        self.returncode: Optional[int] = None
        self.exited = asyncio.Event()


class Parent:
    def __init__(self, config: Config, sockets: Sockets):
        self._config = config
        self._sockets = sockets
        self._workers: Dict[int, _Worker] = {}
        self._all_ready = False
        self._ready_changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._exit_code = 0
        self._control_connections: set = set()
        # One u64 per worker: the start time (time.monotonic_ns()) of its current request, or 0.
        self._slots_fd = os.memfd_create("berth-runner-slots")
        os.ftruncate(self._slots_fd, SLOT_SIZE * config.worker_count)
        self._slots_map = mmap.mmap(self._slots_fd, SLOT_SIZE * config.worker_count)
        self._slots = memoryview(self._slots_map).cast("Q")
        self._watchdog_ns = int((config.scoring_timeout_ms / 1000.0 + config.watchdog_grace_s)
                                * 1e9)
        self._front = None
        if sockets.http is not None:
            from .http_front import HttpFront
            self._front = HttpFront(
                sockets.http,
                [os.path.join(sockets.folder, worker_socket_name(i))
                 for i in range(config.worker_count)],
                scoring_timeout_ms=config.scoring_timeout_ms,
                watchdog_s=self._watchdog_ns / 1e9)

    # ----- lifecycle -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_stop_signal, signum)
        control = await asyncio.start_unix_server(self._serve_control,
                                                  sock=self._sockets.control)
        if self._front is not None:
            await self._front.start()
        watchdog = asyncio.ensure_future(self._watchdog())
        try:
            for index in range(self._config.worker_count):
                self._spawn(index)
        except OSError as error:
            logger.error("Cannot start a worker process: %s", error)
            self._fail(1)
        stop_wait = asyncio.ensure_future(self._stop.wait())
        ready_wait = asyncio.ensure_future(self._ready_changed.wait())
        await asyncio.wait({stop_wait, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
        ready_wait.cancel()
        if not self._stop.is_set():
            if self._front is not None:
                await self._front.start_serving()
                logger.info("Listening on http://%s:%d with %d worker(s) (%s)",
                            self._config.host, self._config.port, self._config.worker_count,
                            SERVER_VERSION)
            else:
                logger.info("Serving berth frames in %s with %d worker(s) (%s)",
                            self._sockets.folder, self._config.worker_count, SERVER_VERSION)
            await stop_wait
        await self._shutdown(control)
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        return self._exit_code

    def _on_stop_signal(self, signum: int) -> None:
        if not self._stop.is_set():
            logger.info("Received %s; shutting down", signal.Signals(signum).name)
        self._stop.set()

    def _fail(self, exit_code: int) -> None:
        if not self._stopping:
            self._exit_code = exit_code
        self._stop.set()

    async def _shutdown(self, control) -> None:
        self._stopping = True
        if self._front is not None and self._exit_code == 0:
            await self._front.shutdown(DRAIN_TIMEOUT_S)
        control.close()
        for connection in list(self._control_connections):
            connection.cancel()
        workers = [w for w in self._workers.values() if w.returncode is None]
        # A worker finishes the requests already sent to it, then exits (worker.FrameServer).
        for worker in workers:
            self._signal(worker, signal.SIGTERM if self._exit_code == 0 else signal.SIGKILL)
        waits = [asyncio.ensure_future(w.exited.wait()) for w in workers]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=DRAIN_TIMEOUT_S)
            if pending:
                logger.warning("Requests still running after %.0f s; stopping anyway",
                               DRAIN_TIMEOUT_S)
                for worker in workers:
                    self._signal(worker, signal.SIGKILL)
                await asyncio.wait(pending, timeout=WORKER_STOP_TIMEOUT_S)
        for worker in workers:
            if worker.returncode is None:  # missed SIGCHLD (e.g. a signal storm); collect it
                worker.proc.wait()
                self._close_status(worker)
        if self._front is not None:
            await self._front.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(control.wait_closed(), WORKER_STOP_TIMEOUT_S)
        self._sockets.close()

    # ----- workers ---------------------------------------------------------------------------

    def _worker_env(self) -> Dict[str, str]:
        env = dict(os.environ)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if _PACKAGE_ROOT not in paths:
            paths.insert(0, _PACKAGE_ROOT)
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def _spawn(self, index: int) -> _Worker:
        listen_fd = self._sockets.workers[index].fileno()
        status_read, status_write = os.pipe()
        self._slots[index] = 0
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "berth_runner", "--worker-fd", str(listen_fd),
                 "--worker-index", str(index), "--status-fd", str(status_write),
                 "--slots-fd", str(self._slots_fd), "--parent-pid", str(os.getpid())],
                pass_fds=(listen_fd, status_write, self._slots_fd), cwd=self._config.app_root,
                env=self._worker_env())
        except OSError:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        worker = _Worker(index, proc, status_read)
        self._workers[index] = worker
        asyncio.get_running_loop().add_reader(status_read, self._read_status, worker)
        logger.info("Started worker %d (pid %d)", index, proc.pid)
        return worker

    def _read_status(self, worker: _Worker) -> None:
        """The worker writes READY_BYTE once init() finished; end of file when it exits."""
        try:
            data = os.read(worker.status_fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if READY_BYTE in data and not worker.ready:
            worker.ready = True
            logger.info("Worker %d (pid %d) is ready", worker.index, worker.pid)
            if not self._all_ready and all(w.ready for w in self._workers.values()):
                self._all_ready = True
                self._ready_changed.set()
        if not data:
            self._close_status(worker)

    def _close_status(self, worker: _Worker) -> None:
        if worker.status_fd is not None:
            asyncio.get_running_loop().remove_reader(worker.status_fd)
            os.close(worker.status_fd)
            worker.status_fd = None

    def _reap(self) -> None:
        for worker in list(self._workers.values()):
            if worker.returncode is not None or worker.proc.poll() is None:
                continue
            worker.returncode = worker.proc.returncode
            if worker.status_fd is not None:
                os.set_blocking(worker.status_fd, False)
                self._read_status(worker)  # a READY_BYTE not read yet
                self._close_status(worker)
            self._slots[worker.index] = 0
            worker.exited.set()
            if self._stopping:
                continue
            if not worker.ready:
                logger.error("Worker %d (pid %d) failed to start the scoring script (exit code "
                             "%s); exiting with code %d", worker.index, worker.pid,
                             worker.returncode, EXIT_BOOT_FAILURE)
                self._fail(EXIT_BOOT_FAILURE)
                continue
            if not worker.killed_by_watchdog:
                logger.warning("Worker %d (pid %d) exited with code %s; starting a new one",
                               worker.index, worker.pid, worker.returncode)
            try:
                self._spawn(worker.index)
            except OSError as error:  # e.g. out of memory: let the platform restart us
                logger.error("Cannot start a worker process: %s", error)
                self._fail(1)

    @staticmethod
    def _signal(worker: _Worker, signum: int) -> None:
        if worker.returncode is None:
            with contextlib.suppress(OSError):
                worker.proc.send_signal(signum)

    async def _watchdog(self) -> None:
        interval = min(1.0, max(0.05, self._config.watchdog_grace_s / 2))
        slots = self._slots
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic_ns()
            for worker in list(self._workers.values()):
                started = slots[worker.index]
                if (started and now - started > self._watchdog_ns and worker.ready
                        and worker.returncode is None and not worker.killed_by_watchdog):
                    logger.error("Worker %d (pid %d) has been answering one request for longer "
                                 "than the scoring timeout plus %.0f s; killing it and starting "
                                 "a new one", worker.index, worker.pid,
                                 self._config.watchdog_grace_s)
                    worker.killed_by_watchdog = True
                    self._signal(worker, signal.SIGKILL)

    # ----- control.sock ----------------------------------------------------------------------

    async def _serve_control(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._control_connections.add(task)
        try:
            while True:
                message = await frames.read_message(reader, CONTROL_MAX_PAYLOAD)
                request = frames.decode_request(message)
                path, _ = contract.split_target(request.target)
                if path == "/" and request.method == "GET":
                    ready = self._all_ready and not self._stopping

                    def handler(ready=ready):
                        return contract.health(ready)
                else:
                    def handler():
                        return contract.json_error(404, NotFound.description)
                status, headers, body = contract.answer(contract.header_lookup(request.headers),
                                                        handler)
                writer.write(frames.encode_response_head(status, headers, len(body)) + body)
                await writer.drain()
        except frames.ProtocolError as error:
            logger.warning("Closing a control connection that broke the frame protocol: %s",
                           error)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._control_connections.discard(task)
            writer.close()
