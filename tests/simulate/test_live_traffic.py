"""Live events continue the personas: who is still a customer, their tier, slow agents."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from nexus_crm.simulate.live import LiveTraffic, natural_rate
from tests.simulate.analysis import Sample, ts
from tests.simulate.conftest import END

NOW = END - timedelta(hours=1)


@pytest.fixture(scope="module")
def drawn(sample: Sample) -> list[dict[str, Any]]:
    """4,000 live events at ``NOW`` (late on the history's last day)."""
    traffic = LiveTraffic(sample.pop, random.Random(3))
    events = [traffic.event(NOW) for _ in range(4000)]
    return [e for e in events if e is not None]


def test_only_current_customers_send_with_their_current_tier(
    sample: Sample, drawn: list[dict[str, Any]]
) -> None:
    assert len(drawn) == 4000
    customers = {c["user_id"]: c for c in sample.customers}
    for e in drawn:
        c = customers[e["user_id"]]
        assert not c["churned"], c
        assert c["dormant_since"] is None, c
        assert e["subscription_tier"] == c["final_tier"]
        assert e["agent_id"] in c["agent_mix"]
        assert e["timestamp"] == NOW
    assert len({e["user_id"] for e in drawn}) > 0.5 * len(customers)


def test_busier_customers_send_more(sample: Sample, drawn: list[dict[str, Any]]) -> None:
    per_user = Counter(e["user_id"] for e in drawn)
    growing = [c["user_id"] for c in sample.customers if c["persona"] == "upgrade_worthy"]
    steady = [c["user_id"] for c in sample.customers if c["persona"] == "steady"]
    mean = statistics.mean
    assert mean(per_user[u] for u in growing) > 2 * mean(per_user[u] for u in steady)


def test_an_ongoing_degradation_slows_its_agent_now(
    sample: Sample, drawn: list[dict[str, Any]]
) -> None:
    agents = {a["agent_id"]: a for a in sample.truth["agents"]}
    ongoing = [a for a in agents.values() for w in a["degradations"] if w["end"] is None]
    assert len(ongoing) == 1
    assert ts(ongoing[0]["degradations"][-1]["start"]) < NOW
    for agent_id, agent in agents.items():
        times = [e["response_time_ms"] for e in drawn if e["agent_id"] == agent_id]
        if len(times) < 50:
            continue
        ratio = statistics.median(times) / agent["median_response_time_ms"]
        expected = 3.0 if agent is ongoing[0] else 1.0
        assert expected * 0.8 <= ratio <= expected * 1.2, (agent_id, ratio)


def test_the_natural_rate_is_the_historys_pace(sample: Sample) -> None:
    yesterday = NOW - timedelta(days=1)
    day = yesterday.date()
    events = sum(1 for e in sample.events if ts(e["timestamp"]).date() == day)
    assert natural_rate(sample.pop, yesterday) * 86_400 == pytest.approx(events, rel=0.15)
