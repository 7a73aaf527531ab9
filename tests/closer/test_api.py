"""The upsell-sequence API: validation, idempotent start, list, read, cancel, replied."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import UpsellSequenceEvent
from tests.closer.conftest import SEQUENCES, customer, sequence_of, start


async def test_start_answers_the_contract(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await customer(client)
    resp = await start(client, admin_headers, tier="ELITE")
    assert resp.status_code == 201, resp.text
    assert resp.json()["created"] is True
    seq = sequence_of(resp)
    assert (seq["user_id"], seq["current_tier"], seq["recommended_tier"]) == (
        "cliente_123",
        "pro",
        "elite",
    )
    assert (seq["status"], seq["automatic"], seq["ended_at"]) == ("active", False, None)
    assert seq["created_by"].startswith("key:")
    assert seq["reason"] == "High usage pattern"
    steps = seq["steps"]
    assert [(s["index"], s["kind"], s["channel"], s["status"], s["attempts"]) for s in steps] == [
        (0, "initial", "email", "scheduled", 0),
        (1, "follow_up", "email", "scheduled", 0),
        (2, "last_offer", "email", "scheduled", 0),
    ]
    assert {k for s in steps for k in s} == {
        "index",
        "kind",
        "channel",
        "due_at",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    }


async def test_start_is_idempotent_while_a_sequence_is_active(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await customer(client)
    seq = sequence_of(await start(client, admin_headers))
    again = await start(client, admin_headers, reason="asked twice")
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert sequence_of(again)["id"] == seq["id"]
    assert sequence_of(again)["reason"] == "High usage pattern"
    listed = (await client.get(SEQUENCES, headers=admin_headers)).json()
    assert listed["count"] == 1
    assert listed["sequences"][0]["id"] == seq["id"]
    one = await client.get(f"{SEQUENCES}/{seq['id']}", headers=admin_headers)
    assert one.json()["history"][0]["action"] == "started"


async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await customer(client)
    await customer(client, "gone", status="cancelled")
    cases = [
        ({"user_id": "nobody", "recommended_tier": "elite", "reason": "x"}, 404, "user_id"),
        (
            {"user_id": "cliente_123", "recommended_tier": "gold", "reason": "x"},
            422,
            "recommended_tier",
        ),
        (
            {"user_id": "cliente_123", "recommended_tier": "pro", "reason": "x"},
            422,
            "recommended_tier",
        ),
        (
            {"user_id": "cliente_123", "recommended_tier": "essential", "reason": "x"},
            422,
            "recommended_tier",
        ),
        ({"user_id": "cliente_123", "recommended_tier": "elite", "reason": ""}, 422, "reason"),
        (
            {"user_id": "cliente_123", "recommended_tier": "elite", "reason": "x" * 501},
            422,
            "reason",
        ),
        ({"user_id": "cliente_123", "recommended_tier": "elite"}, 422, "reason"),
        ({"user_id": "gone", "recommended_tier": "elite", "reason": "x"}, 409, "user_id"),
    ]
    for body, status, field in cases:
        resp = await client.post(SEQUENCES, json=body, headers=admin_headers)
        assert resp.status_code == status, (body, resp.text)
        assert set(resp.json()) >= {"error", "detail"}
        assert resp.json()["field"] == field, body
    detail = (await start(client, admin_headers, tier="pro")).json()["detail"]
    assert "'pro'" in detail
    assert "current tier" in detail
    assert (await client.get(SEQUENCES, headers=admin_headers)).json()["count"] == 0


async def test_cancel_ends_an_active_sequence_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await customer(client, "a")
    first = sequence_of(await start(client, admin_headers, "a"))
    url = f"{SEQUENCES}/{first['id']}"
    resp = await client.post(
        f"{url}/cancel", json={"note": "spoke on the phone"}, headers=admin_headers
    )
    assert resp.status_code == 200, resp.text
    done = resp.json()
    assert (done["status"], done["ended_at"] is not None) == ("cancelled", True)
    assert [s["status"] for s in done["steps"]] == ["skipped"] * 3
    assert done["history"][-1]["note"] == "spoke on the phone"
    for action in ("cancel", "replied"):
        again = await client.post(f"{url}/{action}", headers=admin_headers)
        assert (again.status_code, again.json()["field"]) == (409, "status")
    assert (await start(client, admin_headers, "a")).status_code == 201  # a new one may start
    by_user = await client.get(SEQUENCES, params={"user_id": "a"}, headers=admin_headers)
    assert [s["status"] for s in by_user.json()["sequences"]] == ["active", "cancelled"]


async def test_replied_is_recorded_in_the_audit_trail(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await customer(client, "a")
    await customer(client, "b")
    await start(client, admin_headers, "a")
    second = sequence_of(await start(client, admin_headers, "b"))
    resp = await client.post(f"{SEQUENCES}/{second['id']}/replied", headers=admin_headers)
    assert resp.json()["status"] == "replied"
    by_status = await client.get(SEQUENCES, params={"status": "replied"}, headers=admin_headers)
    assert [s["user_id"] for s in by_status.json()["sequences"]] == ["b"]
    async with sessions() as s:
        rows = (
            await s.execute(
                select(UpsellSequenceEvent.action, UpsellSequenceEvent.automatic)
                .where(UpsellSequenceEvent.sequence_id == uuid.UUID(second["id"]))
                .order_by(UpsellSequenceEvent.at)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("started", False), ("replied", False)]


async def test_unknown_sequence_and_bad_filters(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    unknown = uuid.uuid4()
    for method, path in (("GET", ""), ("POST", "/cancel"), ("POST", "/replied")):
        resp = await client.request(method, f"{SEQUENCES}/{unknown}{path}", headers=admin_headers)
        assert resp.status_code == 404
        assert resp.json()["field"] == "sequence_id"
    resp = await client.get(SEQUENCES, params={"status": "lost"}, headers=admin_headers)
    assert (resp.status_code, resp.json()["field"]) == (422, "status")
