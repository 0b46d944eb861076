"""Runner settings: command line first, then the Azure ML inference server's environment
variables (AML_APP_ROOT, AZUREML_ENTRY_SCRIPT, AZUREML_MODEL_DIR, WORKER_COUNT, SCORING_TIMEOUT_MS,
SERVICE_NAME, SERVICE_VERSION, AZUREML_LOG_LEVEL, MLFLOW_MODEL_FOLDER) and berth's
(BERTH_SOCKET_DIR, BERTH_RUNNER_WATCHDOG_GRACE_S)."""

import argparse
import dataclasses
import logging
import os
import sys
import time
from typing import Mapping, Optional, Sequence

DEFAULT_PORT = 5001
DEFAULT_SCORING_TIMEOUT_MS = 3_600_000
# How long past the scoring timeout a request may run (stuck in native code, where SIGALRM cannot
# interrupt it) before the parent kills its worker.
DEFAULT_WATCHDOG_GRACE_S = 10.0
# The scoring script berth supplies for MLflow models deployed without one.
MLFLOW_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlflow_score.py")


class ConfigError(ValueError):
    """A setting has an invalid value."""


@dataclasses.dataclass(frozen=True)
class Config:
    host: str
    port: int
    app_root: str  # absolute; the scoring script's code folder and the working directory
    entry_script: str  # absolute path of the script to load
    user_script: bool  # False when serving berth's MLflow script
    model_dir: str
    worker_count: int
    scoring_timeout_ms: int
    log_level: str
    service_name: str
    service_version: str
    mlflow_model_folder: Optional[str]
    # berth mode: the folder of control.sock and worker-<i>.sock; None: standalone HTTP on `port`.
    socket_dir: Optional[str] = None
    watchdog_grace_s: float = DEFAULT_WATCHDOG_GRACE_S

    def export_environment(self, environ) -> None:
        """Writes the resolved settings back to `environ`, so that worker processes read the same
        values and scripts see what Azure ML gives them."""
        environ["AML_APP_ROOT"] = self.app_root
        if self.user_script:
            environ["AZUREML_ENTRY_SCRIPT"] = os.path.relpath(self.entry_script, self.app_root)
        environ["AZUREML_MODEL_DIR"] = self.model_dir
        environ["WORKER_COUNT"] = str(self.worker_count)
        environ["SCORING_TIMEOUT_MS"] = str(self.scoring_timeout_ms)
        environ["AZUREML_LOG_LEVEL"] = self.log_level
        environ["SERVICE_NAME"] = self.service_name
        environ["SERVICE_VERSION"] = self.service_version
        environ["SERVER_PORT"] = str(self.port)
        environ["BERTH_RUNNER_HOST"] = self.host
        environ["BERTH_RUNNER_WATCHDOG_GRACE_S"] = repr(self.watchdog_grace_s)


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m berth_runner",
        description="Serve an Azure ML scoring script (init()/run()): to berthd over berth "
                    "frames (--socket-dir) or over HTTP (--port).")
    parser.add_argument("--socket-dir", dest="socket_dir",
                        help="berth mode: serve berth frames on control.sock and "
                             "worker-<i>.sock in this existing folder (env BERTH_SOCKET_DIR)")
    parser.add_argument("--port", type=int,
                        help="standalone mode: HTTP port to listen on (env SERVER_PORT, "
                             "default 5001)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--entry-script", "--entry_script", dest="entry_script",
                        help="scoring script, relative to the app root (env AZUREML_ENTRY_SCRIPT)")
    parser.add_argument("--app-root", dest="app_root", help="code folder (env AML_APP_ROOT)")
    parser.add_argument("--model-dir", "--model_dir", dest="model_dir",
                        help="model folder (env AZUREML_MODEL_DIR)")
    parser.add_argument("--worker-count", "--worker_count", dest="worker_count", type=int,
                        help="worker processes (env WORKER_COUNT, default 1)")
    # Internal: set by the parent when it starts a worker process (worker.main).
    parser.add_argument("--worker-fd", dest="worker_fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", dest="worker_index", type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument("--status-fd", dest="status_fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--slots-fd", dest="slots_fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", dest="parent_pid", type=int, default=0,
                        help=argparse.SUPPRESS)
    return parser


def _int_setting(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def load(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Resolves the settings; raises ConfigError naming the bad one."""
    app_root = os.path.abspath(args.app_root or environ.get("AML_APP_ROOT") or os.getcwd())
    # MLflow mode is selected by the variable being set; "" names AZUREML_MODEL_DIR itself.
    mlflow_folder = environ.get("MLFLOW_MODEL_FOLDER")
    entry = args.entry_script or environ.get("AZUREML_ENTRY_SCRIPT") or ""
    if mlflow_folder is not None and not args.entry_script:
        entry_script, user_script = MLFLOW_SCRIPT, False
    elif entry:
        entry_script = os.path.normpath(os.path.join(app_root, entry.replace("/", os.sep)))
        user_script = True
    else:
        raise ConfigError("no scoring script: set AZUREML_ENTRY_SCRIPT (relative to AML_APP_ROOT) "
                          "or MLFLOW_MODEL_FOLDER")

    socket_dir = getattr(args, "socket_dir", None)
    if socket_dir and args.port is not None:
        raise ConfigError("--socket-dir and --port cannot be used together")
    if not socket_dir and args.port is None:
        socket_dir = environ.get("BERTH_SOCKET_DIR") or None
    if socket_dir:
        socket_dir = os.path.abspath(socket_dir)
        if not os.path.isdir(socket_dir):
            raise ConfigError(f"the socket folder {socket_dir} does not exist")
    grace_raw = environ.get("BERTH_RUNNER_WATCHDOG_GRACE_S", str(DEFAULT_WATCHDOG_GRACE_S))
    try:
        watchdog_grace_s = float(grace_raw)
    except ValueError:
        raise ConfigError(
            f"BERTH_RUNNER_WATCHDOG_GRACE_S must be a number, got {grace_raw!r}") from None
    if not watchdog_grace_s > 0:
        raise ConfigError(f"BERTH_RUNNER_WATCHDOG_GRACE_S must be positive, got {grace_raw!r}")

    port_raw = args.port if args.port is not None else environ.get("SERVER_PORT", DEFAULT_PORT)
    port = _int_setting("port", port_raw, 0)
    if port > 65535:
        raise ConfigError(f"port must be at most 65535, got {port}")
    workers_raw = args.worker_count if args.worker_count is not None else environ.get(
        "WORKER_COUNT", "1")
    timeout_raw = environ.get("SCORING_TIMEOUT_MS", str(DEFAULT_SCORING_TIMEOUT_MS))

    log_level = (environ.get("AZUREML_LOG_LEVEL") or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(log_level), int):
        raise ConfigError(f"AZUREML_LOG_LEVEL must be a logging level name, got {log_level!r}")

    return Config(
        host=args.host or environ.get("BERTH_RUNNER_HOST") or "127.0.0.1",
        port=port,
        app_root=app_root,
        entry_script=entry_script,
        user_script=user_script,
        model_dir=os.path.abspath(args.model_dir or environ.get("AZUREML_MODEL_DIR") or app_root),
        worker_count=_int_setting("WORKER_COUNT", workers_raw, 1),
        scoring_timeout_ms=_int_setting("SCORING_TIMEOUT_MS", timeout_raw, 1),
        log_level=log_level,
        service_name=environ.get("SERVICE_NAME") or "ML service",
        service_version=environ.get("SERVICE_VERSION") or "1.0",
        mlflow_model_folder=mlflow_folder,
        socket_dir=socket_dir,
        watchdog_grace_s=watchdog_grace_s,
    )


def parse(argv: Sequence[str], environ: Mapping[str, str]):
    """Returns (parsed arguments, Config)."""
    args = build_arg_parser().parse_args(argv)
    return args, load(args, environ)


def make_streams_unbuffered() -> None:
    """Makes print() output reach the instance log at once, as `python -u` would, for this process
    and the processes it starts (PYTHONUNBUFFERED is inherited)."""
    os.environ["PYTHONUNBUFFERED"] = "1"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, write_through=True)
        except (AttributeError, ValueError):
            pass


class _Formatter(logging.Formatter):
    """logging.Formatter that formats the date and time once per second, not once per line (a
    worker writes an access log line per request)."""

    _second = None
    _second_text = ""

    def formatTime(self, record, datefmt=None):
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format,
                                              self.converter(record.created))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)


def configure_logging(level, prefix: str = "") -> None:
    """Root logging to stderr at `level` (a name or a number), in the inference server's line
    format; `prefix` goes before the logger's name (the batch worker's node and process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname).1s [%(process)d] "
                                    + prefix.replace("%", "%%") + "%(name)s - %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
