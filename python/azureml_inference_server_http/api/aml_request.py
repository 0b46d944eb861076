"""`@rawhttp` and AMLRequest, as in azureml-inference-server-http.

    from azureml_inference_server_http.api.aml_request import rawhttp
    from azureml_inference_server_http.api.aml_response import AMLResponse

    @rawhttp
    def run(request):          # request is the HTTP request (a werkzeug Request)
        return AMLResponse(request.get_data(), 200, {"Content-Type": "image/jpeg"})
"""

from werkzeug.wrappers import Request

# Set by @rawhttp. As in the Azure ML server this is process-wide: the runner checks it after
# importing the scoring script to decide that run() receives the request object.
_rawHttpRequested = False


def rawhttp(func):
    """Marks `run()` as taking the raw HTTP request instead of the decoded body."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


def raw_http_requested():
    """True when a loaded script used @rawhttp."""
    return _rawHttpRequested


class AMLRequest(Request):
    """The request object handed to a @rawhttp run(): a werkzeug Request (Flask's base class), with
    `method`, `headers`, `args`, `get_data()`, `get_json()`, `files`, `form`, ..."""
