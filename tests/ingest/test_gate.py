"""Load shedding: past INGEST_MAX_IN_PROGRESS webhook requests, the next is refused at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send

from nexus_crm.ingest.gate import IngestGate
from nexus_crm.models import AgentUsageEvent
from nexus_crm.ops.metrics import Metrics
from tests.processes import running_server
from tests.support import event, signed

OVERLOADED = 'nexus_events_rejected_total{reason="overloaded"} 1.0'


class HalfSent:
    """A webhook whose headers and half its body are sent: in progress until ``finish``."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.body, self.headers = body, headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def start(self, port: int) -> None:
        """Connect; send the head and half the body."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        head = [
            "POST /agent-usage/events HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(self.body)}",
            *(f"{k}: {v}" for k, v in self.headers.items()),
        ]
        self.writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + self.body[:10])
        await self.writer.drain()

    async def finish(self) -> tuple[int, dict[str, Any]]:
        """Send the rest of the body; the answer's status and JSON."""
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(self.body[10:])
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode().lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        answer = json.loads(await self.reader.readexactly(length))
        self.writer.close()
        await self.writer.wait_closed()
        return int(head.split(" ")[1]), answer


async def wait_in_progress(http: httpx.AsyncClient, n: int) -> None:
    """Wait until the server is working on ``n`` webhook requests (its gauge says so)."""
    line = f"nexus_webhooks_in_progress {float(n)}"
    for _ in range(200):
        if line in (await http.get("/metrics")).text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{line!r} never in /metrics")


async def test_past_the_bound_a_webhook_is_refused_at_once_and_nothing_is_lost(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    held = [HalfSent(*signed(event(user_id=f"held_{i}"))) for i in range(2)]
    refused, after = event(user_id="refused"), event(user_id="after")
    with running_server(db_url, env={"INGEST_MAX_IN_PROGRESS": "2"}) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            for h in held:
                await h.start(server.port)
            await wait_in_progress(http, 2)
            body, headers = signed(refused)
            resp = await http.post("/agent-usage/events", content=body, headers=headers)
            assert resp.status_code == 503, resp.text
            assert resp.json()["error"] == "overloaded"
            assert resp.headers["retry-after"] == "1"
            answers = [await h.finish() for h in held]
            assert [(s, a["accepted"]) for s, a in answers] == [(200, 1), (200, 1)]
            body, headers = signed(after)
            resp = await http.post("/agent-usage/events", content=body, headers=headers)
            assert resp.status_code == 200, resp.text
            metrics = (await http.get("/metrics")).text
    assert OVERLOADED in metrics
    assert 'route="unmatched"' not in metrics  # a refusal is not an unknown route
    assert "nexus_webhooks_in_progress 0.0" in metrics
    async with sessions() as s:
        stored = set((await s.scalars(select(AgentUsageEvent.user_id))).all())
    assert stored == {"held_0", "held_1", "after"}


async def test_the_gate_counts_only_its_paths_and_zero_turns_it_off() -> None:
    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for limit, second in ((1, 503), (0, 204)):
        release.clear()
        metrics = Metrics()
        gate = IngestGate(slow, paths={"/hook"}, limit=limit, metrics=metrics)
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.post("/hook"))
            other = asyncio.create_task(http.get("/other"))  # not a gated path: waits, not 503
            await asyncio.sleep(0.05)
            if second == 503:
                assert (await http.post("/hook")).status_code == 503
                release.set()
            else:
                late = asyncio.create_task(http.post("/hook"))
                await asyncio.sleep(0.05)
                release.set()
                assert (await late).status_code == 204
            assert (await first).status_code == 204
            assert (await other).status_code == 204
        assert gate.in_progress == 0
        refused = metrics.registry.get_sample_value(
            "nexus_events_rejected_total", {"reason": "overloaded"}
        )
        assert refused == (1 if limit else 0)
