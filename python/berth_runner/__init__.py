"""berth's Python runner: hosts an Azure ML scoring script (`init()` / `run()`) unchanged.

Started by berthd as `python -m berth_runner --socket-dir DIR` (berth frames on Unix sockets), or
by hand as `python -m berth_runner --port N` (HTTP); see __main__.py for the command line and
environment, parent.py for the process model, docs/runner-protocol.md for the frames.
"""

__version__ = "0.1.0"
SERVER_VERSION = f"berth-runner/{__version__}"
