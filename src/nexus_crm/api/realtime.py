"""The live stream: ``GET /agent-usage/ws`` (WebSocket) of usage, alert and metrics messages."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from nexus_crm.api.deps import API_PREFIX
from nexus_crm.realtime import Bus, KpiTicker, StreamConfig, serve_connection
from nexus_crm.realtime.service import WebSocketRejected, authenticate_websocket
from nexus_crm.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["realtime"])


@router.websocket("/ws")
async def live_stream(websocket: WebSocket) -> None:
    """Live usage, alert and metrics messages (read key or dashboard session; docs/realtime.md)."""
    try:
        await authenticate_websocket(websocket)
    except WebSocketRejected as exc:
        # Accept first: a close before accepting reaches the client as a bare HTTP 403.
        await websocket.accept()
        await websocket.close(exc.code, exc.reason[:120])
        return
    settings: Settings = websocket.app.state.settings
    bus: Bus = websocket.app.state.bus
    ticker: KpiTicker = websocket.app.state.kpi_ticker
    sub = bus.subscribe(max_queue=settings.ws_send_queue)  # before accept: nothing is missed
    try:
        await websocket.accept()
        await serve_connection(websocket, sub, StreamConfig.from_settings(settings), ticker.latest)
    finally:
        sub.close()
