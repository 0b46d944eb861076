"""Routes and error mapping of the scoring server, run inside a worker process.

`ScoringApp.handle(request)` answers one decoded frame (frames.Request) with
(status, headers, body); the worker adds the contract's headers (contract.answer).

Most requests go through werkzeug exactly like a Flask app would see them: an AMLRequest over a
WSGI environ, a werkzeug Response. The hot path, POST /score to a script that does not take the
raw request, skips the environ and werkzeug objects: `FastRequest` offers what the binding
(user_script.parse_input) reads, with werkzeug's values, and a JSON result is serialised the way
AMLResponse does it.
"""

import functools
import io
import json
import logging
import sys
from typing import Callable, Dict, List, Tuple
from urllib.parse import unquote_to_bytes

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.http import parse_options_header
from werkzeug.wrappers import Response

from azureml_inference_server_http.api.aml_request import AMLRequest
from azureml_inference_server_http.api.aml_response import AMLResponse
from inference_schema.schema_decorators import InputConversionError

from . import user_script as us
from .contract import split_target
from .frames import Request
from .messages import (EXEC_TIME_HEADER, INTERNAL_ERROR_MESSAGE, METHOD_NOT_ALLOWED_MESSAGE,
                       RUN_FAILED_HEADER, RUN_FAILED_MESSAGE, scoring_timeout_message)
from .swagger import SwaggerDocs, SwaggerError

logger = logging.getLogger("berth_runner.app")

Answer = Tuple[int, List[Tuple[str, str]], bytes]

_JSON_CONTENT_TYPE = ("Content-Type", "application/json")
_RUN_SUCCEEDED = (RUN_FAILED_HEADER, "False")


def error_response(status: int, message: str, run_function_failed: bool = False) -> Response:
    """The server's error body: {"message": ...} as application/json."""
    return AMLResponse({"message": message}, status, json_str=True,
                       run_function_failed=run_function_failed)


def _as_werkzeug_response(output):
    """`output` as a werkzeug Response when it is one (AMLResponse, Flask's Response) or looks like
    one (status_code, headers and get_data); otherwise None."""
    if isinstance(output, Response):
        return output
    if all(hasattr(output, name) for name in ("status_code", "headers", "get_data")):
        return Response(output.get_data(), status=output.status_code,
                        headers=list(output.headers.items()))
    return None


def _method_not_allowed(allowed) -> Response:
    response = error_response(405, MethodNotAllowed.description)
    response.headers["Allow"] = ", ".join(allowed)
    return response


def build_environ(request: Request, host: str, port: int) -> dict:
    """The WSGI environ of a request, as a WSGI server would build it."""
    path, query = split_target(request.target)
    body = request.body
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": request.target,
        "RAW_URI": request.target,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.remote_addr,
        "REMOTE_PORT": str(request.remote_port),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body arrives complete and de-chunked
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def werkzeug_headers(request: Request) -> Dict[str, str]:
    """dict(AMLRequest(build_environ(request)).headers), without building either: werkzeug's
    names (`X-Ms-Client-Request-Id`), repeated headers joined with ",", Content-Length first."""
    headers = {"Content-Length": str(len(request.body))}
    for name, value in request.headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        if key == "CONTENT_TYPE":
            headers["Content-Type"] = value  # the last one wins, at the first one's place
            continue
        title = key.replace("_", "-").title()
        headers[title] = f"{headers[title]},{value}" if title in headers else value
    if headers.get("Content-Type") == "":
        del headers["Content-Type"]  # werkzeug lists CONTENT_TYPE only when it is not empty
    return headers


@functools.lru_cache(maxsize=64)
def _is_json_content_type(content_type: str) -> bool:
    """werkzeug's Request.is_json for this Content-Type value."""
    mimetype = parse_options_header(content_type)[0].lower()
    return mimetype == "application/json" or (mimetype.startswith("application/")
                                              and mimetype.endswith("+json"))


class FastRequest:
    """What the binding of a non-raw run() reads from a POST /score request, with the values an
    AMLRequest would give."""

    __slots__ = ("_request", "method")

    def __init__(self, request: Request):
        self._request = request
        self.method = request.method

    def get_data(self) -> bytes:
        return self._request.body

    @property
    def is_json(self) -> bool:
        content_type = ""
        for name, value in self._request.headers:  # the environ keeps the last Content-Type
            if name.upper().replace("-", "_") == "CONTENT_TYPE":
                content_type = value
        return _is_json_content_type(content_type)


class ScoringApp:
    def __init__(self, script: us.UserScript, swagger: SwaggerDocs, scoring_timeout_ms: int,
                 host: str = "127.0.0.1", port: int = 0):
        self._script = script
        self._swagger = swagger
        self._timeout_ms = scoring_timeout_ms
        self._host = host
        self._port = port
        self._fast_scoring = not script.raw_http

    def handle(self, request: Request) -> Answer:
        environ = None
        try:
            if (self._fast_scoring and request.method == "POST"
                    and request.target.partition("?")[0] == "/score"):
                response = self._score(FastRequest(request),
                                       functools.partial(werkzeug_headers, request))
                if type(response) is tuple:
                    return response
            else:
                environ = build_environ(request, self._host, self._port)
                response = self._route(AMLRequest(environ))
                if type(response) is tuple:
                    return response
            return self._flatten(response, request, environ)
        except Exception:
            logger.exception("Unhandled error while answering %s %s", request.method,
                             request.target)
            return self._flatten(error_response(500, INTERNAL_ERROR_MESSAGE), request, environ)

    def _flatten(self, response: Response, request: Request, environ) -> Answer:
        """(status, headers, body) of a werkzeug response. For HEAD the body is the one GET would
        get: the HTTP server in front drops it and sends its length."""
        if environ is None or request.method == "HEAD":
            environ = build_environ(request, self._host, self._port)
            environ["REQUEST_METHOD"] = "GET"
        app_iter, status, headers = response.get_wsgi_response(environ)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return int(status.partition(" ")[0]), [(str(k), str(v)) for k, v in headers], body

    def _route(self, request):
        path = request.path
        if path == "/score":
            return self._score(request, lambda: dict(request.headers))
        if path == "/":
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed(("GET", "HEAD"))
            return Response("Healthy", mimetype="text/plain")
        if path == "/swagger.json":
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed(("GET", "HEAD"))
            try:
                document = self._swagger.get(request.args.get("version", "2"))
            except SwaggerError as error:
                return error_response(404, str(error))
            return AMLResponse(document, 200, json_str=True)
        return error_response(404, NotFound.description)

    def _score(self, request, request_headers: Callable[[], Dict[str, str]]):
        """A werkzeug Response, or an Answer for a JSON result of run()."""
        script = self._script
        allowed = ("GET", "POST", "OPTIONS", "HEAD") if script.raw_http else ("GET", "POST")
        if request.method not in allowed:
            if request.method == "OPTIONS":
                return AMLResponse("", 200)
            return error_response(405, METHOD_NOT_ALLOWED_MESSAGE)
        try:
            arguments = script.parse_input(request)
        except us.BadInput as error:
            return error_response(400, str(error))
        except us.UnsupportedInput as error:
            return error_response(415, str(error))
        except us.UnsupportedMethod:
            return error_response(405, METHOD_NOT_ALLOWED_MESSAGE)

        try:
            elapsed_ms, output = script.invoke_run(arguments, request_headers, self._timeout_ms)
        except us.RunTimedOut as error:
            logger.error("run() did not finish within the scoring timeout of %d ms",
                         error.timeout_ms)
            response = error_response(500, scoring_timeout_message(error.timeout_ms),
                                      run_function_failed=True)
            return self._with_exec_time(response, error.elapsed_ms)
        except us.RunFailed as error:
            if isinstance(error.user_exception, InputConversionError):
                # A value the declared parameter type refuses is the client's error.
                logger.info("Bad input for run(): %s", error.user_exception)
                response = error_response(400, str(error.user_exception))
            else:
                logger.error("Encountered Exception in run():", exc_info=error.user_exception)
                response = error_response(500, RUN_FAILED_MESSAGE, run_function_failed=True)
            return self._with_exec_time(response, error.elapsed_ms)

        response = _as_werkzeug_response(output)
        if response is not None:
            if response.status_code >= 500:
                response.headers[RUN_FAILED_HEADER] = "True"
            return self._with_exec_time(response, elapsed_ms)
        # As AMLResponse(output, 200, json_str=True) serialises it (None is an empty object).
        try:
            body = b"{}" if output is None else json.dumps(output).encode("utf-8")
        except (TypeError, ValueError, RecursionError):
            logger.exception("The output of run() cannot be serialised as JSON")
            return error_response(500, INTERNAL_ERROR_MESSAGE)
        return 200, [_JSON_CONTENT_TYPE, _RUN_SUCCEEDED,
                     (EXEC_TIME_HEADER, f"{elapsed_ms:.3f}")], body

    @staticmethod
    def _with_exec_time(response: Response, elapsed_ms: float) -> Response:
        response.headers.add(EXEC_TIME_HEADER, f"{elapsed_ms:.3f}")
        return response
