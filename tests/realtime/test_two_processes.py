"""Two uvicorn processes on one PostgreSQL (EVENT_BUS=postgres): post to one, read the other."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from tests.processes import running_server
from tests.realtime.conftest import WS_PATH
from tests.support import event, signed
from websockets.asyncio.client import ClientConnection, connect

from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings

pytestmark = pytest.mark.slow
ENV = {"EVENT_BUS": "postgres", "ALERT_EVALUATION_INTERVAL_SECONDS": "0"}


async def _read_key(url: str) -> str:
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            _, plaintext = await create_api_key(session, name="two-processes", scopes=["read"])
    finally:
        await engine.dispose()
    return plaintext


async def _usage_frame(ws: ClientConnection, event_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "usage":
                ids = [e["event_id"] for e in message["data"]["events"]]
                if event_id in ids:
                    found: dict[str, Any] = message
                    return found


async def test_an_event_posted_to_one_process_reaches_a_websocket_on_the_other(
    postgresql_url: str,
) -> None:
    key = await _read_key(postgresql_url)
    with running_server(postgresql_url, env=ENV) as a, running_server(postgresql_url, env=ENV) as b:
        ws_url = b.base_url.replace("http://", "ws://") + WS_PATH
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            sent = event(user_id="two_processes")
            body, headers = signed({"events": [sent]})
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                resp = await http.post("/agent-usage/events", content=body, headers=headers)
            assert resp.json() == {"accepted": 1, "duplicates": 0}
            message = await _usage_frame(ws, sent["event_id"])
    assert message["version"] == 1
