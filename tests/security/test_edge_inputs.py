"""Inputs that once answered 500 or changed a value silently (issue 15), on both databases.

Each test failed before its fix: a truncating cast on PostgreSQL, an OverflowError at the
calendar's edges, non-finite numbers, a ``/`` in a customer id, a TAB in ``webhook-id``,
repeated keys in one JSON object.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent, Customer, agent_usage_daily
from tests.security.conftest import Unchanged, assert_error, post_signed
from tests.support import event, signed

EXTREMES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, str]]:
    """Every stored event: event_id -> (user_id, agent_id)."""
    async with sessions() as s:
        e = AgentUsageEvent
        rows = (await s.execute(select(e.event_id, e.user_id, e.agent_id))).all()
    return {r[0]: (r[1], r[2]) for r in rows}


async def daily_interactions(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        total = await s.scalar(select(func.sum(agent_usage_daily.c.interactions)))
    return int(total or 0)


# --- 1. nothing truncated -----------------------------------------------------------------


@pytest.mark.parametrize("length", [127, 128, 200, 232])
async def test_long_webhook_ids_name_every_event_of_a_batch(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], length: int
) -> None:
    events = [event(event_id=None) for _ in range(12)]
    for ev in events:
        del ev["event_id"]
    msg_id = "m" * length
    resp = await post_signed(client, {"events": events}, msg_id=msg_id)
    assert resp.json() == {"accepted": 12, "duplicates": 0}, resp.text
    ids = await stored(sessions)
    assert len(ids) == 12
    assert all(len(i) <= 128 for i in ids)
    assert await daily_interactions(sessions) == 12
    # The same webhook again (a retry): the same ids, all duplicates.
    again = await post_signed(client, {"events": events}, msg_id=msg_id)
    assert again.json() == {"accepted": 0, "duplicates": 12}


async def test_a_single_event_named_by_a_long_webhook_id_is_stored_and_counted(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ev = event()
    del ev["event_id"]
    resp = await post_signed(client, ev, msg_id="w" * 232)
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    assert await daily_interactions(sessions) == 1


async def test_an_agent_id_that_grows_when_upper_cased_is_refused_not_cut(
    client: httpx.AsyncClient, unchanged: Unchanged
) -> None:
    resp = await post_signed(client, event(agent_id="ß" * 64))
    assert_error(resp, 422, "agent_id")
    await unchanged()


async def test_maximum_lengths_are_stored_whole(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ev = event(event_id="e" * 128, user_id="ü" * 128, agent_id="ß" * 32, session_id="s" * 128)
    assert (await post_signed(client, ev)).json() == {"accepted": 1, "duplicates": 0}
    assert await stored(sessions) == {"e" * 128: ("ü" * 128, "SS" * 32)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "e" * 129),
        ("user_id", "u" * 129),
        ("session_id", "s" * 129),
        ("agent_id", "A" * 65),
    ],
)
async def test_over_length_values_are_refused_naming_the_field(
    client: httpx.AsyncClient, unchanged: Unchanged, field: str, value: str
) -> None:
    assert_error(await post_signed(client, event(**{field: value})), 422, field)
    await unchanged()


# --- 3. the calendar's edges ------------------------------------------------------------


@pytest.mark.parametrize("when", EXTREMES)
async def test_calendar_extremes_in_an_event_get_422(
    client: httpx.AsyncClient, unchanged: Unchanged, when: str
) -> None:
    assert_error(await post_signed(client, event(timestamp=when)), 422, "timestamp")
    await unchanged()


@pytest.mark.parametrize("when", EXTREMES)
async def test_calendar_extremes_in_a_subscription_get_422(
    client: httpx.AsyncClient, unchanged: Unchanged, when: str
) -> None:
    sub = {"user_id": "edge", "tier": "pro", "status": "active", "timestamp": when}
    body, headers = signed(sub)
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert_error(resp, 422, "timestamp")
    await unchanged()


async def test_calendar_extremes_as_audit_filters_mean_everything(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    params = {"since": EXTREMES[0], "until": EXTREMES[1]}
    resp = await client.get("/agent-usage/audit", params=params, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    everything = await client.get("/agent-usage/audit", headers=admin_headers)
    assert resp.json() == everything.json()


# --- 4. non-finite numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"x": NaN}', "metadata.x"),
        ('{"x": [1, {"y": Infinity}]}', "metadata.x[1].y"),
        ('{"x": -Infinity}', "metadata.x"),
        ('{"x": 1e999}', "metadata.x"),
    ],
)
async def test_non_finite_numbers_get_422_naming_the_field(
    client: httpx.AsyncClient, unchanged: Unchanged, raw: str, field: str
) -> None:
    body = json.dumps(event())[:-1] + f', "metadata": {raw}}}'
    assert_error(await post_signed(client, body.encode()), 422, field)
    batch = b'{"events": [' + json.dumps(event()).encode() + b", " + body.encode() + b"]}"
    refused = assert_error(await post_signed(client, batch), 422)
    assert [(e["index"], e["field"]) for e in refused["errors"]] == [(1, field)]
    await unchanged()


# --- 6. ids with a slash ------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["org/42", "a/b/c", "trailing/", "x%2Fy", "q?x#y"])
async def test_customers_with_a_slash_are_served_exported_and_erased(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
    user_id: str,
) -> None:
    assert (await post_signed(client, event(user_id=user_id))).status_code == 200
    path = quote(user_id, safe="")
    page = await client.get(f"/agent-usage/customers/{path}", headers=admin_headers)
    assert page.status_code == 200, page.text
    assert page.json()["user_id"] == user_id
    export = await client.get(f"/agent-usage/privacy/{path}/export", headers=admin_headers)
    assert export.status_code == 200, export.text
    assert export.json()["customer"]["user_id"] == user_id
    erased = await client.delete(f"/agent-usage/privacy/{path}", headers=admin_headers)
    assert erased.status_code == 200, erased.text
    async with sessions() as s:
        assert await s.scalar(select(Customer).where(Customer.user_id == user_id)) is None


@pytest.mark.parametrize("user_id", [".", ".."])
async def test_dot_segments_cannot_be_customer_ids(
    client: httpx.AsyncClient, unchanged: Unchanged, user_id: str
) -> None:
    assert_error(await post_signed(client, event(user_id=user_id)), 422, "user_id")
    await unchanged()


# --- 7. smaller ---------------------------------------------------------------------------


@pytest.mark.parametrize("msg_id", ["msg\tone", "msg one", "msg\x7fx", "msg\x01"])
async def test_blanks_or_controls_in_webhook_id_get_422(
    client: httpx.AsyncClient, unchanged: Unchanged, msg_id: str
) -> None:
    ev = event()
    del ev["event_id"]
    assert_error(await post_signed(client, ev, msg_id=msg_id), 422, "webhook-id")
    await unchanged()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"user_id": "a", "user_id": "b"}', "user_id"),
        (b'{"metadata": {"k": 1, "k": 2}}', "k"),
    ],
)
async def test_repeated_keys_get_422_naming_the_key(
    client: httpx.AsyncClient, unchanged: Unchanged, raw: bytes, key: str
) -> None:
    body = json.dumps(event())[:-1].encode() + b", " + raw[1:]
    assert_error(await post_signed(client, body), 422, key)
    await unchanged()


TIER = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 1000,
    "monthly_interactions": 100,
    "monthly_price": 10,
}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'"monthly_price": NaN}', "monthly_price"),
        (b'"monthly_price": 1e999}', "monthly_price"),
        (b'"rank": 3, "rank": 4}', "rank"),
    ],
)
async def test_api_bodies_refuse_non_finite_numbers_and_repeated_keys(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    unchanged: Unchanged,
    raw: bytes,
    field: str,
) -> None:
    body = json.dumps(TIER).encode()[:-1] + b", " + raw
    headers = {**admin_headers, "content-type": "application/json"}
    resp = await client.put("/agent-usage/tiers/pro", content=body, headers=headers)
    assert_error(resp, 422, field)
    await unchanged()


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\r\n", "\x0b"])
@pytest.mark.parametrize("field", ["name", "email"])
async def test_line_separators_in_text_that_reaches_a_header_get_422(
    client: httpx.AsyncClient, unchanged: Unchanged, char: str, field: str
) -> None:
    sub = {"user_id": "mallory", "tier": "pro", "status": "active", "email": "m@x.com"}
    sub[field] = {"name": f"Mallory{char}Bcc: victim@evil.com", "email": f"m{char}@x.com"}[field]
    body, headers = signed(sub)
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert_error(resp, 422, field)
    await unchanged()
