"""GET /agent-usage/ws on a real server: auth, usage, duplicates, commit, heartbeat, lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import pytest
from tests.conftest import MakeKey
from tests.realtime.conftest import StartLive, frame_of, frames_until
from tests.support import event, signed
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from nexus_crm.alerts import service as alerts_service

FIELDS = {"user_id", "agent_id", "tokens_used", "response_time_ms", "subscription_tier"}


async def closed_with(ws: Any) -> tuple[int, str]:
    """Wait for the server to close ``ws``; its close code and reason."""
    async with asyncio.timeout(10):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


@pytest.mark.parametrize(("scopes", "code"), [(None, 4401), ("forged", 4401), ("ingest", 4403)])
async def test_rejected_without_a_read_key(
    start_live: StartLive, make_key: MakeKey, scopes: str | None, code: int
) -> None:
    live = await start_live()
    key = {None: None, "forged": "ncrm_00000000_forged"}.get(scopes) or (
        await make_key(scopes) if scopes else None
    )
    async with live.ws(key) as ws:
        got, reason = await closed_with(ws)
    assert got == code
    assert reason


async def test_usage_message_after_a_signed_webhook(
    start_live: StartLive, make_key: MakeKey
) -> None:
    live = await start_live()
    async with live.ws(await make_key("read")) as ws:
        sent = [event(user_id="ws_a"), event(user_id="ws_b", agent_id="blaze")]
        assert (await live.post_events(*sent))["accepted"] == 2
        message = await frame_of(ws, "usage")
    assert message["version"] == 1
    assert message["data"]["count"] == 2
    got = {e["event_id"]: e for e in message["data"]["events"]}
    assert set(got) == {e["event_id"] for e in sent}
    for ev in sent:
        row = got[ev["event_id"]]
        assert {k: row[k] for k in FIELDS} == {k: ev[k] for k in FIELDS} | {
            "agent_id": ev["agent_id"].upper()
        }
        assert row["timestamp"].endswith(("Z", "+00:00"))


async def test_api_key_as_query_parameter(start_live: StartLive, make_key: MakeKey) -> None:
    live = await start_live(ws_heartbeat_seconds=0.2)
    key = await make_key("write")  # write implies read
    async with connect(f"{live.ws_url}?api_key={quote(key)}") as ws:
        # accepted and streaming (a metrics snapshot may come first on a busy machine)
        assert (await frame_of(ws, "heartbeat"))["type"] == "heartbeat"


async def test_duplicates_are_not_republished(start_live: StartLive, make_key: MakeKey) -> None:
    live = await start_live(ws_heartbeat_seconds=0.3)
    first, second = event(), event()
    async with live.ws(await make_key("read")) as ws:
        await live.post_events(first)
        assert (await frame_of(ws, "usage"))["data"]["events"][0]["event_id"] == first["event_id"]
        assert await live.post_events(first) == {"accepted": 0, "duplicates": 1}
        # Up to the next heartbeat, no usage frame: the duplicate-only batch published none
        # (a KPI snapshot from the ticker may come in between on a busy machine).
        assert "usage" not in [f["type"] for f in await frames_until(ws, "heartbeat")]
        assert await live.post_events(first, second) == {"accepted": 1, "duplicates": 1}
        message = await frame_of(ws, "usage")
    assert [e["event_id"] for e in message["data"]["events"]] == [second["event_id"]]


async def test_nothing_published_when_the_batch_fails_or_rolls_back(
    start_live: StartLive, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await start_live()
    sub = live.app.state.bus.subscribe()
    body, headers = signed({"events": [event(), event(tokens_used=-1)]})
    resp = await live.http.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 422

    async def fail(*_: Any, **__: Any) -> Any:
        raise RuntimeError("after the insert, before commit")

    monkeypatch.setattr(alerts_service, "evaluate_limit_alerts", fail)
    body, headers = signed({"events": [event()]})
    resp = await live.http.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 500
    await asyncio.sleep(0.1)
    assert sub.pending() == 0
    monkeypatch.undo()
    await live.post_events(event())
    assert [m.type for m in sub.drain()] == ["usage"]


async def test_heartbeat_when_idle(start_live: StartLive, make_key: MakeKey) -> None:
    live = await start_live(ws_heartbeat_seconds=0.2)
    async with live.ws(await make_key("read")) as ws:
        # Nothing is published, so the only other frames the server may send are its KPI
        # snapshots (a timer of their own, ``WS_METRICS_INTERVAL_SECONDS``): whatever their
        # interleaving under load, three heartbeats come and nothing else does.
        seen = [f for _ in range(3) for f in await frames_until(ws, "heartbeat")]
    beats = [f for f in seen if f["type"] != "metrics"]
    assert beats == [{"type": "heartbeat", "version": 1}] * 3, seen


async def test_connection_closed_after_its_lifetime(
    start_live: StartLive, make_key: MakeKey
) -> None:
    live = await start_live(ws_max_lifetime_seconds=0.5, ws_heartbeat_seconds=0.2)
    loop = asyncio.get_running_loop()
    async with live.ws(await make_key("read")) as ws:
        start = loop.time()
        code, reason = await closed_with(ws)
    assert code == 1001
    assert "lifetime" in reason
    assert 0.4 <= loop.time() - start < 3
    assert live.app.state.bus.subscriber_count == 0
