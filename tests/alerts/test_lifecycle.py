"""Alert lifecycle over the API: transitions, history, 409/404/403/422, snooze, publishing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts import service
from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.db import transaction
from tests.alerts.helpers import ALERTS, act, list_alerts, transitions, use
from tests.conftest import MakeKey


async def raised(client: httpx.AsyncClient, headers: dict[str, str], user: str) -> dict[str, Any]:
    await use(client, user, 850_000)
    [alert] = await list_alerts(client, headers, user_id=user)
    return alert


async def test_acknowledge_then_resolve_with_history_and_actor(
    client: httpx.AsyncClient, make_key: MakeKey, sessions: async_sessionmaker[AsyncSession]
) -> None:
    key = await make_key("write")
    headers = {"Authorization": f"Bearer {key}"}
    alert = await raised(client, headers, "life")
    resp = await act(client, headers, alert["id"], "acknowledge", note="calling them today")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_at"] is not None
    actor = f"key:{key.split('_')[1]}"
    assert body["history"][-1] | {"at": None} == {
        "action": "acknowledged",
        "from_status": "active",
        "to_status": "acknowledged",
        "actor": actor,
        "note": "calling them today",
        "snoozed_until": None,
        "at": None,
    }

    resp = await act(client, headers, alert["id"], "acknowledge")
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict"
    assert "acknowledged" in resp.json()["detail"]

    resp = await act(client, headers, alert["id"], "resolve", note="upgraded by phone")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "resolved"
    for action in ("acknowledge", "resolve", "dismiss", "snooze"):
        extra = {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
        resp = await act(
            client, headers, alert["id"], action, **(extra if action == "snooze" else {})
        )
        assert resp.status_code == 409, (action, resp.text)
    assert await transitions(sessions, alert["id"]) == [
        ("raised", None, "active", "system"),
        ("acknowledged", "active", "acknowledged", actor),
        ("resolved", "acknowledged", "resolved", actor),
    ]
    resp = await client.get(f"{ALERTS}/{alert['id']}", headers=headers)
    assert resp.status_code == 200
    assert [h["note"] for h in resp.json()["history"]] == [
        None,
        "calling them today",
        "upgraded by phone",
    ]


async def test_dismiss_from_acknowledged(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    alert = await raised(client, admin_headers, "dismissable")
    assert (await act(client, admin_headers, alert["id"], "acknowledge")).status_code == 200
    resp = await act(client, admin_headers, alert["id"], "dismiss", note="test account")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "dismissed"
    assert resp.json()["dismissed_at"] is not None
    assert await list_alerts(client, admin_headers) == []
    [dismissed] = await list_alerts(client, admin_headers, status="dismissed")
    assert dismissed["id"] == alert["id"]


async def test_unknown_bad_id_and_scopes(
    client: httpx.AsyncClient, admin_headers: dict[str, str], read_headers: dict[str, str]
) -> None:
    unknown = str(uuid.uuid4())
    resp = await act(client, admin_headers, unknown, "resolve")
    assert resp.status_code == 404
    assert resp.json()["field"] == "alert_id"
    assert (await client.get(f"{ALERTS}/{unknown}", headers=read_headers)).status_code == 404
    resp = await act(client, admin_headers, "not-a-uuid", "resolve")
    assert resp.status_code == 422
    assert resp.json()["field"] == "alert_id"
    alert = await raised(client, admin_headers, "scoped")
    resp = await act(client, read_headers, alert["id"], "acknowledge")
    assert resp.status_code == 403
    resp = await act(client, admin_headers, alert["id"], "acknowledge", until="2030-01-01T00:00Z")
    assert resp.status_code == 422
    assert resp.json()["field"] == "until"
    resp = await act(client, admin_headers, alert["id"], "resolve", colour="red")
    assert resp.status_code == 422
    assert resp.json()["field"] == "colour"
    for params, field in (
        ({"type": "nope"}, "type"),
        ({"status": "x"}, "status"),
        ({"limit": 0}, "limit"),
    ):
        resp = await client.get(ALERTS, params=params, headers=read_headers)
        assert resp.status_code == 422, params
        assert resp.json()["field"] == field


async def test_snooze_hides_from_the_default_list_until_the_time(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alert = await raised(client, admin_headers, "sleepy")
    now = datetime.now(UTC)
    for until in (None, now - timedelta(minutes=1), now + timedelta(days=31), "2030-01-01T00:00"):
        body = (
            {}
            if until is None
            else {"until": str(until) if isinstance(until, str) else until.isoformat()}
        )
        resp = await act(client, admin_headers, alert["id"], "snooze", **body)
        assert resp.status_code == 422, until
        assert resp.json()["field"] == "until"
    until = now + timedelta(hours=2)
    resp = await act(client, admin_headers, alert["id"], "snooze", until=until.isoformat())
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active"
    assert datetime.fromisoformat(resp.json()["snoozed_until"]) == until
    assert resp.json()["history"][-1]["action"] == "snoozed"
    assert await list_alerts(client, admin_headers) == []
    assert len(await list_alerts(client, admin_headers, include_snoozed="true")) == 1
    async with transaction(sessions) as session:
        later = await service.list_alerts(session, now=until + timedelta(seconds=1))
        before = await service.list_alerts(session, now=until - timedelta(seconds=1))
    assert [str(a.id) for a in later] == [alert["id"]]
    assert before == []
    assert (await act(client, admin_headers, alert["id"], "resolve")).status_code == 200
    [resolved] = await list_alerts(client, admin_headers, status="resolved")  # snooze is moot
    assert resolved["id"] == alert["id"]


async def test_list_filters_and_order(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    await use(client, "first", 850_000)
    await use(client, "second", 990_000)
    alerts = await list_alerts(client, read_headers)
    assert [a["user_id"] for a in alerts] == ["second", "first"]  # newest first
    only = await list_alerts(client, read_headers, type="usage_limit_exceeded")
    assert [a["user_id"] for a in only] == ["second"]
    assert [a["user_id"] for a in await list_alerts(client, read_headers, user_id="first")] == [
        "first"
    ]
    assert len(await list_alerts(client, read_headers, limit=1)) == 1
    assert await list_alerts(client, read_headers, status="resolved") == []


async def test_new_and_changed_alerts_are_published_after_commit(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    sub = app.state.bus.subscribe()

    def seen() -> list[AlertOut]:
        return [AlertOut.model_validate(m.data) for m in sub.drain() if m.type == "alert"]

    alert = await raised(client, admin_headers, "watched")
    assert [(a.status, a.user_id) for a in seen()] == [("active", "watched")]
    await act(client, admin_headers, alert["id"], "acknowledge")
    assert [a.status for a in seen()] == ["acknowledged"]
    await act(client, admin_headers, alert["id"], "acknowledge")  # 409: nothing published
    assert seen() == []
