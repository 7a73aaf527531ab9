"""The demo mailbox page: the emails NGX_Closer sent in the demo, readable in the browser."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import run_async
from tests.dashboard.conftest import Dashboard, post_events, seed_user
from tests.processes import running_server
from tests.support import event, signed

pytestmark = pytest.mark.slow
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def demo_app_command(port: int) -> list[str]:
    """uvicorn serving the demo's app (its mailbox on) from the environment, on ``port``."""
    factory = "nexus_crm.cli.demo:create_demo_app"
    options = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return [sys.executable, "-m", "uvicorn", factory, "--factory", *options]


@pytest.fixture
def demo_dashboard(db_url: str, browser: Browser) -> Iterator[Dashboard]:
    """The demo's app (dashboard and mailbox on) on the database under test, and a browser."""
    email = f"ana.{uuid.uuid4().hex[:6]}@ngx.mx"
    key = run_async(seed_user(db_url, email, "sales"))
    env = {"DASHBOARD_ENABLED": "true", "UPSELL_WORKER_INTERVAL_SECONDS": "0.5"}
    with running_server(db_url, env=env, command=demo_app_command) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as api:
            yield Dashboard(server, context.new_page(), email, api, db_url)
        context.close()


def a_customer(d: Dashboard, user: str, email: str) -> None:
    """A Pro customer with an email address and some usage (GENESIS's signed webhooks)."""
    sub = {"user_id": user, "tier": "pro", "status": "active", "email": email, "name": "Lucía"}
    body, headers = signed(sub)
    resp = d.api.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    post_events(d, event(user_id=user, agent_id="BLAZE", tokens_used=40_000))


def test_an_upsell_email_appears_in_the_mailbox_page_and_reads_in_both_languages(
    demo_dashboard: Dashboard,
) -> None:
    d, user, email = demo_dashboard, "cliente_mail_1", "lucia@example.com"
    a_customer(d, user, email)
    d.login()
    d.page.click("[data-testid=nav-mailbox]")
    expect(d.page).to_have_url(f"{d.server.base_url}/mailbox")
    d.ready()
    expect(d.page.locator("[data-testid=mailbox-empty]")).to_have_text(
        "No email yet. Start an upsell sequence from a customer's page: its first email "
        "arrives here within 0.5 s."
    )
    # The worker sends the first step while the page is open: it shows without reload.
    body = {"user_id": user, "recommended_tier": "elite", "reason": "High usage pattern"}
    resp = d.api.post("/agent-usage/upsell-sequences", json=body)
    assert resp.status_code in (200, 201), resp.text
    row = d.page.locator("[data-testid=mail-row]")
    expect(row).to_have_count(1)
    expect(row.locator("[data-testid=mail-to]")).to_have_text(email)
    subject = "Lucía, you have used 4 % of your Pro plan"
    expect(row.locator("[data-testid=mail-subject]")).to_have_text(subject)
    expect(row.locator("[data-testid=mail-time]")).to_have_text(TIME)
    row.locator("[data-testid=mail-subject]").click()
    text = row.locator("[data-testid=mail-body]")
    expect(text).to_be_visible()
    expect(text).to_contain_text("Hi Lucía,")
    expect(text).to_contain_text("40,000 of 1,000,000 tokens")
    expect(text).to_contain_text("The NGX team")
    d.page.click("[data-testid=locale-es]")
    expect(d.page.locator("[data-testid=mailbox-title]")).to_have_text("Buzón de la demo")
    expect(d.page.locator("[data-testid=nav-mailbox]")).to_have_text("Buzón")
    expect(d.page.get_by_text("Asunto", exact=True)).to_be_visible()
    expect(d.page.locator("[data-testid=mail-row]")).to_have_count(1)
    assert "Traceback" not in d.page.content()


def test_without_the_demo_there_is_no_mailbox_in_the_navigation(dashboard: Dashboard) -> None:
    d = dashboard
    d.login()
    expect(d.page.locator("[data-testid=nav-alerts]")).to_be_visible()
    expect(d.page.locator("[data-testid=nav-mailbox]")).to_have_count(0)
    d.page.goto(f"{d.server.base_url}/mailbox")
    expect(d.page.locator("[data-testid=mailbox-off]")).to_contain_text("nexus-crm demo")
