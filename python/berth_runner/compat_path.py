"""berth's compatibility packages for scoring scripts (python/compat: a subset of `mlflow`).

The folder goes on the END of sys.path, after site-packages and PYTHONPATH, so a real package of
the same name, when installed, is found first and berth's is used only in its absence. The runner
adds it before importing a scoring script and before unpickling a python_model (whose pickle
names `mlflow.pyfunc.model.PythonModel`).
"""

import os
import sys

COMPAT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compat")


def add_compat_dir() -> None:
    """Appends COMPAT_DIR to sys.path unless it is already there (anywhere)."""
    if COMPAT_DIR not in sys.path:
        sys.path.append(COMPAT_DIR)
