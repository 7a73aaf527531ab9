"""Response time experienced by customers: a churn driver (slow service drives people away)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.kit.histogram import quantile
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS

CHUNK_USERS = 2000


@dataclass(frozen=True)
class ExperiencedResponseTime:
    """What one customer waited since a day: interactions, mean and p95 (ms)."""

    user_id: str
    interactions: int
    mean_ms: float | None
    p95_ms: float | None


async def response_time_experienced(
    session: AsyncSession, user_ids: Sequence[str], since: date
) -> dict[str, ExperiencedResponseTime]:
    """Per customer, mean and p95 response time over its daily rows from ``since`` (local day).

    Customers without use since then are absent. The p95 comes from the summed histograms
    (exact to within one bucket).
    """
    ids = sorted(set(user_ids))
    out: dict[str, ExperiencedResponseTime] = {}
    for i in range(0, len(ids), CHUNK_USERS):
        for r in await repo.users_response_times(session, ids[i : i + CHUNK_USERS], since):
            n = int(r.interactions)
            counts = [int(getattr(r, b)) for b in RESPONSE_TIME_BUCKETS]
            p95 = quantile(counts, RESPONSE_TIME_BOUNDS_MS, 0.95, int(r.rt_max))
            out[r.user_id] = ExperiencedResponseTime(
                r.user_id,
                n,
                round(int(r.rt_sum) / n, 1) if n else None,
                None if p95 is None else round(p95, 1),
            )
    return out
