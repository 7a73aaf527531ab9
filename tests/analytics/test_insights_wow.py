"""GET /agent-usage/insights: the previous window and week over week, against hand-computed sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from tests.analytics.test_read_api import ingest
from tests.support import event


def at_day(ago: int) -> str:
    """Noon of the UTC day ``ago`` days back; for today, a moment ago (never the future)."""
    now = datetime.now(UTC)
    if ago == 0:
        moment = max(datetime.combine(now.date(), time.min, UTC), now - timedelta(seconds=5))
        return moment.isoformat()
    return datetime.combine(now.date() - timedelta(days=ago), time(12), UTC).isoformat()


def events_on(ago: int, n: int, user: str, tokens: int, rt: int) -> list[dict[str, Any]]:
    return [
        event(user_id=user, tokens_used=tokens, response_time_ms=rt, timestamp=at_day(ago))
        for _ in range(n)
    ]


def history() -> list[dict[str, Any]]:
    """Today: a×2 (100 tokens, 1000 ms). Days 1-7 ago: a×3 (100, 1000), and on day 3 b×1
    (400, 3000). Days 8-14 ago: a×2 (100, 500), and on day 10 c×1 (300, 500)."""
    out = events_on(0, 2, "a", 100, 1000)
    for ago in range(1, 8):
        out += events_on(ago, 3, "a", 100, 1000)
    out += events_on(3, 1, "b", 400, 3000)
    for ago in range(8, 15):
        out += events_on(ago, 2, "a", 100, 500)
    out += events_on(10, 1, "c", 300, 500)
    return out


def window(ago_last: int, days: int) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    end: date = today - timedelta(days=ago_last)
    return {
        "start": (end - timedelta(days=days - 1)).isoformat(),
        "end": end.isoformat(),
        "days": days,
        "timezone": "UTC",
    }


def check(block: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert block[key] == pytest.approx(value, abs=0.051), key


async def test_week_over_week_and_previous_window(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    await ingest(client, history())
    resp = await client.get("/agent-usage/insights?days=7", headers=read_headers)
    assert resp.status_code == 200
    body = resp.json()
    # Window: today and 6 days back = a: 2 + 6×3 = 20, b: 1.
    assert body["window"] == window(0, 7)
    check(
        body["totals"],
        {
            "interactions": 21,
            "tokens": 2400,
            "active_users": 2,
            "avg_response_time_ms": (20 * 1000 + 3000) / 21,
        },
    )
    # Previous: days 7-13 = a: 3 (day 7) + 6×2 (days 8-13), c: 1.
    assert body["previous"]["window"] == window(7, 7)
    check(
        body["previous"]["totals"],
        {
            "interactions": 16,
            "tokens": 1800,
            "active_users": 2,
            "avg_response_time_ms": (3 * 1000 + 12 * 500 + 500) / 16,
        },
    )
    check(
        body["change"],
        {
            "interactions_pct": 31.25,
            "tokens_pct": 33.33,
            "active_users_pct": 0.0,
            "avg_response_time_pct": 100 * (1095.2 - 593.8) / 593.8,
        },
    )
    wow = body["week_over_week"]
    # Last 7 complete days (1-7 ago) vs days 8-14 ago: today's events are left out.
    assert (wow["current"]["window"], wow["previous"]["window"]) == (window(1, 7), window(8, 7))
    check(
        wow["current"]["totals"],
        {"interactions": 22, "tokens": 2500, "active_users": 2, "avg_response_time_ms": 24000 / 22},
    )
    check(
        wow["previous"]["totals"],
        {"interactions": 15, "tokens": 1700, "active_users": 2, "avg_response_time_ms": 500.0},
    )
    check(
        wow["change"],
        {
            "interactions_pct": 46.67,
            "tokens_pct": 47.06,
            "active_users_pct": 0.0,
            "avg_response_time_pct": 118.18,
        },
    )


async def test_one_day_and_empty_previous(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    await ingest(client, history())
    one = (await client.get("/agent-usage/insights?days=1", headers=read_headers)).json()
    # Today so far (a×2) against all of yesterday (a×3).
    assert one["previous"]["window"] == window(1, 1)
    assert one["previous"]["totals"]["interactions"] == 3
    check(one["change"], {"interactions_pct": -33.33, "avg_response_time_pct": 0.0})
    # Nothing before the 30-day window: no base, so no % change (null, not 0 or infinity).
    month = (await client.get("/agent-usage/insights?days=30", headers=read_headers)).json()
    assert month["previous"]["totals"]["interactions"] == 0
    assert month["change"] == {
        "interactions_pct": None,
        "tokens_pct": None,
        "active_users_pct": None,
        "avg_response_time_pct": None,
        "p95_response_time_pct": None,
    }
    # Week over week does not depend on days.
    assert month["week_over_week"] == one["week_over_week"]
