"""Fixtures for berth's reliability suite (docs/reliability.md).

The suite reuses the integration tests' machinery rather than copying it: berth_helpers (paths,
polling, YAML, processes) and the Berthd class and berthd fixtures of tests/integration/conftest.py,
which is loaded here under its own module name. The sleep-bound model every R-test serves and
a LoadGen bound to a berthd are in reliability_helpers.py.
"""

import importlib.util
import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(_INTEGRATION))
sys.path.insert(0, str(Path(__file__).resolve().parent))

_spec = importlib.util.spec_from_file_location("berth_integration_conftest",
                                               _INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _integration
_spec.loader.exec_module(_integration)

Berthd = _integration.Berthd
# The integration fixtures and hooks, re-exported so pytest finds them here.
berthd_factory = _integration.berthd_factory
berthd = _integration.berthd
module_dir = _integration.module_dir
pytest_runtest_makereport = _integration.pytest_runtest_makereport


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long-running end-to-end test")
