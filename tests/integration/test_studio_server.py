"""berthd's studio server side (docs/api.md, "Studio"): static files at /studio/, sign-in
sessions with an HttpOnly cookie, cookie auth with CSRF on the management API, and the admin
token kept out of every response and log."""

import json
import re

import pytest

from berth_helpers import http_request

EP = "studio-srv-ep"


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory()


def get(d, path, cookie=None, headers=None):
    hdrs = dict(headers or {})
    if cookie:
        hdrs["Cookie"] = cookie
    return http_request(d.url + path, "GET", None, hdrs)


def send(d, method, path, body=None, cookie=None, csrf=None, headers=None):
    hdrs = dict(headers or {})
    if cookie:
        hdrs["Cookie"] = cookie
    if csrf:
        hdrs["X-CSRF-Token"] = csrf
    return http_request(d.url + path, method, body, hdrs)


def sign_in(d, token=None, headers=None):
    return send(d, "POST", "/studio/api/session", {"token": d.token if token is None else token},
                headers=headers)


def session_of(resp):
    """(the Cookie header value to send back, the CSRF token) from a sign-in answer."""
    assert resp.status == 200, resp.text
    cookie = resp.headers["set-cookie"].split(";")[0]
    return cookie, resp.json()["csrf_token"]


def test_sign_in_sets_an_http_only_strict_cookie(d):
    r = sign_in(d)
    assert r.status == 200, r.text
    set_cookie = r.headers["set-cookie"]
    assert re.match(r"^berth_studio=[A-Za-z0-9_-]{43};", set_cookie), set_cookie
    attributes = [a.strip() for a in set_cookie.split(";")[1:]]
    assert "HttpOnly" in attributes
    assert "SameSite=Strict" in attributes
    assert "Path=/" in attributes
    assert "Max-Age=28800" in attributes
    assert "Secure" not in attributes  # plain HTTP: a browser would drop a Secure cookie
    body = r.json()
    assert set(body) == {"csrf_token", "expires_at"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["expires_at"])
    assert r.headers["cache-control"] == "no-store"

    behind_proxy = sign_in(d, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in [a.strip() for a in behind_proxy.headers["set-cookie"].split(";")]

    cookie, csrf = session_of(r)
    again = get(d, "/studio/api/session", cookie)
    assert again.status == 200
    assert again.json()["csrf_token"] == csrf


def test_wrong_token_is_refused_without_a_cookie(d):
    r = sign_in(d, token="berth_not-the-token")
    assert r.status == 401
    assert "set-cookie" not in r.headers
    assert r.json()["error"]["code"] == "Unauthorized"
    assert get(d, "/studio/api/session").status == 401
    assert get(d, "/studio/api/session", "berth_studio=forged").status == 401


def test_cookie_authenticates_the_management_api_and_writes_need_csrf(d):
    cookie, csrf = session_of(sign_in(d))
    r = get(d, "/api/v1/online-endpoints", cookie)
    assert r.status == 200, r.text
    assert "value" in r.json()
    assert get(d, "/metrics", cookie).status == 200

    create = {"name": EP, "auth_mode": "key"}
    r = send(d, "PUT", f"/api/v1/online-endpoints/{EP}", create, cookie)
    assert r.status == 403, r.text
    assert r.json() == {"error": {"code": "Forbidden", "message": "missing or wrong CSRF token"}}
    r = send(d, "PUT", f"/api/v1/online-endpoints/{EP}", create, cookie, csrf="wrong")
    assert r.status == 403
    assert d.api("GET", f"/api/v1/online-endpoints/{EP}").status == 404  # nothing changed

    r = send(d, "PUT", f"/api/v1/online-endpoints/{EP}", create, cookie, csrf=csrf)
    assert r.status in (200, 201), r.text
    r = send(d, "PATCH", f"/api/v1/online-endpoints/{EP}", {"description": "from the studio"},
             cookie)
    assert r.status == 403
    r = send(d, "PATCH", f"/api/v1/online-endpoints/{EP}", {"description": "from the studio"},
             cookie, csrf=csrf)
    assert r.status == 200, r.text
    assert d.endpoint(EP)["description"] == "from the studio"

    # Bearer clients (the CLI) need no CSRF token; a bad Bearer token is not rescued by a cookie.
    r = d.api("PATCH", f"/api/v1/online-endpoints/{EP}", {"description": "cli"})
    assert r.status == 200, r.text
    r = d.api("GET", "/api/v1/online-endpoints", token="wrong", headers={"Cookie": cookie})
    assert r.status == 401


def test_sign_out_ends_the_session_on_the_server(d):
    cookie, csrf = session_of(sign_in(d))
    assert send(d, "DELETE", "/studio/api/session", cookie=cookie).status == 403  # no CSRF
    r = send(d, "DELETE", "/studio/api/session", cookie=cookie, csrf=csrf)
    assert r.status == 204
    assert r.headers["set-cookie"].startswith("berth_studio=;")
    assert "Max-Age=0" in r.headers["set-cookie"]
    # The same cookie, replayed, is refused everywhere.
    assert get(d, "/api/v1/online-endpoints", cookie).status == 401
    assert get(d, "/studio/api/session", cookie).status == 401
    r = get(d, "/studio/", cookie)
    assert r.status == 302


def test_pages_without_a_session_redirect_to_sign_in(d):
    r = get(d, "/studio")
    assert r.status == 301
    assert r.headers["location"] == "/studio/"
    for page in ("/studio/", "/studio/endpoints", "/studio/index"):
        r = get(d, page)
        assert r.status == 302, page
        assert r.headers["location"] == "/studio/signin"
    r = get(d, "/studio/signin")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"

    cookie, _ = session_of(sign_in(d))
    r = get(d, "/studio/", cookie)
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    assert get(d, "/studio/no-such-page", cookie).status == 404


def test_assets_have_etags_and_security_headers(d):
    r = get(d, "/studio/assets/vendor/chart.min.js")  # Debian's Chart.js, copied by the build
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    etag = r.headers["etag"]
    assert re.match(r'^"sha256-[0-9a-f]{64}"$', etag)
    assert b"Chart" in r.data[:2000]
    again = get(d, "/studio/assets/vendor/chart.min.js", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.data == b""
    assert again.headers["etag"] == etag

    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    for path in ("/studio/signin", "/studio/", "/studio/api/session"):
        assert "content-security-policy" in get(d, path).headers, path

    for path in ("/studio/assets/../signin.html", "/studio/assets/%2e%2e/signin.html",
                 "/studio/assets/.hidden", "/studio/assets/nope.js"):
        assert get(d, path).status == 404, path


def test_admin_token_appears_in_no_response_and_no_log(d):
    cookie, csrf = session_of(sign_in(d))
    seen = []
    for path in ("/studio/api/session", "/studio/", "/studio/signin", "/api/v1/online-endpoints",
                 "/metrics"):
        r = get(d, path, cookie)
        seen.append(r.text + json.dumps(r.headers))
    seen.append(sign_in(d).text)
    bad = sign_in(d, token=d.token + "x")
    seen.append(bad.text + json.dumps(bad.headers))
    for text in seen:
        assert d.token not in text
    logs = [p for p in d.data_dir.rglob("*") if p.is_file() and p.name != "admin-token"
            and p.suffix in ("", ".log", ".stderr", ".stdout", ".txt")]
    logs += list(d.log_dir.glob("berthd-*.std*"))
    assert any(p.name.startswith("berthd-") for p in logs)
    for path in logs:
        assert d.token.encode() not in path.read_bytes(), path
