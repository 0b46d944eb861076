"""Request-id headers, as the Azure ML inference server handles them.

`x-request-id` is echoed (or a new UUID is made); `x-ms-client-request-id` is echoed;
`x-ms-request-id` (deprecated) is echoed, or filled from the client request id or the request id.
Ids longer than 100 characters are refused with 431.
"""

import dataclasses
import os
from typing import Callable, List, Optional, Tuple

HEADER_LIMIT = 100
_RANDOM_POOL_IDS = 256


class _RandomPool:
    """Random bytes read from the OS 256 ids at a time (os.urandom is a system call)."""

    def __init__(self):
        self._data = b""
        self._offset = 0
        # A forked child must not hand out its parent's ids.
        os.register_at_fork(after_in_child=self.clear)

    def clear(self) -> None:
        self._data, self._offset = b"", 0

    def take16(self) -> bytes:
        if self._offset >= len(self._data):
            self._data, self._offset = os.urandom(16 * _RANDOM_POOL_IDS), 0
        offset = self._offset
        self._offset = offset + 16
        return self._data[offset:offset + 16]


_random = _RandomPool()


def new_request_id() -> str:
    """A random (version 4) UUID in its usual text form, as str(uuid.uuid4())."""
    raw = bytearray(_random.take16())
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclasses.dataclass
class RequestIds:
    request_id: str = ""
    legacy_client_request_id: str = ""  # x-ms-request-id
    client_request_id: str = ""  # x-ms-client-request-id

    def headers(self) -> List[Tuple[str, str]]:
        out = []
        if self.request_id:
            out.append(("x-request-id", self.request_id))
        if self.legacy_client_request_id:
            out.append(("x-ms-request-id", self.legacy_client_request_id))
        if self.client_request_id:
            out.append(("x-ms-client-request-id", self.client_request_id))
        return out


def resolve(get_header: Callable[[str], Optional[str]]) -> Tuple[RequestIds, Optional[str]]:
    """Returns the ids to answer with and, when one is too long, the 431 message.

    `get_header(name)` returns a request header's value or None (names are lower case).
    """
    ids = RequestIds()
    request_id = get_header("x-request-id")
    if request_id is None:
        request_id = new_request_id()
    if len(request_id) > HEADER_LIMIT:
        return ids, f"x-request-id must not exceed {HEADER_LIMIT} characters"
    ids.request_id = request_id

    legacy = get_header("x-ms-request-id") or ""
    client = get_header("x-ms-client-request-id") or ""
    if legacy:
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        return ids, (f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} "
                     "characters")
    ids.legacy_client_request_id = legacy
    ids.client_request_id = client
    return ids, None
