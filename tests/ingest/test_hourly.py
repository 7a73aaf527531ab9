"""``agent_usage_hourly``: per (UTC hour, agent) sums and histograms of stored events only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.kit.time import utc_hour
from nexus_crm.models import agent_usage_hourly
from tests.alerts.helpers import post_events
from tests.support import event


async def test_hourly_rows_add_up_inserted_events_only(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    hour = utc_hour(datetime.now(UTC)) - timedelta(hours=3)
    at = [hour + timedelta(minutes=5), hour + timedelta(minutes=59), hour + timedelta(hours=1)]
    events = [
        event(agent_id="nexus", tokens_used=10, response_time_ms=40, timestamp=at[0].isoformat()),
        event(agent_id="NEXUS", tokens_used=20, response_time_ms=900, timestamp=at[1].isoformat()),
        event(
            agent_id="NEXUS", tokens_used=5, response_time_ms=70_000, timestamp=at[2].isoformat()
        ),
        event(agent_id="SAGE", tokens_used=7, response_time_ms=100, timestamp=at[0].isoformat()),
    ]
    await post_events(client, *events)
    await post_events(client, *events)  # duplicates add nothing
    h = agent_usage_hourly.c
    async with sessions() as s:
        rows = (
            await s.execute(
                select(
                    h.hour,
                    h.agent_id,
                    h.interactions,
                    h.tokens,
                    h.response_time_sum_ms,
                    h.response_time_max_ms,
                    h.rt_le_50,
                    h.rt_le_1000,
                    h.rt_gt_60000,
                ).order_by(h.hour, h.agent_id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (hour, "NEXUS", 2, 30, 940, 900, 1, 1, 0),
        (hour, "SAGE", 1, 7, 100, 100, 0, 0, 0),
        (hour + timedelta(hours=1), "NEXUS", 1, 5, 70_000, 70_000, 0, 0, 1),
    ]
