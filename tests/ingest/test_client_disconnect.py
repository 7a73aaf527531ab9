"""A webhook sender that disconnects mid-body: nothing stored, no traceback, the server goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent
from tests.processes import ServerProcess, running_server
from tests.support import event, signed

REJECTED = 'nexus_events_rejected_total{reason="client_disconnected"} 1.0'


async def send_half_and_hang_up(port: int, body: bytes, headers: dict[str, str]) -> None:
    """Declare the whole body's length, send half of it, close the connection."""
    head = [
        "POST /agent-usage/events HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body[: len(body) // 2])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def wait_for_metric(http: httpx.AsyncClient, line: str, polls: int = 200) -> None:
    """Poll /metrics until ``line`` appears (the server has handled the disconnect)."""
    for _ in range(polls):
        if line in (await http.get("/metrics")).text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{line!r} not in /metrics after {polls} polls")


async def exchange(server: ServerProcess, lost: dict[str, Any], kept: dict[str, Any]) -> str:
    """Send event ``lost`` cut short, then ``kept`` whole (200); the server's output."""
    await send_half_and_hang_up(server.port, *signed(lost))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        await wait_for_metric(http, REJECTED)
        body, headers = signed(kept)
        resp = await http.post("/agent-usage/events", content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 1
    return server.output()


async def test_a_sender_gone_mid_body_stores_nothing_and_logs_no_traceback(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    lost, kept = event(user_id="gone_mid_body"), event(user_id="came_back")
    with running_server(db_url) as server:
        output = await exchange(server, lost, kept)
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output
    assert "unhandled error" not in output
    async with sessions() as s:
        stored = set((await s.scalars(select(AgentUsageEvent.event_id))).all())
    assert stored == {kept["event_id"]}
