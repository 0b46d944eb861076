"""Fixtures for the install tests (helpers in install_helpers.py)."""

import pytest

from install_helpers import install, integration


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for d in integration._DAEMONS:
            report.sections.append((f"berthd log tail ({d.data_dir})", d.log_tail(60)))


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """berth installed under a fresh DESTDIR; the installed /usr."""
    return install(tmp_path_factory.mktemp("destdir"))
