"""Frames exchanged between the supervisor and a worker process over a Unix socket pair.

A frame is a JSON object (`meta`) plus a byte string (`body`):
  4-byte big-endian meta length | 8-byte big-endian body length | meta (UTF-8 JSON) | body
Worker -> supervisor: {"kind": "ready", "pid": P} once init() succeeded, then one
{"kind": "response", ...} per {"kind": "request", ...} received, in order.
"""

import json
import socket
import struct
from typing import Optional, Tuple

_PREFIX = struct.Struct(">IQ")
MAX_META_BYTES = 16 * 1024 * 1024

Frame = Tuple[dict, bytes]


class FrameError(Exception):
    """The peer sent something that is not a frame."""


def encode(meta: dict, body: bytes = b"") -> bytes:
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    return _PREFIX.pack(len(meta_bytes), len(body)) + meta_bytes + body


def _decode_meta(raw: bytes) -> dict:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FrameError(f"bad frame metadata: {error}") from None
    if not isinstance(meta, dict):
        raise FrameError("frame metadata is not an object")
    return meta


def _recv_exactly(sock: socket.socket, size: int) -> Optional[bytes]:
    """Reads `size` bytes; None on end of stream before the first byte."""
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            if remaining == size:
                return None
            raise FrameError("connection closed inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> Optional[Frame]:
    """Blocking read of one frame; None when the peer closed the connection between frames."""
    prefix = _recv_exactly(sock, _PREFIX.size)
    if prefix is None:
        return None
    meta_len, body_len = _PREFIX.unpack(prefix)
    if meta_len > MAX_META_BYTES:
        raise FrameError(f"frame metadata too large ({meta_len} bytes)")
    meta = _decode_meta(_recv_exactly(sock, meta_len) or b"") if meta_len else {}
    body = (_recv_exactly(sock, body_len) or b"") if body_len else b""
    return meta, body


async def read_frame(reader) -> Frame:
    """Reads one frame from an asyncio StreamReader (IncompleteReadError at end of stream)."""
    prefix = await reader.readexactly(_PREFIX.size)
    meta_len, body_len = _PREFIX.unpack(prefix)
    if meta_len > MAX_META_BYTES:
        raise FrameError(f"frame metadata too large ({meta_len} bytes)")
    meta = _decode_meta(await reader.readexactly(meta_len)) if meta_len else {}
    body = await reader.readexactly(body_len) if body_len else b""
    return meta, body
