"""Under the dashboard's catch-all mount, API paths still answer with the JSON error shape.

The dashboard serves HTML for every path it does not know; an unknown ``/agent-usage/*``
path (any method) must get a JSON 404, and a known one asked with a method it does not
serve a JSON 405 with ``Allow`` (issue 15, item 7).
"""

from __future__ import annotations

import httpx
import pytest

from tests.processes import running_server

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def assert_json_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"] == code


@pytest.mark.slow
def test_unknown_api_paths_get_json_404_and_wrong_methods_json_405(db_url: str) -> None:
    with (
        running_server(db_url, env={"DASHBOARD_ENABLED": "true"}) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        page = http.get("/", follow_redirects=True)  # the dashboard is on: its login page
        assert "text/html" in page.headers["content-type"]
        for method in METHODS:
            resp = http.request(method, "/agent-usage/no-such-route", content=b"{}")
            assert_json_error(resp, 404, "not_found")
        for method in ("GET", "PUT", "DELETE"):
            resp = http.request(method, "/agent-usage/events")
            assert_json_error(resp, 405, "method_not_allowed")
            assert resp.headers["allow"] == "POST"
        resp = http.request("DELETE", "/agent-usage/tiers")
        assert_json_error(resp, 405, "method_not_allowed")
        assert "GET" in resp.headers["allow"]
