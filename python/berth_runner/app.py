"""Routes and error mapping of the scoring server, run inside a worker process.

`ScoringApp.handle(environ)` answers one request (a WSGI environ) with
(status, reason, headers, body). The supervisor adds the request-id headers and frames the HTTP.
"""

import logging
from typing import List, Tuple

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Response

from azureml_inference_server_http.api.aml_request import AMLRequest
from azureml_inference_server_http.api.aml_response import AMLResponse
from inference_schema.schema_decorators import InputConversionError

from . import user_script as us
from .messages import (EXEC_TIME_HEADER, INTERNAL_ERROR_MESSAGE, METHOD_NOT_ALLOWED_MESSAGE,
                       RUN_FAILED_HEADER, RUN_FAILED_MESSAGE, scoring_timeout_message)
from .swagger import SwaggerDocs, SwaggerError

logger = logging.getLogger("berth_runner.app")


Result = Tuple[int, str, List[Tuple[str, str]], bytes]


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


class ScoringApp:
    def __init__(self, script: us.UserScript, swagger: SwaggerDocs, scoring_timeout_ms: int):
        self._script = script
        self._swagger = swagger
        self._timeout_ms = scoring_timeout_ms

    def handle(self, environ) -> Result:
        request = AMLRequest(environ)
        try:
            response = self._route(request)
            app_iter, status, headers = response.get_wsgi_response(environ)
            try:
                body = b"".join(app_iter)
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
        except Exception:
            logger.exception("Unhandled error while answering %s %s", request.method,
                             request.path)
            response = error_response(500, INTERNAL_ERROR_MESSAGE)
            app_iter, status, headers = response.get_wsgi_response(environ)
            body = b"".join(app_iter)
        code_text, _, reason = status.partition(" ")
        return int(code_text), reason, [(str(k), str(v)) for k, v in headers], body

    def _route(self, request) -> Response:
        path = request.path
        if path == "/score":
            return self._score(request)
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

    def _score(self, request) -> Response:
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
            elapsed_ms, output = script.invoke_run(arguments, dict(request.headers),
                                                   self._timeout_ms)
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
        else:
            try:
                response = AMLResponse(output, 200, json_str=True)
            except (TypeError, ValueError, RecursionError):
                logger.exception("The output of run() cannot be serialised as JSON")
                return error_response(500, INTERNAL_ERROR_MESSAGE)
        return self._with_exec_time(response, elapsed_ms)

    @staticmethod
    def _with_exec_time(response: Response, elapsed_ms: float) -> Response:
        response.headers.add(EXEC_TIME_HEADER, f"{elapsed_ms:.3f}")
        return response
