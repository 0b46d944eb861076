"""Error messages and header names of the Azure ML inference server's contract, shared by the
parent process (control.sock, the HTTP front) and the workers."""

RUN_FAILED_HEADER = "x-ms-run-function-failed"
EXEC_TIME_HEADER = "x-ms-run-fn-exec-ms"
RUN_FAILED_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR_MESSAGE = "An unexpected internal error occurred. Check the logs for more info."
METHOD_NOT_ALLOWED_MESSAGE = "Method not allowed"


def scoring_timeout_message(timeout_ms: int) -> str:
    return f"Scoring timeout after {timeout_ms} ms"
