"""DELETE /agent-usage/privacy/{user_id}: personal data and raw events gone, totals kept."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.service import evaluate_alerts
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import (
    Customer,
    PrivacyErasure,
    SubscriptionChange,
    UpsellSequence,
    UpsellSequenceEvent,
    UpsellStep,
    UsageAlertEvent,
    agent_usage_daily,
)
from nexus_crm.privacy.service import erase_customer, erasure_key, subject_hash
from nexus_crm.settings import Settings
from tests.privacy.helpers import (
    ANA,
    BOB,
    audit_rows,
    daily_totals,
    privacy_url,
    seed_customer,
    stored_about,
)

NOTHING = {"events": 0, "daily": 0, "customers": 0, "changes": 0, "alerts": 0, "sequences": 0}


async def test_erase_removes_personal_data_and_keeps_every_total(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await seed_customer(client, admin_headers, BOB, "bob@example.com")
    totals, bob_before = await daily_totals(sessions), await stored_about(sessions, BOB)
    ana_before = await stored_about(sessions, ANA)
    insights = (await client.get("/agent-usage/insights?days=7", headers=admin_headers)).json()

    resp = await client.delete(privacy_url(ANA), headers=admin_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["user_id"], body["status"]) == (ANA, "erased")
    assert body["counts"] == {
        "events_deleted": 3,
        "daily_rows_anonymised": ana_before["daily"],
        "customer_rows_anonymised": 1,
        "subscription_changes_anonymised": 1,
        "alerts_deleted": 1,
        "sequences_anonymised": 1,
    }

    assert await stored_about(sessions, ANA) == NOTHING
    assert await stored_about(sessions, BOB) == bob_before  # another customer is untouched
    assert await daily_totals(sessions) == totals  # per day and agent, all customers
    after = (await client.get("/agent-usage/insights?days=7", headers=admin_headers)).json()
    assert after["totals"] == insights["totals"]
    assert after["tiers"] == insights["tiers"]  # the erased usage stays in its tier
    assert after["agents"] == insights["agents"]
    await _anonymous_rows_hold_nothing_personal(sessions)
    async with sessions() as s:
        [erasure] = (await s.scalars(select(PrivacyErasure))).all()
    assert erasure.subject_hash == subject_hash(erasure_key(settings), ANA)
    assert ANA not in erasure.subject_hash
    [row] = await audit_rows(sessions, "privacy.erase")
    assert (row.target, row.details) == (f"customer:{ANA}", body["counts"])
    assert row.actor.startswith("key:")


async def _anonymous_rows_hold_nothing_personal(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        anon = (await s.scalars(select(Customer).where(Customer.status == "erased"))).one()
        assert anon.user_id.startswith("erased:")
        assert (anon.email, anon.name, anon.billing_anchor_day, anon.tier) == (
            None,
            None,
            None,
            "pro",
        )
        d = agent_usage_daily.c
        keys = set((await s.scalars(select(d.user_id).where(d.user_id.like("erased:%")))).all())
        assert keys == {anon.user_id}  # one anonymous id; daily rows, customer, history agree
        history = (await s.scalars(select(SubscriptionChange.user_id))).all()
        assert anon.user_id in history
        seq = (
            await s.scalars(select(UpsellSequence).where(UpsellSequence.user_id == anon.user_id))
        ).one()
        assert (seq.status, seq.reason) == ("cancelled", "[erased]")  # nothing more is sent
        steps = (await s.scalars(select(UpsellStep).where(UpsellStep.sequence_id == seq.id))).all()
        assert {st.status for st in steps} <= {"skipped", "sent", "failed"}
        assert all(st.last_error is None for st in steps)
        notes = (await s.scalars(select(UpsellSequenceEvent.note))).all()
        assert ANA not in " ".join(n for n in notes if n)
        assert await s.scalar(select(func.count()).select_from(UsageAlertEvent)) == 1  # Bob's


async def test_erase_twice_is_idempotent_and_export_after_erase_is_404(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    first = (await client.delete(privacy_url(ANA), headers=admin_headers)).json()
    totals = await daily_totals(sessions)
    again = await client.delete(privacy_url(ANA), headers=admin_headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "already_erased"
    assert again.json()["erased_at"] == first["erased_at"]
    assert await daily_totals(sessions) == totals
    assert len(await audit_rows(sessions, "privacy.erase")) == 1  # nothing was changed again
    resp = await client.get(privacy_url(ANA, export=True), headers=admin_headers)
    assert resp.status_code == 404
    assert resp.json()["field"] == "user_id"


async def test_erasing_an_unknown_customer_is_a_404_and_records_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    resp = await client.delete(privacy_url("never_seen"), headers=admin_headers)
    assert resp.status_code == 404
    assert (resp.json()["field"], resp.json()["user_id"]) == ("user_id", "never_seen")
    async with sessions() as s:
        assert (await s.scalars(select(PrivacyErasure))).all() == []
    assert await audit_rows(sessions, "privacy.erase") == []


async def test_odd_user_ids_in_the_path_are_handled(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for user in ("x' OR '1'='1", "..%2F..%2Fetc", "a" * 128):
        resp = await client.delete(privacy_url(user), headers=admin_headers)
        assert resp.status_code == 404, (user, resp.text)
    resp = await client.delete(privacy_url("a" * 129), headers=admin_headers)
    assert resp.status_code == 422


async def test_the_alert_rules_run_after_an_erasure_without_naming_the_customer(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await client.delete(privacy_url(ANA), headers=admin_headers)
    async with transaction(sessions) as s:
        changes = await evaluate_alerts(s, now=utcnow(), policy=AlertPolicy.from_settings(settings))
    assert all(ANA not in f"{a.subject} {a.title} {a.message}" for a in changes.raised)
    assert [a.subject for a in changes.raised] == []


async def test_two_concurrent_erasures_erase_once(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    key = erasure_key(settings)

    async def erase() -> str:
        async with transaction(sessions) as s:
            result = await erase_customer(
                s, user_id=ANA, key=key, actor="system:test", now=utcnow()
            )
        return result.status

    assert sorted(await asyncio.gather(erase(), erase())) == ["already_erased", "erased"]
    assert len(await audit_rows(sessions, "privacy.erase")) == 1
    assert await stored_about(sessions, ANA) == NOTHING
