"""Every persona shows, in the generated events, what the truth file says about it."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from typing import Any

from tests.simulate.analysis import Sample, median_of, projected, trailing, ts


def of(sample: Sample, persona: str) -> list[dict[str, Any]]:
    """The truth's customers of ``persona`` (there must be some)."""
    found = [c for c in sample.customers if c["persona"] == persona]
    assert found, persona
    return found


def months(days: list[date]) -> dict[tuple[int, int], list[date]]:
    out: dict[tuple[int, int], list[date]] = {}
    for d in days:
        out.setdefault((d.year, d.month), []).append(d)
    return out


def test_customers_not_upgrade_worthy_stay_below_80_percent_in_every_month(sample: Sample) -> None:
    checked = 0
    for c in sample.customers:
        if c["persona"] == "upgrade_worthy":
            continue
        for days in months(sample.full_days()).values():
            if len(days) >= 7:
                share = projected(sample, c["user_id"], days, c["initial_tier"])
                assert share < 0.8, (c["user_id"], c["persona"], share)
                checked += 1
    assert checked > 300


def test_upgrade_worthy_reach_90_percent_before_upgrading_or_by_the_end(sample: Sample) -> None:
    last_full = sample.full_days()[-1]
    for c in of(sample, "upgrade_worthy"):
        upgraded = ts(c["upgraded_at"]).date() if c["upgraded_at"] else None
        ref = (upgraded - timedelta(days=1)) if upgraded else last_full
        share = projected(sample, c["user_id"], trailing(ref, 7), c["initial_tier"])
        assert share >= 0.9, (c["user_id"], share)
        assert date.fromisoformat(c["upgrade_worthy_from"]) <= ref
        start = projected(sample, c["user_id"], sample.full_days()[:7], c["initial_tier"])
        assert start < 0.6, (c["user_id"], start)


def test_accepted_upgrades_change_the_tier_of_later_events(sample: Sample) -> None:
    accepted = [c for c in of(sample, "upgrade_worthy") if c["upgrade_accepted"]]
    assert accepted
    for c in accepted:
        at = ts(c["upgraded_at"])
        for e in sample.by_user[c["user_id"]]:
            expected = c["upgraded_to"] if ts(e["timestamp"]) >= at else c["initial_tier"]
            assert e["subscription_tier"] == expected
        assert c["final_tier"] == c["upgraded_to"]
        after = [d for d in sample.full_days() if d > at.date()]
        if len(after) >= 3:
            assert projected(sample, c["user_id"], after, c["upgraded_to"]) < 0.5


def test_churners_decline_then_cancel_and_never_return(sample: Sample) -> None:
    for c in of(sample, "churn"):
        cancelled = ts(c["cancelled_at"])
        events = sample.by_user[c["user_id"]]
        assert all(ts(e["timestamp"]) < cancelled for e in events)
        assert c["cancellation_date"] == cancelled.date().isoformat()
        daily = sample.daily(c["user_id"])
        cancel_day = date.fromisoformat(c["cancellation_date"])
        assert date.fromisoformat(c["decline_start"]) >= sample.full_days()[7]
        before = sum(daily[d] for d in sample.full_days()[:7])
        last_week = sum(daily[d] for d in trailing(cancel_day - timedelta(days=1), 7))
        assert last_week < 0.8 * before, (c["user_id"], before, last_week)
        assert c["final_status"] == "cancelled"
        assert c["subscription_events"][-1]["status"] == "cancelled"


def test_dormant_customers_stop_without_cancelling(sample: Sample) -> None:
    for c in of(sample, "dormant"):
        since = date.fromisoformat(c["dormant_since"])
        events = sample.by_user.get(c["user_id"], [])
        assert events, c["user_id"]
        assert all(ts(e["timestamp"]).date() < since for e in events)
        assert c["final_status"] == "active"
        if not c["never_started"]:
            daily = sample.daily(c["user_id"])
            assert sum(daily[d] for d in trailing(since - timedelta(days=1), 3)) > 0
    assert {c["never_started"] for c in of(sample, "dormant")} == {True, False}


def test_spike_days_are_at_least_four_times_the_customers_median(sample: Sample) -> None:
    for c in of(sample, "spiky"):
        daily = sample.daily(c["user_id"])
        spikes = {date.fromisoformat(a["date"]) for a in c["anomaly_days"]}
        median = median_of([n for d, n in daily.items() if d not in spikes])
        assert median >= 3
        for day in spikes:
            assert daily[day] >= 4 * median, (c["user_id"], day, daily[day], median)


def test_no_ordinary_day_looks_like_a_spike(sample: Sample) -> None:
    checked = 0
    for c in sample.customers:
        daily = sample.daily(c["user_id"])
        spikes = {date.fromisoformat(a["date"]) for a in c["anomaly_days"]}
        days = sorted(daily)
        for i in range(7, len(days)):
            if days[i] in spikes:
                continue
            baseline = median_of([daily[d] for d in days[i - 7 : i] if d not in spikes])
            assert daily[days[i]] <= 2.5 * baseline + 3, (c["user_id"], days[i])
            checked += 1
    assert checked > 5000


def response_ratio(sample: Sample, agent: str, inside: bool, window: dict[str, Any]) -> float:
    """Median response time of ``agent``'s events inside (or outside) ``window`` ÷ its median."""
    start, end = ts(window["start"]), ts(window["end"]) if window["end"] else None
    times = [
        e["response_time_ms"]
        for e in sample.events
        if e["agent_id"] == agent
        and (start <= ts(e["timestamp"]) and (end is None or ts(e["timestamp"]) < end)) == inside
    ]
    assert len(times) >= 30, (agent, inside, len(times))
    baseline = next(a for a in sample.truth["agents"] if a["agent_id"] == agent)
    return float(statistics.median(times) / baseline["median_response_time_ms"])


def test_degradation_multiplies_response_times_only_inside_its_window(sample: Sample) -> None:
    degraded = [(a["agent_id"], w) for a in sample.truth["agents"] for w in a["degradations"]]
    assert len(degraded) == 2
    assert [w["end"] is None for _, w in degraded].count(True) == 1
    for agent, window in degraded:
        assert 2.5 <= response_ratio(sample, agent, True, window) <= 3.5
        others = [a for a in ("NEXUS", "BLAZE", "SAGE") if a not in {x for x, _ in degraded}]
        for other in others:
            assert 0.85 <= response_ratio(sample, other, True, window) <= 1.15
    for agent, window in degraded:
        outside = [w for a, w in degraded if a == agent]
        if len(outside) == 1:
            assert 0.85 <= response_ratio(sample, agent, False, window) <= 1.15
