"""Operations: health, readiness and Prometheus metrics."""

from __future__ import annotations

from nexus_crm.ops.metrics import LatencyMiddleware, Metrics

__all__ = (
    "LatencyMiddleware",
    "Metrics",
)
