"""Domain-free helpers: UUIDv7, billing periods, histograms."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_crm.kit.histogram import bucket_index, quantile
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import billing_period, local_day
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS


def test_uuid7_is_version_7_and_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    ms = ids[0].int >> 80
    assert abs(ms / 1000 - datetime.now(UTC).timestamp()) < 5


@pytest.mark.parametrize(
    ("today", "anchor", "expected"),
    [
        (date(2026, 11, 24), None, (date(2026, 11, 1), date(2026, 12, 1))),
        (date(2026, 12, 31), None, (date(2026, 12, 1), date(2027, 1, 1))),
        (date(2026, 11, 24), 15, (date(2026, 11, 15), date(2026, 12, 15))),
        (date(2026, 11, 10), 15, (date(2026, 10, 15), date(2026, 11, 15))),
        (date(2026, 3, 15), 31, (date(2026, 2, 28), date(2026, 3, 31))),
        (date(2026, 3, 31), 31, (date(2026, 3, 31), date(2026, 4, 30))),
        (date(2028, 2, 29), 30, (date(2028, 2, 29), date(2028, 3, 30))),
        (date(2028, 2, 28), 30, (date(2028, 1, 30), date(2028, 2, 29))),
        (date(2026, 1, 5), 10, (date(2025, 12, 10), date(2026, 1, 10))),
    ],
)
def test_billing_period(today: date, anchor: int | None, expected: tuple[date, date]) -> None:
    assert billing_period(today, anchor) == expected


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.one_of(st.none(), st.integers(1, 31)),
)
def test_billing_periods_contain_today_and_tile_the_calendar(
    today: date, anchor: int | None
) -> None:
    start, end = billing_period(today, anchor)
    assert start <= today < end
    assert 28 <= (end - start).days <= 31
    assert billing_period(end, anchor)[0] == end  # the next period starts where this one ends


def test_local_day_uses_the_time_zone() -> None:
    late = datetime(2026, 11, 30, 20, tzinfo=UTC)
    assert local_day(late, ZoneInfo("UTC")) == date(2026, 11, 30)
    assert local_day(late, ZoneInfo("Asia/Tokyo")) == date(2026, 12, 1)
    assert local_day(late, ZoneInfo("America/Mexico_City")) == date(2026, 11, 30)


def test_bucket_index_edges() -> None:
    b = RESPONSE_TIME_BOUNDS_MS
    assert bucket_index(0, b) == 0
    assert bucket_index(50, b) == 0
    assert bucket_index(51, b) == 1
    assert bucket_index(60_000, b) == len(b) - 1
    assert bucket_index(60_001, b) == len(b)


@given(
    st.lists(st.integers(0, 120_000), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_quantile_lies_in_the_bucket_of_the_true_value(values: list[int], q: float) -> None:
    b = RESPONSE_TIME_BOUNDS_MS
    counts = [0] * (len(b) + 1)
    for v in values:
        counts[bucket_index(v, b)] += 1
    estimate = quantile(counts, b, q, max(values))
    assert estimate is not None
    true = sorted(values)[max(0, math.ceil(q * len(values)) - 1)]
    i = bucket_index(true, b)
    low = b[i - 1] if i > 0 else 0
    high = b[i] if i < len(b) else max(values)
    assert low <= estimate <= high
    assert estimate <= max(values)


def test_quantile_of_nothing_is_none() -> None:
    assert quantile([0] * 26, RESPONSE_TIME_BOUNDS_MS, 0.95, 0) is None
