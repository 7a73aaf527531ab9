"""GET /agent-usage/insights and /agent-usage/customers/{user_id} against raw events."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from nexus_crm.kit.time import billing_period
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS
from tests.support import event, signed

AGENTS = ["NEXUS", "BLAZE", "SAGE"]
USERS = {"c_ess": "essential", "c_pro": "pro", "c_elite": "elite", "c_prime": "prime"}


async def ingest(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    body, headers = signed({"events": events})
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


def random_events(n: int, days: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    for _ in range(n):
        user = rng.choice(list(USERS))
        when = now - timedelta(days=rng.randrange(days), minutes=rng.randrange(60))
        out.append(
            event(
                user_id=user,
                subscription_tier=USERS[user],
                agent_id=rng.choice(AGENTS),
                tokens_used=rng.randint(1, 900),
                response_time_ms=int(rng.lognormvariate(6.8, 0.6)),
                timestamp=min(when, now).isoformat(),
            )
        )
    return out


def bucket_bounds(value: float) -> tuple[int, int]:
    """The bucket (low, high] that holds ``value``."""
    low = 0
    for high in RESPONSE_TIME_BOUNDS_MS:
        if value <= high:
            return low, high
        low = high
    return low, 10**9


def true_p95(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def in_window(ev: dict[str, Any], days: int) -> bool:
    today = datetime.now(UTC).date()
    return datetime.fromisoformat(ev["timestamp"]).date() >= today - timedelta(days=days - 1)


async def test_insights_match_raw_events(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    events = random_events(600, days=20)
    await ingest(client, events)
    resp = await client.get("/agent-usage/insights?days=7", headers=read_headers)
    assert resp.status_code == 200
    body = resp.json()
    window = [e for e in events if in_window(e, 7)]
    totals = body["totals"]
    assert totals["interactions"] == len(window)
    assert totals["tokens"] == sum(e["tokens_used"] for e in window)
    assert totals["active_users"] == len({e["user_id"] for e in window})
    rts = [e["response_time_ms"] for e in window]
    assert totals["avg_response_time_ms"] == pytest.approx(sum(rts) / len(rts), abs=0.05)
    low, high = bucket_bounds(true_p95(rts))
    assert low <= totals["p95_response_time_ms"] <= high
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in window:
        by_agent[e["agent_id"]].append(e)
    for a in body["agents"]:
        evs = by_agent[a["agent_id"]]
        assert a["interactions"] == len(evs)
        assert a["tokens"] == sum(e["tokens_used"] for e in evs)
        assert a["users"] == len({e["user_id"] for e in evs})
        assert a["max_response_time_ms"] == max(e["response_time_ms"] for e in evs)
    tiers = {t["tier"]: t for t in body["tiers"]}
    for user, tier in USERS.items():
        evs = [e for e in window if e["user_id"] == user]
        assert tiers[tier]["interactions"] == len(evs)
        assert tiers[tier]["users"] == 1


async def test_insights_window_and_validation(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    empty = (await client.get("/agent-usage/insights?days=1", headers=read_headers)).json()
    assert empty["totals"] == {
        "interactions": 0,
        "tokens": 0,
        "active_users": 0,
        "avg_response_time_ms": None,
        "p95_response_time_ms": None,
    }
    assert empty["window"]["start"] == empty["window"]["end"]
    for bad in ("0", "367", "seven"):
        resp = await client.get(f"/agent-usage/insights?days={bad}", headers=read_headers)
        assert resp.status_code == 422
        assert resp.json()["field"] == "days"


async def test_customer_usage_against_limits(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    start, end = billing_period(now.date())
    events = [
        event(user_id="cliente_pro_456", tokens_used=900, timestamp=now.isoformat())
        for _ in range(4)
    ]
    # Last period's use does not count against this period.
    events.append(
        event(
            user_id="cliente_pro_456",
            tokens_used=10**6,
            timestamp=(
                datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(hours=1)
            ).isoformat(),
        )
    )
    await ingest(client, events)
    resp = await client.get("/agent-usage/customers/cliente_pro_456", headers=read_headers)
    assert resp.status_code == 200
    body = resp.json()
    usage = body["usage"]
    assert (body["tier"], body["status"]) == ("pro", "active")
    assert (usage["period_start"], usage["period_end"]) == (start.isoformat(), end.isoformat())
    assert (usage["tokens_used"], usage["interactions_used"]) == (3600, 4)
    assert (usage["token_limit"], usage["interaction_limit"]) == (1_000_000, 5_000)
    assert usage["tokens_percentage"] == 0.36
    assert usage["interactions_percentage"] == 0.08
    assert usage["usage_percentage"] == 0.36
    assert len(body["daily"]) == 30
    assert body["daily"][-1] == {"day": now.date().isoformat(), "interactions": 4, "tokens": 3600}
    assert [a["agent_id"] for a in body["agents"]] == ["NEXUS"]


async def test_unknown_customer_is_404_json(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    resp = await client.get("/agent-usage/customers/nobody", headers=read_headers)
    assert resp.status_code == 404
    assert resp.json() == {
        "error": "not_found",
        "detail": "no customer with user_id 'nobody'",
        "field": "user_id",
    }
