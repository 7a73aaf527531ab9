"""The ``metrics`` messages: one KPI snapshot per process per interval, shared by everyone.

The snapshot is computed only while this process has subscribers, in a short transaction of
its own (no connection holds a session), and delivered locally only when it changed: each
process computes its own from the shared database, so it never crosses the bus.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics import service as analytics
from nexus_crm.db import transaction
from nexus_crm.kit.histogram import quantile
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS
from nexus_crm.realtime.bus import Bus, Message
from nexus_crm.realtime.schemas import AgentKpi, KpiSnapshot

log = logging.getLogger("nexus_crm.realtime")


async def kpi_snapshot(session: AsyncSession, *, today: date) -> KpiSnapshot:
    """Today's interactions, tokens, active users and response times (two aggregate queries)."""
    rows = list(await analytics.agent_rollup(session, today, today))
    interactions = sum(int(r.interactions) for r in rows)
    counts = [sum(int(getattr(r, b)) for r in rows) for b in RESPONSE_TIME_BUCKETS]
    max_rt = max((int(r.rt_max) for r in rows), default=0)
    p95 = quantile(counts, RESPONSE_TIME_BOUNDS_MS, 0.95, max_rt)
    rt_sum = sum(int(r.rt_sum) for r in rows)
    return KpiSnapshot(
        day=today,
        interactions=interactions,
        tokens=sum(int(r.tokens) for r in rows),
        active_users=await analytics.active_users(session, today, today),
        avg_response_time_ms=round(rt_sum / interactions, 1) if interactions else None,
        p95_response_time_ms=None if p95 is None else round(p95, 1),
        agents=[
            AgentKpi(agent_id=r.agent_id, interactions=int(r.interactions), tokens=int(r.tokens))
            for r in rows
        ],
        at=utcnow(),
    )


def _without_time(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "at"}


class KpiTicker:
    """Computes the snapshot every ``interval`` seconds while anyone here subscribes."""

    def __init__(
        self,
        bus: Bus,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float,
        tz: ZoneInfo,
    ) -> None:
        self._bus, self._sessions, self._interval, self._tz = bus, sessions, interval, tz
        self.latest: Message | None = None
        self.computations = 0

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            if self._bus.subscriber_count:
                await self.tick()
            await asyncio.sleep(self._interval)

    async def tick(self) -> None:
        """Compute once; deliver the snapshot to local subscribers if it changed."""
        try:
            async with transaction(self._sessions) as session:
                snapshot = await kpi_snapshot(session, today=local_day(utcnow(), self._tz))
        except Exception:
            log.exception("KPI snapshot failed")
            return
        self.computations += 1
        data = snapshot.model_dump(mode="json")
        if self.latest is not None and _without_time(self.latest.data) == _without_time(data):
            return
        self.latest = Message(type="metrics", data=data)
        self._bus.deliver([self.latest])
