"""Minimal HTTP/1.1 server-side message handling on asyncio streams (used by the supervisor).

Requests: request line + headers (at most MAX_HEADER_BYTES), a body framed by Content-Length or
chunked transfer coding, `Expect: 100-continue`, keep-alive by default on HTTP/1.1 (`Connection:
close` ends it) and opt-in on HTTP/1.0. Responses always carry Content-Length.
"""

import asyncio
import dataclasses
import email.utils
import http
import re
from typing import List, Optional, Tuple

MAX_HEADER_BYTES = 64 * 1024
MAX_CHUNK_LINE = 4096
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers the supervisor frames itself; a worker's values for them are dropped.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "trailer", "upgrade", "content-length"})

Headers = List[Tuple[str, str]]


class HttpError(Exception):
    """The request cannot be read; answer `status` and close the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass
class Request:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: Headers
    body: bytes = b""
    keep_alive: bool = True

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_tokens(self, name: str) -> List[str]:
        name = name.lower()
        tokens = []
        for key, value in self.headers:
            if key.lower() == name:
                tokens.extend(t.strip().lower() for t in value.split(",") if t.strip())
        return tokens


def _parse_head(head: bytes) -> Request:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    while lines and lines[0] == "":  # RFC 9112: ignore empty lines before the request line
        lines.pop(0)
    if not lines:
        raise HttpError(400, "empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(400, "malformed request method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "HTTP version not supported")
    headers: Headers = []
    for line in lines[1:]:
        if line == "":
            continue
        if line[0] in " \t":
            raise HttpError(400, "obsolete header line folding is not supported")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(400, "malformed header line")
        headers.append((name, value.strip(" \t")))
    request = Request(method=method, target=target, version=version, headers=headers)
    connection = request.header_tokens("connection")
    if version == "HTTP/1.1":
        request.keep_alive = "close" not in connection
    else:
        request.keep_alive = "keep-alive" in connection
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        line = await reader.readuntil(b"\r\n")
        if len(line) > MAX_CHUNK_LINE:
            raise HttpError(400, "chunk size line too long")
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(400, "malformed chunk size") from None
        if size < 0:
            raise HttpError(400, "malformed chunk size")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers are read and dropped
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise HttpError(400, "malformed chunk")


async def read_request(reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> Optional[Request]:
    """Reads the next request; None when the client closed the connection between requests.

    Raises HttpError for a request that cannot be read (the connection must then be closed).
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise HttpError(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request header fields too large") from None
    if len(head) > MAX_HEADER_BYTES:
        raise HttpError(431, "request header fields too large")
    request = _parse_head(head)

    transfer_encoding = request.header_tokens("transfer-encoding")
    content_length = [v for k, v in request.headers if k.lower() == "content-length"]
    if transfer_encoding and content_length:
        raise HttpError(400, "both Transfer-Encoding and Content-Length are present")
    length = 0
    if transfer_encoding:
        if transfer_encoding[-1] != "chunked" or request.version == "HTTP/1.0":
            raise HttpError(501, "unsupported transfer coding")
    elif content_length:
        values = {v.strip() for value in content_length for v in value.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise HttpError(400, "invalid Content-Length")
        length = int(next(iter(values)))

    has_body = bool(transfer_encoding) or length > 0
    if has_body and request.version == "HTTP/1.1" and "100-continue" in request.header_tokens(
            "expect"):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    try:
        if transfer_encoding:
            request.body = await _read_chunked(reader)
        elif length:
            request.body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise HttpError(400, "incomplete request body") from None
    except asyncio.LimitOverrunError:
        raise HttpError(400, "chunk size line too long") from None
    return request


def reason_phrase(status: int, fallback: str = "") -> str:
    """The standard phrase of `status`; `fallback` (or "Unknown") for codes with none."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return fallback or "Unknown"


def encode_response(status: int, reason: str, headers: Headers, body: bytes, *, keep_alive: bool,
                    head_request: bool) -> bytes:
    """Serialises a response; framing headers are recomputed, hop-by-hop ones dropped, and
    `reason` is used only for status codes without a standard phrase.

    For HEAD the body is not sent; a Content-Length given by the handler is kept.
    """
    reason = reason_phrase(status, reason).replace("\r", " ").replace("\n", " ")
    lines = [f"HTTP/1.1 {status} {reason}"]
    given_length = None
    has_date = False
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length":
            given_length = value
        if lower in HOP_BY_HOP:
            continue
        has_date = has_date or lower == "date"
        lines.append(f"{name}: {value}".replace("\r", " ").replace("\n", " "))
    if not has_date:
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    bodiless_status = status < 200 or status in (204, 304)
    if bodiless_status:
        body = b""
    elif head_request:
        lines.append(f"Content-Length: {given_length if given_length is not None else len(body)}")
        body = b""
    else:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n")
    try:
        head_bytes = head.encode("latin-1")
    except UnicodeEncodeError:
        # Header values are latin-1 on the wire; anything else is sent as UTF-8 bytes.
        head_bytes = head.encode("utf-8")
    return head_bytes + body
