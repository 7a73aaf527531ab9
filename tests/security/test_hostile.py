"""Hostile inputs get a 4xx JSON error naming the field, and leave the database unchanged.

Every rejection here is checked against a snapshot of every table (row count and the sum
of every integer column: tokens, interactions, response times, ranks, limits) taken
before the request.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.settings import Settings
from tests.security.conftest import Unchanged, as_json, assert_error, post_signed, snapshot
from tests.support import OTHER_SECRET, event, signed

SQL_IDS = (
    "x' OR '1'='1",
    "1; DROP TABLE agent_usage_events; --",
    "' UNION SELECT * FROM api_keys --",
)
TRAVERSAL_IDS = (
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc",
    "a%00b",
    "%00",
)


# --- sizes and shapes --------------------------------------------------------------------


async def test_oversized_webhook_body_gets_413(
    client: httpx.AsyncClient, settings: Settings, unchanged: Unchanged
) -> None:
    padding = "x" * (settings.max_body_bytes + 1)
    resp = await post_signed(client, event(metadata={"pad": padding}))
    assert_error(resp, 413, "body")
    await unchanged()


async def test_oversized_api_body_gets_413_before_auth(
    client: httpx.AsyncClient, admin_headers: dict[str, str], unchanged: Unchanged
) -> None:
    huge = json.dumps({"user_id": "victim", "recommended_tier": "pro", "reason": "x" * 2**21})
    for headers in (admin_headers, {}):
        resp = await client.post(
            "/agent-usage/upsell-sequences", content=huge, headers=as_json(headers)
        )
        assert_error(resp, 413, "body")
    await unchanged()


def deep(depth: int) -> str:
    """A JSON value nested ``depth`` levels."""
    return "[" * depth + "]" * depth


async def test_deeply_nested_json_gets_422_naming_the_body(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    unchanged: Unchanged,
) -> None:
    nested = deep(settings.max_json_depth + 1)
    raw = json.dumps(event()).replace('"metadata": {}', "").rstrip("}")
    body, headers = signed(f'{raw}, "metadata": {{"x": {nested}}}}}'.encode())
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    assert_error(resp, 422, "body")
    api = await client.put(
        "/agent-usage/tiers/pro", content=f'{{"x": {deep(5000)}}}', headers=as_json(admin_headers)
    )
    assert_error(api, 422, "body")
    await unchanged()


@pytest.mark.parametrize(
    "raw", [b'{"user_id": "\xff\xfe"}', b"\xc3\x28", b'{"a": "\xf0\x28\x8c\x28"}']
)
async def test_invalid_utf8_gets_422_naming_the_body(
    client: httpx.AsyncClient, admin_headers: dict[str, str], raw: bytes, unchanged: Unchanged
) -> None:
    body, headers = signed(raw)
    assert_error(
        await client.post("/agent-usage/events", content=body, headers=headers), 422, "body"
    )
    api = await client.post(
        "/agent-usage/upsell-sequences", content=raw, headers=as_json(admin_headers)
    )
    assert_error(api, 422, "body")
    await unchanged()


HUGE_NUMBERS = [
    ("tokens_used", "1e309"),  # parses to infinity
    ("tokens_used", str(2**80)),
    ("tokens_used", "-1"),
    ("tokens_used", str(-(2**80))),
    ("tokens_used", "1.5"),
    ("response_time_ms", str(2**80)),
    ("response_time_ms", "-5"),
    ("response_time_ms", "NaN"),
    ("tokens_used", "9" * 5000),  # more digits than Python converts by default
]


@pytest.mark.parametrize(("name", "literal"), HUGE_NUMBERS)
async def test_huge_or_negative_numbers_in_events_get_422(
    client: httpx.AsyncClient, name: str, literal: str, unchanged: Unchanged
) -> None:
    text = json.dumps(event(**{name: 12345}), allow_nan=True).replace("12345", literal, 1)
    body, headers = signed(text.encode())
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    error = assert_error(resp, 422)
    assert name in json.dumps(error) or error.get("field") == "body"
    await unchanged()


@pytest.mark.parametrize(
    ("name", "literal"),
    [
        ("monthly_tokens", str(2**80)),
        ("monthly_tokens", "-1"),
        ("monthly_interactions", "1e309"),
        ("monthly_price", "1e309"),
        ("monthly_price", "-0.01"),
        ("rank", str(2**70)),
    ],
)
async def test_huge_or_negative_numbers_in_tier_limits_get_422(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    name: str,
    literal: str,
    unchanged: Unchanged,
) -> None:
    tier = {
        "display_name": "Pro",
        "rank": 2,
        "monthly_tokens": 1,
        "monthly_interactions": 1,
        "monthly_price": 1,
    }
    text = json.dumps({**tier, name: 424242}).replace("424242", literal)
    resp = await client.put("/agent-usage/tiers/pro", content=text, headers=as_json(admin_headers))
    assert_error(resp, 422, name)
    await unchanged()


# --- ids -------------------------------------------------------------------------------


def id_routes(value: str) -> list[tuple[str, str]]:
    """Every route that takes a customer, alert or sequence id, with ``value`` as the id."""
    return [
        ("GET", f"/agent-usage/customers/{value}"),
        ("GET", f"/agent-usage/alerts/{value}"),
        ("POST", f"/agent-usage/alerts/{value}/acknowledge"),
        ("GET", f"/agent-usage/upsell-sequences/{value}"),
        ("GET", f"/agent-usage/privacy/{value}/export"),
        ("DELETE", f"/agent-usage/privacy/{value}"),
    ]


@pytest.mark.parametrize("value", SQL_IDS + TRAVERSAL_IDS)
async def test_sql_looking_and_traversal_ids_get_404_or_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], value: str, unchanged: Unchanged
) -> None:
    for method, path in id_routes(value):
        resp = await client.request(method, path, headers=admin_headers)
        assert_error(resp, resp.status_code)
        assert resp.status_code in (404, 422), (method, path, resp.status_code, resp.text)
        assert "victim" not in resp.text
        assert "ncrm_" not in resp.text
    await unchanged()


# --- webhooks ----------------------------------------------------------------------------


async def test_replayed_webhook_is_a_duplicate_and_not_counted_twice(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body, headers = signed(event(user_id="replayed", tokens_used=700))
    first = await client.post("/agent-usage/events", content=body, headers=headers)
    assert first.json() == {"accepted": 1, "duplicates": 0}
    before = await snapshot(sessions)
    for _ in range(3):
        again = await client.post("/agent-usage/events", content=body, headers=headers)
        assert again.json() == {"accepted": 0, "duplicates": 1}
    assert await snapshot(sessions) == before


async def test_resigned_webhook_with_changed_content_never_changes_the_stored_event(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    original = event(user_id="resigned", tokens_used=700, agent_id="NEXUS")
    assert (await post_signed(client, original)).json() == {"accepted": 1, "duplicates": 0}
    before = await snapshot(sessions)
    forged = {**original, "tokens_used": 999_999, "agent_id": "BLAZE", "user_id": "resigned"}
    for changed in (forged, {**original, "subscription_tier": "elite"}):
        resp = await post_signed(client, changed)  # a new webhook-id, a valid signature
        assert resp.status_code in (200, 409), resp.text
        if resp.status_code == 200:
            assert resp.json() == {"accepted": 0, "duplicates": 1}
    assert await snapshot(sessions) == before


def skewed(minutes: int) -> dict[str, Any]:
    return {"at": datetime.now(UTC) + timedelta(minutes=minutes)}


async def test_rejected_webhooks_get_401_naming_the_header(
    client: httpx.AsyncClient, unchanged: Unchanged
) -> None:
    body, good = signed(event())
    cases: list[tuple[dict[str, str], str]] = [
        ({**good, "webhook-signature": "v1," + "A" * 44}, "webhook-signature"),
        (
            signed(event(), secret=OTHER_SECRET)[1] | {"webhook-id": good["webhook-id"]},
            "webhook-signature",
        ),
        ({**good, "webhook-id": "msg_other"}, "webhook-signature"),
        ({**good, "webhook-timestamp": "not-a-number"}, "webhook-timestamp"),
        ({**good, "webhook-timestamp": str(2**80)}, "webhook-timestamp"),
    ]
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        cases.append(({k: v for k, v in good.items() if k != name}, name))
    for minutes in (-6, 6, -60 * 24 * 365, 60 * 24 * 365):
        _, headers = signed(event(), **skewed(minutes))
        cases.append((headers, "webhook-timestamp"))
    for headers, field in cases:
        resp = await client.post("/agent-usage/events", content=body, headers=headers)
        assert_error(resp, 401, field)
    await unchanged()


async def test_skewed_body_signed_for_another_timestamp_gets_401(
    client: httpx.AsyncClient, unchanged: Unchanged
) -> None:
    body, headers = signed(event(), **skewed(-10))
    fresh = str(int(datetime.now(UTC).timestamp()))  # a fresh timestamp without a new signature
    resp = await client.post(
        "/agent-usage/events", content=body, headers={**headers, "webhook-timestamp": fresh}
    )
    assert_error(resp, 401, "webhook-signature")
    await unchanged()


async def test_tampered_body_under_a_valid_signature_gets_401(
    client: httpx.AsyncClient, unchanged: Unchanged
) -> None:
    body, headers = signed(event(tokens_used=1))
    tampered = body.replace(b'"tokens_used": 1', b'"tokens_used": 1000000')
    assert tampered != body
    resp = await client.post("/agent-usage/events", content=tampered, headers=headers)
    assert_error(resp, 401, "webhook-signature")
    await unchanged()


async def test_subscription_webhook_rejects_the_same_way(
    client: httpx.AsyncClient, unchanged: Unchanged
) -> None:
    sub = {"user_id": "victim", "tier": "prime", "status": "active"}
    body, headers = signed(sub, **skewed(-30))
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert_error(resp, 401, "webhook-timestamp")
    body, headers = signed({**sub, "tier": "x" * 10_000})
    assert_error(
        await client.post("/agent-usage/subscriptions", content=body, headers=headers), 422
    )
    _, other = signed(sub, secret=OTHER_SECRET)
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=other)
    assert_error(resp, 401, "webhook-signature")
    await unchanged()


async def test_unique_ids_keep_the_victims_row_intact(
    client: httpx.AsyncClient, admin_headers: dict[str, str], unchanged: Unchanged
) -> None:
    """An id that looks like SQL is just an id: stored and read back verbatim."""
    name = SQL_IDS[0]
    resp = await post_signed(client, event(user_id=name, event_id=str(uuid.uuid4())))
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    got = await client.get(f"/agent-usage/customers/{name}", headers=admin_headers)
    assert got.status_code == 200
    assert got.json()["user_id"] == name
    victim = await client.get("/agent-usage/customers/victim", headers=admin_headers)
    assert victim.status_code == 200


@pytest.mark.parametrize("name", ["user_id", "agent_id", "session_id", "metadata"])
async def test_lone_surrogates_in_event_strings_get_422(
    client: httpx.AsyncClient, name: str, unchanged: Unchanged
) -> None:
    """CESU/WTF-8 bytes for a lone surrogate are not UTF-8 (Python's json would accept them)."""
    value: Any = {"note": "PLACEHOLDER"} if name == "metadata" else "PLACEHOLDER"
    text = json.dumps(event(**{name: value})).encode()
    body, headers = signed(text.replace(b"PLACEHOLDER", b"ab\xed\xa0\x80cd"))
    assert_error(await client.post("/agent-usage/events", content=body, headers=headers), 422)
    await unchanged()


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        (
            "PUT",
            "/agent-usage/tiers/pro",
            {
                "display_name": "PLACEHOLDER",
                "rank": 2,
                "monthly_tokens": 1,
                "monthly_interactions": 1,
                "monthly_price": 1,
            },
        ),
        (
            "POST",
            "/agent-usage/upsell-sequences",
            {"user_id": "victim", "recommended_tier": "pro", "reason": "PLACEHOLDER"},
        ),
    ],
)
async def test_lone_surrogates_in_api_bodies_get_422(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    method: str,
    path: str,
    payload: dict[str, Any],
    unchanged: Unchanged,
) -> None:
    raw = json.dumps(payload).encode().replace(b"PLACEHOLDER", b"ab\xed\xa0\x80cd")
    resp = await client.request(method, path, content=raw, headers=as_json(admin_headers))
    assert_error(resp, 422)
    await unchanged()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/agent-usage/alerts?user_id=a%00b", "user_id"),
        ("/agent-usage/upsell-sequences?user_id=%00", "user_id"),
        ("/agent-usage/audit?actor=key%3Aa%00", "actor"),
        ("/agent-usage/customers/a%00b", "path"),
        ("/agent-usage/privacy/a%00b/export", "path"),
    ],
)
async def test_nul_in_path_or_query_gets_422_naming_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    path: str,
    field: str,
    unchanged: Unchanged,
) -> None:
    """PostgreSQL cannot hold NUL: once a 500 there (and a quiet lookup on SQLite)."""
    assert_error(await client.get(path, headers=admin_headers), 422, field)
    await unchanged()


# A fixed id: parameters are test names, and pytest-xdist's workers must collect the same.
NO_SUCH_ID = "0b6f3e8e-2d2c-4c61-9a39-1f5e0d7c4a10"
NUL_BODIES = [
    (
        "PUT",
        "/agent-usage/tiers/pro",
        {
            "display_name": "a\x00b",
            "rank": 2,
            "monthly_tokens": 1,
            "monthly_interactions": 1,
            "monthly_price": 1,
        },
        "display_name",
    ),
    (
        "POST",
        "/agent-usage/upsell-sequences",
        {"user_id": "a\x00b", "recommended_tier": "pro", "reason": "r"},
        "user_id",
    ),
    (
        "POST",
        "/agent-usage/upsell-sequences",
        {"user_id": "victim", "recommended_tier": "pro", "reason": "\x00"},
        "reason",
    ),
    ("POST", f"/agent-usage/alerts/{NO_SUCH_ID}/acknowledge", {"note": "\x00"}, "note"),
    ("POST", f"/agent-usage/upsell-sequences/{NO_SUCH_ID}/cancel", {"note": "\x00"}, "note"),
    ("POST", "/agent-usage/auth/token", {"email": "a\x00@ngx.mx", "password": "pw"}, "email"),
]


@pytest.mark.parametrize(("method", "path", "payload", "field"), NUL_BODIES)
async def test_nul_in_api_bodies_gets_422_naming_the_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    method: str,
    path: str,
    payload: dict[str, Any],
    field: str,
    unchanged: Unchanged,
) -> None:
    resp = await client.request(method, path, json=payload, headers=admin_headers)
    assert_error(resp, 422, field)
    await unchanged()
