"""GET /agent-usage/privacy/{user_id}/export: everything about one customer, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.privacy.export import stream_export
from tests.privacy.helpers import (
    ANA,
    BOB,
    audit_rows,
    privacy_url,
    seed_customer,
    send,
    usage,
)


async def export(client: httpx.AsyncClient, headers: dict[str, str], user: str) -> Any:
    resp = await client.get(privacy_url(user, export=True), headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


async def test_export_holds_every_kind_of_data_of_the_customer_and_nothing_else(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    sent = await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await seed_customer(client, admin_headers, BOB, "bob@example.com")
    doc = await export(client, admin_headers, ANA)

    assert doc["user_id"] == ANA
    assert doc["customer"]["email"] == "ana@example.com"
    assert doc["customer"]["name"] == f"Name of {ANA}"
    assert doc["customer"]["billing_anchor_day"] == 3
    assert sorted(e["event_id"] for e in doc["events"]) == sorted(e["event_id"] for e in sent)
    assert sum(e["tokens_used"] for e in doc["events"]) == 963_000
    assert {e["agent_id"] for e in doc["events"]} == {"NEXUS", "BLAZE"}
    assert all("metadata" in e and "session_id" in e for e in doc["events"])
    assert sum(d["tokens"] for d in doc["daily_usage"]) == 963_000
    assert {d["agent_id"] for d in doc["daily_usage"]} == {"NEXUS", "BLAZE"}
    assert [c["to_tier"] for c in doc["subscription_changes"]] == ["pro"]
    [alert] = doc["alerts"]
    assert alert["alert_type"] == "usage_limit_exceeded"
    assert [t["action"] for t in alert["events"]] == ["raised"]
    [seq] = doc["upsell_sequences"]
    assert (seq["recommended_tier"], seq["reason"]) == ("elite", f"{ANA} is at the limit")
    assert len(seq["steps"]) == 3
    assert [t["action"] for t in seq["events"]] == ["started"]
    assert "hourly_usage" in doc["notes"]
    # Nothing about Bob anywhere in Ana's document.
    assert BOB not in json.dumps(doc)
    assert "bob@example.com" not in json.dumps(doc)
    [row] = await audit_rows(sessions, "privacy.export")
    assert (row.target, row.actor[:4], row.details) == (f"customer:{ANA}", "key:", {"events": 3})


async def test_export_of_an_unknown_customer_is_a_404_naming_the_user_id(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    resp = await client.get(privacy_url("nobody_here", export=True), headers=admin_headers)
    assert resp.status_code == 404
    body = resp.json()
    assert (body["error"], body["field"], body["user_id"]) == (
        "not_found",
        "user_id",
        "nobody_here",
    )
    assert "nobody_here" in body["detail"]
    assert await audit_rows(sessions, "privacy.export") == []


async def test_export_and_erase_need_the_admin_scope(
    client: httpx.AsyncClient, read_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    assert (await client.get(privacy_url(ANA, export=True))).status_code == 401
    assert (
        await client.get(privacy_url(ANA, export=True), headers=read_headers)
    ).status_code == 403
    assert (await client.delete(privacy_url(ANA), headers=read_headers)).status_code == 403


async def test_events_are_streamed_in_pages_without_loss_or_repeat(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # 2,500 events, a quarter sharing one timestamp: the keyset page boundary must hold.
    same = datetime.now(UTC) - timedelta(hours=3)
    events = [usage(ANA, 1 + i / 1000, 10 + i) for i in range(1875)]
    events += [usage(ANA, 0, 5) | {"timestamp": same.isoformat()} for _ in range(625)]
    for i in range(0, len(events), 1000):
        await send(client, *events[i : i + 1000])
    stream = stream_export(sessions, user_id=ANA, exported_at=datetime.now(UTC), page_size=400)
    chunks = [c async for c in stream]
    assert len(chunks) == 1 + 7 + 1  # head, ceil(2500 / 400) pages, tail
    doc = json.loads(b"".join(chunks))
    ids = [e["event_id"] for e in doc["events"]]
    assert len(ids) == len(set(ids)) == 2500
    assert set(ids) == {e["event_id"] for e in events}
    keys = [(e["occurred_at"], e["id"]) for e in doc["events"]]
    assert keys == sorted(keys)
