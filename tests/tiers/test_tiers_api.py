"""GET/PUT /agent-usage/tiers."""

from __future__ import annotations

import httpx

from nexus_crm.tiers.defaults import DEFAULT_TIERS
from tests.support import event, signed

NEW_PRO = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 2_000_000,
    "monthly_interactions": 8_000,
    "monthly_price": "119.00",
}


async def test_list_tiers_shows_shipped_defaults_by_rank(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    resp = await client.get("/agent-usage/tiers", headers=read_headers)
    assert resp.status_code == 200
    got = [
        (
            t["tier"],
            t["rank"],
            t["monthly_tokens"],
            t["monthly_interactions"],
            float(t["monthly_price"]),
        )
        for t in resp.json()
    ]
    assert got == [
        (
            t["tier"],
            t["rank"],
            t["monthly_tokens"],
            t["monthly_interactions"],
            t["monthly_price_cents"] / 100,
        )
        for t in DEFAULT_TIERS
    ]


async def test_admin_can_edit_a_tier_and_readers_cannot(
    client: httpx.AsyncClient, admin_headers: dict[str, str], read_headers: dict[str, str]
) -> None:
    denied = await client.put("/agent-usage/tiers/pro", json=NEW_PRO, headers=read_headers)
    assert denied.status_code == 403
    resp = await client.put("/agent-usage/tiers/PRO", json=NEW_PRO, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["monthly_tokens"] == 2_000_000
    tiers = (await client.get("/agent-usage/tiers", headers=read_headers)).json()
    pro = next(t for t in tiers if t["tier"] == "pro")
    assert (pro["monthly_interactions"], float(pro["monthly_price"])) == (8_000, 119.0)


async def test_new_tier_is_created_and_accepted_on_events(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body_, headers = signed(event(subscription_tier="enterprise"))
    before = await client.post("/agent-usage/events", content=body_, headers=headers)
    assert before.status_code == 422
    body = {**NEW_PRO, "display_name": "Enterprise", "rank": 6}
    resp = await client.put("/agent-usage/tiers/enterprise", json=body, headers=admin_headers)
    assert resp.status_code == 200
    assert resp.json()["tier"] == "enterprise"
    body_, headers = signed(event(subscription_tier="Enterprise"))
    after = await client.post("/agent-usage/events", content=body_, headers=headers)
    assert after.json() == {"accepted": 1, "duplicates": 0}


async def test_rank_clash_is_409_and_bad_limits_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    clash = await client.put(
        "/agent-usage/tiers/pro", json={**NEW_PRO, "rank": 3}, headers=admin_headers
    )
    assert clash.status_code == 409
    assert clash.json()["field"] == "rank"
    for field, value in (("monthly_tokens", 0), ("monthly_price", "-1"), ("rank", 0)):
        resp = await client.put(
            "/agent-usage/tiers/pro", json={**NEW_PRO, field: value}, headers=admin_headers
        )
        assert resp.status_code == 422
        assert resp.json()["field"] == field
    bad_name = await client.put(
        "/agent-usage/tiers/Bad%20Name", json=NEW_PRO, headers=admin_headers
    )
    assert bad_name.status_code == 422
    assert bad_name.json()["field"] == "tier"
