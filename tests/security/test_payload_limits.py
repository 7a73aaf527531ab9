"""Payload limits on the webhook and the API: body size, event size, batch size, JSON depth.

Each refused body answers 413/422 naming the field (and the event's index in a batch), and
leaves the database as it was.
"""

from __future__ import annotations

import json
from typing import Any

from nexus_crm.app import create_app
from tests.security.limits_helpers import (
    CT_JSON,
    client_of,
    count,
    make_settings,
    new_key,
    post_events,
    running,
)
from tests.support import event


def nested(depth: int) -> Any:
    """A JSON value ``depth`` levels deep."""
    value: Any = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


async def test_webhook_payload_limits(db_url: str) -> None:
    app = create_app(
        make_settings(
            db_url, MAX_BODY_BYTES=4096, MAX_EVENT_BYTES=1024, MAX_BATCH_EVENTS=3, MAX_JSON_DEPTH=8
        )
    )
    async with running(app), client_of(app) as client:
        big = {"events": [event(metadata={"note": "x" * 1000}) for _ in range(5)]}
        resp = await post_events(client, big)
        assert (resp.status_code, resp.json()["field"]) == (413, "body"), resp.text
        resp = await post_events(client, {"events": [event() for _ in range(4)]})
        assert (resp.status_code, resp.json()["field"]) == (422, "events"), resp.text
        assert "at most 3" in resp.json()["detail"]
        resp = await post_events(client, event(metadata={"note": "x" * 1100}))
        assert (resp.status_code, resp.json()["field"]) == (413, "body"), resp.text
        batch = {"events": [event(), event(metadata={"note": "y" * 1100})]}
        resp = await post_events(client, batch)
        assert resp.status_code == 413, resp.text
        assert resp.json()["errors"][0]["index"] == 1
        assert "[1]" in resp.json()["detail"]
        resp = await post_events(client, event(metadata=nested(8)))  # 9 levels with the event
        assert (resp.status_code, resp.json()["field"]) == (422, "body"), resp.text
        assert "8 levels" in resp.json()["detail"]
        resp = await client.post(
            "/agent-usage/events",
            content=json.dumps(nested(9)),
            headers={"content-type": "application/json"},
        )
        assert resp.status_code == 401, "the signature is checked before the body"
        assert await count(app, "agent_usage_events") == 0
        assert (await post_events(client, event(metadata=nested(6)))).status_code == 200
        assert await count(app, "agent_usage_events") == 1


async def test_api_body_limits(db_url: str) -> None:
    app = create_app(make_settings(db_url, MAX_BODY_BYTES=2048, MAX_JSON_DEPTH=6))
    async with running(app), client_of(app) as client:
        admin = await new_key(app, "admin")
        before = (await client.get("/agent-usage/tiers", headers=admin)).json()
        tier = {
            "display_name": "Pro",
            "rank": 2,
            "monthly_tokens": 1,
            "monthly_interactions": 1,
            "monthly_price": "1.00",
        }
        resp = await client.put(
            "/agent-usage/tiers/pro", headers=admin, json={**tier, "display_name": "P" * 3000}
        )
        assert (resp.status_code, resp.json()["field"]) == (413, "body"), resp.text
        deep = json.dumps({**tier, "currency": nested(7)})
        very_deep = "[" * 1000 + "]" * 1000  # beyond the JSON parser's own recursion limit
        for body in (deep, very_deep):
            resp = await client.put("/agent-usage/tiers/pro", headers=admin | CT_JSON, content=body)
            assert (resp.status_code, resp.json()["field"]) == (422, "body"), resp.text
            assert "6 levels" in resp.json()["detail"]
        assert (await client.get("/agent-usage/tiers", headers=admin)).json() == before
        resp = await client.put("/agent-usage/tiers/pro", headers=admin, json=tier)
        assert resp.status_code == 200, resp.text
