"""GET /agent-usage/patterns on constructed customers, against figures computed from the events."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from nexus_crm.kit.time import billing_period
from nexus_crm.tiers.defaults import DEFAULT_TIERS
from tests.analytics.test_read_api import ingest
from tests.support import event

DAYS = 28  # the window: day index i = 0 (28 days ago) … 27 (yesterday)
LIMITS = {t["tier"]: (t["monthly_tokens"], t["monthly_interactions"]) for t in DEFAULT_TIERS}
# user → (tier, agents used in turn, interactions on day index i, expected class)
Count = Callable[[int], int]
CUSTOMERS: dict[str, tuple[str, tuple[str, ...], Count, str]] = {
    "grow": ("essential", ("NEXUS", "BLAZE"), lambda i: 2 + i // 2, "growing"),
    "decline": ("pro", ("SAGE", "NEXUS"), lambda i: 16 - i // 2, "declining"),
    "flat": ("elite", ("NEXUS",), lambda i: 5 + i % 2, "stable"),
    "dorm": ("pro", ("BLAZE",), lambda i: 6 if i < 14 else 0, "dormant"),
    # One spike day: +64 % half on half, but no significant slope.
    "spiky": ("essential", ("NEXUS", "SAGE", "BLAZE"), lambda i: 4 + 36 * (i == 20), "stable"),
    "new": ("essential", ("WAVE",), lambda i: 0 if i < 14 else 3 + i // 3, "growing"),
    # Stopped 5 days ago: a significant fall, but not yet dormant.
    "stopping": ("prime", ("NEXUS", "SAGE"), lambda i: 8 if i < 23 else 0, "declining"),
}


def today() -> date:
    return datetime.now(UTC).date()


def constructed_events() -> list[dict[str, Any]]:
    """Every customer's events over the window, plus one customer who used it only today."""
    out = []
    for user, (tier, agents, count, _) in CUSTOMERS.items():
        for i in range(DAYS):
            day = today() - timedelta(days=DAYS - i)
            for j in range(count(i)):
                at = datetime.combine(day, time(7 + j % 10, j % 60), UTC)
                out.append(
                    event(
                        user_id=user,
                        subscription_tier=tier,
                        agent_id=agents[j % len(agents)],
                        tokens_used=100 + 20 * (j % 5),
                        response_time_ms=800,
                        timestamp=at.isoformat(),
                    )
                )
    now = datetime.now(UTC)
    moment = max(datetime.combine(now.date(), time.min, UTC), now - timedelta(seconds=5))
    out.append(event(user_id="today_only", subscription_tier="pro", timestamp=moment.isoformat()))
    # Before the window: counts toward nothing but (maybe) the billing period.
    old = datetime.combine(today() - timedelta(days=DAYS + 3), time(12), UTC)
    out.append(event(user_id="flat", subscription_tier="elite", timestamp=old.isoformat()))
    return out


def day_of(e: dict[str, Any]) -> date:
    return datetime.fromisoformat(e["timestamp"]).date()


def window_days() -> list[date]:
    return [today() - timedelta(days=DAYS - i) for i in range(DAYS)]


def daily(events: list[dict[str, Any]]) -> list[int]:
    """The window's zero-filled daily interactions of ``events``."""
    per_day: dict[date, int] = defaultdict(int)
    for e in events:
        per_day[day_of(e)] += 1
    return [per_day[d] for d in window_days()]


def expected_trend(ys: list[int]) -> dict[str, Any]:
    """Slope, t and half-on-half change computed with the standard library."""
    xs = list(range(len(ys)))
    fit = statistics.linear_regression(xs, ys)
    residuals = [y - fit.intercept - fit.slope * x for x, y in zip(xs, ys, strict=True)]
    sxx = sum((x - statistics.fmean(xs)) ** 2 for x in xs)
    se = math.sqrt(sum(r * r for r in residuals) / (len(ys) - 2) / sxx)
    half = len(ys) // 2
    first, second = sum(ys[:half]), sum(ys[-half:])
    return {
        "interactions": sum(ys),
        "slope_per_day": fit.slope,
        "t_stat": fit.slope / se,
        "change_pct": 100 * (second - first) / first if first else None,
        "second_half": second,
    }


def rule(t: dict[str, Any]) -> str:
    """The documented classification (docs/analytics.md), applied to independent figures."""
    change, tstat = t["change_pct"], t["t_stat"]
    if tstat >= 2 and ((change is None and t["second_half"] > 0) or (change or 0) >= 25):
        return "growing"
    if tstat <= -2 and change is not None and change <= -25:
        return "declining"
    return "stable"


def assert_trend(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["interactions"] == want["interactions"]
    assert got["slope_per_day"] == pytest.approx(want["slope_per_day"], abs=0.0006)
    assert got["t_stat"] == pytest.approx(want["t_stat"], abs=0.006)
    if want["change_pct"] is None:
        assert got["change_pct"] is None
    else:
        assert got["change_pct"] == pytest.approx(want["change_pct"], abs=0.051)


def in_window(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    days = set(window_days())
    return [e for e in events if day_of(e) in days]


async def get_patterns(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> Any:
    resp = await client.get(f"/agent-usage/patterns?{query}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The constructed customers' events, ingested through the signed webhook."""
    events = constructed_events()
    await ingest(client, events)
    return events


async def test_customer_trends_and_classes(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    body = await get_patterns(client, read_headers, f"days={DAYS}&limit=100")
    assert body["window"]["start"] == window_days()[0].isoformat()
    assert body["window"]["end"] == window_days()[-1].isoformat()
    found = {
        c["user_id"]: (name, c)
        for name, cohort in body["customers"].items()
        for c in cohort["customers"]
    }
    assert set(found) == set(CUSTOMERS)  # today_only used it outside the window
    window = in_window(loaded)
    for user, (tier, _, _, expected_class) in CUSTOMERS.items():
        name, got = found[user]
        want = expected_trend(daily([e for e in window if e["user_id"] == user]))
        assert_trend(got, want)
        assert (name, got["trend"], got["tier"]) == (expected_class, expected_class, tier)
        if expected_class != "dormant":
            assert rule(want) == expected_class
    assert found["dorm"][1]["last_active_day"] == window_days()[13].isoformat()
    counts = {name: cohort["count"] for name, cohort in body["customers"].items()}
    assert counts == {"growing": 2, "declining": 2, "dormant": 1, "stable": 2}
    # Growing: new customers (no first half) first, then by % change.
    assert [c["user_id"] for c in body["customers"]["growing"]["customers"]] == ["new", "grow"]
    assert [c["user_id"] for c in body["customers"]["declining"]["customers"]] == [
        "decline",
        "stopping",
    ]


async def test_overall_and_agent_trends(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    body = await get_patterns(client, read_headers, f"days={DAYS}")
    window = in_window(loaded)
    assert_trend(body["overall"], expected_trend(daily(window)))
    agents = sorted({e["agent_id"] for e in window})
    assert len(body["agents"]) == len(agents)
    for a in body["agents"]:
        mine = [e for e in window if e["agent_id"] == a["agent_id"]]
        assert_trend(a, expected_trend(daily(mine)))
    volumes = [a["interactions"] for a in body["agents"]]
    assert volumes == sorted(volumes, reverse=True)


async def test_weekday_seasonality(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    body = await get_patterns(client, read_headers, f"days={DAYS}")
    ys = daily(in_window(loaded))
    mean = sum(ys) / DAYS
    points = body["seasonality"]["weekday"]
    assert [p["weekday"] for p in points] == list(range(7))
    for p in points:
        values = [y for d, y in zip(window_days(), ys, strict=True) if d.weekday() == p["weekday"]]
        assert p["days"] == len(values) == 4
        assert p["mean_interactions"] == pytest.approx(statistics.fmean(values), abs=0.006)
        assert p["index"] == pytest.approx(statistics.fmean(values) / mean, abs=0.0006)


async def test_agent_mix_per_tier(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    body = await get_patterns(client, read_headers, f"days={DAYS}")
    per_tier: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in in_window(loaded):
        per_tier[e["subscription_tier"]][e["agent_id"]] += 1
    assert [m["tier"] for m in body["agent_mix"]] == sorted(per_tier)
    for mix in body["agent_mix"]:
        want = per_tier[mix["tier"]]
        assert mix["interactions"] == sum(want.values())
        assert sum(a["share_pct"] for a in mix["agents"]) == pytest.approx(100, abs=0.03)
        for a in mix["agents"]:
            assert a["interactions"] == want[a["agent_id"]]
            assert a["share_pct"] == pytest.approx(
                100 * want[a["agent_id"]] / mix["interactions"], abs=0.006
            )
        shares = [a["share_pct"] for a in mix["agents"]]
        assert shares == sorted(shares, reverse=True)
    # With limit=1 the rest of a tier is one '(other)' row; shares still add up to 100.
    body = await get_patterns(client, read_headers, f"days={DAYS}&limit=1")
    essential = next(m for m in body["agent_mix"] if m["tier"] == "essential")
    assert [a["agent_id"] for a in essential["agents"]][1:] == ["(other)"]
    assert sum(a["share_pct"] for a in essential["agents"]) == pytest.approx(100, abs=0.03)


async def test_top_customers(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    body = await get_patterns(client, read_headers, f"days={DAYS}&limit=3")
    top = body["top_customers"]
    interactions: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    for e in in_window(loaded):
        interactions[e["user_id"]] += 1
        tokens[e["user_id"]] += e["tokens_used"]
    by_int = sorted(interactions, key=lambda u: (-interactions[u], u))[:3]
    assert [(c["user_id"], c["interactions"]) for c in top["by_interactions"]] == [
        (u, interactions[u]) for u in by_int
    ]
    by_tok = sorted(tokens, key=lambda u: (-tokens[u], u))[:3]
    got_tokens = [(c["user_id"], c["tokens"]) for c in top["by_tokens"]]
    assert got_tokens == [(u, tokens[u]) for u in by_tok]
    # % of limit: this calendar month (today included), against the tier's monthly limits.
    start, end = billing_period(today())
    period = [e for e in loaded if start <= day_of(e) < end]
    pct = {}
    for user in {e["user_id"] for e in period}:
        mine = [e for e in period if e["user_id"] == user]
        tok_limit, int_limit = LIMITS[mine[0]["subscription_tier"]]
        used = sum(e["tokens_used"] for e in mine)
        pct[user] = 100 * max(used / tok_limit, len(mine) / int_limit)
    ranked = sorted(pct, key=lambda u: (-round(pct[u], 2), u))[:3]
    got = top["by_limit_pct"]
    assert [c["user_id"] for c in got] == ranked
    for c in got:
        assert c["usage_percentage"] == pytest.approx(pct[c["user_id"]], abs=0.006)
        assert (c["period_start"], c["period_end"]) == (start.isoformat(), end.isoformat())


async def test_short_windows_and_validation(
    client: httpx.AsyncClient, read_headers: dict[str, str], loaded: list[dict[str, Any]]
) -> None:
    one = await get_patterns(client, read_headers, "days=1")
    assert one["overall"]["slope_per_day"] is None
    assert one["overall"]["t_stat"] is None
    assert one["overall"]["trend"] == "stable"
    # A week: too short for dormancy (nothing before the last 7 days to have stopped from).
    week = await get_patterns(client, read_headers, "days=7")
    assert week["customers"]["dormant"]["count"] == 0
    for query, field in (
        ("days=0", "days"),
        ("days=367", "days"),
        ("days=x", "days"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ):
        resp = await client.get(f"/agent-usage/patterns?{query}", headers=read_headers)
        assert resp.status_code == 422
        assert resp.json()["field"] == field
