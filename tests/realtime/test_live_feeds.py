"""Alerts and KPI snapshots on the live stream, and a client that never reads."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from tests.conftest import MakeKey
from tests.realtime.conftest import WS_PATH, StartLive, frame_of
from tests.support import event

from nexus_crm.realtime.bus import Message


async def test_alert_message_when_raised_and_when_changed(
    start_live: StartLive, make_key: MakeKey
) -> None:
    live = await start_live()
    write = {"Authorization": f"Bearer {await make_key('write')}"}
    async with live.ws(await make_key("read")) as ws:
        await live.post_events(event(user_id="ws_alert", tokens_used=850_000))
        raised = (await frame_of(ws, "alert"))["data"]
        assert (raised["alert_type"], raised["status"]) == ("usage_limit_approaching", "active")
        resp = await live.http.post(
            f"/agent-usage/alerts/{raised['id']}/acknowledge", headers=write
        )
        assert resp.status_code == 200
        changed = (await frame_of(ws, "alert"))["data"]
    assert changed == resp.json()  # exactly as the REST API renders it
    assert changed["status"] == "acknowledged"


async def _metrics_while_posting(
    live: Any, ws: Any, *, min_s: float, max_s: float = 60.0
) -> tuple[list[dict[str, Any]], int, float]:
    """Post events of three users and collect ``metrics`` frames for at least ``min_s``.

    It goes on until two snapshots came and the last shows all three users (a loaded machine
    posts slowly), and returns the snapshots, the events posted and the seconds it took.
    """
    seen: list[dict[str, Any]] = []
    posted, done, start = 0, asyncio.Event(), time.monotonic()

    async def post() -> None:
        nonlocal posted
        while not done.is_set():
            await live.post_events(event(user_id=f"kpi_{posted % 3}", response_time_ms=100))
            posted += 1

    poster = asyncio.create_task(post())
    try:
        while (
            (elapsed := time.monotonic() - start) < min_s
            or len(seen) < 2
            or seen[-1]["active_users"] < 3
        ):
            assert elapsed < max_s, f"no snapshot with three users in {max_s} s: {seen}"
            seen.append((await frame_of(ws, "metrics", max_s))["data"])
    finally:
        done.set()
        await poster
    return seen, posted, time.monotonic() - start


async def test_metrics_at_most_twice_a_second_shared_by_connections(
    start_live: StartLive, make_key: MakeKey
) -> None:
    live = await start_live(ws_metrics_interval_seconds=0.5)
    ticker = live.app.state.kpi_ticker
    key = await make_key("read")
    # The other two read nothing: unbounded client queues, so that closing them is quick.
    async with live.ws(key) as ws, live.ws(key, max_queue=None), live.ws(key, max_queue=None):
        before = ticker.computations
        counted, posted, seconds = await _metrics_while_posting(live, ws, min_s=3.0)
        computations = ticker.computations - before
    # At most one snapshot per 0.5 s tick, computed once for all three connections.
    assert 2 <= len(counted) <= 2 * seconds + 1
    assert computations <= 2 * seconds + 1
    last = counted[-1]
    assert last["interactions"] <= posted
    assert last["active_users"] == 3
    assert last["avg_response_time_ms"] == 100.0
    assert {"day", "tokens", "p95_response_time_ms", "agents", "at"} <= set(last)


async def test_no_computation_without_subscribers(start_live: StartLive) -> None:
    live = await start_live(ws_metrics_interval_seconds=0.5)
    await asyncio.sleep(1.2)
    assert live.app.state.kpi_ticker.computations == 0


def _stuck_client(port: int, key: str) -> socket.socket:
    """A raw WebSocket client with a tiny receive buffer that never reads after the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET {WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {key}\r\n\r\n"
        ).encode()
    )
    assert sock.recv(1024).startswith(b"HTTP/1.1 101")
    return sock


def _big_batch(n: int) -> list[dict[str, Any]]:
    return [event(user_id=f"slow_{i % 50:03d}_" + "x" * 100) for i in range(n)]


async def test_a_client_that_never_reads_neither_slows_ingest_nor_stays(
    start_live: StartLive, make_key: MakeKey
) -> None:
    live = await start_live(ws_send_queue=2, ws_send_timeout_seconds=0.5)
    bus = live.app.state.bus
    port = int(live.base_url.rsplit(":", 1)[1])
    stuck = await asyncio.to_thread(_stuck_client, port, await make_key("read"))
    try:
        [sub] = list(bus._subscriptions)
        probe = bus.subscribe()
        for _ in range(8):  # ~3 MB of frames per batch: far past the socket buffers
            start = time.monotonic()
            await live.post_events(*_big_batch(5000))
            assert time.monotonic() - start < 10
            if sub.closed:
                break
        for _ in range(100):
            if sub.closed:
                break
            await asyncio.sleep(0.05)
        assert sub.closed, "the stuck client was not dropped"
        assert probe.pending() >= 1  # a healthy subscriber still got its messages
        assert all(isinstance(m, Message) for m in probe.drain())
    finally:
        stuck.close()
