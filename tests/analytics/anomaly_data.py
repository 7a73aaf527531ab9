"""Helpers of the anomaly tests: write daily series straight into ``agent_usage_daily``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.models import agent_usage_daily

Counts = Mapping[tuple[str | None, str], Mapping[date, int]]


def daily_row(user: str, agent: str, day: date, n: int) -> dict[str, Any]:
    """A daily aggregate row of ``n`` interactions (other figures plausible, unused here)."""
    at = datetime.combine(day, time(12), tzinfo=UTC)
    return {
        "day": day,
        "user_id": user,
        "agent_id": agent,
        "interactions": n,
        "tokens": 200 * n,
        "response_time_sum_ms": 1000 * n,
        "response_time_max_ms": 1500,
        "first_at": at,
        "last_at": at,
    }


def series_rows(user: str, agent: str, start: date, values: Iterable[int]) -> list[dict[str, Any]]:
    """Rows of a series from ``start``, one value a day; zero days get no row (as on ingest)."""
    return [daily_row(user, agent, start + timedelta(days=i), v) for i, v in enumerate(values) if v]


async def write_rows(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]
) -> None:
    """Insert daily rows in pages."""
    async with transaction(sessions) as session:
        for i in range(0, len(rows), 5000):
            await session.execute(agent_usage_daily.insert(), rows[i : i + 5000])


def counts_rows(counts: Counts) -> list[dict[str, Any]]:
    """Rows of simulated counts ((user, agent) → {day: n})."""
    return [
        daily_row(user, agent, day, n)
        for (user, agent), days in counts.items()
        if user is not None
        for day, n in days.items()
        if n
    ]
