"""berth runner frames, version 1 (docs/runner-protocol.md): how berthd, the standalone HTTP front
and the parent's control socket exchange requests and responses with the runner's processes.

    message := u32 payload_length | payload                  (all integers big-endian)
    request  payload := u8 version=1 | u8 method_length | method | u32 target_length | target
                        | u8 remote_addr_length | remote_addr | u16 remote_port
                        | u16 header_count | header* | body
    response payload := u8 version=1 | u16 status | u16 header_count | header* | body
    header := u16 name_length | name | u32 value_length | value

Text fields are decoded as latin-1 (the bytes as received, never failing); encoding uses latin-1 and
falls back to UTF-8 for characters beyond it. A message whose lengths do not add up is a
ProtocolError: the receiver closes the connection without answering.
"""

import socket
import struct
from typing import List, Optional, Sequence, Tuple

VERSION = 1
MAX_PAYLOAD = 2 ** 31 - 1
LENGTH_SIZE = 4

Headers = List[Tuple[str, str]]

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_REQUEST_START = struct.Struct(">BB")  # version, method_length
_PORT_AND_COUNT = struct.Struct(">HH")  # remote_port, header_count
_RESPONSE_START = struct.Struct(">IBHH")  # payload_length, version, status, header_count
_RESPONSE_FIXED = _RESPONSE_START.size - LENGTH_SIZE
_RECV_SIZE = 256 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a v1 message; close the connection."""


class Request:
    """One decoded request; `headers` keeps the order and case berthd sent."""

    __slots__ = ("method", "target", "remote_addr", "remote_port", "headers", "body")

    def __init__(self, method: str, target: str, remote_addr: str, remote_port: int,
                 headers: Headers, body: bytes):
        self.method = method
        self.target = target
        self.remote_addr = remote_addr
        self.remote_port = remote_port
        self.headers = headers
        self.body = body


def _encode_text(text) -> bytes:
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _encode_headers(headers) -> bytes:
    parts = []
    append = parts.append
    pack16, pack32 = _U16.pack, _U32.pack
    for name, value in headers:
        name_bytes, value_bytes = _encode_text(name), _encode_text(value)
        append(pack16(len(name_bytes)))
        append(name_bytes)
        append(pack32(len(value_bytes)))
        append(value_bytes)
    return b"".join(parts)


def decode_request(message: bytes, start: int = LENGTH_SIZE) -> Request:
    """Decodes the request payload `message[start:]` (the whole payload: its end is the body's).

    Raises ProtocolError when a field runs past the payload or the version is not 1.
    """
    end = len(message)
    unpack16, unpack32 = _U16.unpack_from, _U32.unpack_from
    try:
        version, method_length = _REQUEST_START.unpack_from(message, start)
        if version != VERSION:
            raise ProtocolError(f"unsupported frame version {version}")
        offset = start + 2
        method = message[offset:offset + method_length].decode("latin-1")
        offset += method_length
        (target_length,) = unpack32(message, offset)
        offset += 4
        target = message[offset:offset + target_length].decode("latin-1")
        offset += target_length
        addr_length = message[offset]
        offset += 1
        remote_addr = message[offset:offset + addr_length].decode("latin-1")
        offset += addr_length
        remote_port, header_count = _PORT_AND_COUNT.unpack_from(message, offset)
        offset += 4
        headers = []
        append = headers.append
        for _ in range(header_count):
            (name_length,) = unpack16(message, offset)
            offset += 2
            name = message[offset:offset + name_length]
            offset += name_length
            (value_length,) = unpack32(message, offset)
            offset += 4
            value = message[offset:offset + value_length]
            offset += value_length
            append((name.decode("latin-1"), value.decode("latin-1")))
    except (struct.error, IndexError):
        raise ProtocolError("a request field runs past the end of the payload") from None
    if offset > end:  # only the last value can overrun without a fixed field after it failing
        raise ProtocolError("a request field runs past the end of the payload")
    return Request(method, target, remote_addr, remote_port, headers, message[offset:])


def encode_request(method: str, target, remote_addr: str, remote_port: int, headers,
                   body: bytes) -> bytes:
    """The whole request message (length prefix included); texts may be str or bytes."""
    method_bytes, target_bytes = _encode_text(method), _encode_text(target)
    addr_bytes = _encode_text(remote_addr)
    headers = list(headers)
    payload = b"".join((
        _REQUEST_START.pack(VERSION, len(method_bytes)), method_bytes,
        _U32.pack(len(target_bytes)), target_bytes,
        bytes((len(addr_bytes),)), addr_bytes,
        _PORT_AND_COUNT.pack(remote_port, len(headers)), _encode_headers(headers), body))
    return _U32.pack(len(payload)) + payload


# Encoded name fields of the response header names seen so far (a worker sends a few names over
# and over); bounded in case a script makes up names.
_NAME_FIELDS: dict = {}
_MAX_NAME_FIELDS = 512


def _name_field(name: str) -> bytes:
    name_bytes = _encode_text(name)
    field = _U16.pack(len(name_bytes)) + name_bytes
    if len(_NAME_FIELDS) < _MAX_NAME_FIELDS:
        _NAME_FIELDS[name] = field
    return field


def encode_response_head(status: int, headers: Sequence[Tuple[str, str]],
                         body_length: int) -> bytes:
    """Length prefix, status and headers of a response message; the body follows it on the wire.
    Header names and values are str."""
    names, pack32 = _NAME_FIELDS, _U32.pack
    try:
        header_bytes = b"".join([(names.get(name) or _name_field(name)) + pack32(len(value))
                                 + value.encode("latin-1") for name, value in headers])
    except UnicodeEncodeError:
        header_bytes = _encode_headers(headers)
    return _RESPONSE_START.pack(_RESPONSE_FIXED + len(header_bytes) + body_length, VERSION,
                                status, len(headers)) + header_bytes


def decode_response(message: bytes, start: int = LENGTH_SIZE) -> Tuple[int, Headers, bytes]:
    """(status, headers, body) of the response payload `message[start:]`; raises ProtocolError."""
    end = len(message)
    try:
        version, status, header_count = struct.unpack_from(">BHH", message, start)
        if version != VERSION:
            raise ProtocolError(f"unsupported frame version {version}")
        offset = start + 5
        headers = []
        for _ in range(header_count):
            (name_length,) = _U16.unpack_from(message, offset)
            offset += 2
            name = message[offset:offset + name_length]
            offset += name_length
            (value_length,) = _U32.unpack_from(message, offset)
            offset += 4
            value = message[offset:offset + value_length]
            offset += value_length
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
    except struct.error:
        raise ProtocolError("a response field runs past the end of the payload") from None
    if offset > end:
        raise ProtocolError("a response field runs past the end of the payload")
    return status, headers, message[offset:]


def _payload_length(prefix: bytes, limit: int) -> int:
    (length,) = _U32.unpack_from(prefix)
    if length > limit:
        raise ProtocolError(f"payload of {length} bytes is over the limit of {limit}")
    return length


class MessageReader:
    """Blocking reads of whole messages from connections, through one reused buffer (a fresh
    256 KiB bytes object per recv() costs the allocator mmap/mremap/munmap calls)."""

    def __init__(self, buffer_size: int = 64 * 1024, limit: int = MAX_PAYLOAD):
        self._buffer = bytearray(buffer_size)
        self._view = memoryview(self._buffer)
        self._limit = limit

    def recv(self, sock: socket.socket) -> Optional[bytes]:
        """One whole message (length prefix included); None when the peer closed the connection
        between messages.

        The peer must wait for the answer before sending its next message (one exchange at a
        time), so bytes beyond the message are a ProtocolError, as is a connection closed inside
        one.
        """
        view = self._view
        have = sock.recv_into(view)
        if not have:
            return None
        while have < LENGTH_SIZE:
            more = sock.recv_into(view[have:])
            if not more:
                raise ProtocolError("connection closed inside a message")
            have += more
        total = LENGTH_SIZE + _payload_length(self._buffer, self._limit)
        if have == total:
            return bytes(view[:have])
        if have > total:
            raise ProtocolError("bytes after the message before its answer")
        if total <= len(view):
            target = view
        else:
            large = bytearray(total)
            large[:have] = view[:have]
            target = memoryview(large)
        while have < total:
            more = sock.recv_into(target[have:total])
            if not more:
                raise ProtocolError("connection closed inside a message")
            have += more
        return bytes(target[:total])


async def read_message(reader, limit: int = MAX_PAYLOAD) -> bytes:
    """Reads one whole message from an asyncio StreamReader (IncompleteReadError at end of
    stream, ProtocolError over `limit`)."""
    prefix = await reader.readexactly(LENGTH_SIZE)
    length = _payload_length(prefix, limit)
    return prefix + await reader.readexactly(length)
