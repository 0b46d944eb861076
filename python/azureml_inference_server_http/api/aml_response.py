"""AMLResponse, as in azureml-inference-server-http: a response a scoring script returns as-is."""

import json

from werkzeug.wrappers import Response


class AMLResponse(Response):
    """A werkzeug Response (Flask's base class) built the way Azure ML's AMLResponse is.

    message: the body (str or bytes); with json_str=True it is serialised with json.dumps and
      served as application/json. None gives an empty JSON object.
    status_code: the HTTP status.
    response_headers: extra headers; as on Azure, a value holding commas is sent as one header per
      comma-separated part (the way repeated headers are requested).
    run_function_failed: the value of the `x-ms-run-function-failed` header.
    """

    def __init__(self, message, status_code, response_headers=None, json_str=False,
                 run_function_failed=False):
        response_headers = dict(response_headers or {})
        if message is None:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        elif json_str:
            super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
        else:
            super().__init__(message, status=status_code)
            if any(name.lower() == "content-type" for name in response_headers):
                # The caller's Content-Type replaces the default one instead of duplicating it.
                self.headers.remove("Content-Type")

        self.headers["x-ms-run-function-failed"] = str(bool(run_function_failed))
        for name, value in response_headers.items():
            for part in str(value).split(","):
                self.headers.add_header(name, part.strip())
