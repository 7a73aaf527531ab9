"""Real-time: the event bus (in process, PostgreSQL LISTEN/NOTIFY, Redis) and the WebSocket."""

from __future__ import annotations

from nexus_crm.realtime.bus import Bus, Message
from nexus_crm.realtime.kpis import KpiTicker
from nexus_crm.realtime.stream import StreamConfig, serve_connection

__all__ = (
    "Bus",
    "KpiTicker",
    "Message",
    "StreamConfig",
    "serve_connection",
)
