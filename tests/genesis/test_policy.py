"""Delivery policy: pure functions, so every rule is checked without a network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_crm.policy import (
    Action,
    backoff,
    classify,
    is_server_fault,
    retry_after_seconds,
    retry_delay,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "size", "action"),
    [
        (None, 10, Action.RETRY),
        (200, 10, Action.DONE),
        (204, 1, Action.DONE),
        (500, 10, Action.RETRY),
        (503, 1, Action.RETRY),
        (408, 1, Action.RETRY),
        (429, 10, Action.RETRY),
        (401, 10, Action.RETRY),
        (403, 1, Action.RETRY),
        (413, 10, Action.SPLIT),
        (413, 1, Action.DEAD),
        (400, 10, Action.SPLIT),
        (400, 1, Action.DEAD),
        (404, 1, Action.DEAD),
    ],
)
def test_classify(status: int | None, size: int, action: Action) -> None:
    assert classify(status, '{"error": "x"}', batch_size=size).action is action


def test_422_names_the_items_to_bury_with_the_servers_message() -> None:
    body = json.dumps(
        {
            "error": "validation_error",
            "errors": [
                {"index": 3, "field": "subscription_tier", "message": "unknown tier 'gold'"},
                {"index": 3, "field": "tokens_used", "message": "negative"},
                {"index": 7, "field": "user_id", "message": "empty"},
            ],
        }
    )
    d = classify(422, body, batch_size=10)
    assert d.action is Action.DEAD
    assert d.bad_items == {3: "subscription_tier: unknown tier 'gold'", 7: "user_id: empty"}


def test_422_for_a_single_event_buries_it_with_the_body() -> None:
    d = classify(422, '{"error": "validation_error", "field": "tokens_used"}', batch_size=1)
    assert d.action is Action.DEAD
    assert "tokens_used" in d.bad_items[0]


@pytest.mark.parametrize(
    ("status", "retry_after", "fault"),
    [
        (500, None, True),  # a crash on something in the batch: counts towards a bisection
        (501, "", True),
        (500, "5", False),  # the server asked for time: an outage
        (503, None, False),
        (502, None, False),
        (504, None, False),
        (None, None, False),  # connection refused, reset or timed out
        (429, "1", False),
        (422, None, False),
        (200, None, False),
    ],
)
def test_only_a_500_like_answer_is_a_server_fault(
    status: int | None, retry_after: str | None, fault: bool
) -> None:
    assert is_server_fault(status, retry_after) is fault


@given(st.integers(1, 40), st.floats(0, 1))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, r: float) -> None:
    wait = backoff(attempt, base=0.5, cap=60, rand=lambda: r)
    assert 0 <= wait <= min(60, 0.5 * 2 ** (attempt - 1))
    assert wait == pytest.approx(r * min(60, 0.5 * 2 ** (attempt - 1)))


def test_backoff_grows_then_caps() -> None:
    top = [backoff(n, base=0.5, cap=60, rand=lambda: 1.0) for n in range(1, 10)]
    assert top == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after_seconds("7", NOW) == 7
    assert retry_after_seconds(format_datetime(NOW + timedelta(seconds=30), usegmt=True), NOW) == 30
    assert retry_after_seconds(format_datetime(NOW - timedelta(seconds=30), usegmt=True), NOW) == 0
    assert retry_after_seconds("999999", NOW) == 3600
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None


def test_retry_after_wins_over_backoff() -> None:
    assert retry_delay(5, 2.0, base=0.5, cap=60, rand=lambda: 1.0) == 2.0
    assert retry_delay(5, None, base=0.5, cap=60, rand=lambda: 1.0) == 8.0
