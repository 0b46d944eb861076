"""`python -m berth_runner --socket-dir DIR` (berth mode) or `--port N` (standalone HTTP mode):
serve the scoring script named by the environment.

berth mode: berthd passes the instance's socket folder (also as BERTH_SOCKET_DIR, which selects
berth mode when neither option is given). The parent process listens on DIR/control.sock (health)
and DIR/worker-<i>.sock, one per worker process; berthd sends each request as a berth frame
(docs/runner-protocol.md) straight to a worker, so a request crosses one Python process.
Standalone mode: the same parent and workers, with the worker sockets in a private temporary
folder, plus an HTTP server (aiohttp) in the parent that forwards each request to an idle worker.
See parent.py for the process model.

Environment (the Azure ML inference server's): AML_APP_ROOT (code folder; default the working
directory), AZUREML_ENTRY_SCRIPT (script path relative to it), AZUREML_MODEL_DIR, WORKER_COUNT (1),
SCORING_TIMEOUT_MS (3600000), SERVICE_NAME / SERVICE_VERSION (swagger title and version),
AZUREML_LOG_LEVEL (INFO), MLFLOW_MODEL_FOLDER (serve the MLflow model in
$AZUREML_MODEL_DIR/$MLFLOW_MODEL_FOLDER with berth's own scoring script); berth's: BERTH_SOCKET_DIR,
BERTH_RUNNER_WATCHDOG_GRACE_S (10: how long past the scoring timeout a stuck request may run
before its worker is killed).

Exit codes: 0 after SIGTERM/SIGINT, 1 when a socket cannot be listened on (or aiohttp is missing
in standalone mode), 2 for bad settings, 3 when the scoring script cannot be started (import
error, missing init()/run(), init() raised).
"""

import asyncio
import dataclasses
import importlib.util
import logging
import os
import sys

from . import config as config_module


def _run_worker(args, config) -> None:
    from . import worker

    code = worker.main(config, args.worker_fd, args.status_fd, args.slots_fd, args.worker_index,
                       args.parent_pid)
    # Leave at once even if the script started non-daemon threads.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv=None) -> int:
    config_module.make_streams_unbuffered()
    try:
        args, config = config_module.parse(sys.argv[1:] if argv is None else argv, os.environ)
    except config_module.ConfigError as error:
        sys.stderr.write(f"berth-runner: {error}\n")
        return 2
    config_module.configure_logging(config.log_level)

    if args.worker_fd is not None:
        _run_worker(args, config)

    from . import parent

    log = logging.getLogger("berth_runner")
    if config.socket_dir is None and importlib.util.find_spec("aiohttp") is None:
        log.error("Standalone HTTP mode (--port) needs aiohttp (Debian: python3-aiohttp)")
        return 1
    try:
        sockets = parent.Sockets(config)
    except OSError as error:
        where = config.socket_dir or f"{config.host}:{config.port}"
        log.error("Cannot listen on %s: %s", where, error)
        return 1
    if sockets.http is not None and config.port == 0:
        config = dataclasses.replace(config, port=sockets.http.getsockname()[1])
    config.export_environment(os.environ)
    log.info("Serving %s (app root %s, model dir %s)", config.entry_script, config.app_root,
             config.model_dir)

    async def run() -> int:
        return await parent.Parent(config, sockets).run()

    try:
        return asyncio.run(run())
    finally:
        sockets.close()


if __name__ == "__main__":
    sys.exit(main())
