"""The Customer, Alerts and Business pages in a real browser, against the API's answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from nexus_crm.dashboard.theme import number
from tests.conftest import run_async
from tests.dashboard.conftest import PASSWORD, Dashboard, post_events, seed_user
from tests.support import event

pytestmark = pytest.mark.slow


def usage_text(usage: dict[str, int], kind: str) -> str:
    """What the page shows for tokens or interactions: ``used / limit``."""
    if kind == "tokens":
        return f"{number(usage['tokens_used'])} / {number(usage['token_limit'])}"
    return f"{number(usage['interactions_used'])} / {number(usage['interaction_limit'])}"


def test_the_customer_page_from_the_search_box_matches_the_api(dashboard: Dashboard) -> None:
    d, user = dashboard, "cliente_pro_7"
    post_events(
        d,
        event(user_id=user, agent_id="NEXUS", tokens_used=1_200),
        event(user_id=user, agent_id="BLAZE", tokens_used=800),
        event(user_id="someone_else", tokens_used=999),
    )
    d.login()
    d.page.fill("[data-testid=search]", user)
    d.page.press("[data-testid=search]", "Enter")
    expect(d.page).to_have_url(f"{d.server.base_url}/customers/{user}")
    api = d.api.get(f"/agent-usage/customers/{user}").json()["usage"]
    expect(d.page.locator("[data-testid=usage-tokens]")).to_have_text(usage_text(api, "tokens"))
    expect(d.page.locator("[data-testid=usage-interactions]")).to_have_text("2 / 5,000")
    assert d.page.inner_text("[data-testid=usage-interactions]") == usage_text(api, "interactions")
    expect(d.page.locator("[data-testid=usage-gauge]")).to_be_visible()
    expect(d.page.locator("[data-testid=daily-chart]")).to_be_visible()
    expect(d.page.locator("[data-testid=churn-card]")).to_be_visible()
    # A sales user starts an upsell sequence (to the next tier up) from the page.
    expect(d.page.locator("[data-testid=upsell-note]")).to_contain_text("day 0, 3, 7")
    d.page.click("[data-testid=upsell]")
    expect(d.page.locator("[data-testid=sequence-row]")).to_contain_text("elite: active")
    (seq,) = d.api.get("/agent-usage/upsell-sequences", params={"user_id": user}).json()[
        "sequences"
    ]
    assert (seq["recommended_tier"], seq["created_by"]) == ("elite", f"user:{d.email}")
    # A usage event of this customer updates the page without reload.
    post_events(d, event(user_id=user, agent_id="SAGE", tokens_used=500))
    expect(d.page.locator("[data-testid=usage-interactions]")).to_have_text("3 / 5,000")


def test_an_unknown_customer_gets_a_friendly_page_in_the_locale(dashboard: Dashboard) -> None:
    d = dashboard
    d.login()
    d.page.goto(f"{d.server.base_url}/customers/nobody_{uuid.uuid4().hex[:6]}")
    expect(d.page.locator("[data-testid=not-found]")).to_contain_text("No customer with that ID")
    d.page.click("[data-testid=locale-es]")
    expect(d.page.locator("[data-testid=not-found]")).to_contain_text("No hay cliente con ese ID")
    assert "Traceback" not in d.page.content()


def test_alerts_acknowledged_in_bulk_are_acknowledged_in_the_api(dashboard: Dashboard) -> None:
    d = dashboard
    post_events(
        d,
        *(
            event(user_id=f"cliente_ess_{i}", subscription_tier="essential", tokens_used=170_000)
            for i in range(2)
        ),
    )
    ids = [a["id"] for a in d.api.get("/agent-usage/alerts").json()["alerts"]]
    assert len(ids) == 2
    d.login()
    d.page.click("[data-testid=nav-alerts]")
    expect(d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")).to_have_count(2)
    d.page.fill("[data-testid=filter-customer]", "cliente_ess_1")
    expect(d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")).to_have_count(1)
    d.page.fill("[data-testid=filter-customer]", "")
    expect(d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")).to_have_count(2)
    d.page.click("[data-testid=select-all]")
    d.page.click("[data-testid=bulk-acknowledge]")
    statuses = d.page.locator("[data-testid=alert-list] [data-testid=alert-status]")
    expect(statuses).to_have_text(["acknowledged", "acknowledged"])
    for alert_id in ids:
        got = d.api.get(f"/agent-usage/alerts/{alert_id}").json()
        assert got["status"] == "acknowledged"
        assert got["history"][-1]["actor"] == f"user:{d.email}"


def test_an_analyst_sees_the_alerts_read_only(dashboard: Dashboard) -> None:
    d = dashboard
    post_events(
        d, event(user_id="cliente_ess_9", subscription_tier="essential", tokens_used=170_000)
    )
    analyst = f"bi.{uuid.uuid4().hex[:6]}@ngx.mx"
    run_async(seed_user(d.database_url, analyst, "analyst"))
    d.page.goto(f"{d.server.base_url}/login?next=/alerts")
    d.page.fill("input[name=email]", analyst)
    d.page.fill("input[name=password]", PASSWORD)
    d.page.click("button[type=submit]")
    expect(d.page.locator("[data-testid=read-only]")).to_be_visible()
    d.page.click("[data-testid=select-all]")
    for action in ("acknowledge", "resolve", "dismiss"):
        expect(d.page.locator(f"[data-testid=bulk-{action}]")).to_be_disabled()
    assert d.api.get("/agent-usage/alerts").json()["alerts"][0]["status"] == "active"


def test_the_business_page_shows_conversion_and_a_forecast(dashboard: Dashboard) -> None:
    d, now = dashboard, datetime.now(UTC)
    post_events(
        d,
        *(
            event(
                user_id=f"biz_{i % 4}",
                agent_id=("NEXUS", "BLAZE")[i % 2],
                timestamp=(now - timedelta(days=1 + i % 6, minutes=i)).isoformat(),
            )
            for i in range(24)
        ),
    )
    d.login()
    d.page.click("[data-testid=nav-business]")
    expect(d.page.locator("[data-testid=forecast-chart]")).to_be_visible(timeout=30_000)
    metrics = d.api.get("/agent-usage/business-metrics").json()
    table = d.page.locator("[data-testid=conversion-table]")
    expect(table).to_contain_text("Rate")
    for row in metrics["conversion"]:
        expect(table).to_contain_text(row["tier_name"])
    expect(d.page.locator("[data-testid=agent-table]")).to_contain_text("NEXUS")
    expect(d.page.locator("[data-testid=churn-histogram]")).to_be_visible()
    expect(d.page.locator("[data-testid=forecast-chart] canvas")).to_have_count(1)
