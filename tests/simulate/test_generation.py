"""Generation is deterministic, valid for the server, seasonal, and cut off at its end."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nexus_crm.customers.schemas import SubscriptionIn
from nexus_crm.ingest.schemas import EVENT_LIST
from nexus_crm.simulate.generator import Day, history
from nexus_crm.simulate.population import PERSONA_SHARES, build_population, persona_labels
from nexus_crm.tiers.defaults import TIER_NAMES
from tests.simulate.analysis import Sample, ts
from tests.simulate.conftest import END, population


def flat(days: list[Day]) -> list[dict[str, Any]]:
    """The events of ``days``, in order."""
    return [e for d in days for e in d.events]


def test_the_same_seed_gives_identical_events_subscriptions_and_truth(sample: Sample) -> None:
    again = Sample.generate(population(), END)
    assert again.events == sample.events
    assert [u.payload() for d in again.days for u in d.subscriptions] == [
        u.payload() for d in sample.days for u in d.subscriptions
    ]
    assert again.truth == sample.truth
    assert len(sample.events) > 50_000


def test_another_seed_gives_other_customers_and_events(sample: Sample) -> None:
    other = Sample.generate(population(seed=8), END)
    assert other.truth["parameters"]["run_tag"] != sample.truth["parameters"]["run_tag"]
    assert not {e["event_id"] for e in other.events} & {e["event_id"] for e in sample.events}
    personas = [c["persona"] for c in sample.customers]
    assert personas != [c["persona"] for c in other.customers]
    assert other.truth["totals"]["events"] != sample.truth["totals"]["events"]


def test_a_later_end_repeats_the_earlier_history_exactly(sample: Sample) -> None:
    earlier = END - timedelta(days=3, hours=5)
    short = flat(list(history(sample.pop, earlier)))
    assert short == [e for e in sample.events if ts(e["timestamp"]) < earlier]
    assert all(ts(e["timestamp"]) < END for e in sample.events)
    assert max(ts(e["timestamp"]) for e in sample.events) > END - timedelta(hours=2)


def test_event_ids_are_unique_and_name_the_population(sample: Sample) -> None:
    ids = [e["event_id"] for e in sample.events]
    assert len(set(ids)) == len(ids)
    tag = sample.truth["parameters"]["run_tag"]
    assert all(i.startswith(f"sim-{tag}-") and len(i) <= 128 for i in ids)


def test_every_event_and_subscription_passes_the_server_contract(sample: Sample) -> None:
    context = {"tiers": frozenset(TIER_NAMES), "now": END, "max_future_seconds": 0}
    parsed = EVENT_LIST.validate_python(sample.events[:20_000], context=context)
    assert len(parsed) == 20_000
    updates = [u.payload() for d in sample.days for u in d.subscriptions]
    assert len(updates) >= len(sample.customers)
    for body in updates:
        SubscriptionIn.model_validate(body, context=context)


def test_persona_counts_are_exact_shares() -> None:
    labels = persona_labels(300, random.Random(1))
    counts = Counter(label.persona for label in labels)
    assert counts == {p: round(share * 300) for p, share in PERSONA_SHARES.items()}
    upgrades = [label for label in labels if label.persona == "upgrade_worthy"]
    assert Counter(label.variant for label in upgrades) == {"accepts": 15, "declines": 15}
    assert Counter(label.tier for label in upgrades) == {"essential": 27, "pro": 3}


def test_weekends_and_nights_are_quieter(sample: Sample) -> None:
    per_day = Counter(ts(e["timestamp"]).date() for e in sample.events)
    days = sample.full_days()
    weekend = [per_day[d] for d in days if d.weekday() >= 5]
    weekday = [per_day[d] for d in days if d.weekday() < 5]
    assert sum(weekend) / len(weekend) < 0.75 * sum(weekday) / len(weekday)
    hours = Counter(ts(e["timestamp"]).hour for e in sample.events)
    assert sum(hours[h] for h in (2, 3, 4)) * 5 < sum(hours[h] for h in (10, 11, 12))


def test_hours_follow_the_servers_time_zone() -> None:
    madrid = Sample.generate(population(size=40, tz="Europe/Madrid"), END)
    tz = ZoneInfo("Europe/Madrid")
    local = Counter(ts(e["timestamp"]).astimezone(tz).hour for e in madrid.events)
    assert sum(local[h] for h in (2, 3, 4)) * 5 < sum(local[h] for h in (10, 11, 12))
    first_day = madrid.truth["window"]["first_day"]
    assert min(ts(e["timestamp"]).astimezone(tz).date().isoformat() for e in madrid.events) >= (
        first_day
    )


def test_short_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 14"):
        build_population(seed=1, size=10, days=13, first_day=END.date(), tz=ZoneInfo("UTC"))
