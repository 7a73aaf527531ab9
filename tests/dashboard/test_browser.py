"""The dashboard in a real browser: login, live KPIs and feed, alert actions, Spanish."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect

from nexus_crm.dashboard.theme import millis, number
from tests.dashboard.conftest import Dashboard, post_events
from tests.support import event

pytestmark = pytest.mark.slow


def kpi(d: Dashboard, key: str) -> str:
    """The text of one KPI value on the page."""
    return d.page.inner_text(f"[data-testid=kpi-{key}]").strip()


def test_login_shows_the_databases_kpis_then_logout(dashboard: Dashboard) -> None:
    d = dashboard
    post_events(d, *(event(user_id=f"kpi_{i % 3}", tokens_used=100 + i) for i in range(7)))
    d.page.goto(f"{d.server.base_url}/")
    expect(d.page).to_have_url(f"{d.server.base_url}/login?next=/")
    d.login()
    totals = d.api.get("/agent-usage/insights", params={"days": 1}).json()["totals"]
    assert kpi(d, "interactions") == number(totals["interactions"]) == "7"
    assert kpi(d, "tokens") == number(totals["tokens"])
    assert kpi(d, "active_users") == number(totals["active_users"]) == "3"
    assert kpi(d, "avg_response") == millis(totals["avg_response_time_ms"])
    expect(d.page.locator("[data-testid=feed-row]")).to_have_count(7)
    cookie = next(c for c in d.page.context.cookies() if c["name"] == "nexus_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert not cookie["secure"]  # development over plain HTTP on loopback
    d.page.click("[data-testid=logout]")
    expect(d.page).to_have_url(f"{d.server.base_url}/login")
    d.page.goto(f"{d.server.base_url}/")
    expect(d.page.locator("input[name=password]")).to_be_visible()


def test_a_wrong_password_is_refused(dashboard: Dashboard) -> None:
    d = dashboard
    d.page.goto(f"{d.server.base_url}/login")
    d.page.fill("input[name=email]", d.email)
    d.page.fill("input[name=password]", "not-the-password")
    d.page.click("button[type=submit]")
    expect(d.page.get_by_role("alert")).to_contain_text("Wrong email or password")
    assert not [c for c in d.page.context.cookies() if c["name"] == "nexus_session"]


def test_a_webhook_event_reaches_the_feed_and_counters_without_reload(
    dashboard: Dashboard,
) -> None:
    # How fast is a figure of bench/ws_latency.py (event to WebSocket, p99), not a timed
    # assertion here: a browser on a busy machine may take longer than a second to render.
    d = dashboard
    post_events(d, event(user_id="before_1"), event(user_id="before_2"))
    d.login()
    expect(d.page.locator("[data-testid=kpi-interactions]")).to_have_text("2")
    user = f"live_{uuid.uuid4().hex[:8]}"
    post_events(d, event(user_id=user, agent_id="BLAZE", tokens_used=321))
    started = time.monotonic()
    expect(d.page.locator("[data-testid=feed]")).to_contain_text(user)
    expect(d.page.locator("[data-testid=kpi-interactions]")).to_have_text("3")
    expect(d.page.locator("[data-testid=kpi-active_users]")).to_have_text("3")
    print(f"event to feed and counters: {time.monotonic() - started:.2f} s")
    expect(d.page.locator("[data-testid=agent-BLAZE]")).to_be_visible()


def test_an_alert_acknowledged_in_the_page_is_acknowledged_in_the_api(
    dashboard: Dashboard,
) -> None:
    d = dashboard
    post_events(
        d, event(user_id="cliente_essential_9", subscription_tier="essential", tokens_used=170_000)
    )
    alerts = d.api.get("/agent-usage/alerts").json()["alerts"]
    assert [a["alert_type"] for a in alerts] == ["usage_limit_approaching"]
    alert_id = alerts[0]["id"]
    d.login()
    row = d.page.locator(f"[data-testid=alert-{alert_id}]")
    row.locator("[data-testid=acknowledge]").click()
    expect(row.locator("[data-testid=alert-status]")).to_have_text("acknowledged")
    got = d.api.get(f"/agent-usage/alerts/{alert_id}").json()
    assert got["status"] == "acknowledged"
    assert got["history"][-1]["actor"] == f"user:{d.email}"


def test_the_spanish_switch_changes_the_labels(dashboard: Dashboard) -> None:
    d = dashboard
    d.login()
    expect(d.page.locator("[data-testid=kpi-card-interactions]")).to_contain_text(
        "Interactions today"
    )
    d.page.click("[data-testid=locale-es]")
    expect(d.page.locator("[data-testid=kpi-card-interactions]")).to_contain_text(
        "Interacciones hoy"
    )
    expect(d.page.get_by_text("Alertas en vivo")).to_be_visible()
    expect(d.page.get_by_text("Cerrar sesión")).to_be_visible()
    d.page.click("[data-testid=locale-en]")
    expect(d.page.get_by_text("Live alerts")).to_be_visible()
