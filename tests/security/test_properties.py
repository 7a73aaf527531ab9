"""Property: any signed webhook is stored exactly as sent, or refused naming a field.

Hypothesis builds events, batches and subscriptions from arbitrary JSON values in every
field (text of any length and code point, integers and floats of any size, dates across the
whole calendar with any offset, nested objects), signs them as GENESIS would and posts
them to the app on each database. For every answer:

- 2xx: every event is stored, once, with exactly the values sent (after the contract's
  documented normalisation: surrounding blanks stripped, agent upper-cased, tier
  lower-cased) and Σ daily = Σ hourly = the raw events; a subscription is stored as sent;
- otherwise a 4xx JSON error naming a field, and no table changed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.ingest.service import derived_event_id
from nexus_crm.kit.time import as_utc
from nexus_crm.models import AgentUsageEvent, Customer, agent_usage_daily
from nexus_crm.models.usage_hourly import agent_usage_hourly
from nexus_crm.settings import Settings
from tests.security.conftest import snapshot
from tests.support import signed

T = TypeVar("T")
EXAMPLES = 200  # per database and kind of webhook
TIERS = ("essential", "pro", "elite", "prime", "longevity")
NOW = datetime.now(UTC)

# Arbitrary JSON: any text (lone surrogates included), integers and floats of any size.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json.dumps writes them as NaN, Infinity
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
any_datetime = st.datetimes(timezones=offsets).map(lambda d: d.isoformat())
recent = st.datetimes(min_value=datetime(2020, 1, 1), max_value=NOW.replace(tzinfo=None))
recent_datetime = st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), recent, offsets)
texts = st.text(min_size=1, max_size=140) | st.text(min_size=120, max_size=300)


def field(good: st.SearchStrategy[Any], *bad: st.SearchStrategy[Any]) -> Field:
    """A field's plausible values, and what else may come: anything at all, or nothing."""
    return good, st.one_of(*bad, json_values, st.just(ABSENT))


Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]
ABSENT = object()
names = st.text(min_size=1, max_size=128)
event_fields = {
    "user_id": field(names, texts),
    "agent_id": field(st.sampled_from(["NEXUS", "blaze", "Sage", "ß" * 32]), texts),
    "session_id": field(names, texts),
    "tokens_used": field(st.integers(0, 10_000_000), st.integers()),
    "response_time_ms": field(st.integers(0, 3_600_000), st.integers()),
    "subscription_tier": field(st.sampled_from(TIERS).map(str.upper), texts),
    "timestamp": field(recent_datetime | st.just(ABSENT), any_datetime),
    "metadata": field(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
}


@st.composite
def record(draw: st.DrawFn, fields: dict[str, Field]) -> dict[str, Any]:
    """A record with some fields (often none) drawn from anything, the rest plausible."""
    wild = draw(st.sets(st.sampled_from(sorted(fields))))
    drawn = {k: draw(bad if k in wild else good) for k, (good, bad) in fields.items()}
    return {k: v for k, v in drawn.items() if v is not ABSENT}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """An event (see ``record``) with a fresh id, or none (the webhook-id names it)."""
    ev = draw(record(event_fields))
    if draw(st.booleans()):
        ev["event_id"] = f"p-{uuid.uuid4()}" + draw(st.text(max_size=40))
    return ev


subscription_fields = {
    "user_id": field(names, texts),
    "tier": field(st.sampled_from(TIERS), texts),
    "status": field(st.sampled_from(["active", "cancelled", "ACTIVE"]), texts),
    "email": field(st.emails() | st.just(ABSENT), texts),
    "name": field(st.text(min_size=1, max_size=200) | st.just(ABSENT), texts),
    "billing_anchor_day": field(st.integers(1, 31) | st.just(ABSENT), st.integers()),
    "timestamp": field(recent_datetime | st.just(ABSENT), any_datetime),
}


@st.composite
def subscriptions(draw: st.DrawFn) -> dict[str, Any]:
    """A subscription (see ``record``) of a customer no earlier example touched."""
    sub = draw(record(subscription_fields))
    if isinstance(sub.get("user_id"), str):  # else an older update could come after a newer
        sub["user_id"] = uuid.uuid4().hex[:8] + sub["user_id"]
    return sub


# Fresh for every example; sometimes longer than an event id may be (stored ids derive from it).
webhook_ids = st.builds(
    lambda pad: f"msg_{uuid.uuid4().hex}{pad}",
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=300),
)
batches = st.builds(lambda evs: {"events": evs}, st.lists(events(), min_size=1, max_size=4))
bodies = events() | batches


class Harness:
    """The app on one database, driven synchronously, with its own loop for DB checks."""

    def __init__(self, client: TestClient, app: FastAPI) -> None:
        self.client, self.app = client, app
        self.sessions: async_sessionmaker[AsyncSession] = app.state.sessions

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the app's event loop (the client's portal)."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(make)

    def post(self, path: str, payload: Any, msg_id: str) -> Any:
        """POST a signed webhook; the response."""
        body, headers = signed(json.dumps(payload).encode(), msg_id=msg_id)
        return self.client.post(path, content=body, headers=headers)


@pytest.fixture
def harness(settings: Settings) -> Iterator[Harness]:
    """The app with no background workers (the webhooks are the only writers)."""
    workers_off = {"alert_evaluation_interval_seconds": 0, "upsell_worker_interval_seconds": 0}
    quiet = settings.model_copy(update=workers_off)
    app = create_app(quiet)
    with TestClient(app) as client:
        yield Harness(client, app)


def assert_refusal(resp: Any) -> None:
    """A 4xx JSON error naming the field (or, for a batch, each item's field)."""
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    body = resp.json()
    assert {"error", "detail"} <= set(body)
    named = [body["field"]] if body.get("field") else [e["field"] for e in body["errors"]]
    assert named, body
    assert all(isinstance(f, str) and f for f in named), body


def expected_row(ev: dict[str, Any]) -> tuple[Any, ...]:
    """What the stored row must hold for an accepted event (the contract's normalisation)."""
    when = ev.get("timestamp")
    return (
        ev["user_id"].strip(),
        ev["agent_id"].strip().upper(),
        ev["session_id"].strip(),
        ev["tokens_used"],
        ev["response_time_ms"],
        ev["subscription_tier"].strip().lower(),
        None if when is None else as_utc(datetime.fromisoformat(when)),
        ev.get("metadata", {}),
    )


async def rows_of(sessions: async_sessionmaker[AsyncSession], ids: list[str]) -> list[Any]:
    e = AgentUsageEvent
    cols = [e.event_id, e.user_id, e.agent_id, e.session_id, e.tokens_used]
    cols += [e.response_time_ms, e.subscription_tier, e.occurred_at, e.event_metadata]
    async with sessions() as s:
        return list((await s.execute(select(*cols).where(e.event_id.in_(ids)))).all())


async def totals(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, int]]:
    """(interactions, tokens) of the raw events, the daily and the hourly aggregates."""
    e, d, h = AgentUsageEvent, agent_usage_daily.c, agent_usage_hourly.c
    queries = [
        select(func.count(), func.coalesce(func.sum(e.tokens_used), 0)),
        select(func.coalesce(func.sum(d.interactions), 0), func.coalesce(func.sum(d.tokens), 0)),
        select(func.coalesce(func.sum(h.interactions), 0), func.coalesce(func.sum(h.tokens), 0)),
    ]
    async with sessions() as s:
        rows = [(await s.execute(q)).one() for q in queries]
    return [(int(r[0]), int(r[1])) for r in rows]


def check_stored(h: Harness, payload: Any, msg_id: str, answer: dict[str, Any]) -> None:
    """Every event of an accepted webhook stored once, as sent; aggregates equal raw."""
    batch = "events" in payload
    items = payload["events"] if batch else [payload]
    ids = [
        ev.get("event_id") or derived_event_id(msg_id, i if batch else None)
        for i, ev in enumerate(items)
    ]
    assert answer == {"accepted": len(items), "duplicates": 0}, answer
    stored = {r[0]: r for r in h.run(lambda: rows_of(h.sessions, ids))}
    assert set(stored) == set(ids)
    for event_id, ev in zip(ids, items, strict=True):
        row = stored[event_id]
        want = expected_row(ev)
        assert tuple(row[1:7]) == want[:6], (row, ev)
        if want[6] is not None:
            assert row[7] == want[6], (row, ev)
        assert row[8] == want[7], (row, ev)
    raw, daily, hourly = h.run(lambda: totals(h.sessions))
    assert raw == daily == hourly


def settings_for(examples: int) -> hypothesis.settings:
    """Hypothesis settings of these tests: ``examples`` each, no deadline, no example store."""
    checks = list(HealthCheck)  # the app and its database are shared by the examples
    return hypothesis.settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=checks
    )


def test_any_signed_event_webhook_is_stored_exactly_or_refused(harness: Harness) -> None:
    h, seen = harness, Counter[int]()

    @given(bodies, webhook_ids)
    @settings_for(EXAMPLES)
    def post_one(payload: Any, msg_id: str) -> None:
        before = h.run(lambda: snapshot(h.sessions))
        resp = h.post("/agent-usage/events", payload, msg_id)
        seen[resp.status_code] += 1
        if resp.status_code == 200:
            check_stored(h, payload, msg_id, resp.json())
        else:
            assert_refusal(resp)
            assert h.run(lambda: snapshot(h.sessions)) == before

    post_one()
    both_kinds(seen)


def both_kinds(seen: Counter[int]) -> None:
    """The examples reached storage and refusal both, each often (else the test says little)."""
    total = sum(seen.values())
    print(f"\nanswers: {dict(seen)}")
    assert seen[200] >= total // 10, seen
    assert total - seen[200] >= total // 10, seen


def test_any_signed_subscription_webhook_is_stored_exactly_or_refused(harness: Harness) -> None:
    h, seen = harness, Counter[int]()

    @given(subscriptions())
    @settings_for(EXAMPLES // 2)
    def post_one(payload: dict[str, Any]) -> None:
        before = h.run(lambda: snapshot(h.sessions))
        resp = h.post("/agent-usage/subscriptions", payload, f"msg_{uuid.uuid4().hex}")
        seen[resp.status_code] += 1
        if resp.status_code != 200:
            assert_refusal(resp)
            assert h.run(lambda: snapshot(h.sessions)) == before
            return
        user_id = payload["user_id"].strip()
        customer = h.run(lambda: customer_of(h.sessions, user_id))
        assert customer is not None
        assert (customer.tier, customer.status) == (
            payload["tier"].strip().lower(),
            payload["status"].strip().lower(),
        )
        for key in ("email", "name", "billing_anchor_day"):
            if key in payload:
                sent = payload[key].strip() if isinstance(payload[key], str) else payload[key]
                assert getattr(customer, key) == sent, (key, customer, payload)

    post_one()
    both_kinds(seen)


async def customer_of(sessions: async_sessionmaker[AsyncSession], user_id: str) -> Any:
    async with sessions() as s:
        return await s.scalar(select(Customer).where(Customer.user_id == user_id))
