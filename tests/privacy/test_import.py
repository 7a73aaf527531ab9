"""History import (`nexus-crm import`) applies the webhook's erasure rule to every line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import Customer, PrivacyErasure
from nexus_crm.settings import Settings
from tests.ingest.history_files import load, write_lines
from tests.privacy.helpers import ANA, BOB, privacy_url, seed_customer, stored_about, usage


def _sub(user: str, status: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "tier": "pro",
        "status": status,
        "timestamp": at.isoformat(),
        "email": f"{user}@example.com",
        **extra,
    }


async def test_imported_subscriptions_of_an_erased_customer_are_suppressed_like_the_webhook(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    assert (await client.delete(privacy_url(ANA), headers=admin_headers)).status_code == 200
    before = datetime.now(UTC) - timedelta(days=3)
    old_history = [
        _sub(ANA, "active", before),
        _sub(ANA, "active", before + timedelta(days=1), tier="elite"),
        _sub(ANA, "cancelled", before + timedelta(days=2)),
        _sub(BOB, "active", before),
    ]
    path = write_lines(tmp_path / "subs.jsonl", old_history)
    counts, rejected = await load(sessions, settings, path, kind="subscriptions")
    assert rejected == []
    assert counts.summary() == {
        "read": 4,
        "changed": 1,
        "unchanged": 0,
        "rejected": 0,
        "blank": 0,
        "suppressed": 3,
    }
    about = await stored_about(sessions, ANA)
    assert (about["customers"], about["changes"]) == (0, 0)  # the erased history stays out
    async with sessions() as s:
        emails = set((await s.scalars(select(Customer.email))).all())
        [erasure] = (await s.scalars(select(PrivacyErasure))).all()
    assert emails == {None, f"{BOB}@example.com"}  # the anonymous row and Bob
    assert erasure.resubscribed_at is None


async def test_an_imported_new_subscription_lifts_the_erasure_from_its_time_on(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await client.delete(privacy_url(ANA), headers=admin_headers)
    new_at = datetime.now(UTC)
    subs = write_lines(tmp_path / "subs.jsonl", [_sub(ANA, "active", new_at, tier="elite")])
    counts, _ = await load(sessions, settings, subs, kind="subscriptions")
    assert (counts.stored, counts.suppressed) == (1, 0)
    async with sessions() as s:
        [erasure] = (await s.scalars(select(PrivacyErasure))).all()
        customer = (await s.scalars(select(Customer).where(Customer.user_id == ANA))).one()
    assert erasure.resubscribed_at == new_at
    assert (customer.tier, customer.email) == ("elite", f"{ANA}@example.com")

    old, new = usage(ANA, 5, 11), usage(ANA, 0, 13) | {"timestamp": new_at.isoformat()}
    events = write_lines(tmp_path / "events.jsonl", [old, new])
    counts, _ = await load(sessions, settings, events)
    assert counts.summary() == {
        "read": 2,
        "imported": 1,
        "duplicates": 0,
        "rejected": 0,
        "blank": 0,
        "suppressed": 1,
    }
    assert (await stored_about(sessions, ANA))["events"] == 1
