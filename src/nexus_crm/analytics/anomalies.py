"""Usage anomalies: days whose use of an agent is far from the series' own trailing baseline.

Reads ``agent_usage_daily`` only (see ``anomaly_engine`` for the definitions and
docs/analytics.md, "Anomalies", for the measured choice of thresholds). The SQL function
``detect_usage_anomalies()`` gives the same rows for one day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.analytics.anomaly_engine import (
    Anomaly,
    AnomalyConfig,
    SeriesKey,
    detect_days,
    global_series,
)
from nexus_crm.errors import InvalidInput
from nexus_crm.kit.time import local_day

MAX_RANGE_DAYS = 366


def yesterday(now: datetime, tz: ZoneInfo) -> date:
    """The last complete day in ``tz`` at ``now``: the default day to examine."""
    return local_day(now, tz) - timedelta(days=1)


async def load_series(
    session: AsyncSession, start: date, end: date, config: AnomalyConfig
) -> tuple[dict[SeriesKey, dict[date, int]], dict[SeriesKey, date]]:
    """Customer × agent and agents' global series covering start−B … end, with first uses."""
    series: dict[SeriesKey, dict[date, int]] = defaultdict(dict)
    since = start - timedelta(days=config.baseline_days)
    for row in await repo.daily_interactions(session, since, end):
        series[(row.user_id, row.agent_id)][row.day] = int(row.interactions)
    firsts: dict[SeriesKey, date] = {
        (r.user_id, r.agent_id): r.first_day
        for r in await repo.series_first_days(session, until=end)
    }
    totals, total_firsts = global_series(series, firsts)
    return {**series, **totals}, {**firsts, **total_firsts}


async def detect_anomalies(
    session: AsyncSession,
    *,
    start: date,
    end: date | None = None,
    config: AnomalyConfig | None = None,
) -> list[Anomaly]:
    """Anomalous series-days from ``start`` to ``end`` (inclusive; default: ``start`` only)."""
    cfg, last = config or AnomalyConfig(), end or start
    if last < start or (last - start).days >= MAX_RANGE_DAYS:
        raise InvalidInput(
            f"the range must run forward and span at most {MAX_RANGE_DAYS} days", field="end"
        )
    series, firsts = await load_series(session, start, last, cfg)
    days = [start + timedelta(days=i) for i in range((last - start).days + 1)]
    return detect_days(series, firsts, days, cfg)
