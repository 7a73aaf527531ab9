"""The dashboard works under its strict Content-Security-Policy, in a real Chromium.

Every page is loaded, clicked and updated live while the test listens for CSP violations
two ways: the page's ``securitypolicyviolation`` events (a listener installed before any
page script runs) and Chromium's console errors. A policy too strict for NiceGUI would
show up as either; a policy too loose is caught by tests/security/test_transport.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Response, expect

from tests.conftest import run_async
from tests.dashboard.conftest import Dashboard, post_events, seed_user
from tests.processes import ServerProcess, serve_command, server_env
from tests.support import event

pytestmark = pytest.mark.slow

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI} (${where})`);
});
"""


class Watch:
    """What the browser reported while the test ran: CSP-related console lines, documents."""

    def __init__(self, d: Dashboard) -> None:
        self.d = d
        self.console: list[str] = []
        self.documents: list[Response] = []
        d.page.add_init_script(LISTEN)
        d.page.on("console", self._on_console)
        d.page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "CSP" in text):
            self.console.append(text)

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.documents.append(response)

    def violations(self) -> list[str]:
        """The violations seen by the current page and in the console so far."""
        in_page: list[str] = self.d.page.evaluate("window.__csp || []")
        return in_page + self.console


@pytest.fixture
def dashboard(db_url: str, browser: Browser) -> Iterator[Dashboard]:
    """Like tests/dashboard/conftest.py's, but started by ``nexus-crm serve`` and outside
    NiceGUI's pytest mode, so pages are gzipped as in production (the CSP hashes them)."""
    email = f"csp.{uuid.uuid4().hex[:6]}@ngx.mx"
    key = run_async(seed_user(db_url, email, "sales"))
    env = server_env(db_url, extra={"DASHBOARD_ENABLED": "true"})
    env.pop("PYTEST_CURRENT_TEST", None)
    with ServerProcess(env, command=serve_command) as server:
        server.start()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as api:
            yield Dashboard(server, context.new_page(), email, api, db_url)
        context.close()


@pytest.fixture
def watch(dashboard: Dashboard) -> Iterator[Watch]:
    """A violation listener on the dashboard's page; fails the test on any violation."""
    w = Watch(dashboard)
    yield w
    assert w.console == []


def assert_clean(w: Watch) -> None:
    """No violation on this page, and every document so far came with the dashboard's CSP."""
    assert w.violations() == []
    assert w.documents
    for response in w.documents:
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue  # a redirect
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, response.url
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        if "/login" not in response.url:  # NiceGUI's pages, compressed as in production
            assert response.headers.get("content-encoding") == "gzip", response.url


def test_every_page_works_under_the_csp(dashboard: Dashboard, watch: Watch) -> None:
    d, base = dashboard, dashboard.server.base_url
    user = "cliente_csp_1"
    post_events(d, event(user_id=user, subscription_tier="essential", tokens_used=170_000))
    d.login()  # the login form, then the Live page: KPIs rendered by NiceGUI's scripts
    expect(d.page.locator("[data-testid=kpi-interactions]")).to_have_text("1")
    assert_clean(watch)
    # Live updates arrive over NiceGUI's same-origin WebSocket (connect-src 'self').
    post_events(d, event(user_id="cliente_csp_2", tokens_used=10))
    expect(d.page.locator("[data-testid=kpi-interactions]")).to_have_text("2")
    # A click is a round trip through the socket and eval'd updates ('unsafe-eval').
    d.page.click("[data-testid=locale-es]")
    expect(d.page.locator("[data-testid=kpi-card-interactions]")).to_contain_text(
        "Interacciones hoy"
    )
    d.page.click("[data-testid=locale-en]")
    assert_clean(watch)
    d.page.click("[data-testid=nav-alerts]")
    expect(d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")).to_have_count(1)
    d.ready()
    d.page.click("[data-testid=select-all]")
    d.page.click("[data-testid=bulk-acknowledge]")
    expect(d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")).to_have_text(
        ["acknowledged"]
    )
    assert_clean(watch)
    d.page.click("[data-testid=nav-business]")
    expect(d.page.locator("[data-testid=churn-histogram] canvas")).to_have_count(1, timeout=30_000)
    assert_clean(watch)
    d.page.goto(f"{base}/customers/{user}")
    expect(d.page.locator("[data-testid=usage-gauge] canvas")).to_have_count(1)
    assert_clean(watch)
    d.page.click("[data-testid=logout]")
    expect(d.page).to_have_url(f"{base}/login")
    assert_clean(watch)


def test_an_injected_inline_script_is_blocked(dashboard: Dashboard, watch: Watch) -> None:
    """The policy is not just present: script the server did not send does not run."""
    d = dashboard
    d.login()
    d.page.evaluate(
        """() => {
          const img = document.createElement("img");
          img.setAttribute("src", "data:,x");
          img.setAttribute("onerror", "window.__pwned = true");
          document.body.append(img);
          const s = document.createElement("script");
          s.textContent = "window.__pwned = true";
          document.body.append(s);
        }"""
    )
    d.page.wait_for_function("() => window.__csp.length >= 2")
    assert d.page.evaluate("window.__pwned === undefined")
    blocked = d.page.evaluate("window.__csp")
    assert all(v.startswith("script-src") for v in blocked), blocked
    watch.console.clear()  # the two expected violations were also logged
