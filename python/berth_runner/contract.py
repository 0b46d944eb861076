"""The parts of the Azure ML inference server's contract that wrap every answer, whoever produces it
(a worker, the parent's control socket, the standalone HTTP front): the request-id headers (431 for
ids that are too long), `x-ms-server-version`, the `TraceId` echo, `Date`, and the access log
line.
"""

import email.utils
import json
import logging
import time
from typing import Dict, List, Tuple
from urllib.parse import urlsplit

from . import SERVER_VERSION, request_ids
from .messages import RUN_FAILED_HEADER

Headers = List[Tuple[str, str]]
Answer = Tuple[int, Headers, bytes]

SERVER_VERSION_HEADER = ("x-ms-server-version", SERVER_VERSION)
# Set here from the request, whatever the handler put in its answer.
_REPLACED = frozenset({"x-request-id", "x-ms-request-id", "x-ms-client-request-id",
                       "x-ms-server-version"})
# Headers a response message must not carry: the HTTP server in front frames the response.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "trailer", "upgrade", "content-length"})
_DROPPED = _REPLACED | HOP_BY_HOP

access_logger = logging.getLogger("berth_runner.access")
_ACCESS_FORMAT = "%s %s %d %.3fms %d"


class _HttpDate:
    """The Date header's value, formatted once per second."""

    second = -1
    text = ""


def http_date() -> str:
    now = int(time.time())
    if now != _HttpDate.second:
        _HttpDate.text = email.utils.formatdate(now, usegmt=True)
        _HttpDate.second = now
    return _HttpDate.text


def header_lookup(headers: Headers) -> Dict[str, str]:
    """The first value of each header, by lower-case name."""
    return {name.lower(): value for name, value in reversed(headers)}


def split_target(target: str) -> Tuple[str, str]:
    """(path, query) of a request target, origin-form or absolute-form, not percent-decoded."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def json_error(status: int, message: str, run_function_failed: bool = False) -> Answer:
    """The server's error body ({"message": ...}) as the worker's error responses carry it."""
    return status, [("Content-Type", "application/json"),
                    (RUN_FAILED_HEADER, str(run_function_failed))], json.dumps(
                        {"message": message}).encode("utf-8")


def health(ready: bool) -> Answer:
    if ready:
        return 200, [("Content-Type", "text/plain; charset=utf-8")], b"Healthy"
    return json_error(503, "The scoring script's init() has not finished in every worker")


def answer(lookup: Dict[str, str], handler) -> Answer:
    """Resolves the request ids of a request whose headers are `lookup` (header_lookup), calls
    `handler()` -> Answer unless they are refused (431), and returns the answer with the
    contract's headers: Date (unless the handler set one), the ids, the server version, TraceId;
    hop-by-hop headers are dropped."""
    ids, id_error = request_ids.resolve(lookup.get)
    if id_error is not None:
        status, headers, body = json_error(431, id_error)
    else:
        status, headers, body = handler()
    out = []
    has_date = False
    for header in headers:
        name = header[0].lower()
        if name not in _DROPPED:
            out.append(header)
            has_date = has_date or name == "date"
    if not has_date:
        out.append(("Date", http_date()))
    out.extend(ids.headers())
    out.append(SERVER_VERSION_HEADER)
    trace_id = lookup.get("traceid")
    if trace_id is not None:
        out.append(("TraceId", trace_id))
    return status, out, body


def access_entry(method: str, target: str, status: int, start: float, body_length: int):
    """The access log line's arguments for a request that began at perf_counter() `start`, or
    None when health probes (path "/") or a disabled logger mean no line."""
    if split_target(target)[0] == "/" or not access_logger.isEnabledFor(logging.INFO):
        return None
    return method, target, status, (time.perf_counter() - start) * 1000, body_length


def log_access(entry) -> None:
    """Writes the access log line (INFO, logger berth_runner.access) of access_entry(). Made with
    makeRecord to skip logging's caller lookup (a stack walk): the line names no source location.
    """
    access_logger.handle(access_logger.makeRecord(access_logger.name, logging.INFO, "", 0,
                                                  _ACCESS_FORMAT, entry, None))
