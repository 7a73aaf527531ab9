"""Hour-of-day seasonality in the configured time zone, from ``agent_usage_hourly``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from nexus_crm.app import create_app
from nexus_crm.settings import Settings
from tests.analytics.test_read_api import ingest
from tests.conftest import MakeKey
from tests.support import TEST_SECRET, event

ZONE = "America/Sao_Paulo"  # UTC-3 all year: local hours are whole hours
DAYS = 5


@pytest.fixture
async def zoned_client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app configured with a time zone west of UTC."""
    settings = Settings(
        DATABASE_URL=db_url, GENESIS_WEBHOOK_SECRET=TEST_SECRET, NEXUS_CRM_TIMEZONE=ZONE
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_hour_of_day_in_local_time(
    zoned_client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    tz = ZoneInfo(ZONE)
    today = datetime.now(tz).date()
    first = datetime.combine(today - timedelta(days=DAYS), time.min, tz)
    rng = random.Random(3)
    # Events from a day before the window to a moment ago; only the window's count.
    instants = [
        first - timedelta(hours=20) + timedelta(seconds=rng.randrange((DAYS + 1) * 86400))
        for _ in range(400)
    ]
    instants = [i for i in instants if i < datetime.now(UTC) - timedelta(seconds=5)]
    await ingest(zoned_client, [event(timestamp=i.isoformat()) for i in instants])
    headers = {"Authorization": f"Bearer {await make_key('read')}"}
    resp = await zoned_client.get(f"/agent-usage/patterns?days={DAYS}", headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["window"]["timezone"] == ZONE
    local = [i.astimezone(tz) for i in instants]
    counts = Counter(t.hour for t in local if first.date() <= t.date() < today)
    total = sum(counts.values())
    assert total > 200
    hours = body["seasonality"]["hour_of_day"]
    assert [h["hour"] for h in hours] == list(range(24))
    for h in hours:
        assert h["mean_interactions"] == pytest.approx(counts[h["hour"]] / DAYS, abs=0.006)
        assert h["index"] == pytest.approx(24 * counts[h["hour"]] / total, abs=0.0006)
    # The same events make the weekday means: days are local days too.
    assert sum(p["mean_interactions"] * p["days"] for p in body["seasonality"]["weekday"]) == (
        pytest.approx(total, abs=0.05)
    )
