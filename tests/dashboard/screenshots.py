"""Capture the dashboard screenshots of docs/img from a running demo (Debian's Chromium).

    nexus-crm demo --port 8765            # prints the demo password; wait for the backfill
    python -m tests.dashboard.screenshots http://127.0.0.1:8765 PASSWORD [CUSTOMER_ID]

Without CUSTOMER_ID the customer of the first open alert is shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
DEMO_EMAIL = "demo@nexus-crm.local"


def _shot(page: Page, name: str, ready: str) -> None:
    page.wait_for_selector(ready, timeout=60_000)
    page.wait_for_timeout(1500)  # charts draw after the elements appear
    page.screenshot(path=str(IMG / f"dashboard-{name}.png"), full_page=True)


def capture(base: str, password: str, customer: str | None) -> None:
    """Log in as the demo user and save login, Live, Customer, Alerts and Business."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{base}/")
        page.screenshot(path=str(IMG / "dashboard-login.png"))
        page.fill("input[name=email]", DEMO_EMAIL)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        _shot(page, "live", "[data-testid=kpi-interactions]")
        page.click("[data-testid=nav-alerts]")
        _shot(page, "alerts", "[data-testid=alert-list]")
        first = page.locator("[data-testid=alert-list] a").first
        target = customer or (first.inner_text() if first.count() else "cliente_42_0001")
        page.fill("[data-testid=search]", target)
        page.press("[data-testid=search]", "Enter")
        _shot(page, "customer", "[data-testid=usage-tokens]")
        page.click("[data-testid=nav-business]")
        _shot(page, "business", "[data-testid=forecast-chart]")
        browser.close()


if __name__ == "__main__":
    capture(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
