"""Helpers of the privacy tests: a customer with every kind of data, totals, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import (
    AgentUsageEvent,
    AuditEntry,
    Customer,
    SubscriptionChange,
    UpsellSequence,
    UsageAlert,
    agent_usage_daily,
)
from tests.support import event, signed

ANA, BOB = "ana_42", "bob_77"
EVENTS = "/agent-usage/events"
SUBSCRIPTIONS = "/agent-usage/subscriptions"


def privacy_url(user_id: str, export: bool = False) -> str:
    return f"/agent-usage/privacy/{user_id}" + ("/export" if export else "")


async def send(client: httpx.AsyncClient, *events: dict[str, Any]) -> dict[str, Any]:
    body, headers = signed({"events": list(events)})
    resp = await client.post(EVENTS, content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def subscribe(client: httpx.AsyncClient, user: str, **extra: Any) -> dict[str, Any]:
    payload = {"user_id": user, "tier": "pro", "status": "active", **extra}
    body, headers = signed(payload)
    resp = await client.post(SUBSCRIPTIONS, content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def usage(user: str, hours_ago: float, tokens: int, agent: str = "NEXUS") -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    return event(user_id=user, agent_id=agent, tokens_used=tokens, timestamp=at.isoformat())


async def seed_customer(
    client: httpx.AsyncClient, headers: dict[str, str], user: str, email: str
) -> list[dict[str, Any]]:
    """Subscription, events on two days and agents, a limit alert, an active sequence."""
    await subscribe(client, user, email=email, name=f"Name of {user}", billing_anchor_day=3)
    events = [usage(user, 30, 1_000), usage(user, 2, 2_000, "BLAZE"), usage(user, 1, 960_000)]
    assert (await send(client, *events))["accepted"] == 3
    body = {"user_id": user, "recommended_tier": "elite", "reason": f"{user} is at the limit"}
    resp = await client.post("/agent-usage/upsell-sequences", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return events


async def count(sessions: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    async with sessions() as s:
        stmt = select(func.count()).select_from(model)
        for w in where:
            stmt = stmt.where(w)
        return int(await s.scalar(stmt) or 0)


async def daily_totals(sessions: async_sessionmaker[AsyncSession]) -> dict[Any, tuple[int, int]]:
    """Tokens and interactions per (day, agent) over all customers."""
    d = agent_usage_daily.c
    stmt = select(d.day, d.agent_id, func.sum(d.tokens), func.sum(d.interactions)).group_by(
        d.day, d.agent_id
    )
    async with sessions() as s:
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in (await s.execute(stmt)).all()}


async def stored_about(sessions: async_sessionmaker[AsyncSession], user: str) -> dict[str, int]:
    """How many rows of each kind name ``user``."""
    return {
        "events": await count(sessions, AgentUsageEvent, AgentUsageEvent.user_id == user),
        "daily": await count(sessions, agent_usage_daily, agent_usage_daily.c.user_id == user),
        "customers": await count(sessions, Customer, Customer.user_id == user),
        "changes": await count(sessions, SubscriptionChange, SubscriptionChange.user_id == user),
        "alerts": await count(sessions, UsageAlert, UsageAlert.user_id == user),
        "sequences": await count(sessions, UpsellSequence, UpsellSequence.user_id == user),
    }


async def audit_rows(sessions: async_sessionmaker[AsyncSession], action: str) -> list[AuditEntry]:
    async with sessions() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.at)
        return list((await s.scalars(stmt)).all())
