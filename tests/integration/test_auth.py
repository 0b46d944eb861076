"""Data-plane auth (keys, aml_token with a short lifetime) and the admin credential."""

import os
import stat

import pytest

from berth_helpers import GUID_RE, wait_until

KEY_EP = "auth-key-ep"
TOKEN_EP = "auth-tok-ep"
TOKEN_EP2 = "auth-tok2-ep"
OTHER_EP = "auth-other-ep"


@pytest.fixture(scope="module")
def d(berthd_factory):
    return berthd_factory(["--token-lifetime", "2"])


@pytest.fixture(scope="module")
def endpoints(d, module_dir):
    d.create_endpoint(module_dir, KEY_EP)
    d.create_deployment(module_dir, "blue", KEY_EP, all_traffic=True)
    d.create_endpoint(module_dir, OTHER_EP)
    d.create_endpoint(module_dir, TOKEN_EP, auth_mode="aml_token")
    d.create_deployment(module_dir, "blue", TOKEN_EP, all_traffic=True)
    d.create_endpoint(module_dir, TOKEN_EP2, auth_mode="aml_token")


def assert_401(r):
    assert r.status == 401, r
    assert r.error()["code"] == "Unauthorized", r
    assert GUID_RE.match(r.headers.get("x-request-id", "")), r.headers


def test_keys(d, endpoints):
    keys = d.keys(KEY_EP)
    primary, secondary = keys["primaryKey"], keys["secondaryKey"]
    assert primary and secondary and primary != secondary

    assert_401(d.score(KEY_EP, {}, key=""))
    assert_401(d.score(KEY_EP, {}, key="not-a-key"))
    assert_401(d.score(KEY_EP, {}, key=primary[:-1]))
    assert_401(d.score(KEY_EP, {}, key="", headers={"Authorization": "Bearer "}))
    assert_401(d.score(KEY_EP, {}, key=d.primary_key(OTHER_EP)))
    assert_401(d.score(KEY_EP, {}, key=d.token))  # the admin token is no scoring key

    for k in (primary, secondary):
        r = d.score(KEY_EP, {"k": 1}, key=k)
        assert r.status == 200, r
        assert r.json()["deployment"] == "blue"


def test_regenerate_keys_invalidates_only_the_chosen_key(d, endpoints):
    before = d.keys(KEY_EP)
    d.cli("online-endpoint", "regenerate-keys", "-n", KEY_EP, "--key-type", "primary")
    after = d.cli_json("online-endpoint", "get-credentials", "-n", KEY_EP)
    assert after["primaryKey"] != before["primaryKey"]
    assert after["secondaryKey"] == before["secondaryKey"]
    assert_401(d.score(KEY_EP, {}, key=before["primaryKey"]))
    assert d.score(KEY_EP, {}, key=after["primaryKey"]).status == 200
    assert d.score(KEY_EP, {}, key=before["secondaryKey"]).status == 200

    r = d.api("POST", f"/api/v1/online-endpoints/{KEY_EP}/regenerate-keys",
              {"key_type": "secondary"})
    assert r.status == 200, r
    final = d.keys(KEY_EP)
    assert final["primaryKey"] == after["primaryKey"]
    assert final["secondaryKey"] != after["secondaryKey"]
    assert_401(d.score(KEY_EP, {}, key=after["secondaryKey"]))
    assert d.score(KEY_EP, {}, key=final["secondaryKey"]).status == 200
    assert d.score(KEY_EP, {}, key=final["primaryKey"]).status == 200

    cp = d.cli("online-endpoint", "regenerate-keys", "-n", KEY_EP, "--key-type", "tertiary",
               check=False)
    assert cp.returncode in (1, 2), cp
    assert "Error:" in cp.stderr
    assert d.keys(KEY_EP) == final


def test_aml_token_expires(d, endpoints):
    creds = d.cli_json("online-endpoint", "get-credentials", "-n", TOKEN_EP)
    assert set(creds) >= {"accessToken", "expiryTimeUtc", "refreshAfterTimeUtc", "tokenType"}
    assert creds["tokenType"] == "Bearer"
    assert creds["accessToken"]

    r = d.api("POST", f"/api/v1/online-endpoints/{TOKEN_EP}/token")
    assert r.status == 200, r
    token = r.json()["accessToken"]
    r = d.score(TOKEN_EP, {"t": 1}, key=token)
    assert r.status == 200, r
    assert r.json()["deployment"] == "blue"

    # Lifetime is 2 s: the same token is refused once it has expired.
    expired = wait_until(lambda: (lambda r: r if r.status != 200 else None)(
        d.score(TOKEN_EP, {"t": 2}, key=token)), timeout=10, step=0.2,
        message="the token to expire")
    assert_401(expired)

    # A fresh token works; tampered, foreign and key-style credentials do not.
    fresh = d.api("POST", f"/api/v1/online-endpoints/{TOKEN_EP}/token").json()["accessToken"]
    assert d.score(TOKEN_EP, {}, key=fresh).status == 200
    middle = len(fresh) // 2
    tampered = fresh[:middle] + ("A" if fresh[middle] != "A" else "B") + fresh[middle + 1:]
    assert_401(d.score(TOKEN_EP, {}, key=tampered))
    assert_401(d.score(TOKEN_EP, {}, key=""))
    assert_401(d.score(TOKEN_EP, {}, key="some-key"))
    foreign = d.api("POST", f"/api/v1/online-endpoints/{TOKEN_EP2}/token").json()["accessToken"]
    assert_401(d.score(TOKEN_EP, {}, key=foreign))


def test_token_endpoint_has_no_keys(d, endpoints):
    cp = d.cli("online-endpoint", "regenerate-keys", "-n", TOKEN_EP, check=False)
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("Error:"), cp.stderr
    r = d.api("POST", f"/api/v1/online-endpoints/{KEY_EP}/token")
    assert r.status == 400, r


def test_management_needs_admin_token(d, endpoints):
    for method, path in (("GET", "/api/v1/online-endpoints"),
                         ("GET", f"/api/v1/online-endpoints/{KEY_EP}"),
                         ("GET", f"/api/v1/online-endpoints/{KEY_EP}/keys"),
                         ("DELETE", f"/api/v1/online-endpoints/{KEY_EP}"),
                         ("GET", "/metrics")):
        assert_401(d.api(method, path, token=None))
        assert_401(d.api(method, path, token=d.token + "x"))
        assert_401(d.api(method, path, token=d.primary_key(KEY_EP)))
    assert d.endpoint(KEY_EP)["provisioning_state"] == "Succeeded"

    cp = d.cli("online-endpoint", "list", check=False,
               env=d.cli_env(BERTH_TOKEN="wrong-token"))
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("Error:"), cp.stderr

    token_file = d.data_dir / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
