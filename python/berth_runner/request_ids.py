"""Request-id headers, as the Azure ML inference server handles them.

`x-request-id` is echoed (or a new UUID is made); `x-ms-client-request-id` is echoed;
`x-ms-request-id` (deprecated) is echoed, or filled from the client request id or the request id.
Ids longer than 100 characters are refused with 431.
"""

import dataclasses
import uuid
from typing import Callable, List, Optional, Tuple

HEADER_LIMIT = 100


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
        request_id = str(uuid.uuid4())
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
