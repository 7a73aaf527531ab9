"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a real server.

Chromium comes from the system (``apt-get install chromium``), never from a download. With
CI=true a missing browser fails the run; elsewhere the browser tests are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.security.service import create_api_key
from nexus_crm.security.users import create_user
from nexus_crm.settings import Settings
from tests.conftest import run_async
from tests.processes import ServerProcess, running_server
from tests.support import signed

CHROMIUM = Path(os.environ.get("NEXUS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "dashboard-test-password"


@dataclass
class Dashboard:
    """A server with the dashboard on, a logged-out browser page, a user and an API key."""

    server: ServerProcess
    page: Page
    email: str
    api: httpx.Client
    database_url: str

    def login(self) -> None:
        """Log in through the form and wait for the Live page."""
        self.page.goto(f"{self.server.base_url}/")
        self.page.fill("input[name=email]", self.email)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("[data-testid=kpi-interactions]")
        self.ready()

    def ready(self) -> None:
        """Wait until the page's NiceGUI socket has shaken hands: a click before that is lost
        (the element is there, served in the HTML, but nobody listens to its events yet)."""
        self.page.wait_for_function("() => window.did_handshake === true")


def post_events(d: Dashboard, *events: dict[str, Any]) -> None:
    """Send events through the signed webhook, as GENESIS does."""
    body, headers = signed({"events": list(events)})
    resp = d.api.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def browser(db_url: str) -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test.

    Playwright's sync API keeps an event loop running in this thread while it is open, so
    it starts after (and stops before) the async database fixtures of the next test.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


async def seed_user(url: str, email: str, role: str) -> str:
    """Create a dashboard user (password ``PASSWORD``) and an admin API key; the key."""
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await create_user(session, email=email, password=PASSWORD, role=role)
            _, key = await create_api_key(session, name="browser-test", scopes=["admin"])
    finally:
        await engine.dispose()
    return key


@pytest.fixture
def dashboard(db_url: str, browser: Browser) -> Iterator[Dashboard]:
    """A dashboard server on the database under test and a fresh browser context."""
    email = f"ana.{uuid.uuid4().hex[:6]}@ngx.mx"
    key = run_async(seed_user(db_url, email, "sales"))
    with running_server(db_url, env={"DASHBOARD_ENABLED": "true"}) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as api:
            yield Dashboard(server, context.new_page(), email, api, db_url)
        context.close()
