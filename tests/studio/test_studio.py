"""berth studio in a real headless Chromium against a real berthd (docs/studio.md).

One module, one berthd, one browser: the tests run in order and follow a user's session: the
sign-in page, creating an endpoint and deployments from YAML, the traffic editor, the Test panel,
keys, logs and charts, a batch job's progress, models and data, then sign-out. Every wait polls
with a deadline (WebDriverWait); every page is screenshotted into test-artifacts/studio/.
"""

import http.client
import json
import urllib.parse
from pathlib import Path

import pytest

from batch_helpers import (ECHO_DRIVER, create_batch_deployment, create_batch_endpoint, invoke,
                           wait_job, write_number_files)
from berth_helpers import TEST_SERVER, deployment_doc, http_request, to_yaml, wait_until

pytestmark = pytest.mark.slow

from selenium.common.exceptions import (NoSuchElementException,  # noqa: E402
                                        StaleElementReferenceException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

EP = "studio-ep"
BATCH_EP = "studio-batch"
WAIT = 60


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory()


def wait(browser, condition, timeout=WAIT, message=""):
    # The pages re-render as they poll: an element can go stale between finding and reading.
    return WebDriverWait(browser, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException,
                                             StaleElementReferenceException)).until(condition, message)


def by_id(browser, element_id, timeout=WAIT):
    return wait(browser, EC.presence_of_element_located((By.ID, element_id)), timeout,
                f"#{element_id} to appear")


def text_of(browser, element_id):
    return browser.find_element(By.ID, element_id).text


def wait_text(browser, element_id, predicate, timeout=WAIT, message=None):
    def check(b):
        t = b.find_element(By.ID, element_id).text
        return t if predicate(t) else False
    return wait(browser, check, timeout, message or f"#{element_id} text")


def heading(browser, text):
    wait(browser, lambda b: any(text in h.text for h in b.find_elements(By.TAG_NAME, "h1")),
         message=f"a heading with {text!r}")


def go(browser, d, hash_route):
    browser.get(f"{d.url}/studio/#{hash_route}")


def set_value(element, value):
    element.clear()
    element.send_keys(value)


def paste(browser, element, text):
    """Sets a textarea's value in one go (send_keys would type YAML's indentation slowly)."""
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
        element, text)


def raw(d, method, path, body=None, headers=None):
    """An HTTP request without the admin token."""
    return http_request(d.url + path, method, body, headers or {}, 30)


def assert_token_not_exposed(browser, d):
    token = d.token
    assert token not in browser.page_source
    assert token not in browser.current_url
    storage = browser.execute_script(
        "return JSON.stringify({l: Object.assign({}, localStorage), s: Object.assign({}, sessionStorage),"
        " c: document.cookie, urls: performance.getEntries().map(e => e.name)});")
    assert token not in storage, storage


def session_cookie(d):
    """A studio session from Python: (cookie header value, csrf token)."""
    r = raw(d, "POST", "/studio/api/session", {"token": d.token})
    assert r.status == 200, r
    cookie = r.headers["set-cookie"].split(";")[0]
    assert cookie.startswith("berth_studio="), r.headers
    return cookie, r.json()["csrf_token"]


# --------------------------------------------------------------------------------------------


def test_without_a_session_everything_is_refused(d, browser, screenshot):
    r = raw(d, "GET", "/studio/")
    assert r.status in (302, 303), r
    assert r.headers["location"].endswith("/studio/signin"), r.headers
    assert raw(d, "GET", "/studio/api/session").status == 401
    assert raw(d, "GET", "/api/v1/online-endpoints").status == 401
    signin = raw(d, "GET", "/studio/signin")
    assert signin.status == 200
    csp = signin.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp

    go(browser, d, "/endpoints")
    wait(browser, EC.url_contains("/studio/signin"), message="the redirect to sign-in")
    by_id(browser, "token")
    screenshot("signin")


def test_sign_in(d, browser, screenshot):
    field = by_id(browser, "token")
    field.send_keys("not-the-token")
    browser.find_element(By.ID, "signin-submit").click()
    wait_text(browser, "signin-error", lambda t: "not berthd's admin token" in t)
    assert field.get_attribute("value") == ""

    by_id(browser, "token").send_keys(d.token)
    browser.find_element(By.ID, "signin-submit").click()
    heading(browser, "Online endpoints")
    wait_text(browser, "endpoint-list", lambda t: "No online endpoint yet" in t)
    assert_token_not_exposed(browser, d)
    screenshot("endpoints-empty")


def test_bad_endpoint_yaml_shows_the_field_and_creates_nothing(d, browser):
    go(browser, d, "/endpoints")
    box = by_id(browser, "create-endpoint-yaml")
    paste(browser, box, f"name: {EP}-bad\nauth_mode: sometimes\n")
    browser.find_element(By.ID, "create-endpoint-submit").click()
    message = wait_text(browser, "create-endpoint-yaml-error", lambda t: t.strip() != "")
    assert "auth_mode" in message, message
    assert d.api("GET", f"/api/v1/online-endpoints/{EP}-bad").status == 404


def test_create_endpoint_and_deployment_from_yaml(d, browser, module_dir, screenshot):
    go(browser, d, "/endpoints")
    paste(browser, by_id(browser, "create-endpoint-yaml"), f"name: {EP}\nauth_mode: key\n")
    browser.find_element(By.ID, "create-endpoint-submit").click()
    heading(browser, f"Endpoint {EP}")
    assert d.endpoint(EP)["auth_mode"] == "key"

    # A bad deployment document (with its code folder's file, which lands at the folder's
    # top): the field is named, nothing is created.
    browser.find_element(By.CSS_SELECTOR, "#deployment-list ~ details summary").click()
    doc = deployment_doc("blue", EP)
    bad = dict(doc, instance_count="many")
    paste(browser, by_id(browser, "create-deployment-yaml"), to_yaml(bad))
    browser.find_element(By.ID, "create-deployment-code-files").send_keys(str(TEST_SERVER))
    browser.find_element(By.ID, "create-deployment-submit").click()
    message = wait_text(browser, "create-deployment-yaml-error", lambda t: t.strip() != "")
    assert "instance_count" in message, message
    assert d.api("GET", f"/api/v1/online-endpoints/{EP}/deployments/blue").status == 404

    # The good one (the file input still holds the code).
    paste(browser, by_id(browser, "create-deployment-yaml"), to_yaml(doc))
    browser.find_element(By.ID, "create-deployment-submit").click()
    wait_text(browser, "create-deployment-progress", lambda t: "Created" in t)
    wait_text(browser, "deployment-list", lambda t: "blue" in t and "Succeeded" in t,
              message="blue to become Succeeded")
    blue = d.deployment(EP, "blue")
    assert blue["code_configuration"]["artifact"]["digest"].startswith("sha256:"), blue
    # Two more deployments (from the CLI) for the traffic editor: green for live traffic,
    # shadow for mirrored traffic.
    d.create_deployment(module_dir, "green", EP)
    d.create_deployment(module_dir, "shadow", EP)
    wait_text(browser, "deployment-list", lambda t: "green" in t and "shadow" in t)
    by_id(browser, "traffic-shadow")
    screenshot("endpoint")


def test_traffic_editor(d, browser, screenshot):
    go(browser, d, f"/endpoints/{EP}")
    by_id(browser, "traffic-shadow")
    set_value(browser.find_element(By.ID, "traffic-blue"), "90")
    set_value(browser.find_element(By.ID, "traffic-green"), "5")
    browser.find_element(By.ID, "traffic-apply").click()
    wait_text(browser, "traffic-error", lambda t: "sum to 100" in t)
    assert d.endpoint(EP)["traffic"].get("blue", 0) == 0

    set_value(browser.find_element(By.ID, "traffic-green"), "10")
    set_value(browser.find_element(By.ID, "mirror-shadow"), "20")
    browser.find_element(By.ID, "traffic-apply").click()
    wait_text(browser, "traffic-status", lambda t: "Traffic applied" in t)
    endpoint = d.endpoint(EP)
    assert endpoint["traffic"] == {"blue": 90, "green": 10, "shadow": 0}, endpoint
    assert endpoint["mirror_traffic"] == {"shadow": 20}, endpoint
    go(browser, d, "/endpoints")
    wait_text(browser, "endpoint-list", lambda t: "blue 90 %" in t and "mirror shadow 20 %" in t)
    screenshot("endpoints")


def test_test_panel(d, browser, screenshot):
    go(browser, d, f"/endpoints/{EP}")
    by_id(browser, "test-body")
    paste(browser, browser.find_element(By.ID, "test-body"), '{"hello": "studio"}')
    Select(browser.find_element(By.ID, "test-deployment")).select_by_value("green")
    browser.find_element(By.ID, "test-send").click()
    wait_text(browser, "test-status", lambda t: t.startswith("200"))
    assert text_of(browser, "test-served-by") == "green"
    assert "studio" in text_of(browser, "test-answer")
    assert text_of(browser, "test-latency").endswith("ms")
    snippet = text_of(browser, "snippet-curl")
    assert f"/endpoints/{EP}/score" in snippet and d.primary_key(EP) in snippet
    screenshot("endpoint-test", "test-title")


def test_snippet_works(d, browser):
    """The copyable curl snippet's URL and key score for real."""
    snippet = text_of(browser, "snippet-curl")
    key = d.primary_key(EP)
    assert f"Bearer {key}" in snippet
    uri = snippet.split("'")[1]
    r = http_request(uri, "POST", {"data": [[1, 2, 3, 4]]}, {"Authorization": f"Bearer {key}"}, 30)
    assert r.status == 200, r


def test_deployment_page_logs_and_charts(d, browser, screenshot):
    for i in range(20):
        r = d.score(EP, {"n": i}, deployment="blue")
        assert r.status == 200, r
    go(browser, d, f"/endpoints/{EP}/deployments/blue")
    heading(browser, "Deployment blue")
    wait_text(browser, "log-tail", lambda t: "listening on" in t, message="a log line of the instance")
    wait_text(browser, "log-tail", lambda t: "POST /score" in t)
    wait(browser, lambda b: int(b.find_element(By.ID, "metrics-status").get_attribute("data-requests") or 0) > 0,
         message="charts with requests")
    assert "Succeeded" in text_of(browser, "deployment-state")
    assert "code_configuration:" in text_of(browser, "settings-yaml")
    drawn = browser.execute_script(
        "return ['chart-rps','chart-latency','chart-status'].map(id => !!Chart.getChart(id));")
    assert drawn == [True, True, True]
    Select(browser.find_element(By.ID, "metrics-window")).select_by_value("900")
    wait(browser, lambda b: int(b.find_element(By.ID, "metrics-status").get_attribute("data-points") or 0) > 0)
    screenshot("deployment")
    screenshot("deployment-charts", "metrics-title")


def test_regenerate_key(d, browser):
    old = d.primary_key(EP)
    go(browser, d, f"/endpoints/{EP}")
    wait_text(browser, "primary-key", lambda t: old in t)
    browser.find_element(By.ID, "regenerate-primary").click()
    wait(browser, EC.visibility_of_element_located((By.ID, "confirm-dialog")))
    browser.find_element(By.ID, "confirm-ok").click()
    new = wait_text(browser, "primary-key", lambda t: old not in t and t.strip() != "",
                    message="the new primary key").strip()
    assert d.primary_key(EP) in new
    assert d.score(EP, {"x": 1}, key=old).status == 401
    assert d.score(EP, {"x": 1}, key=d.primary_key(EP)).status == 200


def test_batch_job_progress(d, browser, module_dir, screenshot):
    create_batch_endpoint(d, module_dir, BATCH_EP, description="studio")
    create_batch_deployment(d, module_dir, "echo", BATCH_EP, set_default=True, script=ECHO_DRIVER,
                            settings={"mini_batch_size": 2, "max_concurrency_per_instance": 1,
                                      "environment_variables": {"BATCH_SLEEP": "0.3"}})
    data = module_dir / "numbers"
    write_number_files(data, [f"n{i:02d}.txt" for i in range(12)])
    job = invoke(d, BATCH_EP, data)
    go(browser, d, f"/jobs/{job}")
    heading(browser, f"Job {job}")
    seen = set()

    def progressed(b):
        value = int(float(b.find_element(By.ID, "job-progress").get_attribute("value") or 0))
        seen.add(value)
        return value == 100 and "Completed" in b.find_element(By.ID, "job-status").text

    wait(browser, progressed, timeout=120, message="the progress bar at 100 %")
    assert "6 of 6 done" in text_of(browser, "job-mini-batches")
    assert "12 of 12" in text_of(browser, "job-items")
    link = wait(browser, EC.presence_of_element_located((By.ID, "job-download-link")))
    assert link.get_attribute("href").endswith(f"/api/v1/jobs/{job}/download?output=score")
    wait_text(browser, "job-log", lambda t: t.strip() != "")
    screenshot("job")
    wait_job(d, job)

    go(browser, d, "/jobs")
    wait_text(browser, "job-list", lambda t: job in t and "Completed" in t)
    screenshot("jobs")
    go(browser, d, "/batch-endpoints")
    wait_text(browser, "batch-endpoint-list", lambda t: BATCH_EP in t and "echo (default)" in t)
    screenshot("batch-endpoints")


def test_models_and_data(d, browser, module_dir, screenshot):
    folder = module_dir / "model-files"
    folder.mkdir()
    (folder / "weights.txt").write_text("1\n")
    d.cli("model", "create", "--name", "studio-model", "--path", folder)
    d.cli("data", "create", "--name", "studio-data", "--path", module_dir / "numbers",
          "--type", "uri_folder")
    go(browser, d, "/models")
    wait(browser, lambda b: "studio-model" in b.find_element(By.TAG_NAME, "main").text)
    screenshot("models")
    go(browser, d, "/data")
    wait(browser, lambda b: "studio-data" in b.find_element(By.TAG_NAME, "main").text)
    screenshot("data")


def test_write_without_csrf_is_refused(d):
    cookie, csrf = session_cookie(d)
    path = f"/api/v1/online-endpoints/{EP}"
    headers = {"Cookie": cookie}
    assert raw(d, "GET", path, headers=headers).status == 200
    r = raw(d, "PATCH", path, {"description": "no csrf"}, headers)
    assert r.status == 403, r
    assert d.endpoint(EP)["description"] == ""
    r = raw(d, "PATCH", path, {"description": "with csrf"}, {**headers, "X-CSRF-Token": csrf})
    assert r.status == 200, r
    assert raw(d, "DELETE", "/studio/api/session", headers={**headers, "X-CSRF-Token": csrf}).status == 204
    assert raw(d, "GET", path, headers=headers).status == 401


def test_sign_out_and_be_refused(d, browser):
    go(browser, d, "/endpoints")
    heading(browser, "Online endpoints")
    assert_token_not_exposed(browser, d)
    cookie = next(c for c in browser.get_cookies() if c["name"] == "berth_studio")
    assert cookie["httpOnly"] is True
    assert browser.execute_script("return document.cookie").find("berth_studio") < 0
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, EC.url_contains("/studio/signin"))
    header = {"Cookie": f"berth_studio={cookie['value']}"}
    assert raw(d, "GET", "/studio/api/session", headers=header).status == 401
    assert raw(d, "GET", "/api/v1/online-endpoints", headers=header).status == 401
    go(browser, d, f"/endpoints/{EP}")
    wait(browser, EC.url_contains("/studio/signin"))


def test_admin_token_not_in_berthd_logs(d):
    token = d.token
    checked = 0
    for path in [*d.data_dir.rglob("*.log"), *(d.data_dir / "logs").rglob("*"),
                 *d.log_dir.glob("berthd-*.std*")]:
        if path.is_file():
            checked += 1
            assert token not in path.read_text(errors="replace"), f"the admin token is in {path}"
    assert checked > 0
