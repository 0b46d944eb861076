"""Loads an Azure ML scoring script and calls its init() and run() by the inference server's rules.

Input binding (decided once from run()'s signature and decorators):
  * @rawhttp: run's first parameter receives the request object as-is;
  * @input_schema/@output_schema: the body must be a JSON object (POST needs a JSON content type);
    each of run's parameters is taken from the top-level key of the same name;
  * otherwise: the first parameter receives the body as a str (GET: the query as a JSON string).
A parameter named `request_headers` receives dict(request.headers).
"""

import importlib.util
import inspect
import json
import logging
import os
import signal
import _signal
import sys
import time
import traceback
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional

from inference_schema.schema_util import is_schema_decorated

from .compat_path import add_compat_dir

logger = logging.getLogger("berth_runner.user_script")

MODULE_NAME = "entry_module"  # the name the Azure ML server gives the scoring module
RAW, OBJECT, JSON_STRING = "rawhttp", "input_schema", "json_string"


class UserScriptError(Exception):
    """The script cannot be served (bad signature, missing function, ...)."""


class UserScriptException(UserScriptError):
    """The script raised `user_exception` while being imported or in init()."""

    def __init__(self, message: str, user_exception: BaseException):
        super().__init__(message)
        self.user_exception = user_exception

    def format_user_traceback(self) -> str:
        """The user's traceback, without the loader's own frames."""
        return format_user_traceback(self.user_exception)


def format_user_traceback(error: BaseException, *own_files: str) -> str:
    """`error`'s traceback without the leading frames of the runner: this module, `own_files`
    (the caller's __file__) and importlib's frozen frames."""
    tb = error.__traceback__
    skipped = {os.path.abspath(__file__), *(os.path.abspath(f) for f in own_files)}
    while tb is not None and (tb.tb_frame.f_code.co_filename.startswith("<frozen")
                              or os.path.abspath(tb.tb_frame.f_code.co_filename) in skipped):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def print_boot_failure(who: str, error: UserScriptError) -> None:
    """Writes why the script cannot be served (and the user's traceback) to stderr."""
    lines = [f"berth-runner: {who} cannot serve the scoring script: {error}\n"]
    if isinstance(error, UserScriptException):
        lines.append(error.format_user_traceback())
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def import_script(path: str, search_paths: List[str]) -> ModuleType:
    """Imports the scoring script at `path` as MODULE_NAME, with `search_paths` first on sys.path,
    and checks that it defines init() and run(). Raises UserScriptError (UserScriptException when
    the script itself raised). berth's compatibility packages go at the end of sys.path
    (compat_path), for scripts that `import mlflow` where mlflow is not installed."""
    add_compat_dir()
    for folder in reversed(search_paths):
        if folder in sys.path:
            sys.path.remove(folder)
        sys.path.insert(0, folder)
    if not os.path.isfile(path):
        raise UserScriptError(f"Scoring script {path} does not exist.")

    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise UserScriptError(f"Scoring script {path} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it so that dataclasses, pickle and typing can resolve it.
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:
        sys.modules.pop(MODULE_NAME, None)
        raise UserScriptException(
            f"Failed to import the scoring script {path}: it raised an exception.",
            error) from error

    for name in ("init", "run"):
        if not callable(getattr(module, name, None)):
            raise UserScriptError(f"User script at {path} does not have a {name}() function "
                                  "defined.")
    return module


def invoke_init(init_function: Callable[[], Any]) -> None:
    """Calls the script's init(); raises UserScriptException when it raises."""
    logger.info("Invoking user's init function")
    try:
        init_function()
    except BaseException as error:
        raise UserScriptException("The scoring script's init() raised an exception.",
                                  error) from error
    logger.info("User's init has completed successfully")


class BadInput(Exception):
    """The request body cannot be bound to run()'s parameters (400)."""


class UnsupportedInput(Exception):
    """The request's content type cannot be bound to run()'s parameters (415)."""


class UnsupportedMethod(Exception):
    """run() does not take requests with this method."""


class RunFailed(Exception):
    """run() raised `user_exception` after `elapsed_ms`."""

    def __init__(self, user_exception: BaseException, elapsed_ms: float):
        super().__init__(str(user_exception))
        self.user_exception = user_exception
        self.elapsed_ms = elapsed_ms


class RunTimedOut(Exception):
    """run() did not finish within the scoring timeout."""

    def __init__(self, timeout_ms: int, elapsed_ms: float):
        super().__init__(f"run() did not finish within {timeout_ms} ms")
        self.timeout_ms = timeout_ms
        self.elapsed_ms = elapsed_ms


class _AlarmTimeout(BaseException):
    """Raised into run() by SIGALRM; a BaseException so `except Exception` in scripts lets it by."""


def _on_alarm(signum, frame):
    raise _AlarmTimeout()


def _parse_query_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def query_as_object(request) -> Dict[str, Any]:
    """GET parameters as the body object: values parsed as JSON when they are JSON, repeated keys
    as lists (`?a=1&b=[1,2]&c=x&c=y` -> {"a": 1, "b": [1, 2], "c": ["x", "y"]})."""
    parsed = {}
    for key in request.args.keys():
        values = request.args.getlist(key)
        if len(values) == 1:
            parsed[key] = _parse_query_value(values[0])
        else:
            parsed[key] = [_parse_query_value(v) for v in values]
    return parsed


class UserScript:
    """A scoring script: `load()` imports it and inspects run(), `invoke_init()` calls init(),
    `parse_input()` and `invoke_run()` serve one request."""

    def __init__(self, path: str, search_paths: List[str]):
        self.path = path
        self.search_paths = search_paths
        self.module: Optional[ModuleType] = None
        self.run_function: Optional[Callable] = None
        self._init_function: Optional[Callable] = None
        self.mode = JSON_STRING
        self._parameters: List[inspect.Parameter] = []
        self._has_request_headers = False

    def load(self) -> None:
        module = import_script(self.path, self.search_paths)
        self.module = module
        self._init_function = module.init
        # Some Azure SDK tools generate a driver module that forwards run() to the real script,
        # which is what carries the decorators.
        driver = getattr(module, "driver_module", None)
        if isinstance(driver, ModuleType) and callable(getattr(driver, "run", None)):
            self.run_function = driver.run
        else:
            self.run_function = module.run
        self._analyze_run()
        logger.info("Found user script at %s (run() input: %s)", self.path, self.mode)

    def _analyze_run(self) -> None:
        try:
            parameters = list(inspect.signature(self.run_function).parameters.values())
        except (TypeError, ValueError) as error:
            raise UserScriptError(f"Cannot inspect run(): {error}") from None
        if any(p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters):
            raise UserScriptError(
                "run() cannot accept positional-only arguments, *args, or **kwargs.")
        self._has_request_headers = any(p.name == "request_headers" for p in parameters)
        self._parameters = [p for p in parameters if p.name != "request_headers"]
        if not self._parameters:
            if self._has_request_headers:
                raise UserScriptError('run() needs to accept an argument other than '
                                      '"request_headers".')
            raise UserScriptError("run() needs to accept an argument for input data.")

        from azureml_inference_server_http.api import aml_request

        raw = aml_request.raw_http_requested()
        decorated = is_schema_decorated(self.run_function)
        if raw and decorated:
            raise UserScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
        self.mode = RAW if raw else OBJECT if decorated else JSON_STRING

    def invoke_init(self) -> None:
        invoke_init(self._init_function)

    @property
    def raw_http(self) -> bool:
        return self.mode == RAW

    def parse_input(self, request) -> Dict[str, Any]:
        """run()'s keyword arguments for `request` (without request_headers).

        Raises BadInput, UnsupportedInput or UnsupportedMethod.
        """
        first = self._parameters[0].name
        if self.mode == RAW:
            return {first: request}
        if request.method not in ("GET", "POST"):
            raise UnsupportedMethod(request.method)
        if self.mode == JSON_STRING:
            if request.method == "GET":
                return {first: json.dumps(query_as_object(request))}
            try:
                return {first: request.get_data().decode("utf-8")}
            except UnicodeDecodeError as error:
                raise BadInput(f"Input cannot be decoded as UTF-8: {error}") from None

        if request.method == "GET":
            return self._extract(query_as_object(request))
        if not request.is_json:
            raise UnsupportedInput("Expects Content-Type to be application/json")
        body = request.get_data()
        try:
            parsed = json.loads(body)
        except ValueError as error:
            if body.strip():
                raise BadInput(f"POST body could not be decoded as JSON: {error}") from None
            raise BadInput("POST body is empty. Expecting a JSON dictionary.") from None
        if not isinstance(parsed, dict):
            raise BadInput("POST body should be a JSON dictionary.")
        return self._extract(parsed)

    def _extract(self, body: Dict[str, Any]) -> Dict[str, Any]:
        arguments = {}
        for parameter in self._parameters:
            value = body.get(parameter.name, parameter.default)
            if value is inspect.Parameter.empty:
                raise BadInput(f"A value is not provided for the {parameter.name!r} parameter.")
            arguments[parameter.name] = value
        return arguments

    def invoke_run(self, arguments: Dict[str, Any],
                   request_headers: Callable[[], Dict[str, str]], timeout_ms: int):
        """Calls run(); returns (elapsed ms, output). Raises RunFailed or RunTimedOut.

        `request_headers()` gives the value of a `request_headers` parameter; it is called only
        when run() has one. The timeout is a SIGALRM raised into run() (as the Azure ML server
        does on Linux), so a script that overruns is interrupted rather than left running next to
        the next request. The handler stays installed between calls (installing one costs more
        than a request's other bookkeeping); it is put back if a script replaced it.
        """
        kwargs = dict(arguments)
        if self._has_request_headers:
            kwargs["request_headers"] = request_headers()
        if _signal.getsignal(signal.SIGALRM) is not _on_alarm:  # signal.getsignal maps enums
            signal.signal(signal.SIGALRM, _on_alarm)
        start = time.perf_counter()
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout_ms / 1000.0)
                output = self.run_function(**kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _AlarmTimeout:
            raise RunTimedOut(timeout_ms, (time.perf_counter() - start) * 1000) from None
        except Exception as error:
            raise RunFailed(error, (time.perf_counter() - start) * 1000) from error
        return (time.perf_counter() - start) * 1000, output
