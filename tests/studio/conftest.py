"""Fixtures for the studio's browser tests: the integration fixtures (a real berthd on port 0
with a temporary data dir, the CLI, the API) plus a headless Chromium driven by Selenium.

tests/integration's conftest is loaded under another module name and its fixtures and hooks
re-exported, so both suites share one implementation.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))

_spec = importlib.util.spec_from_file_location("berth_integration_conftest", INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

berthd_factory = _integration.berthd_factory
berthd = _integration.berthd
module_dir = _integration.module_dir
pytest_runtest_makereport = _integration.pytest_runtest_makereport

from berth_helpers import BUILD_DIR  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = BUILD_DIR / "test-artifacts" / "studio"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long-running end-to-end test")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium at 1280x800 with a fresh profile; quit at the end of the module."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("chromium and chromium-driver are not installed (scripts/install-deps)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1280, 800)
    # The viewport itself 1280x800 (the window's size includes no chrome in headless mode,
    # but make it exact for the screenshots).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshot(browser):
    def take(page, element_id=None):
        """The viewport, scrolled to the top or to `element_id`."""
        if element_id:
            browser.execute_script("document.getElementById(arguments[0]).scrollIntoView()", element_id)
        else:
            browser.execute_script("window.scrollTo(0, 0)")
        path = SCREENSHOTS / f"{page}.png"
        browser.save_screenshot(str(path))
        return path
    return take
