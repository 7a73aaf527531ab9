"""Constructed churn histories written straight into the tables the churn model reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.kit.ids import uuid7
from nexus_crm.models import Customer, SubscriptionChange, agent_usage_daily

FIRST = date(2026, 1, 1)


def at(day: int, hour: int = 12) -> datetime:
    """Day index → an instant on that day (UTC)."""
    return datetime.combine(FIRST + timedelta(days=day), time(hour), tzinfo=UTC)


@dataclass
class Person:
    """A customer: tier, daily volume by day index, cancellation and tier changes."""

    user_id: str
    tier: str = "pro"
    volume: Callable[[int], float] = lambda d: 10.0
    cancel_day: int | None = None
    tier_changes: list[tuple[int, str]] = field(default_factory=list)
    agents: tuple[str, ...] = ("NEXUS", "BLAZE")
    rt_ms: int = 1000


def usage_rows(p: Person, days: range) -> list[dict[str, Any]]:
    """Daily rows of a person (none on or after the cancellation day)."""
    rows = []
    for d in days:
        n = round(p.volume(d))
        if n <= 0 or (p.cancel_day is not None and d >= p.cancel_day):
            continue
        for agent in p.agents:
            rows.append(daily_row(p.user_id, agent, d, n, p.rt_ms))
    return rows


def daily_row(user_id: str, agent: str, d: int, n: int, rt_ms: int) -> dict[str, Any]:
    """One agent_usage_daily row with every response in the bucket of ``rt_ms``."""
    fast = n if rt_ms <= 1000 else 0
    return {
        "day": FIRST + timedelta(days=d),
        "user_id": user_id,
        "agent_id": agent,
        "interactions": n,
        "tokens": 200 * n,
        "response_time_sum_ms": rt_ms * n,
        "response_time_max_ms": rt_ms,
        "rt_le_1000": fast,
        "rt_le_15000": n - fast,
        "first_at": at(d, 9),
        "last_at": at(d, 18),
    }


def history_rows(p: Person) -> list[dict[str, Any]]:
    """Sign-up 100 days before FIRST, then tier changes, then the cancellation."""
    rows, tier = [], p.tier

    def change(
        when: datetime, before: tuple[str | None, str | None], after: tuple[str, str]
    ) -> None:
        rows.append(
            {
                "id": uuid7(),
                "user_id": p.user_id,
                "from_tier": before[0],
                "to_tier": after[0],
                "from_status": before[1],
                "to_status": after[1],
                "changed_at": when,
                "recorded_at": when,
                "source": "subscription",
            }
        )

    change(at(-100), (None, None), (tier, "active"))
    for d, new in p.tier_changes:
        change(at(d, 8), (tier, "active"), (new, "active"))
        tier = new
    if p.cancel_day is not None:
        change(at(p.cancel_day, 15), (tier, "active"), (tier, "cancelled"))
    return rows


def customer_row(p: Person) -> dict[str, Any]:
    """The customer's current state."""
    tier = p.tier_changes[-1][1] if p.tier_changes else p.tier
    return {
        "id": uuid7(),
        "user_id": p.user_id,
        "tier": tier,
        "status": "cancelled" if p.cancel_day is not None else "active",
        "state_at": at(-100),
        "created_at": at(-100),
        "updated_at": at(-100),
    }


async def store(
    sessions: async_sessionmaker[AsyncSession], people: list[Person], days: range
) -> None:
    """Write customers, their history and daily usage."""
    async with transaction(sessions) as s:
        await s.execute(insert(Customer), [customer_row(p) for p in people])
        await s.execute(insert(SubscriptionChange), [r for p in people for r in history_rows(p)])
        rows = [r for p in people for r in usage_rows(p, days)]
        for i in range(0, len(rows), 2000):
            await s.execute(insert(agent_usage_daily), rows[i : i + 2000])


def decliner(start: int, until: int = 1000, user_id: str = "decliner") -> Person:
    """Loses 85 % of its use over 4 weeks from ``start``; back to full use from ``until``."""

    def volume(d: int) -> float:
        if d >= until:
            return 20.0
        return 20.0 * (1 - 0.85 * min(1.0, max(0, d - start) / 28))

    return Person(user_id, volume=volume)
