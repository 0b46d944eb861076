"""Paged lists (docs/api.md, "Lists and paging"): `$top` pages, the nextLink chain with its
`$skiptoken`, 400 for a bad `$top`, and the CLI's lists following nextLink to show everything.
Its own berthd, so the counts are exact."""

import urllib.parse

import pytest

from berth_helpers import parse_json_output, wait_until

SEVEN = [f"page-ep-{i}" for i in range(7)]


def create(d, name):
    r = d.api("PUT", f"/api/v1/online-endpoints/{name}", {"name": name, "auth_mode": "key"})
    assert r.status in (200, 201), r


def path_of(link):
    """nextLink is absolute (http://<Host>/api/v1/...): the path and query to request."""
    parts = urllib.parse.urlsplit(link)
    assert parts.scheme == "http" and parts.netloc, link
    return parts.path + "?" + parts.query


def walk(d, path):
    """Every page from `path` on, following nextLink: [(names, nextLink or None)]."""
    pages = []
    while path is not None and len(pages) < 1000:
        r = d.api("GET", path)
        assert r.status == 200, r
        body = r.json()
        link = body.get("nextLink")
        pages.append(([item["name"] for item in body["value"]], link))
        path = path_of(link) if link else None
    return pages


@pytest.fixture(scope="module")
def seven(berthd_factory):
    d = berthd_factory()
    for name in reversed(SEVEN):  # created out of order: lists are by name
        create(d, name)
    return d


def test_top_pages_follow_the_next_link_chain(seven):
    pages = walk(seven, "/api/v1/online-endpoints?$top=3")
    assert [names for names, _ in pages] == [SEVEN[0:3], SEVEN[3:6], SEVEN[6:7]]
    first_link, second_link, last_link = (link for _, link in pages)
    assert last_link is None
    assert first_link.startswith(seven.url + "/api/v1/online-endpoints?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(first_link).query)
    assert query["$top"] == ["3"]
    assert query["$skiptoken"] == [SEVEN[2]]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(second_link).query)["$skiptoken"] == \
        [SEVEN[5]]
    # Without $top a page holds up to 100: all seven, no nextLink.
    assert walk(seven, "/api/v1/online-endpoints") == [(SEVEN, None)]


def delete(d, name):
    assert d.api("DELETE", f"/api/v1/online-endpoints/{name}").status == 202
    wait_until(lambda: d.api("GET", f"/api/v1/online-endpoints/{name}").status == 404,
               message=f"{name} to be deleted")


def test_a_token_stays_valid_when_its_item_goes(seven):
    link = seven.api("GET", "/api/v1/online-endpoints?$top=2").json()["nextLink"]
    # Between the pages the item the token names goes, and one sorting just after it comes.
    extra = "page-ep-1a"
    delete(seven, SEVEN[1])
    create(seven, extra)
    try:
        names = [names for names, _ in walk(seven, path_of(link))]
        assert sum(names, []) == [extra] + SEVEN[2:]
    finally:
        delete(seven, extra)
        create(seven, SEVEN[1])


@pytest.mark.parametrize("top", ["abc", "0", "-2", "1001", ""])
def test_a_bad_top_is_400_naming_it(seven, top):
    r = seven.api("GET", "/api/v1/online-endpoints?$top=" + urllib.parse.quote(top))
    assert r.status == 400, r
    assert r.error()["code"] == "BadArgument"
    assert r.error()["target"] == "$top"
    assert "$top" in r.error()["message"]


def test_skip_offsets_are_refused(seven):
    r = seven.api("GET", "/api/v1/online-endpoints?$skip=3")
    assert r.status == 400, r
    assert r.error()["target"] == "$skip"


def test_deployments_and_models_lists_page_too(seven, tmp_path):
    r = seven.api("GET", f"/api/v1/online-endpoints/{SEVEN[0]}/deployments?$top=1")
    assert r.status == 200, r
    assert r.json() == {"value": []}
    assert seven.api("GET", f"/api/v1/online-endpoints/{SEVEN[0]}/deployments?$top=x").status \
        == 400
    weights = tmp_path / "w.txt"
    for version in ("1", "2", "3"):
        weights.write_text(f"weights {version}\n")
        seven.cli("model", "create", "--name", "pm", "--version", version, "--path", weights)
    pages = walk(seven, "/api/v1/models?name=pm&$top=2")
    assert [len(names) for names, _ in pages] == [2, 1]
    assert "name=pm" in pages[0][1]  # the other parameters stay in nextLink
    pages = walk(seven, "/api/v1/models/pm/versions?$top=1")
    assert [len(names) for names, _ in pages] == [1, 1, 1]
    listed = parse_json_output(seven.cli("model", "list", "--name", "pm").stdout)
    assert [m["version"] for m in listed] == ["1", "2", "3"]


def test_cli_list_shows_every_endpoint(seven):
    # The CLI asks for pages of 1000 and follows nextLink (src/cli/api_client_test.cc and
    # cli_test.cc walk several pages against a fake server).
    listed = parse_json_output(seven.cli("online-endpoint", "list", "-o", "json").stdout)
    assert [e["name"] for e in listed] == SEVEN
