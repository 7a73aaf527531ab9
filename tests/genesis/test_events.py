"""Client-side validation fails at the call, naming the field; nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesis_crm import InvalidEventError
from genesis_crm.events import build_event, build_subscription

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "user_id": "cliente_123",
    "agent_id": "nexus",
    "session_id": "s",
    "tokens_used": 150,
    "response_time_ms": 1200,
    "subscription_tier": "PRO",
    "timestamp": None,
    "metadata": None,
}


def test_a_good_event_is_normalised_and_gets_a_uuid7() -> None:
    ev = build_event(**GOOD, now=NOW)
    assert (ev["agent_id"], ev["subscription_tier"]) == ("NEXUS", "pro")
    assert ev["timestamp"] == NOW.isoformat()
    assert ev["event_id"][14] == "7"
    assert ev["metadata"] == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", ""),
        ("user_id", 123),
        ("user_id", "a\nb"),
        ("agent_id", "x" * 65),
        ("tokens_used", -1),
        ("tokens_used", True),
        ("tokens_used", 1.5),
        ("response_time_ms", 3_600_001),
        ("timestamp", NOW + timedelta(minutes=6)),
        ("timestamp", "2026-11-24"),
        ("metadata", {"x": object()}),
        ("metadata", {"x": "y" * 20_000}),
        ("metadata", ["not", "a", "dict"]),
    ],
)
def test_bad_arguments_raise_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidEventError) as err:
        build_event(**{**GOOD, field: value}, now=NOW)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"score": float("nan")}, "metadata.score"),
        ({"a": {"b": [1.0, float("inf")]}}, "metadata.a.b[1]"),
        ({"deltas": [{"t": -float("inf")}]}, "metadata.deltas[0].t"),
        ({"x": 1e308 * 10}, "metadata.x"),
    ],
)
def test_non_finite_numbers_in_metadata_are_refused_naming_the_path(
    metadata: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEventError, match="finite") as err:
        build_event(**{**GOOD, "metadata": metadata}, now=NOW)
    assert err.value.field == field


@pytest.mark.parametrize("field", ["tokens_used", "response_time_ms"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_counts_are_refused(field: str, value: float) -> None:
    with pytest.raises(InvalidEventError, match="finite") as err:
        build_event(**{**GOOD, field: value}, now=NOW)
    assert err.value.field == field


def test_naive_timestamps_are_utc() -> None:
    ev = build_event(**{**GOOD, "timestamp": datetime(2026, 1, 2, 3, 4)}, now=NOW)
    assert ev["timestamp"] == "2026-01-02T03:04:00+00:00"


def test_subscriptions() -> None:
    sub = build_subscription(
        user_id="u",
        tier="Elite",
        status="ACTIVE",
        email="a@b.co",
        name="Ana",
        timestamp=None,
        now=NOW,
    )
    assert sub == {
        "user_id": "u",
        "tier": "elite",
        "status": "active",
        "timestamp": NOW.isoformat(),
        "email": "a@b.co",
        "name": "Ana",
    }
    for field, kwargs in (("status", {"status": "paused"}), ("email", {"email": "nope"})):
        base = {
            "user_id": "u",
            "tier": "pro",
            "status": "active",
            "email": None,
            "name": None,
            "timestamp": None,
            "now": NOW,
        }
        with pytest.raises(InvalidEventError) as err:
            build_subscription(**{**base, **kwargs})
        assert err.value.field == field
