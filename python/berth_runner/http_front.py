"""Standalone mode's HTTP front (`python -m berth_runner --port N`), in the parent process.

aiohttp's low-level server speaks HTTP/1.1 to clients (keep-alive, chunked bodies, size limits);
each request is sent as a berth frame to an idle worker over that worker's socket, and the frame it
answers becomes the HTTP response. So standalone mode serves exactly what berth mode serves, with
one more process on the path. `GET /` (and HEAD) is answered here once every worker has finished
init(), so health probes are not queued behind scoring; the port accepts connections from the
start and they wait in the backlog until then.

A worker that dies while answering costs that request a 500 with `x-ms-run-function-failed: True`
(the scoring-timeout message when it ran past the watchdog's limit).
"""

import asyncio
import logging
import socket
import time
from typing import List, Optional

from aiohttp import web
from multidict import CIMultiDict

from . import SERVER_VERSION, contract, frames
from .messages import INTERNAL_ERROR_MESSAGE, RUN_FAILED_MESSAGE, scoring_timeout_message

logger = logging.getLogger("berth_runner.http")

MAX_LINE_BYTES = 64 * 1024
# Request headers a frame must not carry (docs/runner-protocol.md).
_NOT_FORWARDED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te",
                            b"upgrade", b"content-length"})
# The front's own limit on waiting for a worker's answer, past the watchdog's (which kills it).
_ANSWER_MARGIN_S = 5.0


def listen_tcp(host: str, port: int) -> socket.socket:
    """The HTTP listening socket (raises OSError, e.g. when the port is taken)."""
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


class _Channel:
    """The front's connection to one worker socket; used by one request at a time."""

    def __init__(self, path: str):
        self.path = path
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None

    async def ensure_open(self) -> None:
        if (self.writer is None or self.writer.is_closing() or self.reader.at_eof()
                or self.reader.exception() is not None):
            self.close()  # the worker was replaced since the last request
            self.reader, self.writer = await asyncio.open_unix_connection(self.path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpFront:
    def __init__(self, sock: socket.socket, worker_paths: List[str], *, scoring_timeout_ms: int,
                 watchdog_s: float):
        self._sock = sock
        self._timeout_ms = scoring_timeout_ms
        self._watchdog_s = watchdog_s
        self._idle: "asyncio.Queue[_Channel]" = asyncio.Queue()
        for path in worker_paths:
            self._idle.put_nowait(_Channel(path))
        self._channels = list(self._idle._queue)  # type: ignore[attr-defined]
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._stopping = False
        self._web_server = web.Server(self._handle, access_log=None,
                                      max_line_size=MAX_LINE_BYTES,
                                      max_field_size=MAX_LINE_BYTES)
        self._server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> None:
        """Takes the socket; connections wait in the backlog until start_serving()."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._web_server, sock=self._sock,
                                                start_serving=False)

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def shutdown(self, drain_timeout_s: float) -> None:
        """Stops accepting and waits (up to `drain_timeout_s`) for requests in progress."""
        self._stopping = True
        self._server.close()
        try:
            await asyncio.wait_for(self._drained.wait(), drain_timeout_s)
        except asyncio.TimeoutError:
            logger.warning("Requests still running after %.0f s; stopping anyway",
                           drain_timeout_s)

    async def close(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        await self._web_server.shutdown(1.0)
        for channel in self._channels:
            channel.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._in_flight += 1
        self._drained.clear()
        try:
            try:
                status, headers, body = await self._answer(request)
            except Exception:  # a bug here must cost one request, not the connection
                logger.exception("Unhandled error while answering %s %s", request.method,
                                 request.raw_path)
                status, headers, body = contract.answer(
                    request.headers, lambda: contract.json_error(500, INTERNAL_ERROR_MESSAGE))
            response = web.Response(status=status, body=body, headers=CIMultiDict(headers))
            response.headers.setdefault("Server", SERVER_VERSION)
            if self._stopping:
                response.force_close()
            return response
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    async def _answer(self, request: web.BaseRequest) -> contract.Answer:
        target = request.raw_path
        path, _ = contract.split_target(target)
        if path == "/" and request.method in ("GET", "HEAD"):
            return contract.answer(request.headers, lambda: contract.health(True))
        if (request.version >= (1, 1)
                and request.headers.get("Expect", "").lower() == "100-continue"):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await request.content.read()  # request.read() would refuse bodies over 1 MiB
        peer = request.transport.get_extra_info("peername") if request.transport else None
        remote_addr, remote_port = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        frame = frames.encode_request(
            request.method, target.encode("utf-8", "surrogateescape"), remote_addr, remote_port,
            [(name, value) for name, value in request.raw_headers
             if name.lower() not in _NOT_FORWARDED and not name.lower().startswith(b"proxy-")],
            body)
        answer, from_worker = await self._forward(frame)
        if not from_worker:
            return contract.answer(request.headers, lambda: answer)
        return answer

    async def _forward(self, frame: bytes):
        """(answer, True) with the worker's answer; (error answer, False) when the worker died
        while answering, or overran the watchdog's limit (it is then killed)."""
        channel = await self._idle.get()
        started = time.monotonic()
        try:
            await channel.ensure_open()
            channel.writer.write(frame)
            message = await asyncio.wait_for(frames.read_message(channel.reader),
                                             self._watchdog_s + _ANSWER_MARGIN_S)
            status, headers, body = frames.decode_response(message)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError,
                frames.ProtocolError) as error:
            channel.close()
            if time.monotonic() - started >= self._watchdog_s:
                return contract.json_error(500, scoring_timeout_message(self._timeout_ms),
                                           run_function_failed=True), False
            logger.error("A worker exited while answering a request (%s)", type(error).__name__)
            return contract.json_error(500, RUN_FAILED_MESSAGE, run_function_failed=True), False
        except BaseException:  # cancelled: the client went away; the worker's answer is dropped
            channel.close()
            raise
        finally:
            self._idle.put_nowait(channel)
        return (status, [(name, _header_text(value)) for name, value in headers], body), True


def _header_text(value: str) -> str:
    """A response header value for aiohttp (which sends str as UTF-8) from its latin-1 frame text:
    UTF-8 bytes stay as they were."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value
