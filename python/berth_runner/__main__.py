"""`python -m berth_runner --port N`: serve the scoring script named by the environment.

Environment (the Azure ML inference server's): AML_APP_ROOT (code folder; default the working
directory), AZUREML_ENTRY_SCRIPT (script path relative to it), AZUREML_MODEL_DIR, WORKER_COUNT (1),
SCORING_TIMEOUT_MS (3600000), SERVICE_NAME / SERVICE_VERSION (swagger title and version),
AZUREML_LOG_LEVEL (INFO), MLFLOW_MODEL_FOLDER (serve the MLflow model in
$AZUREML_MODEL_DIR/$MLFLOW_MODEL_FOLDER with berth's own scoring script).

Exit codes: 0 after SIGTERM/SIGINT, 1 when the port cannot be listened on, 2 for bad settings,
3 when the scoring script cannot be started (import error, missing init()/run(), init() raised).
"""

import asyncio
import dataclasses
import logging
import os
import sys

from . import config as config_module
from . import server, worker


def main(argv=None) -> int:
    config_module.make_streams_unbuffered()
    try:
        args, config = config_module.parse(sys.argv[1:] if argv is None else argv, os.environ)
    except config_module.ConfigError as error:
        sys.stderr.write(f"berth-runner: {error}\n")
        return 2
    config_module.configure_logging(config.log_level)

    if args.worker_fd is not None:
        code = worker.main(config, args.worker_fd, args.supervisor_pid)
        # Leave at once even if the script started non-daemon threads.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    log = logging.getLogger("berth_runner")
    try:
        sock = server.listen(config.host, config.port)
    except OSError as error:
        log.error("Cannot listen on %s:%d: %s", config.host, config.port, error)
        return 1
    if config.port == 0:
        config = dataclasses.replace(config, port=sock.getsockname()[1])
    config.export_environment(os.environ)
    log.info("Serving %s (app root %s, model dir %s)", config.entry_script, config.app_root,
             config.model_dir)
    return asyncio.run(server.Supervisor(config, sock).run())


if __name__ == "__main__":
    sys.exit(main())
