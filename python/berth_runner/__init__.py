"""berth's Python runner: hosts an Azure ML scoring script (`init()` / `run()`) unchanged.

Started by berthd (or `berth ... --local`) as `python -m berth_runner --port N`; see __main__.py
for the command line and environment, server.py for the process model.
"""

__version__ = "0.1.0"
SERVER_VERSION = f"berth-runner/{__version__}"
