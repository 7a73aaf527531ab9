"""Prometheus metrics, one registry per app (several apps can live in one process)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """The counters and histograms NexusCRM exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "nexus_events_accepted", "Usage events stored", registry=self.registry
        )
        self.events_duplicate = Counter(
            "nexus_events_duplicate",
            "Usage events already stored (same event_id)",
            registry=self.registry,
        )
        self.events_suppressed = Counter(
            "nexus_events_suppressed",
            "Usage events answered but not stored: their customer was erased",
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "nexus_events_rejected",
            "Webhook requests rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.webhooks_in_progress = Gauge(
            "nexus_webhooks_in_progress",
            "Webhook requests the process is working on (bounded by INGEST_MAX_IN_PROGRESS)",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "nexus_rate_limited",
            "Requests refused with 429, by the limit exceeded (key, user, ip, webhook)",
            ["kind"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "nexus_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def count_rate_limited(self, kind: str) -> None:
        """Count a request refused by a rate limit of ``kind``."""
        self.rate_limited.labels(kind).inc()


class LatencyMiddleware:
    """Pure-ASGI middleware timing each request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(scope["method"], path, str(status["code"])).observe(
                time.perf_counter() - start
            )
