"""Helpers of the alert tests: post events and subscriptions, read alerts and history."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import UsageAlert, UsageAlertEvent
from tests.support import event, signed

ALERTS = "/agent-usage/alerts"


async def post_events(client: httpx.AsyncClient, *events: dict[str, Any]) -> httpx.Response:
    body, headers = signed({"events": list(events)})
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp


async def use(
    client: httpx.AsyncClient, user: str, tokens: int, tier: str = "pro"
) -> dict[str, Any]:
    """One event of ``tokens`` tokens by ``user`` now; the event sent."""
    ev = event(user_id=user, tokens_used=tokens, subscription_tier=tier)
    await post_events(client, ev)
    return ev


async def post_subscription(client: httpx.AsyncClient, **payload: Any) -> httpx.Response:
    body, headers = signed(payload)
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp


async def list_alerts(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    resp = await client.get(ALERTS, params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(body["alerts"])
    alerts: list[dict[str, Any]] = body["alerts"]
    return alerts


async def act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    alert_id: str,
    action: str,
    **body: Any,
) -> httpx.Response:
    return await client.post(f"{ALERTS}/{alert_id}/{action}", json=body or None, headers=headers)


async def transitions(
    sessions: async_sessionmaker[AsyncSession], alert_id: uuid.UUID | str
) -> list[tuple[str, str | None, str, str]]:
    """(action, from, to, actor) of an alert, oldest first."""
    aid = uuid.UUID(str(alert_id))
    ev = UsageAlertEvent
    async with sessions() as s:
        rows = await s.execute(
            select(ev.action, ev.from_status, ev.to_status, ev.actor)
            .where(ev.alert_id == aid)
            .order_by(ev.at, ev.id)
        )
    return [(a, f, t, who) for a, f, t, who in rows]


async def alert_count(sessions: async_sessionmaker[AsyncSession], **where: Any) -> int:
    async with sessions() as s:
        stmt = select(func.count()).select_from(UsageAlert).filter_by(**where)
        return int(await s.scalar(stmt) or 0)
