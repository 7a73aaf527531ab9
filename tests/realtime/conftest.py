"""A real uvicorn server in the test's event loop, and a WebSocket client that reads frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from tests.processes import free_port
from tests.support import signed
from websockets.asyncio.client import ClientConnection, connect

from nexus_crm.app import create_app
from nexus_crm.settings import Settings

WS_PATH = "/agent-usage/ws"


@dataclass
class Live:
    """A server on a loopback port: its app (shared state), base URL and an HTTP client."""

    app: FastAPI
    base_url: str
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        """The WebSocket URL of the live stream."""
        return self.base_url.replace("http://", "ws://") + WS_PATH

    def ws(self, key: str | None = None, **kwargs: Any) -> Any:
        """A ``websockets`` connection (async context manager) with ``key`` as Bearer."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return connect(self.ws_url, additional_headers=headers, open_timeout=10, **kwargs)

    async def post_events(self, *events: dict[str, Any]) -> dict[str, Any]:
        """Post a signed batch; assert 200; the answer."""
        body, headers = signed({"events": list(events)})
        resp = await self.http.post("/agent-usage/events", content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer


StartLive = Callable[..., Awaitable[Live]]


@pytest.fixture
async def start_live(settings: Settings) -> AsyncIterator[StartLive]:
    """Start servers on the database under test, with settings overrides (field names)."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def _start(**overrides: Any) -> Live:
        app = create_app(settings.model_copy(update=overrides))
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        running.append((server, task, http))
        return Live(app=app, base_url=f"http://127.0.0.1:{port}", http=http)

    yield _start
    for server, task, http in running:
        await http.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def frame(ws: ClientConnection, wait_s: float = 5.0) -> dict[str, Any]:
    """The next frame, decoded."""
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait_s))
    return message


async def frame_of(ws: ClientConnection, kind: str, wait_s: float = 5.0) -> dict[str, Any]:
    """The next frame of type ``kind`` (others are skipped)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = await frame(ws, max(left, 0.01))
        if message["type"] == kind:
            return message


async def frames_until(
    ws: ClientConnection, kind: str, wait_s: float = 5.0
) -> list[dict[str, Any]]:
    """The frames received up to and including the next one of type ``kind``."""
    deadline = asyncio.get_running_loop().time() + wait_s
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != kind:
        left = deadline - asyncio.get_running_loop().time()
        frames.append(await frame(ws, max(left, 0.01)))
    return frames
