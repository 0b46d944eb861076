"""The supervisor: the runner's parent process.

It listens on the port and speaks HTTP/1.1 (keep-alive) to clients, and starts WORKER_COUNT worker
processes (worker.py) that each load the scoring script and call init() once. Each request is
handed whole to an idle worker over that worker's socket; a worker answers one request at a time,
so N concurrent requests run in N different processes. Keeping client connections in the
supervisor means an idle keep-alive connection never ties up a worker (berthd pools connections).

`GET /` is answered here ("Healthy") once every worker has finished init(), so health probes are
not queued behind long scoring calls. The port is listened on from the start; connections wait in
the backlog until then.

A worker that dies is replaced; one that fails to start (import error, missing init/run, init()
raised: its traceback is on stderr) makes the runner exit with code 3. A request whose worker
exceeds the scoring timeout by WATCHDOG_GRACE_S (run() stuck in native code) is answered 500 and
the worker is killed and replaced. SIGTERM/SIGINT: stop accepting, let requests in progress finish
(up to DRAIN_TIMEOUT_S), stop the workers, exit 0.
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from . import SERVER_VERSION, http1, ipc, request_ids
from .config import Config
from .messages import (INTERNAL_ERROR_MESSAGE, RUN_FAILED_HEADER, RUN_FAILED_MESSAGE,
                       scoring_timeout_message)
from .worker import EXIT_BOOT_FAILURE

logger = logging.getLogger("berth_runner.server")
access_logger = logging.getLogger("berth_runner.access")

WATCHDOG_GRACE_S = 10.0
DRAIN_TIMEOUT_S = 30.0
WORKER_STOP_TIMEOUT_S = 5.0
_ID_HEADERS = frozenset({"x-request-id", "x-ms-request-id", "x-ms-client-request-id",
                         "x-ms-server-version"})
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Answer = Tuple[int, str, List[Tuple[str, str]], bytes]


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (raises OSError, e.g. when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _json_answer(status: int, message: str, run_function_failed: bool = False) -> Answer:
    body = json.dumps({"message": message}).encode("utf-8")
    return status, "", [("Content-Type", "application/json"),
                        (RUN_FAILED_HEADER, str(run_function_failed))], body


class _Worker:
    def __init__(self, index: int, proc: subprocess.Popen):
        self.index = index
        self.proc = proc
        self.pid = proc.pid
        self.state = "booting"  # booting -> idle <-> busy -> retired | dead
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None
        self.ready = asyncio.get_running_loop().create_future()
        self.exited = asyncio.Event()
        self.returncode: Optional[int] = None

    def close_channel(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Supervisor:
    def __init__(self, config: Config, sock: socket.socket):
        self._config = config
        self._sock = sock
        self._workers: Dict[int, _Worker] = {}
        self._idle: "asyncio.Queue[_Worker]" = asyncio.Queue()
        self._stop = asyncio.Event()
        self._stopping = False
        self._exit_code = 0
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._connections: set = set()
        self._watchdog_s = config.scoring_timeout_ms / 1000.0 + WATCHDOG_GRACE_S

    # ----- lifecycle -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_stop_signal, signum)
        server = await asyncio.start_server(self._serve_connection, sock=self._sock,
                                            start_serving=False, limit=http1.MAX_HEADER_BYTES)
        initial = [self._spawn(index) for index in range(self._config.worker_count)]
        all_ready = asyncio.ensure_future(asyncio.gather(*(w.ready for w in initial)))
        stop_wait = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({all_ready, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not self._stop.is_set():
            await server.start_serving()
            logger.info("Listening on http://%s:%d with %d worker(s) (%s)", self._config.host,
                        self._config.port, self._config.worker_count, SERVER_VERSION)
            await stop_wait
        all_ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await all_ready
        await self._shutdown(server)
        return self._exit_code

    def _on_stop_signal(self, signum: int) -> None:
        logger.info("Received %s; shutting down", signal.Signals(signum).name)
        self._stop.set()

    def _fail(self, exit_code: int) -> None:
        if not self._stopping:
            self._exit_code = exit_code
        self._stop.set()

    async def _shutdown(self, server) -> None:
        self._stopping = True
        server.close()
        if self._exit_code == 0 and self._in_flight:
            try:
                await asyncio.wait_for(self._drained.wait(), DRAIN_TIMEOUT_S)
            except asyncio.TimeoutError:
                logger.warning("Requests still running after %.0f s; stopping anyway",
                               DRAIN_TIMEOUT_S)
        for task in list(self._connections):
            task.cancel()
        workers = [w for w in self._workers.values() if w.returncode is None]
        for worker in workers:
            worker.close_channel()  # an idle worker exits on end of stream
            if self._exit_code != 0:
                self._kill(worker)
        waits = [asyncio.ensure_future(w.exited.wait()) for w in workers]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=WORKER_STOP_TIMEOUT_S)
            if pending:
                for worker in workers:
                    self._kill(worker)
                await asyncio.wait(pending, timeout=WORKER_STOP_TIMEOUT_S)
        for worker in workers:
            if worker.returncode is None:  # missed SIGCHLD (e.g. a signal storm); collect it
                worker.proc.wait()

    # ----- workers ---------------------------------------------------------------------------

    def _worker_env(self) -> Dict[str, str]:
        env = dict(os.environ)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if _PACKAGE_ROOT not in paths:
            paths.insert(0, _PACKAGE_ROOT)
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def _spawn(self, index: int) -> _Worker:
        parent_end, child_end = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "berth_runner", "--worker-fd", str(child_end.fileno()),
                 "--worker-index", str(index), "--supervisor-pid", str(os.getpid())],
                pass_fds=(child_end.fileno(),), cwd=self._config.app_root, env=self._worker_env())
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        worker = _Worker(index, proc)
        self._workers[index] = worker
        logger.info("Started worker %d (pid %d)", index, proc.pid)
        asyncio.ensure_future(self._boot(worker, parent_end))
        return worker

    async def _boot(self, worker: _Worker, channel: socket.socket) -> None:
        worker.reader, worker.writer = await asyncio.open_unix_connection(sock=channel)
        try:
            meta, _ = await ipc.read_frame(worker.reader)
        except (asyncio.IncompleteReadError, ConnectionError, ipc.FrameError):
            meta = {}
        if meta.get("kind") == "ready" and worker.state == "booting":
            worker.state = "idle"
            worker.ready.set_result(worker.pid)
            self._idle.put_nowait(worker)
            logger.info("Worker %d (pid %d) is ready", worker.index, worker.pid)
            return
        # The worker closed its end: it is exiting (code 3 after printing its traceback).
        try:
            await asyncio.wait_for(worker.exited.wait(), WORKER_STOP_TIMEOUT_S)
        except asyncio.TimeoutError:
            self._kill(worker)
            await worker.exited.wait()
        if not self._stopping:
            logger.error("Worker %d (pid %d) failed to start the scoring script (exit code %s); "
                         "exiting with code %d", worker.index, worker.pid, worker.returncode,
                         EXIT_BOOT_FAILURE)
            self._fail(EXIT_BOOT_FAILURE)

    def _reap(self) -> None:
        for worker in list(self._workers.values()):
            if worker.returncode is None and worker.proc.poll() is not None:
                worker.returncode = worker.proc.returncode
                previous, worker.state = worker.state, "dead"
                worker.close_channel()
                worker.exited.set()
                if self._stopping or previous == "booting":
                    continue  # _boot reports start failures
                logger.warning("Worker %d (pid %d) exited with code %s; starting a new one",
                               worker.index, worker.pid, worker.returncode)
                try:
                    self._spawn(worker.index)
                except OSError as error:  # e.g. out of memory: let the platform restart us
                    logger.error("Cannot start a worker process: %s", error)
                    self._fail(1)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        if worker.returncode is None:
            try:
                worker.proc.kill()
            except OSError:
                pass

    def _retire(self, worker: _Worker, kill: bool) -> None:
        """Takes a worker out of service; the reaper replaces it once it has exited."""
        if worker.state in ("idle", "busy"):
            worker.state = "retired"
        worker.close_channel()
        if kill:
            self._kill(worker)

    async def _dispatch(self, meta: dict, body: bytes) -> Answer:
        frame = ipc.encode(meta, body)
        while True:
            worker = await self._idle.get()
            if worker.state != "idle":
                continue  # died while idle
            worker.state = "busy"
            try:
                worker.writer.write(frame)
                await worker.writer.drain()
                break
            except (ConnectionError, OSError):
                self._retire(worker, kill=True)  # it never saw the request: try another one
        try:
            reply, reply_body = await asyncio.wait_for(ipc.read_frame(worker.reader),
                                                       self._watchdog_s)
        except asyncio.TimeoutError:
            logger.error("Worker %d (pid %d) did not answer within the scoring timeout plus %.0f s;"
                         " killing it", worker.index, worker.pid, WATCHDOG_GRACE_S)
            self._retire(worker, kill=True)
            return _json_answer(500, scoring_timeout_message(self._config.scoring_timeout_ms),
                                run_function_failed=True)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ipc.FrameError):
            logger.error("Worker %d (pid %d) exited while answering a request", worker.index,
                         worker.pid)
            self._retire(worker, kill=True)
            return _json_answer(500, RUN_FAILED_MESSAGE, run_function_failed=True)
        except asyncio.CancelledError:
            self._retire(worker, kill=True)
            raise
        if worker.state == "busy":
            worker.state = "idle"
            self._idle.put_nowait(worker)
        return (int(reply["status"]), str(reply.get("reason", "")),
                [(str(k), str(v)) for k, v in reply.get("headers", [])], reply_body)

    # ----- HTTP ------------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while not self._stopping:
                try:
                    request = await http1.read_request(reader, writer)
                except http1.HttpError as error:
                    status, _, headers, body = _json_answer(error.status, error.message)
                    writer.write(http1.encode_response(status, "", headers, body,
                                                       keep_alive=False, head_request=False))
                    await writer.drain()
                    break
                if request is None:
                    break
                self._in_flight += 1
                self._drained.clear()
                try:
                    status, reason, headers, body = await self._answer_safely(request, peer)
                    keep_alive = request.keep_alive and not self._stopping
                    writer.write(http1.encode_response(status, reason, headers, body,
                                                       keep_alive=keep_alive,
                                                       head_request=request.method == "HEAD"))
                    await writer.drain()
                finally:
                    self._in_flight -= 1
                    if self._in_flight == 0:
                        self._drained.set()
                if not keep_alive:
                    break
        except (ConnectionError, OSError):
            pass  # the client went away
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer_safely(self, request: http1.Request, peer) -> Answer:
        try:
            return await self._answer(request, peer)
        except Exception:  # a bug here must cost one request, not the connection handler
            logger.exception("Unhandled error while answering %s %s", request.method,
                             request.target)
            return _json_answer(500, INTERNAL_ERROR_MESSAGE)

    async def _answer(self, request: http1.Request, peer) -> Answer:
        start = time.perf_counter()
        target = request.target
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            path, query = parts.path or "/", parts.query
        else:
            path, _, query = target.partition("?")

        ids, id_error = request_ids.resolve(request.header)
        if id_error is not None:
            status, reason, headers, body = _json_answer(431, id_error)
        elif path == "/" and request.method in ("GET", "HEAD"):
            status, reason, headers, body = 200, "OK", [
                ("Content-Type", "text/plain; charset=utf-8")], b"Healthy"
        else:
            meta = {"kind": "request", "method": request.method, "target": target, "path": path,
                    "query": query, "version": request.version, "headers": request.headers,
                    "remote_addr": str(peer[0]), "remote_port": peer[1] if len(peer) > 1 else ""}
            status, reason, headers, body = await self._dispatch(meta, request.body)

        headers = [(k, v) for k, v in headers if k.lower() not in _ID_HEADERS]
        headers.extend(ids.headers())
        headers.append(("x-ms-server-version", SERVER_VERSION))
        trace_id = request.header("TraceId")
        if trace_id is not None:
            headers.append(("TraceId", trace_id))
        if path != "/":
            duration_ms = (time.perf_counter() - start) * 1000
            access_logger.info("%s %s %d %.3fms %d", request.method, target, status, duration_ms,
                               len(body))
        return status, reason, headers, body
